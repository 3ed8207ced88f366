package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/party/identity"
)

func ExampleMinter_MintParty() {
	// The operator's root certifies the coordinator's key (tsskit identity
	// issue --kind coordinator); every verifier pins only the root.
	root, _ := identity.GenerateKey()
	key, _ := identity.GenerateKey()
	cert, _ := identity.Issue(root, identity.KindCoordinator, "coordinator-1", key.Public(), time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	minter, err := auth.NewMinter(key, []*identity.Certificate{cert})
	if err != nil {
		panic(err)
	}
	trust, _ := identity.NewTrust([]identity.PublicKey{root.Public()}, nil)
	verifier := auth.NewVerifier(trust)

	// The coordinator mints a token for one party in one session.
	tok, err := minter.MintParty("sess-42", "server-1", 10*time.Minute)
	if err != nil {
		panic(err)
	}

	// The router verifies it from the Authorization header.
	bearer, _ := auth.BearerToken("Bearer " + tok)
	claims, err := verifier.Verify(bearer)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Kind, claims.Subject, claims.Session, claims.SignerKind)
	fmt.Println(claims.RequireParty("sess-42", "server-1"))
	fmt.Println(errors.Is(claims.RequireParty("sess-42", "server-2"), auth.ErrForbidden))
	fmt.Println(errors.Is(claims.Require(auth.KindAdmin), auth.ErrWrongKind))

	// A deployment with another root refuses the token.
	other, _ := identity.GenerateKey()
	otherTrust, _ := identity.NewTrust([]identity.PublicKey{other.Public()}, nil)
	_, err = auth.NewVerifier(otherTrust).Verify(tok)
	fmt.Println(errors.Is(err, auth.ErrSignature))
	// Output:
	// party server-1 sess-42 coordinator
	// <nil>
	// true
	// true
	// true
}

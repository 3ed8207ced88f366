package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/rwadurian/tsskit/auth"
)

func ExampleSigner_Mint() {
	// In a service: secret, err := auth.ParseSecret(os.Getenv("JWT_SECRET_KEY"))
	secret, err := auth.ParseSecret("8f2c1e6a9b0d47e3a5c8f1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2")
	if err != nil {
		panic(err)
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		panic(err)
	}

	// The coordinator mints a token for one party in one session.
	tok, err := signer.Mint(auth.Claims{
		Kind:    auth.KindParty,
		Subject: "server-1",
		Session: "sess-42",
		Expires: time.Now().Add(10 * time.Minute),
	})
	if err != nil {
		panic(err)
	}

	// The router verifies it from the Authorization header.
	bearer, _ := auth.BearerToken("Bearer " + tok)
	claims, err := signer.Verify(bearer)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Kind, claims.Subject, claims.Session)
	fmt.Println(claims.RequireParty("sess-42", "server-1"))
	fmt.Println(errors.Is(claims.RequireParty("sess-42", "server-2"), auth.ErrForbidden))
	fmt.Println(errors.Is(claims.Require(auth.KindAdmin), auth.ErrWrongKind))

	// A service configured with another secret refuses the token.
	other, _ := auth.NewSigner([]byte("another secret of at least 32 bytes"))
	_, err = other.Verify(tok)
	fmt.Println(errors.Is(err, auth.ErrSignature))
	// Output:
	// party server-1 sess-42
	// <nil>
	// true
	// true
	// true
}

package auth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/party/identity"
)

// deployment is a root, a certified coordinator, a certified server party
// and a verifier pinning the root.
type deployment struct {
	root, coordKey, serverKey *identity.Key
	coord, server             *auth.Minter
	trust                     *identity.Trust
	verifier                  *auth.Verifier
}

func newDeployment(t testing.TB, revoked ...identity.PublicKey) *deployment {
	t.Helper()
	d := &deployment{}
	d.root, _ = identity.GenerateKey()
	d.coordKey, _ = identity.GenerateKey()
	d.serverKey, _ = identity.GenerateKey()
	now := time.Now()
	cc, _ := identity.Issue(d.root, identity.KindCoordinator, "coordinator-1", d.coordKey.Public(), now.Add(-time.Hour), now.Add(time.Hour))
	sc, _ := identity.Issue(d.root, identity.KindServer, "server-1", d.serverKey.Public(), now.Add(-time.Hour), now.Add(time.Hour))
	var err error
	if d.coord, err = auth.NewMinter(d.coordKey, []*identity.Certificate{cc}); err != nil {
		t.Fatal(err)
	}
	if d.server, err = auth.NewMinter(d.serverKey, []*identity.Certificate{sc}); err != nil {
		t.Fatal(err)
	}
	d.trust, _ = identity.NewTrust([]identity.PublicKey{d.root.Public()}, revoked)
	d.verifier = auth.NewVerifier(d.trust)
	return d
}

func TestMintVerify(t *testing.T) {
	d := newDeployment(t)
	for _, c := range []struct {
		name  string
		mint  func() (string, error)
		kind  string
		check func(*auth.Claims) bool
	}{
		{"admin", func() (string, error) { return d.coord.MintAdmin("ops", time.Minute) }, auth.KindAdmin, nil},
		{"party", func() (string, error) { return d.coord.MintParty("s1", "browser-1", time.Minute) }, auth.KindParty,
			func(c *auth.Claims) bool { return c.Session == "s1" && c.Subject == "browser-1" }},
		{"user", func() (string, error) {
			return d.coord.MintUser("alice", []string{auth.OpSign, auth.OpListWallets}, []string{"w1"}, time.Minute)
		}, auth.KindUser, func(c *auth.Claims) bool {
			return c.Allows(auth.OpSign, "w1") && !c.Allows(auth.OpSign, "w2") && !c.Allows(auth.OpCreateWallet, "") && c.Allows(auth.OpListWallets, "")
		}},
		{"coordinator service", func() (string, error) { return d.coord.MintService("coordinator-1", time.Minute) }, auth.KindService,
			func(c *auth.Claims) bool { return c.SignerKind == identity.KindCoordinator }},
		{"server party service, for itself", func() (string, error) { return d.server.MintService("server-1", time.Minute) }, auth.KindService,
			func(c *auth.Claims) bool { return c.SignerKind == identity.KindServer && c.SignerID == "server-1" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := c.mint()
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.verifier.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != c.kind || (c.check != nil && !c.check(got)) {
				t.Fatalf("claims %+v", got)
			}
		})
	}
}

// sign makes a token with arbitrary header members and claims.
func sign(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func certHeader(c *identity.Certificate) map[string]any {
	return map[string]any{"tsc": []string{base64.StdEncoding.EncodeToString(c.Bytes())}}
}

// TestAttackTokens: what a holder of one component can forge, and the
// code each gets. The router and the coordinator verify with the root
// only: nothing they hold mints a token, and a server party's key mints
// only service tokens for itself.
func TestAttackTokens(t *testing.T) {
	d := newDeployment(t)
	now := time.Now()
	claims := func(kind, sub string) jwt.MapClaims {
		return jwt.MapClaims{"iss": "tsskit", "aud": "tsskit", "sub": sub, "knd": kind, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	}
	coordCert, _ := identity.Issue(d.root, identity.KindCoordinator, "coordinator-1", d.coordKey.Public(), now.Add(-time.Hour), now.Add(time.Hour))
	priv := func(k *identity.Key) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.Seed()) }
	rogue, _ := identity.GenerateKey()
	rogueRoot, _ := identity.GenerateKey()
	rogueCert, _ := identity.Issue(rogueRoot, identity.KindCoordinator, "coordinator-1", rogue.Public(), now.Add(-time.Hour), now.Add(time.Hour))
	good, _ := d.coord.MintAdmin("ops", time.Minute)
	for _, c := range []struct {
		name  string
		token string
		code  auth.Code
	}{
		{"alg none", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims("admin", "x"))
			tok.Header["tsc"] = certHeader(coordCert)["tsc"]
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), auth.CodeAlgorithm},
		{"HS256 with the coordinator's public key as the secret", sign(t, jwt.SigningMethodHS256, func() []byte { k := d.coordKey.Public(); return k[:] }(), certHeader(coordCert), claims("admin", "x")), auth.CodeAlgorithm},
		{"a key no root certified, with the coordinator's certificate", sign(t, jwt.SigningMethodEdDSA, priv(rogue), certHeader(coordCert), claims("admin", "x")), auth.CodeSignature},
		{"a coordinator certified by another root", sign(t, jwt.SigningMethodEdDSA, priv(rogue), certHeader(rogueCert), claims("admin", "x")), auth.CodeSignature},
		{"no certificate", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), nil, claims("admin", "x")), auth.CodeSignature},
		{"a server party minting an admin token", func() string {
			s, _ := d.server.MintAdmin("x", time.Minute)
			return s
		}(), auth.CodeSignature},
		{"a server party minting a party token", func() string {
			s, _ := d.server.MintParty("s1", "server-1", time.Minute)
			return s
		}(), auth.CodeSignature},
		{"a server party minting a service token for another party", func() string {
			s, _ := d.server.MintService("server-2", time.Minute)
			return s
		}(), auth.CodeSignature},
		{"a server party minting a user token", func() string {
			s, _ := d.server.MintUser("alice", []string{auth.OpSign}, nil, time.Minute)
			return s
		}(), auth.CodeSignature},
		{"tampered claims", func() string {
			p := strings.Split(good, ".")
			p[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"tsskit","aud":"tsskit","sub":"root","knd":"admin","iat":1,"exp":9999999999}`))
			return strings.Join(p, ".")
		}(), auth.CodeSignature},
		{"expired", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), certHeader(coordCert), jwt.MapClaims{"iss": "tsskit", "aud": "tsskit", "sub": "x", "knd": "admin", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-2 * time.Minute).Unix()}), auth.CodeExpired},
		{"issued in the future", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), certHeader(coordCert), jwt.MapClaims{"iss": "tsskit", "aud": "tsskit", "sub": "x", "knd": "admin", "iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}), auth.CodeNotYetValid},
		{"no expiry", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), certHeader(coordCert), jwt.MapClaims{"iss": "tsskit", "aud": "tsskit", "sub": "x", "knd": "admin", "iat": now.Unix()}), auth.CodeMalformed},
		{"another issuer", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), certHeader(coordCert), jwt.MapClaims{"iss": "other", "aud": "tsskit", "sub": "x", "knd": "admin", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}), auth.CodeIssuer},
		{"another audience", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), certHeader(coordCert), jwt.MapClaims{"iss": "tsskit", "aud": "other", "sub": "x", "knd": "admin", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}), auth.CodeAudience},
		{"a user token with an unknown operation", sign(t, jwt.SigningMethodEdDSA, priv(d.coordKey), certHeader(coordCert), jwt.MapClaims{"iss": "tsskit", "aud": "tsskit", "sub": "alice", "knd": "user", "ops": []string{"admin"}, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}), auth.CodeMalformed},
		{"oversized", strings.Repeat("a", auth.MaxTokenLen+1), auth.CodeMalformed},
		{"garbage", "not.a.token", auth.CodeMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.verifier.Verify(c.token)
			if !errors.Is(err, &auth.Error{Code: c.code}) {
				t.Fatalf("got %v, want %s", err, c.code)
			}
			if strings.Contains(err.Error(), c.token[:min(len(c.token), 40)]) && len(c.token) > 40 {
				t.Fatal("the error quotes the token")
			}
		})
	}
	// A revoked coordinator key: its tokens are refused everywhere.
	revoked := newDeployment(t)
	tok, _ := revoked.coord.MintAdmin("ops", time.Minute)
	trust, _ := identity.NewTrust([]identity.PublicKey{revoked.root.Public()}, []identity.PublicKey{revoked.coordKey.Public()})
	if _, err := auth.NewVerifier(trust).Verify(tok); !errors.Is(err, auth.ErrSignature) {
		t.Fatalf("revoked coordinator key: %v", err)
	}
}

func TestMintRefuses(t *testing.T) {
	d := newDeployment(t)
	if _, err := d.coord.MintUser("alice", nil, nil, time.Minute); !errors.Is(err, auth.ErrMalformed) {
		t.Fatalf("user token without operations: %v", err)
	}
	if _, err := d.coord.MintUser("alice", []string{"sudo"}, nil, time.Minute); !errors.Is(err, auth.ErrMalformed) {
		t.Fatalf("unknown operation: %v", err)
	}
	if _, err := d.coord.Mint(auth.Claims{Kind: auth.KindAdmin, Subject: "x", Session: "s", Expires: time.Now().Add(time.Minute)}); !errors.Is(err, auth.ErrMalformed) {
		t.Fatalf("session on an admin token: %v", err)
	}
	if _, err := d.coord.MintParty("s", "p", time.Millisecond); !errors.Is(err, auth.ErrMalformed) {
		t.Fatalf("ttl under a second: %v", err)
	}
	other, _ := identity.GenerateKey()
	cert, _ := identity.Issue(d.root, identity.KindServer, "s", d.serverKey.Public(), time.Now(), time.Now().Add(time.Hour))
	if _, err := auth.NewMinter(other, []*identity.Certificate{cert}); err == nil {
		t.Fatal("a minter whose certificate is for another key")
	}
}

func FuzzVerify(f *testing.F) {
	d := newDeployment(f)
	for _, mint := range []func() (string, error){
		func() (string, error) { return d.coord.MintAdmin("ops", time.Minute) },
		func() (string, error) {
			return d.coord.MintUser("u", []string{auth.OpSign}, []string{"w"}, time.Minute)
		},
		func() (string, error) { return d.server.MintService("server-1", time.Minute) },
	} {
		tok, err := mint()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := d.verifier.Verify(tok)
		if err == nil && (c.SignerKind == 0 || c.Expires.IsZero()) {
			t.Fatal("accepted a token without a certified signer or an expiry")
		}
	})
}

// t0 is a fixed instant for the tests that run on a fake clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

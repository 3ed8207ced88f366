package router_test

import (
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/party/identity"
)

// testDeployment is a deployment root, its coordinator's token minter (the
// only key that mints tokens the router accepts) and the router's
// verifier, which holds the root's public key alone.
type testDeployment struct {
	*auth.Minter
	root     *identity.Key
	verifier *auth.Verifier
}

func newSigner(t testing.TB) *testDeployment {
	t.Helper()
	root, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := identity.NewTrust([]identity.PublicKey{root.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &testDeployment{root: root, verifier: auth.NewVerifier(trust)}
	d.Minter = d.minter(t, identity.KindCoordinator, "coordinator")
	return d
}

// minter is a token minter holding a key root certified as kind id.
func (d *testDeployment) minter(t testing.TB, kind identity.Kind, id string) *auth.Minter {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := identity.Issue(d.root, kind, id, k.Public(), time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m, err := auth.NewMinter(k, []*identity.Certificate{c})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

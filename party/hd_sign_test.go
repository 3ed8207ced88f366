package party_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
)

// Every holder records the same chain code, bound to the wallet and session.
func TestKeygenChainCode(t *testing.T) {
	shares := wallet2of3(t)
	for _, s := range shares[1:] {
		if !bytes.Equal(s.ChainCode, shares[0].ChainCode) {
			t.Fatalf("%s records chain code %x, %s %x", s.PartyID, s.ChainCode, shares[0].PartyID, shares[0].ChainCode)
		}
	}
	if len(shares[0].ChainCode) != hd.ChainCodeSize || bytes.Equal(shares[0].ChainCode, hd.LegacyChainCode(shares[0].WalletID, shares[0].PublicKey)) {
		t.Fatalf("chain code %x", shares[0].ChainCode)
	}
}

// Signing with a path: every signer derives the same child from its own
// record, and the signature verifies (decred) under the child key, which
// is also what BIP32 public derivation from the xpub gives.
func TestSignWithPath(t *testing.T) {
	shares := wallet2of3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range []string{"m/0", "m/0/5", "m/44/60/0/0/7"} {
		path, err := hd.ParsePath(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := hd.Derive(shares[0].PublicKey, shares[0].ChainCode, path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(want.PublicKey, shares[0].PublicKey) {
			t.Fatal("the child is the wallet key")
		}
		digest := digestOf("derived " + p)
		outs, err := testkit.RunSignPath(ctx, idents(t), "sign-path-"+p, shares[:2], digest, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			if o.Err != nil {
				t.Fatalf("%s %s: %v", p, o.ID, o.Err)
			}
			verifyIndependently(t, o.Result, digest, want.PublicKey)
		}
	}
	// The wallet key still signs, and the records were not changed by
	// the derived signings.
	mustSignAll(t, "sign-path-none", shares[1:], digestOf("plain"), nil)
}

// A party whose statement names another path than the session's: refused
// before round 1 as a session mismatch.
func TestSignPathMismatch(t *testing.T) {
	shares := wallet2of3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	digest := digestOf("mismatch")
	ids := []string{shares[0].PartyID, shares[1].PartyID}
	spec := memnet.Spec{Kind: identity.SessionSign, ID: "sign-path-mismatch", WalletID: shares[0].WalletID, Threshold: 2, Parties: ids, Digest: digest, Path: []uint32{1}}
	outs, err := memnet.RunSession(ctx, nil, idents(t), spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			// Party 1 signs path m/2 while the statements say m/1.
			path := hd.Path{1}
			if i == 1 {
				path = hd.Path{2}
			}
			return party.Sign(ctx, party.SignRequest{Session: s, Share: shares[i], Digest: digest, Path: path}, tr)
		})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(outs[1].Err, party.ErrMismatch) || !strings.Contains(outs[1].Err.Error(), "derivation path") {
		t.Fatalf("party 1: %v; want a session mismatch on the path", outs[1].Err)
	}
	for _, bad := range []hd.Path{{hd.Hardened}, make(hd.Path, 256)} {
		_, err := party.Sign(ctx, party.SignRequest{Session: party.Session{ID: "x", Parties: ids, Self: ids[0]}, Share: shares[0], Digest: digest, Path: bad}, nil)
		if err == nil {
			t.Errorf("path %v accepted", bad)
		}
	}
}

package identity

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// TestAbandonedVector checks the wire form and signature against a vector
// made outside the project (Node's crypto.sign with Ed25519 over
// "tsskit/v1 abandoned\x00" || body, seed 32 bytes of 3).
func TestAbandonedVector(t *testing.T) {
	const want = "01000472732d37000877616c6c65742d3100087365727665722d3200000003" +
		"a17086208d79229b52a99052ce20e617524b0fd87ec31346c92e26b2e7557959dd8fa1a030efa539f8029a3170b039137fce4018664e05f61709929a0e206706"
	k, err := KeyFromSeed(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b := SignAbandoned(k, "rs-7", "wallet-1", "server-2", 3)
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("wire form %s\nwant %s", got, want)
	}
	a, err := ParseAbandoned(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.SessionID != "rs-7" || a.WalletID != "wallet-1" || a.PartyID != "server-2" || a.Epoch != 3 {
		t.Fatalf("parsed %+v", a)
	}
	if !a.Verify(k.Public()) {
		t.Fatal("does not verify under its key")
	}
}

func TestAbandonedRefusals(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	good := SignAbandoned(k, "rs-1", "w", "server-1", 1)
	// A statement changed in any field, or checked under another key, does
	// not verify: the coordinator relays it and cannot make or move one.
	for name, change := range map[string]func(a *Abandoned){
		"session": func(a *Abandoned) { a.SessionID = "rs-2" },
		"wallet":  func(a *Abandoned) { a.WalletID = "w2" },
		"party":   func(a *Abandoned) { a.PartyID = "server-2" },
		"epoch":   func(a *Abandoned) { a.Epoch = 2 },
	} {
		a, err := ParseAbandoned(good)
		if err != nil {
			t.Fatal(err)
		}
		change(a)
		if a.Verify(k.Public()) {
			t.Errorf("%s changed: still verifies", name)
		}
	}
	if a, _ := ParseAbandoned(good); a.Verify(other.Public()) {
		t.Error("verifies under another key")
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"truncated":    good[:len(good)-1],
		"trailing":     append(bytes.Clone(good), 0),
		"version 2":    append([]byte{2}, good[1:]...),
		"epoch 0":      SignAbandoned(k, "rs-1", "w", "server-1", 0),
		"empty wallet": SignAbandoned(k, "rs-1", "", "server-1", 1),
		"long session": SignAbandoned(k, strings.Repeat("s", 129), "w", "server-1", 1),
		"too long":     bytes.Repeat([]byte{1}, MaxAbandonedLen+1),
	} {
		if _, err := ParseAbandoned(b); err == nil {
			t.Errorf("%s: parsed", name)
		} else if e, ok := AsError(err); !ok || e.Code != CodeMalformed {
			t.Errorf("%s: %v, want a malformed error", name, err)
		}
	}
}

// TestFrozenVector checks frozen-run, activated-run and pinned-run statements' wire
// forms and signatures against vectors made outside the project (Node's
// crypto.sign with Ed25519 over the domain || body, seed 32 bytes of 3),
// and that no statement of one kind verifies as another: the domains
// differ, and a frozen statement's held byte is signed.
func TestFrozenVector(t *testing.T) {
	const (
		wantFrozen = "01" + "01000472732d37000877616c6c65742d3100087365727665722d3200000003" +
			"28e1a86162a23b73806799ed2b8ce8a2603be60562d9921f2eefd1d3bfe4833a4eec3990c1bb96d14a613b33e0a432527722b84b8a4345d702746a0d2099a603"
		wantPinnedSig = "a2d655f06d867bb2b9848d64d78bbf7da1b25793efbad0b279e960f294114cad44554a4392c088cf6d1e919b2469c31c61fc5186fa1a42bbaf0b0271a1dd360f"
		wantActivated = "01000472732d37000877616c6c65742d3100087365727665722d3200000003" +
			"ad9a053b01c8948669d55b8a04f5d9896b3fe2bf84e73091fdce9e29155ff50c185bc0428b248f1a361bb43a0d1fe7946bced1fc23d0505bac6086e4e594d10b"
	)
	k, err := KeyFromSeed(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b := SignFrozen(k, "rs-7", "wallet-1", "server-2", 3, true)
	if got := hex.EncodeToString(b); got != wantFrozen {
		t.Fatalf("frozen wire form %s\nwant %s", got, wantFrozen)
	}
	f, err := ParseFrozen(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.SessionID != "rs-7" || f.WalletID != "wallet-1" || f.PartyID != "server-2" || f.Epoch != 3 || !f.Held || !f.Verify(k.Public()) {
		t.Fatalf("parsed %+v (or it does not verify under its key)", f)
	}
	flipped := bytes.Clone(b)
	flipped[0] = 0
	if g, err := ParseFrozen(flipped); err != nil || g.Held || g.Verify(k.Public()) {
		t.Fatalf("a frozen statement with its held byte changed verifies (%v)", err)
	}
	act := SignActivated(k, "rs-7", "wallet-1", "server-2", 3)
	if got := hex.EncodeToString(act); got != wantActivated {
		t.Fatalf("activated wire form %s\nwant %s", got, wantActivated)
	}
	if a, err := ParseActivated(act); err != nil || !a.Verify(k.Public()) {
		t.Fatalf("the activated statement: %v", err)
	}
	pin := SignPinned(k, "rs-7", "wallet-1", "server-2", 3)
	if got := hex.EncodeToString(pin[len(pin)-64:]); got != wantPinnedSig {
		t.Fatalf("pinned signature %s\nwant %s", got, wantPinnedSig)
	}
	if p, err := ParsePinned(pin); err != nil || !p.Verify(k.Public()) {
		t.Fatalf("the pinned statement: %v", err)
	}
	if p, err := ParsePinned(act); err != nil || p.Verify(k.Public()) {
		t.Fatalf("an activated-run statement verifies as a pinned-run statement (%v)", err)
	}
	if a, err := ParseActivated(pin); err != nil || a.Verify(k.Public()) {
		t.Fatalf("a pinned-run statement verifies as an activated-run statement (%v)", err)
	}
	ab := SignAbandoned(k, "rs-7", "wallet-1", "server-2", 3)
	if a, err := ParseAbandoned(act); err != nil || a.Verify(k.Public()) {
		t.Fatalf("an activated-run statement verifies as an abandoned-run statement (%v)", err)
	}
	if a, err := ParseActivated(ab); err != nil || a.Verify(k.Public()) {
		t.Fatalf("an abandoned-run statement verifies as an activated-run statement (%v)", err)
	}
	if g, err := ParseFrozen(append([]byte{0}, ab...)); err != nil || g.Verify(k.Public()) {
		t.Fatalf("an abandoned-run statement verifies as a frozen-run statement (%v)", err)
	}
	for _, bad := range [][]byte{nil, {2}, b[:len(b)-1]} {
		if _, err := ParseFrozen(bad); err == nil {
			t.Fatalf("ParseFrozen(%x) parses", bad)
		}
	}
}

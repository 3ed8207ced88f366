package peercheck_test

import (
	"slices"
	"testing"

	"github.com/rwadurian/tsskit/party/peercheck"
)

// Every message of a real keygen and a real signing passes every party's
// checks, in the order sent and in reverse order (later rounds first, so
// that the keygen checks held for a sender's round-1 message run too).
func TestRealMessagesPass(t *testing.T) {
	f := fixture(t)
	for self := range f.ids {
		for _, reverse := range []bool{false, true} {
			kg := peercheck.NewKeygen(fixtureParties, self, fixtureThreshold, f.ring(self))
			kgBare := peercheck.NewKeygen(fixtureParties, self, fixtureThreshold, nil)
			order := slices.Clone(f.kgOrder)
			if reverse {
				slices.Reverse(order)
			}
			n := 0
			for _, k := range order {
				if k.from == self || (k.to != -1 && k.to != self) {
					continue
				}
				for _, c := range []*peercheck.Keygen{kg, kgBare} {
					if err := c.Check(f.keygen[k]); err != nil {
						t.Fatalf("party %d, %s from %d: %v", self, k.typ, k.from, err)
					}
				}
				n++
			}
			if want := (fixtureParties - 1) * 4; n != want {
				t.Fatalf("party %d checked %d keygen messages; want %d", self, n, want)
			}

			sg, err := peercheck.NewSign(f.saves[self], f.ids, self)
			if err != nil {
				t.Fatal(err)
			}
			order = slices.Clone(f.sgnOrder)
			if reverse {
				slices.Reverse(order)
			}
			n = 0
			for _, k := range order {
				if k.from == self || (k.to != -1 && k.to != self) {
					continue
				}
				if err := sg.Check(f.sign[k]); err != nil {
					t.Fatalf("party %d, %s from %d: %v", self, k.typ, k.from, err)
				}
				n++
			}
			if want := (fixtureParties - 1) * 10; n != want {
				t.Fatalf("party %d checked %d signing messages; want %d", self, n, want)
			}
		}
	}
}

package main

import (
	"testing"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

// bridgeSettle settles run sid, which made fresh (epoch 1) from shares
// (epoch 0), at the browser through Settle, as the SDK does, with
// server-2 named silent: every statement the browser signs is checked
// the way a server holder checks it (party.CheckSettle, party.CheckThaw,
// under the key its own record of the run names for the browser), and
// the browser's checks take the servers' statements.
func bridgeSettle(t *testing.T, td *deployment, shares, fresh map[string][]byte, sid string) {
	decode := func(b []byte) *share.Record {
		r, err := share.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	s1, s1old := decode(fresh["server-1"]), decode(shares["server-1"])
	// The servers' identity keys (their records here keep none).
	k1, k2 := td.key(t, "server-1"), td.key(t, "server-2")
	browserKey := func() identity.PublicKey {
		for _, h := range s1.Holders {
			if h.PartyID == "browser-1" {
				return h.Identity
			}
		}
		t.Fatal("server-1's record names no browser-1")
		return identity.PublicKey{}
	}()
	wallet := s1.WalletID
	step := func(p SettleParams) (*SettleOutput, error) {
		p.SessionID, p.Epoch = sid, 1
		if p.Active == nil {
			p.Active = shares["browser-1"]
		}
		return Settle(p)
	}
	want := func(what string, err error, code string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: succeeded; want %s", what, code)
		}
		if e := toError(err); e.Code != code {
			t.Fatalf("%s: %v; want %s", what, err, code)
		}
	}

	// Freeze: a frozen-run statement server-1 takes for a drop.
	fz, err := step(SettleParams{Step: "frozen", Pending: fresh["browser-1"]})
	if err != nil {
		t.Fatal(err)
	}
	f, err := identity.ParseFrozen(fz.Statement)
	if err != nil || !fz.Held || !f.Held || f.SessionID != sid || f.PartyID != "browser-1" || f.WalletID != wallet || f.Epoch != 1 || !f.Verify(browserKey) {
		t.Fatalf("the browser's frozen-run statement: %+v, %v", f, err)
	}
	if err := party.CheckSettle(s1, s1old, sid, []string{"server-2"}, [][]byte{fz.Statement}, nil); err != nil {
		t.Fatalf("server-1's drop on the browser's statement: %v", err)
	}
	// Without its share of the epoch before, the browser does not say it holds one.
	if nh, err := step(SettleParams{Step: "frozen", Active: []byte{}, Pending: fresh["browser-1"]}); err != nil || nh.Held {
		t.Fatalf("a browser with no active share: %+v, %v", nh, err)
	}

	// Drop: only on server-1's frozen-run statement, server-2 silent.
	s1frozen := identity.SignFrozen(k1, sid, wallet, "server-1", 1, true)
	_, err = step(SettleParams{Step: "drop", Pending: fresh["browser-1"], Silent: []string{"server-2"}})
	want("a drop without server-1's statement", err, "settle_refused")
	_, err = step(SettleParams{Step: "drop", Pending: fresh["browser-1"], Silent: []string{"server-1", "server-2"}, Frozen: [][]byte{s1frozen}})
	want("a drop with as many silent as signers", err, "settle_refused")
	_, err = step(SettleParams{Step: "drop", Pending: fresh["browser-1"], Silent: []string{"server-2"}, Frozen: [][]byte{identity.SignFrozen(k1, sid, wallet, "server-2", 1, true)}})
	want("a drop on a statement under another holder's key", err, "settle_refused")
	dr, err := step(SettleParams{Step: "drop", Pending: fresh["browser-1"], Silent: []string{"server-2"}, Frozen: [][]byte{s1frozen}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := identity.ParseAbandoned(dr.Statement)
	if err != nil || a.SessionID != sid || a.PartyID != "browser-1" || a.Epoch != 1 || !a.Verify(browserKey) {
		t.Fatalf("the browser's abandoned-run statement: %+v, %v", a, err)
	}
	// Once the run's share is gone, the same statement under the active record's key.
	again, err := step(SettleParams{Step: "abandoned"})
	if err != nil {
		t.Fatal(err)
	}
	if a2, perr := identity.ParseAbandoned(again.Statement); perr != nil || !a2.Verify(browserKey) || a2.SessionID != sid {
		t.Fatalf("the abandoned-run statement again: %v", perr)
	}

	// Pin and thaw: the browser's pinned-run statement thaws server-1; the
	// browser thaws on server-1's pinned-run and server-2's activated-run
	// statements.
	pn, err := step(SettleParams{Step: "pinned", Pending: fresh["browser-1"]})
	if err != nil {
		t.Fatal(err)
	}
	s2active := identity.SignActivated(k2, sid, wallet, "server-2", 1)
	if err := party.CheckThaw(s1, sid, nil, [][]byte{pn.Statement, s2active}); err != nil {
		t.Fatalf("server-1's thaw on the browser's pinned-run statement: %v", err)
	}
	s1pinned := identity.SignPinned(k1, sid, wallet, "server-1", 1)
	if out, err := step(SettleParams{Step: "thaw", Pending: fresh["browser-1"], Words: [][]byte{s1pinned, s2active}}); err != nil || out.Statement != nil {
		t.Fatalf("the browser's thaw: %v", err)
	}
	_, err = step(SettleParams{Step: "thaw", Pending: fresh["browser-1"], Words: [][]byte{s1pinned}})
	want("a thaw without server-2's word", err, "settle_refused")
	if _, err := step(SettleParams{Step: "thaw", Pending: fresh["browser-1"], Silent: []string{"server-2"}, Words: [][]byte{s1pinned}}); err != nil {
		t.Fatalf("a thaw with server-2 named silent: %v", err)
	}

	// Activated: the run is the browser's active share.
	ac, err := step(SettleParams{Step: "activated", Active: fresh["browser-1"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := party.CheckThaw(s1, sid, nil, [][]byte{ac.Statement, s2active}); err != nil {
		t.Fatalf("server-1's thaw on the browser's activated-run statement: %v", err)
	}
	_, err = step(SettleParams{Step: "activated"})
	want("an activated-run statement from the epoch before's share", err, "settle_refused")

	// Bad input.
	_, err = step(SettleParams{Step: "melt", Pending: fresh["browser-1"]})
	want("an unknown step", err, "invalid_argument")
	_, err = step(SettleParams{Step: "frozen"})
	want("a freeze with no share of the run", err, "settle_refused")
	_, err = step(SettleParams{Step: "frozen", Pending: shares["browser-1"]})
	want("a pending share of another epoch", err, "invalid_argument")
	_, err = step(SettleParams{Step: "frozen", Pending: fresh["server-1"]})
	want("another party's share", err, "invalid_argument")
	_, err = Settle(SettleParams{Step: "frozen", Pending: fresh["browser-1"], Epoch: 1})
	want("no session", err, "invalid_argument")
}

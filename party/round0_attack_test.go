package party

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/seal"
)

// The attacks of this file are made by a party of the session in round 0,
// before tss-lib starts: a list that lies about another party's entry, and
// a flood of round-1 envelopes while the roster is not yet confirmed.

// TestAttackRound0Lie: mallory's round-0 list shows honest-a's entry other
// than it is, to have the session fail blaming honest-a. The honest
// parties cannot tell a relay's substitution from mallory's lie, so they
// name both; mallory is never left out.
func TestAttackRound0Lie(t *testing.T) {
	w := newAttackWorld(t)
	testConfirm = func(self string, list []byte) []byte {
		if self == mallory {
			at := len(rosterDomain) + 1 + 32*w.roster.Index("honest-a")
			list[at] ^= 1
		}
		return list
	}
	t.Cleanup(func() { testConfirm = nil })
	errs := w.keygen(t, "kg-round0-lie", nil)
	for id, err := range errs {
		e, ok := AsError(err)
		if !ok || e.Code != CodeIdentity || !slices.Contains(e.Culprits, mallory) {
			t.Errorf("%s: got %v; want an identity refusal naming %s", id, err, mallory)
		}
		if e != nil && e.Round > 0 {
			t.Errorf("%s: failed in round %d, after tss-lib started", id, e.Round)
		}
	}
}

// TestAttackRound0Flood: mallory withholds its round-0 list and sends
// honest-a round-1 envelopes: honest-a holds at most a handful from it,
// then fails naming mallory, instead of buffering until the session's
// deadline. Envelopes that mallory's session key did not sign are never
// held.
func TestAttackRound0Flood(t *testing.T) {
	w := newAttackWorld(t)
	ss := w.sessions(t, identity.SessionKeygen, "kg-round0-flood", "wallet-kg-round0-flood", nil)
	pubs := map[string]seal.PublicKeys{}
	for i, id := range attackIDs {
		pubs[id] = ss[i].Keys.Public()
	}
	mi := slices.Index(attackIDs, mallory)
	ch, err := seal.NewChannel(ss[mi].ID, mallory, ss[mi].Keys, pubs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	net := newAttackNet()
	garbage := make([]byte, 64<<10)
	for range 64 { // an honest peer sends at most two before round 0 ends
		env, err := ch.Seal("", 1, garbage)
		if err != nil {
			t.Fatal(err)
		}
		if err := (&attackTransport{net: net, self: mallory}).Send(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 2)
	for i, id := range attackIDs {
		if id == mallory {
			continue
		}
		go func() {
			_, err := Keygen(ctx, KeygenRequest{Session: ss[i], WalletID: "wallet-kg-round0-flood", PreParams: w.pps[id], Identity: w.keys[id]},
				&attackTransport{net: net, self: id})
			if id == "honest-a" {
				cancel() // the coordinator ends the session for everyone
			}
			done <- err
		}()
	}
	var firstErr error
	for range 2 {
		if err := <-done; firstErr == nil || errors.Is(firstErr, context.Canceled) {
			firstErr = err
		}
	}
	e, ok := AsError(firstErr)
	if !ok || e.Code != CodeProtocol || !slices.Equal(e.Culprits, []string{mallory}) || !strings.Contains(e.Error(), "before this party confirmed the roster") {
		t.Fatalf("got %v; want a protocol error naming %s", firstErr, mallory)

	}
}

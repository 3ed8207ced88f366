package vault

import (
	"errors"
	"slices"
	"testing"
)

// TestReshareRuns: the runs a party joined, what became of each, and the
// rule they serve — a run that never stored its share is abandoned when a
// later run of its epoch is joined, and its share is refused from then
// on; a run that stored is never reported abandoned.
func TestReshareRuns(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		v, k, r0, r1 := activeAndNext(t, b)
		w, p := r0.WalletID, r0.PartyID
		runs := func(v *Vault) []Run {
			t.Helper()
			rs, err := v.Runs(w, p)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		if rs := runs(v); len(rs) != 0 {
			t.Fatalf("runs of a new vault: %v", rs)
		}
		for _, s := range []string{"rs-a", "rs-b"} {
			if err := v.JoinRun(w, p, 1, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.JoinRun(w, p, 1, "rs-a"); err != nil {
			t.Fatalf("joining a recorded run again: %v", err)
		}
		// A run of a later epoch (a party that kept a stale share, added
		// back as a new member) is recorded beside them.
		if err := v.JoinRun(w, p, 3, "rs-later"); err != nil {
			t.Fatal(err)
		}
		// rs-b stores its share; joining rs-c abandons rs-a only.
		if err := v.PutPendingShareFrom(r1, "rs-b"); err != nil {
			t.Fatal(err)
		}
		if err := v.JoinRun(w, p, 1, "rs-c"); err != nil {
			t.Fatal(err)
		}
		got, err := v.AbandonRuns(w, p, 1, "rs-c")
		if err != nil || !slices.Equal(got, []string{"rs-a"}) {
			t.Fatalf("AbandonRuns: %v, %v; want [rs-a]", got, err)
		}
		// Durable, and reported again (the statement is signed at every
		// later run).
		reopened := b.open(t, k)
		if want := []Run{{"rs-a", 1, RunAbandoned}, {"rs-b", 1, RunStored}, {"rs-later", 3, RunJoined}, {"rs-c", 1, RunJoined}}; !slices.Equal(runs(reopened), want) {
			t.Fatalf("runs after reopening: %v, want %v", runs(reopened), want)
		}
		if got, err := reopened.AbandonRuns(w, p, 1, "rs-c"); err != nil || !slices.Equal(got, []string{"rs-a"}) {
			t.Fatalf("AbandonRuns again: %v, %v", got, err)
		}
		// The abandoned run's share is refused, and it is not joined again.
		if err := reopened.PutPendingShareFrom(atEpoch(t, r0, 1), "rs-a"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("storing an abandoned run's share: %v, want ErrInvalid", err)
		}
		if got, from, err := reopened.GetPendingShareFrom(w, p); err != nil || from != "rs-b" {
			t.Fatalf("pending share after the refusal: from %q, %v; want rs-b's", from, err)
		} else {
			sameShare(t, "pending share after the refusal", got, nil, r1)
		}
		if err := reopened.JoinRun(w, p, 1, "rs-a"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("joining an abandoned run: %v, want ErrInvalid", err)
		}
		// rs-c stores (it replaces rs-b's pending share, which a caller
		// does only on another holder's abandoned-run statement for rs-b);
		// rs-b, stored once, is never reported abandoned.
		r1c := atEpoch(t, r0, 1)
		if err := reopened.PutPendingShareFrom(r1c, "rs-c"); err != nil {
			t.Fatal(err)
		}
		if err := reopened.JoinRun(w, p, 1, "rs-d"); err != nil {
			t.Fatal(err)
		}
		if got, err := reopened.AbandonRuns(w, p, 1, "rs-d"); err != nil || !slices.Equal(got, []string{"rs-a"}) {
			t.Fatalf("AbandonRuns after two stored runs: %v, %v; want [rs-a]", got, err)
		}
		// A run the pending share names is never abandoned, whatever the
		// runs record says (one rewritten to say it was only joined).
		raw := runs(reopened)
		for i := range raw {
			if raw[i].SessionID == "rs-c" {
				raw[i].State = RunJoined
			}
		}
		reopened.pendingMu.Lock()
		err = reopened.putRunsLocked(w, p, raw)
		reopened.pendingMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := reopened.AbandonRuns(w, p, 1, "rs-d"); err != nil || !slices.Equal(got, []string{"rs-a"}) {
			t.Fatalf("AbandonRuns with the pending share's run recorded joined: %v, %v; want [rs-a]", got, err)
		}
		// Once epoch 1 is active, its runs are dropped at the next record,
		// and a run of epoch 1 is refused.
		if err := reopened.ActivateShareFrom(w, p, 1, "rs-c"); err != nil {
			t.Fatal(err)
		}
		// A run of an epoch the party has is refused before it is
		// recorded: its records were dropped, a stored one with them.
		if err := reopened.JoinRun(w, p, 1, "rs-b"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("joining a run of the active epoch again: %v, want ErrStaleEpoch", err)
		}
		if _, err := reopened.AbandonRuns(w, p, 1, "rs-x"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("abandoning runs of the active epoch: %v, want ErrStaleEpoch", err)
		}
		if err := reopened.JoinRun(w, p, 2, "rs-e"); err != nil {
			t.Fatal(err)
		}
		if want := []Run{{"rs-later", 3, RunJoined}, {"rs-e", 2, RunJoined}}; !slices.Equal(runs(reopened), want) {
			t.Fatalf("runs at the next epoch: %v, want %v", runs(reopened), want)
		}
		// Once the party holds no share of the wallet (it was dropped),
		// the floor kept in the record still refuses epoch 1's runs.
		if err := reopened.RetireShare(w, p, 2); err != nil {
			t.Fatal(err)
		}
		if err := reopened.JoinRun(w, p, 1, "rs-b"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("joining a run of a dropped epoch without a share: %v, want ErrStaleEpoch", err)
		}
		// Bounds: MaxRuns per epoch, and arguments.
		for i := 1; i < MaxRuns; i++ {
			if err := reopened.JoinRun(w, p, 2, "rs-many-"+string(rune('A'+i%26))+string(rune('a'+i/26))); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		if err := reopened.JoinRun(w, p, 2, "rs-one-too-many"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("run past MaxRuns: %v, want ErrInvalid", err)
		}
		for name, err := range map[string]error{
			"epoch 0":     reopened.JoinRun(w, p, 0, "rs-x"),
			"bad session": reopened.JoinRun(w, p, 2, "a b"),
			"empty":       reopened.JoinRun("", p, 2, "rs-x"),
		} {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})
}

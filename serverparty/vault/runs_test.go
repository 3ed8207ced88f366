package vault

import (
	"errors"
	"fmt"
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
		join := func(v *Vault, epoch int, session string, want ...string) {
			t.Helper()
			got, err := v.JoinRun(w, p, epoch, session)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("JoinRun(%d, %s): %v, %v; want abandoned %v", epoch, session, got, err, want)
			}
		}
		if rs := runs(v); len(rs) != 0 {
			t.Fatalf("runs of a new vault: %v", rs)
		}
		join(v, 1, "rs-a")
		join(v, 1, "rs-a") // joining a recorded run again changes nothing
		if want := []Run{{"rs-a", 1, RunJoined, false}}; !slices.Equal(runs(v), want) {
			t.Fatalf("runs after joining twice: %v, want %v", runs(v), want)
		}
		// A run of a later epoch (a party that kept a stale share, added
		// back as a new member) is recorded beside them, and abandons
		// nothing of epoch 1.
		join(v, 3, "rs-later")
		// Joining rs-b abandons rs-a, which never stored; rs-b stores its
		// share, so joining rs-c abandons rs-a only.
		join(v, 1, "rs-b", "rs-a")
		if err := v.PutPendingShareFrom(r1, "rs-b"); err != nil {
			t.Fatal(err)
		}
		join(v, 1, "rs-c", "rs-a")
		// Durable, and reported again (the statement is signed at every
		// later run, and at a run joined again).
		reopened := b.open(t, k)
		if want := []Run{{"rs-a", 1, RunAbandoned, false}, {"rs-later", 3, RunJoined, false}, {"rs-b", 1, RunStored, false}, {"rs-c", 1, RunJoined, false}}; !slices.Equal(runs(reopened), want) {
			t.Fatalf("runs after reopening: %v, want %v", runs(reopened), want)
		}
		join(reopened, 1, "rs-c", "rs-a")
		// The abandoned run's share is refused, and it is not joined again.
		if err := reopened.PutPendingShareFrom(atEpoch(t, r0, 1), "rs-a"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("storing an abandoned run's share: %v, want ErrInvalid", err)
		}
		if got, from, err := reopened.GetPendingShareFrom(w, p); err != nil || from != "rs-b" {
			t.Fatalf("pending share after the refusal: from %q, %v; want rs-b's", from, err)
		} else {
			sameShare(t, "pending share after the refusal", got, nil, r1)
		}
		before := runs(reopened)
		if _, err := reopened.JoinRun(w, p, 1, "rs-a"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("joining an abandoned run: %v, want ErrInvalid", err)
		}
		if _, err := reopened.JoinRun(w, p, 3, "rs-c"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("joining a run recorded for another epoch: %v, want ErrInvalid", err)
		}
		if !slices.Equal(runs(reopened), before) {
			t.Fatalf("a refused join changed the record: %v, was %v", runs(reopened), before)
		}
		// rs-c stores (it replaces rs-b's pending share, which a caller
		// does only on another holder's abandoned-run statement for rs-b);
		// rs-b, stored once, is never reported abandoned.
		r1c := atEpoch(t, r0, 1)
		if err := reopened.PutPendingShareFrom(r1c, "rs-c"); err != nil {
			t.Fatal(err)
		}
		join(reopened, 1, "rs-d", "rs-a")
		// A run the pending share names is never abandoned, whatever the
		// runs record says (one rewritten to say it was only joined).
		raw := runs(reopened)
		for i := range raw {
			if raw[i].SessionID == "rs-c" {
				raw[i].State = RunJoined
			}
		}
		reopened.pendingMu.Lock()
		err := reopened.putRunsRecordLocked(w, p, runsRecord{Version: 1, Runs: raw})
		reopened.pendingMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		join(reopened, 1, "rs-d", "rs-a")
		// Once epoch 1 is active, its runs are dropped at the next record,
		// and a run of epoch 1 is refused.
		if err := reopened.ActivateShareFrom(w, p, 1, "rs-c"); err != nil {
			t.Fatal(err)
		}
		// A run of an epoch the party has is refused before it is
		// recorded: its records were dropped, a stored one with them.
		if _, err := reopened.JoinRun(w, p, 1, "rs-b"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("joining a run of the active epoch again: %v, want ErrStaleEpoch", err)
		}
		if _, err := reopened.JoinRun(w, p, 1, "rs-x"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("joining a new run of the active epoch: %v, want ErrStaleEpoch", err)
		}
		join(reopened, 2, "rs-e")
		if want := []Run{{"rs-later", 3, RunJoined, false}, {"rs-e", 2, RunJoined, false}}; !slices.Equal(runs(reopened), want) {
			t.Fatalf("runs at the next epoch: %v, want %v", runs(reopened), want)
		}
		// Once the party holds no share of the wallet (it was dropped),
		// the floor kept in the record still refuses epoch 1's runs.
		if err := reopened.RetireShare(w, p, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := reopened.JoinRun(w, p, 1, "rs-b"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("joining a run of a dropped epoch without a share: %v, want ErrStaleEpoch", err)
		}
		// Bounds: MaxRuns per epoch, and arguments.
		for i := 1; i < MaxRuns; i++ {
			ab, err := reopened.JoinRun(w, p, 2, "rs-many-"+string(rune('A'+i%26))+string(rune('a'+i/26)))
			if err != nil || len(ab) != i {
				t.Fatalf("run %d: %d abandoned, %v; want %d", i, len(ab), err, i)
			}
		}
		if _, err := reopened.JoinRun(w, p, 2, "rs-one-too-many"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("run past MaxRuns: %v, want ErrInvalid", err)
		}
		joinErr := func(wallet string, epoch int, session string) error {
			_, err := reopened.JoinRun(wallet, p, epoch, session)
			return err
		}
		for name, err := range map[string]error{
			"epoch 0":     joinErr(w, 0, "rs-x"),
			"bad session": joinErr(w, 2, "a b"),
			"empty":       joinErr("", 2, "rs-x"),
		} {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})
}

// TestUserRuns: the runs of a user party this server party runs (the
// account API's refresh), kept apart from the owner's: the same rule —
// an unstored run abandoned when a later one of its epoch is joined, and
// never stored then — with the floor raised only by an activation
// (SettleUserRuns), never by the epoch a run claims.
func TestUserRuns(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		v, k, r0, _ := activeAndNext(t, b)
		w := r0.WalletID
		const u = "user-1"
		join := func(v *Vault, epoch int, session string, want ...string) {
			t.Helper()
			got, err := v.JoinUserRun(w, u, epoch, session)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("JoinUserRun(%d, %s): %v, %v; want abandoned %v", epoch, session, got, err, want)
			}
		}
		userRuns := func(v *Vault) []Run {
			t.Helper()
			rs, err := v.UserRuns(w, u)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		join(v, 1, "us-a")
		join(v, 1, "us-a")
		join(v, 1, "us-b", "us-a")
		for range 2 {
			if err := v.MarkUserRunStored(w, u, 1, "us-b"); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.MarkUserRunStored(w, u, 1, "us-a"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("marking an abandoned run stored: %v, want ErrInvalid", err)
		}
		if err := v.MarkUserRunStored(w, u, 1, "us-x"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("marking a run never joined stored: %v, want ErrInvalid", err)
		}
		// A user party keeps no share: a run it stored and that was not
		// activated is abandoned by the next, like one it never stored.
		join(v, 1, "us-c", "us-a", "us-b")
		reopened := b.open(t, k)
		if want := []Run{{"us-a", 1, RunAbandoned, false}, {"us-b", 1, RunAbandoned, false}, {"us-c", 1, RunJoined, false}}; !slices.Equal(userRuns(reopened), want) {
			t.Fatalf("user runs after reopening: %v, want %v", userRuns(reopened), want)
		}
		if _, err := reopened.JoinUserRun(w, u, 1, "us-a"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("joining an abandoned run: %v, want ErrInvalid", err)
		}
		// Apart from the owner's own runs.
		if rs, err := reopened.Runs(w, r0.PartyID); err != nil || len(rs) != 0 {
			t.Fatalf("the owner's runs: %v, %v; want none", rs, err)
		}
		// A run claiming a far epoch is recorded beside them, and changes
		// nothing else: only an activation raises the floor.
		join(reopened, 1000, "us-far")
		join(reopened, 1, "us-c", "us-a", "us-b")
		// Epoch 1 activated: its runs are dropped, and it is refused from
		// then on; epoch 2 is joined.
		if err := reopened.SettleUserRuns(w, u, 1); err != nil {
			t.Fatal(err)
		}
		if err := reopened.SettleUserRuns(w, u, 1); err != nil {
			t.Fatalf("settling again: %v", err)
		}
		join(reopened, 2, "us-d")
		if want := []Run{{"us-far", 1000, RunJoined, false}, {"us-d", 2, RunJoined, false}}; !slices.Equal(userRuns(reopened), want) {
			t.Fatalf("user runs at epoch 2: %v, want %v", userRuns(reopened), want)
		}
		if _, err := reopened.JoinUserRun(w, u, 1, "us-e"); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("a run of an activated epoch: %v, want ErrStaleEpoch", err)
		}
		for i := 1; i < MaxRuns; i++ {
			if _, err := reopened.JoinUserRun(w, u, 2, fmt.Sprintf("us-many-%d", i)); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		if _, err := reopened.JoinUserRun(w, u, 2, "us-one-too-many"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("run past MaxRuns: %v, want ErrInvalid", err)
		}
		joinErr := func(wallet, party string, epoch int, session string) error {
			_, err := reopened.JoinUserRun(wallet, party, epoch, session)
			return err
		}
		bad := map[string]error{
			"epoch 0":         joinErr(w, u, 0, "us-x"),
			"bad session":     joinErr(w, u, 3, "a b"),
			"bad party":       joinErr(w, "a b", 3, "us-x"),
			"reserved wallet": joinErr(IdentityWalletID, u, 3, "us-x"),
		}
		if reopened.owner != "" {
			bad["the owner"] = joinErr(w, reopened.owner, 3, "us-x")
		}
		for name, err := range bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})
}

package vault

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/party/share"
)

// TestSettleRuns: settling a run in limbo at one party. A frozen run's
// share is never activated nor stored again, a drop deletes it only once
// its check accepts it and records the run abandoned first (so a later
// join says so, and a drop cut short finishes when run again), a pinned
// run is never dropped and a thaw gives it back, pinned for good (frozen
// again it is pinned, never dropped), and a run already activated here
// cannot be frozen.
func TestSettleRuns(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		v, k, r0, r1 := activeAndNext(t, b)
		w, p := r0.WalletID, r0.PartyID
		state := func(v *Vault, session string) RunState {
			t.Helper()
			rs, err := v.Runs(w, p)
			if err != nil {
				t.Fatal(err)
			}
			return runState(rs, session)
		}
		pendingFrom := func(v *Vault, want string) {
			t.Helper()
			_, from, err := v.GetPendingShareFrom(w, p)
			if want == "" && !errors.Is(err, ErrNotFound) || want != "" && (err != nil || from != want) {
				t.Fatalf("pending share from %q (%v); want from %q", from, err, want)
			}
		}
		if _, err := v.JoinRun(w, p, 1, "rs-s"); err != nil {
			t.Fatal(err)
		}
		if err := v.PutPendingShareFrom(r1, "rs-s"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := v.FreezeRun(w, p, "rs-other"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("freezing a run with no share here: %v, want ErrNotFound", err)
		}
		if _, err := v.DropRun(w, p, "rs-s", func(_, _ *share.Record) error { return nil }); !errors.Is(err, ErrInvalid) {
			t.Fatalf("dropping a run not frozen: %v, want ErrInvalid", err)
		}
		for range 2 { // freezing again changes nothing
			got, pinned, err := v.FreezeRun(w, p, "rs-s")
			sameShare(t, "the frozen run's share", got, err, r1)
			if pinned {
				t.Fatal("a run never pinned is frozen as pinned")
			}
		}
		reopened := b.open(t, k)
		if st := state(reopened, "rs-s"); st != RunFrozen {
			t.Fatalf("after a freeze and a reopen: %s, want %s", st, RunFrozen)
		}
		// Never activated, whoever asks, nor stored again.
		if err := reopened.ActivateShareFrom(w, p, 1, "rs-s"); !errors.Is(err, ErrFrozen) {
			t.Fatalf("activating a frozen run: %v, want ErrFrozen", err)
		}
		if err := reopened.ActivateShare(w, p, 1); !errors.Is(err, ErrFrozen) {
			t.Fatalf("activating a frozen run's epoch: %v, want ErrFrozen", err)
		}
		if err := reopened.PutPendingShareFrom(r1, "rs-s"); !errors.Is(err, ErrFrozen) {
			t.Fatalf("storing a frozen run's share again: %v, want ErrFrozen", err)
		}
		a, err := reopened.GetShare(w, p)
		sameShare(t, "the active share while frozen", a, err, r0)
		pendingFrom(reopened, "rs-s")

		// A refused check drops nothing; nor does a refused thaw.
		refused := errors.New("a holder's statement is missing")
		if _, err := reopened.DropRun(w, p, "rs-s", func(_, _ *share.Record) error { return refused }); !errors.Is(err, refused) {
			t.Fatalf("a drop its check refuses: %v", err)
		}
		pendingFrom(reopened, "rs-s")
		if err := reopened.ThawRun(w, p, "rs-s", func(*share.Record) error { return refused }); !errors.Is(err, refused) || state(reopened, "rs-s") != RunFrozen {
			t.Fatalf("a thaw its check refuses: %v, %s", err, state(reopened, "rs-s"))
		}
		// The drop: checked with the run's share and the active one.
		epoch, err := reopened.DropRun(w, p, "rs-s", func(pending, active *share.Record) error {
			sameShare(t, "the share the check sees", pending, nil, r1)
			sameShare(t, "the active share the check sees", active, nil, r0)
			return nil
		})
		if err != nil || epoch != 1 {
			t.Fatalf("drop: epoch %d, %v", epoch, err)
		}
		pendingFrom(reopened, "")
		if st := state(reopened, "rs-s"); st != RunAbandoned {
			t.Fatalf("after the drop: %s, want %s", st, RunAbandoned)
		}
		if got, err := reopened.JoinRun(w, p, 1, "rs-t"); err != nil || !slices.Equal(got, []string{"rs-s"}) {
			t.Fatalf("a later join after the drop: %v, %v; want rs-s abandoned", got, err)
		}
		noCheck := func(_, _ *share.Record) error { t.Fatal("a dropped run checked again"); return nil }
		if _, err := reopened.DropRun(w, p, "rs-s", noCheck); err != nil {
			t.Fatalf("dropping again: %v", err)
		}
		if err := reopened.ThawRun(w, p, "rs-s", func(*share.Record) error { return nil }); !errors.Is(err, ErrInvalid) {
			t.Fatalf("thawing a dropped run: %v, want ErrInvalid", err)
		}

		// A drop cut short after its record: the share left is never
		// activated, and dropping again deletes it.
		if err := reopened.PutPendingShareFrom(r1, "rs-t"); err != nil {
			t.Fatal(err)
		}
		reopened.pendingMu.Lock()
		rec, err := reopened.runsRecordLocked(w, p)
		if err == nil {
			rec.Runs[slices.IndexFunc(rec.Runs, func(r Run) bool { return r.SessionID == "rs-t" })].State = RunAbandoned
			err = reopened.putRunsRecordLocked(w, p, rec)
		}
		reopened.pendingMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if err := reopened.ActivateShareFrom(w, p, 1, "rs-t"); !errors.Is(err, ErrFrozen) {
			t.Fatalf("activating a dropped run's leftover share: %v, want ErrFrozen", err)
		}
		if _, err := reopened.DropRun(w, p, "rs-t", noCheck); err != nil {
			t.Fatal(err)
		}
		pendingFrom(reopened, "")

		// Thawed, a run is pinned for good: frozen again it is pinned
		// (its frozen-run statement from before the thaw still
		// verifies, and the others may activate it), and never dropped.
		// Pinned: never dropped, never activated, frozen again it stays
		// pinned; only a thaw ends it.
		if _, err := reopened.JoinRun(w, p, 1, "rs-u"); err != nil {
			t.Fatal(err)
		}
		if err := reopened.PutPendingShareFrom(r1, "rs-u"); err != nil {
			t.Fatal(err)
		}
		if _, err := reopened.PinRun(w, p, "rs-u"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("pinning a run not frozen: %v, want ErrInvalid", err)
		}
		if _, pinned, err := reopened.FreezeRun(w, p, "rs-u"); err != nil || pinned {
			t.Fatalf("freeze: pinned %t, %v", pinned, err)
		}
		dropRefused := func(why string) {
			t.Helper()
			if _, err := reopened.DropRun(w, p, "rs-u", func(_, _ *share.Record) error { t.Fatalf("%s: a drop checked", why); return nil }); !errors.Is(err, ErrInvalid) {
				t.Fatalf("dropping a run %s: %v, want ErrInvalid", why, err)
			}
			pendingFrom(reopened, "rs-u")
		}
		frozenAgain := func(why string) {
			t.Helper()
			got, pinned, err := reopened.FreezeRun(w, p, "rs-u")
			sameShare(t, "the run's share frozen "+why, got, err, r1)
			if !pinned || state(reopened, "rs-u") != RunPinned {
				t.Fatalf("freezing a run %s: pinned %t, %s; want it pinned", why, pinned, state(reopened, "rs-u"))
			}
		}
		thaw := func() {
			t.Helper()
			if err := reopened.ThawRun(w, p, "rs-u", func(pending *share.Record) error {
				sameShare(t, "the share the thaw's check sees", pending, nil, r1)
				return nil
			}); err != nil || state(reopened, "rs-u") != RunStored {
				t.Fatalf("thaw: %v, %s", err, state(reopened, "rs-u"))
			}
		}
		thaw()
		dropRefused("thawed")
		reopened = b.open(t, k)
		frozenAgain("thawed, after a reopen")
		dropRefused("thawed and frozen again")
		for range 2 {
			got, err := reopened.PinRun(w, p, "rs-u")
			sameShare(t, "the pinned run's share", got, err, r1)
		}
		frozenAgain("pinned")
		dropRefused("pinned")
		if err := reopened.ActivateShareFrom(w, p, 1, "rs-u"); !errors.Is(err, ErrFrozen) {
			t.Fatalf("activating a pinned run: %v, want ErrFrozen", err)
		}
		thaw()
		// Records of the version before the flag: a run pinned there (its
		// state, no flag) is pinned as well — frozen again it stays
		// pinned, never dropped — and a thaw gives it the flag. A record
		// whose version does not match its flags does not parse.
		putRaw := func(b string) {
			t.Helper()
			reopened.pendingMu.Lock()
			defer reopened.pendingMu.Unlock()
			if err := reopened.store.putRuns(w, p, []byte(b)); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range []string{
			`{"version":1,"runs":[{"session_id":"rs-u","epoch":1,"state":"stored","pinned":true}]}`,
			`{"version":2,"runs":[{"session_id":"rs-u","epoch":1,"state":"stored"}]}`,
		} {
			putRaw(b)
			if _, err := reopened.Runs(w, p); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a runs record whose version does not match its flags, %s: %v, want ErrCorrupt", b, err)
			}
		}
		putRaw(`{"version":1,"runs":[{"session_id":"rs-u","epoch":1,"state":"pinned"}]}`)
		frozenAgain("pinned by the version before the flag")
		dropRefused("pinned by the version before the flag")
		thaw()
		// The record of a run pinned for good is one an older party
		// refuses to read rather than drop such a run.
		reopened.pendingMu.Lock()
		rec, err = reopened.runsRecordLocked(w, p)
		reopened.pendingMu.Unlock()
		if err != nil || rec.Version != 2 {
			t.Fatalf("the runs record with a run pinned for good: version %d, %v; want 2", rec.Version, err)
		}

		// A run activated here is completed, not frozen.
		if err := reopened.ActivateShareFrom(w, p, 1, "rs-u"); err != nil {
			t.Fatalf("activating the thawed run: %v", err)
		}
		if _, _, err := reopened.FreezeRun(w, p, "rs-u"); !errors.Is(err, ErrActivated) {
			t.Fatalf("freezing the active share's run: %v, want ErrActivated", err)
		}
	})
}

// TestExclusive: one process (here, one Vault) claims a vault; another
// is refused (ErrInUse) until the first closes it.
func TestExclusive(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		k := newKey(t)
		first, second := b.open(t, k), b.open(t, k)
		if err := first.Exclusive(); err != nil {
			t.Fatal(err)
		}
		if err := second.Exclusive(); !errors.Is(err, ErrInUse) {
			t.Fatalf("a second claim: %v, want ErrInUse", err)
		}
		first.Close()
		if err := second.Exclusive(); err != nil {
			t.Fatalf("a claim after the first closed: %v", err)
		}
	})
}

// TestClaimLost: a PostgreSQL claim ends with its connection. The process
// that held it sees that (ClaimLost) and writes nothing more; and one that
// did not see it yet writes nothing once another process claimed the
// vault: every write of a claimed vault checks the claim's generation.
func TestClaimLost(t *testing.T) {
	b := newPGBackend(t)
	first, k, r0, r1 := activeAndNext(t, b)
	w, p := r0.WalletID, r0.PartyID
	if first.ClaimLost() != nil {
		t.Fatal("ClaimLost of a vault not claimed is not nil")
	}
	if err := first.Exclusive(); err != nil {
		t.Fatal(err)
	}
	other := atEpoch(t, r0, 0)
	other.WalletID = "wallet-other"
	writes := []struct {
		name string
		do   func(v *Vault) error
	}{
		{"PutShare", func(v *Vault) error { return v.PutShare(other) }},
		{"PutPendingShare", func(v *Vault) error { return v.PutPendingShare(r1) }},
		{"ActivateShare", func(v *Vault) error { return v.ActivateShare(w, p, 1) }},
		{"PutPreParams", func(v *Vault) error { _, err := v.PutPreParams(fixturePreParams(t)[0]); return err }},
		{"TakePreParams", func(v *Vault) error { _, err := v.TakePreParams(); return err }},
		{"JoinRun", func(v *Vault) error {
			epoch := 1
			if a, err := v.GetShare(w, p); err == nil {
				epoch = a.Epoch + 1
			}
			_, err := v.JoinRun(w, p, epoch, "session-claim")
			return err
		}},
		{"Rotate", func(v *Vault) error { _, err := v.Rotate(newKey(t)); return err }},
	}
	refused := func(v *Vault, why string) {
		t.Helper()
		for _, wr := range writes {
			if err := wr.do(v); !errors.Is(err, ErrClaimLost) {
				t.Fatalf("%s %s: %v, want ErrClaimLost", wr.name, why, err)
			}
		}
	}
	if err := first.PutPendingShare(r1); err != nil {
		t.Fatalf("a write of the claimed vault: %v", err)
	}
	if err := first.Exclusive(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second claim by the same Vault: %v, want ErrInvalid", err)
	}

	// The claim's connection ends (a database restart, a killed backend).
	pgs := first.store.(*pgStore)
	var ok bool
	if err := b.db.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, int(pgs.claimPID)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminating the claim's backend: %t, %v", ok, err)
	}
	select {
	case <-first.ClaimLost():
	case <-time.After(10 * time.Second):
		t.Fatal("ClaimLost not closed 10 s after the claim's connection ended")
	}
	refused(first, "after the claim's connection ended")

	// Another process claims the vault; the first, had it not seen its
	// claim end, still writes nothing.
	second := b.open(t, k)
	if err := second.Exclusive(); err != nil {
		t.Fatalf("a claim after the first one's connection ended: %v", err)
	}
	pgs.lost.Store(false)
	refused(first, "after another process claimed the vault")
	if got, err := second.GetPendingShare(w, p); err != nil || got.Epoch != 1 {
		t.Fatalf("the pending share the first claim stored: %v, %v", got, err)
	}
	if err := second.ActivateShare(w, p, 1); err != nil {
		t.Fatalf("a write of the second claim: %v", err)
	}

	// The claims row deleted: no write passes the fence, and no claim
	// after it gets a generation given before.
	b.exec(t, `DELETE FROM vault_claims`)
	refused(second, "after its claims row was deleted")
	second.Close()
	third := b.open(t, k)
	if err := third.Exclusive(); err != nil {
		t.Fatal(err)
	}
	if g := third.store.(*pgStore).gen.Load(); g == pgs.gen.Load() || g == second.store.(*pgStore).gen.Load() {
		t.Fatalf("a claim after the row was deleted got generation %d again", g)
	}
	refused(first, "after the claims row was deleted and the vault claimed again")
	if err := third.PutShare(other); err != nil {
		t.Fatalf("a write of the third claim: %v", err)
	}
}

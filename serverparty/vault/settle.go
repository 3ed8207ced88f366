package vault

import (
	"errors"
	"fmt"
	"slices"

	"github.com/rwadurian/tsskit/party/share"
)

// Settling a run in limbo (docs/lifecycle.md). A reshare run that every
// new holder stored but that was never activated, and of which one
// holder stays silent (a lost device, a crashed host), blocks every later
// run of its epoch: no holder may abandon a run it stored, since the
// coordinator may already hold its stored acknowledgement and could
// activate the run at the other holders. An operator settles it in two
// steps, on every holder that is not silent: FreezeRun, after which the
// party never activates that run's share (its signed frozen-run
// statement says so), then, given every other such holder's statement,
// DropRun, which records the run abandoned and deletes the share, so
// that the party's later joins say so. A frozen run is thawed (ThawRun)
// only after PinRun at every other server holder that froze it (a pinned
// run is never dropped) or with their word that it is active there. No holder that is not silent can
// then activate the run, and the silent ones are too few to sign with it
// (party.CheckSettle).

func runState(runs []Run, sessionID string) RunState {
	if sessionID == "" {
		return ""
	}
	for _, r := range runs {
		if r.SessionID == sessionID {
			return r.State
		}
	}
	return ""
}

// FreezeRun records, durably, that partyID never activates its pending
// share of walletID from reshare session sessionID unless ThawRun undoes
// it, and returns that share, and whether the run is pinned instead of
// frozen: a run pinned or thawed here before (Run.Pinned) is pinned
// again, for it is never dropped here. Freezing a frozen run again
// changes nothing. It refuses (ErrNotFound) when the party holds no
// pending share from that session, and (ErrActivated) when that
// session's share is its active share already: the run was activated
// here, and is completed at every holder instead.
func (v *Vault) FreezeRun(walletID, partyID, sessionID string) (p *share.Record, pinned bool, err error) {
	// The share first: a run active here is ErrActivated whatever the
	// runs record holds.
	first := func() (err error) {
		p, err = v.pendingFromLocked(walletID, partyID, sessionID)
		return err
	}
	err = v.withRun(walletID, partyID, sessionID, first, func(rec runsRecord, i int) error {
		switch {
		case i >= 0 && rec.Runs[i].State == RunAbandoned:
			return newErr(ErrInvalid, "", fmt.Sprintf("run %q was dropped here; its pending share is left from an interrupted drop: drop it again", sessionID), nil)
		case i >= 0 && rec.Runs[i].pinnedForGood():
			pinned = true
			if rec.Runs[i].State == RunPinned {
				return nil
			}
			rec.Runs[i].State = RunPinned
		case i >= 0 && rec.Runs[i].State == RunFrozen:
			return nil
		case i >= 0:
			rec.Runs[i].State = RunFrozen
		default:
			rec.Runs = append(rec.Runs, Run{SessionID: sessionID, Epoch: p.Epoch, State: RunFrozen})
		}
		return v.putRunsRecordLocked(walletID, partyID, rec)
	})
	if err != nil {
		return nil, false, err
	}
	return p, pinned, nil
}

// withRun checks the arguments of a settle step, takes v.pendingMu,
// calls first (unless nil), and then f with the runs record of (walletID,
// partyID) and the index of sessionID's run in it, -1 if none.
func (v *Vault) withRun(walletID, partyID, sessionID string, first func() error, f func(rec runsRecord, i int) error) error {
	if err := v.checkReshareArgs(walletID, partyID, 1); err != nil {
		return err
	}
	if err := checkSessionID(sessionID); err != nil {
		return err
	}
	v.pendingMu.Lock()
	defer v.pendingMu.Unlock()
	if first != nil {
		if err := first(); err != nil {
			return err
		}
	}
	rec, err := v.runsRecordLocked(walletID, partyID)
	if err != nil {
		return err
	}
	return f(rec, slices.IndexFunc(rec.Runs, func(r Run) bool { return r.SessionID == sessionID }))
}

// pendingFromLocked is partyID's pending share of walletID from session
// sessionID. v.pendingMu is held.
func (v *Vault) pendingFromLocked(walletID, partyID, sessionID string) (*share.Record, error) {
	p, from, err := v.getShare(walletID, partyID, true)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err == nil && from == sessionID {
		return p, nil
	}
	if _, activeFrom, err := v.getShare(walletID, partyID, false); err == nil && activeFrom == sessionID {
		return nil, newErr(ErrActivated, "", fmt.Sprintf("the share of run %q is party %q's active share of wallet %q: the run was activated here; complete it at every holder instead", sessionID, partyID, walletID), nil)
	}
	return nil, newErr(ErrNotFound, "", fmt.Sprintf("party %q holds no pending share of wallet %q from run %q", partyID, walletID, sessionID), nil)
}

// PinRun records, durably, that partyID never drops its share of the
// frozen run sessionID of walletID (DropRun refuses it from then on): the
// step before thawing a run, which every other server holder takes
// (party.CheckThaw), so that no holder drops the run on a frozen-run
// statement whose holder then activates it. Pinning a pinned run again
// changes nothing. It returns the run's share.
func (v *Vault) PinRun(walletID, partyID, sessionID string) (*share.Record, error) {
	var p *share.Record
	err := v.withRun(walletID, partyID, sessionID, nil, func(rec runsRecord, i int) (err error) {
		if i < 0 || rec.Runs[i].State != RunFrozen && rec.Runs[i].State != RunPinned {
			return newErr(ErrInvalid, "", fmt.Sprintf("run %q of wallet %q is not frozen for party %q: only a frozen run is pinned", sessionID, walletID, partyID), nil)
		}
		if p, err = v.pendingFromLocked(walletID, partyID, sessionID); err != nil || rec.Runs[i].State == RunPinned && rec.Runs[i].Pinned {
			return err
		}
		rec.Runs[i].State, rec.Runs[i].Pinned = RunPinned, true
		return v.putRunsRecordLocked(walletID, partyID, rec)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ThawRun undoes FreezeRun (or PinRun) once check accepts it (given the
// run's share: party.CheckThaw, with every other server holder's word
// that it pinned the run or holds it active): the run is stored again,
// and its share may be activated. A frozen-run statement, once given
// out, may let another holder drop its share; only when none did and
// none will is the run thawed. The party's own frozen-run statement
// still verifies after the thaw, so the run stays pinned for good here
// (Run.Pinned): a later freeze pins it, and it is never dropped.
func (v *Vault) ThawRun(walletID, partyID, sessionID string, check func(pending *share.Record) error) error {
	return v.withRun(walletID, partyID, sessionID, nil, func(rec runsRecord, i int) error {
		if i < 0 || rec.Runs[i].State != RunFrozen && rec.Runs[i].State != RunPinned {
			return newErr(ErrInvalid, "", fmt.Sprintf("run %q of wallet %q is not frozen for party %q", sessionID, walletID, partyID), nil)
		}
		p, err := v.pendingFromLocked(walletID, partyID, sessionID)
		if err != nil {
			return err
		}
		if err := check(p); err != nil {
			return err
		}
		rec.Runs[i].State, rec.Runs[i].Pinned = RunStored, true
		return v.putRunsRecordLocked(walletID, partyID, rec)
	})
}

// DropRun deletes partyID's pending share of walletID from the frozen run
// sessionID, once check accepts it (given that share and the active one,
// nil if none: party.CheckSettle, with the other holders' frozen-run
// statements), and records the run abandoned first, so that a crash
// between leaves a share that is never activated, and a drop run again
// finishes. The party's later joins of the epoch carry its abandoned-run
// statement for that run (JoinRun). A run dropped already is dropped
// again without a check; a run not frozen is refused (ErrInvalid). It
// returns the run's epoch.
func (v *Vault) DropRun(walletID, partyID, sessionID string, check func(pending, active *share.Record) error) (int, error) {
	var epoch int
	err := v.withRun(walletID, partyID, sessionID, nil, func(rec runsRecord, i int) error {
		switch {
		case i >= 0 && rec.Runs[i].pinnedForGood():
			return newErr(ErrInvalid, "", fmt.Sprintf("run %q of wallet %q was pinned for party %q (a pin or a thaw): it is thawed, never dropped", sessionID, walletID, partyID), nil)
		case i < 0 || rec.Runs[i].State != RunFrozen && rec.Runs[i].State != RunAbandoned:
			return newErr(ErrInvalid, "", fmt.Sprintf("run %q of wallet %q is not frozen for party %q: freeze it first", sessionID, walletID, partyID), nil)
		}
		epoch = rec.Runs[i].Epoch
		p, err := v.pendingFromLocked(walletID, partyID, sessionID)
		switch {
		case errors.Is(err, ErrNotFound):
			p = nil // replaced or deleted already: nothing of it is left here
		case err != nil:
			return err
		}
		if rec.Runs[i].State == RunFrozen {
			if p != nil {
				a, err := v.GetShare(walletID, partyID)
				if errors.Is(err, ErrNotFound) {
					a, err = nil, nil
				}
				if err != nil {
					return err
				}
				if err := check(p, a); err != nil {
					return err
				}
			}
			rec.Runs[i].State = RunAbandoned
			if err := v.putRunsRecordLocked(walletID, partyID, rec); err != nil {
				return err
			}
		}
		if p == nil {
			return nil
		}
		v.mu.RLock()
		defer v.mu.RUnlock()
		return v.store.activateShare(walletID, partyID, func(pending, _ *rawRecord) (activation, error) {
			if pending == nil {
				return keepPending, nil
			}
			if _, from, err := v.openShareFrom(pending, walletID, partyID, true); err != nil || from != sessionID {
				return keepPending, err
			}
			return dropPending, nil
		})
	})
	if err != nil {
		return 0, err
	}
	return epoch, nil
}

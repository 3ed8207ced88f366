package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

// A party's reshare runs of one wallet (docs/lifecycle.md, one
// acknowledged run per epoch). Every run the party joins as a new holder
// is recorded before it computes anything (JoinRun); storing the run's
// pending share marks it stored (PutPendingShareFrom), in the record
// before the share itself, so a crash between leaves a run marked stored
// without its share, never a stored share whose run is not marked. A run
// of the same epoch that never stored its share is marked abandoned when
// a later run of that epoch is joined (JoinRun): the party then signs
// a statement that it never stored that run's share and never will, and
// the vault refuses that run's share from then on. Runs of an epoch not
// above the active share's are dropped when a run is recorded: such a run
// can no longer store a share (PutPendingShare refuses it).
//
// The record is not secret and not encrypted: what could be learnt from
// it is which reshares ran. Whoever can write the vault's store can
// rewrite it as they can put back an earlier share record (the vault
// has no rollback protection; docs/security.md).

// RunState is what became of a reshare run a party joined.
type RunState string

const (
	RunJoined    RunState = "joined"    // joined; no share stored yet
	RunStored    RunState = "stored"    // its share was stored (pending, then perhaps active)
	RunAbandoned RunState = "abandoned" // never stored, and never will be; or stored and dropped (DropRun)
	RunFrozen    RunState = "frozen"    // stored, and not activated unless thawed (FreezeRun)
	RunPinned    RunState = "pinned"    // frozen, and never dropped: only thawed (PinRun)
)

// A run pinned once (PinRun) or thawed (ThawRun) is never dropped at
// the party again, whatever its state (Run.Pinned): the frozen-run
// statement it gave out before still verifies, and the other holders
// may have activated the run since. Freezing it again pins it.

// Settling says whether a run in state st is being settled (or was
// dropped): its share is neither activated nor stored again, and a party
// still holding it takes part in no other run of its epoch.
func Settling(st RunState) bool {
	return st == RunFrozen || st == RunPinned || st == RunAbandoned
}

// Run is one recorded reshare run.
type Run struct {
	SessionID string   `json:"session_id"`
	Epoch     int      `json:"epoch"`
	State     RunState `json:"state"`
	// Pinned: the run was pinned or thawed here; it is never dropped
	// here, and a freeze pins it.
	Pinned bool `json:"pinned,omitempty"`
}

// pinnedForGood says whether the run is never dropped here: pinned now,
// or pinned or thawed once (Pinned). A record written before the flag
// has a pinned run in state "pinned" only.
func (r Run) pinnedForGood() bool { return r.Pinned || r.State == RunPinned }

// runsRecordVersion is the runs record's version: 2 once a run is
// pinned for good (Run.Pinned), which a party that predates the flag
// refuses to read (ErrCorrupt) rather than drop such a run; 1 otherwise.
func runsRecordVersion(runs []Run) int {
	if slices.ContainsFunc(runs, func(r Run) bool { return r.Pinned }) {
		return 2
	}
	return 1
}

type runsRecord struct {
	Version int   `json:"version"`
	Runs    []Run `json:"runs"`
	// Floor is the highest epoch whose runs were dropped (an active
	// share's): no run of it or below is recorded again, even once the
	// party holds no share of the wallet.
	Floor int `json:"floor,omitempty"`
}

// MaxRuns bounds the runs of one wallet's epoch a party records: past
// it, JoinRun refuses another (ErrInvalid) until an operator looks at
// why that epoch failed that often (as many as a join may carry
// statements for). maxRunsAll bounds the runs of all its epochs.
const (
	MaxRuns    = identity.MaxAbandoned
	maxRunsAll = 4 * MaxRuns
)

// Runs returns the recorded reshare runs of walletID for partyID, oldest
// first.
func (v *Vault) Runs(walletID, partyID string) ([]Run, error) {
	if err := v.checkReshareArgs(walletID, partyID, 1); err != nil {
		return nil, err
	}
	v.pendingMu.Lock()
	defer v.pendingMu.Unlock()
	return v.runsLocked(walletID, partyID)
}

// checkReshareArgs checks the arguments of a change for a reshare of
// (walletID, partyID) to epoch.
func (v *Vault) checkReshareArgs(walletID, partyID string, epoch int) error {
	if err := checkIDs(walletID, partyID); err != nil {
		return err
	}
	if walletID == IdentityWalletID {
		return newErr(ErrInvalid, "", "wallet id "+IdentityWalletID+" is reserved", nil)
	}
	if epoch < 1 || epoch > share.MaxEpoch {
		return newErr(ErrInvalid, "", fmt.Sprintf("epoch %d; a reshare's is 1..%d", epoch, share.MaxEpoch), nil)
	}
	return v.checkOwner(partyID)
}

func (v *Vault) runsLocked(walletID, partyID string) ([]Run, error) {
	rec, err := v.runsRecordLocked(walletID, partyID)
	return rec.Runs, err
}

func (v *Vault) runsRecordLocked(walletID, partyID string) (runsRecord, error) {
	b, err := v.store.getRuns(walletID, partyID)
	if err != nil || b == nil {
		return runsRecord{Version: 1}, err
	}
	var rec runsRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Version != runsRecordVersion(rec.Runs) {
		return runsRecord{}, newErr(ErrCorrupt, "", fmt.Sprintf("the reshare runs of wallet %q for party %q do not parse", walletID, partyID), err)
	}
	return rec, nil
}

func (v *Vault) putRunsRecordLocked(walletID, partyID string, rec runsRecord) error {
	rec.Version = runsRecordVersion(rec.Runs)
	b, err := json.Marshal(rec)
	if err != nil {
		return newErr(ErrInvalid, "", "reshare runs", err)
	}
	return v.store.putRuns(walletID, partyID, b)
}

// JoinRun records, durably, that partyID joins reshare session sessionID
// as a new holder of walletID's epoch, before it computes anything, and
// marks abandoned, in the same write, every other run of that epoch the
// party joined and never stored a share of. It returns every abandoned
// run of the epoch: those the party signs an abandoned-run statement for
// in this join (identity.SignAbandoned). A run marked abandoned never
// stores its share (PutPendingShareFrom refuses it), and a run that the
// active or the pending share names is never abandoned, whatever the
// runs record says.
//
// It refuses, changing nothing, (ErrStaleEpoch) an epoch not above the
// active share's, nor above the highest whose runs were dropped (the
// record's floor, kept once the party holds no share) — so that a run
// whose record was dropped with its epoch can never be recorded again —
// and (ErrInvalid) a session recorded abandoned, a session recorded for
// another epoch, and a run past MaxRuns of the epoch. Joining a recorded
// session again records nothing new.
func (v *Vault) JoinRun(walletID, partyID string, epoch int, sessionID string) ([]string, error) {
	if err := v.checkReshareArgs(walletID, partyID, epoch); err != nil {
		return nil, err
	}
	if err := checkSessionID(sessionID); err != nil {
		return nil, err
	}
	v.pendingMu.Lock()
	defer v.pendingMu.Unlock()
	runs, floor, err := v.prunedRunsLocked(walletID, partyID, epoch)
	if err != nil {
		return nil, err
	}
	stored, err := v.sharesFromLocked(walletID, partyID)
	if err != nil {
		return nil, err
	}
	return v.joinRunLocked(walletID, partyID, partyID, epoch, sessionID, runs, floor, stored, false)
}

// joinRunLocked records sessionID joined among runs (pruned, under
// floor) in the runs record of (walletID, key), and marks abandoned the
// other runs of epoch that never stored (with anyStored, that stored too:
// a user party's, whose share left with its run's answer) and that no
// stored share names.
func (v *Vault) joinRunLocked(walletID, partyID, key string, epoch int, sessionID string, runs []Run, floor int, stored map[string]bool, anyStored bool) ([]string, error) {
	changed := false
	if i := slices.IndexFunc(runs, func(r Run) bool { return r.SessionID == sessionID }); i >= 0 {
		switch {
		case runs[i].Epoch != epoch:
			return nil, newErr(ErrInvalid, "", fmt.Sprintf("reshare session %q is recorded as a run of epoch %d, not %d", sessionID, runs[i].Epoch, epoch), nil)
		case runs[i].State == RunAbandoned:
			return nil, newErr(ErrInvalid, "", fmt.Sprintf("reshare session %q was abandoned by party %q; it never stores that session's share", sessionID, partyID), nil)
		}
	} else {
		if n := countRuns(runs, epoch); n >= MaxRuns || len(runs) >= maxRunsAll {
			return nil, newErr(ErrInvalid, "", fmt.Sprintf("%d reshare runs of epoch %d of wallet %q recorded already (%d of all epochs); at most %d (%d)", n, epoch, walletID, len(runs), MaxRuns, maxRunsAll), nil)
		}
		runs, changed = append(runs, Run{SessionID: sessionID, Epoch: epoch, State: RunJoined}), true
	}
	var out []string
	for i, r := range runs {
		if r.Epoch != epoch || r.SessionID == sessionID || stored[r.SessionID] {
			continue
		}
		if r.State == RunJoined || anyStored && r.State == RunStored {
			runs[i].State, changed = RunAbandoned, true
		}
		if runs[i].State == RunAbandoned {
			out = append(out, r.SessionID)
		}
	}
	if changed {
		if err := v.putRunsRecordLocked(walletID, key, runsRecord{Runs: runs, Floor: floor}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// A user party (the account API's, docs/lifecycle.md) is a new member of
// each refresh of its account's wallet, run by a server party that keeps
// none of its shares: the share goes back to the caller. Its runs are
// recorded all the same, in the runs record of (wallet, user party) kept
// under this vault's owner (userRunsKey), so that a later run of the
// epoch can say, signed with the earlier run's device key, that the user
// party never stored that run's share — and so that it never does.

// userRunsKey is the runs record key of user party userPartyID in this
// vault: the owner's, apart from another server party's sharing the
// database, and never a party id (which has no spaces), so never any
// party's own runs.
func (v *Vault) userRunsKey(userPartyID string) string {
	return "user " + v.owner + " " + userPartyID
}

// checkUserRunArgs checks the arguments of a user party's run.
func (v *Vault) checkUserRunArgs(walletID, userPartyID string, epoch int, sessionID string) error {
	if err := checkIDs(walletID, userPartyID); err != nil {
		return err
	}
	if walletID == IdentityWalletID {
		return newErr(ErrInvalid, "", "wallet id "+IdentityWalletID+" is reserved", nil)
	}
	if v.owner != "" && userPartyID == v.owner {
		return newErr(ErrInvalid, "", fmt.Sprintf("party id %q is this vault's owner, not a user party", userPartyID), nil)
	}
	if epoch < 1 || epoch > share.MaxEpoch {
		return newErr(ErrInvalid, "", fmt.Sprintf("epoch %d; a reshare's is 1..%d", epoch, share.MaxEpoch), nil)
	}
	return checkSessionID(sessionID)
}

// JoinUserRun is JoinRun for a user party this server party runs: it
// records, durably, that userPartyID joins reshare session sessionID of
// walletID's epoch before anything is computed, marks abandoned every
// other run of that epoch (stored ones too: the user party keeps no
// share, see joinRunLocked's caller), and returns every
// abandoned run of the epoch. With no share to read the wallet's epoch
// from, the floor is the highest epoch this party saw activated
// (SettleUserRuns, after every holder's acknowledgement verified): a run
// of that epoch or below is refused (ErrStaleEpoch). The epoch a run
// claims is the coordinator's word, so it never raises the floor itself.
func (v *Vault) JoinUserRun(walletID, userPartyID string, epoch int, sessionID string) ([]string, error) {
	var out []string
	err := v.withUserRuns(walletID, userPartyID, epoch, sessionID, func(key string, rec runsRecord) (err error) {
		if epoch <= rec.Floor {
			return newErr(ErrStaleEpoch, "", fmt.Sprintf("a reshare run of epoch %d of wallet %q; user party %q has seen epoch %d activated", epoch, walletID, userPartyID, rec.Floor), nil)
		}
		// A user party keeps no share between runs: a run of the epoch
		// that stored and is not the one joined now was not activated
		// (its epoch would be the floor), and its share went back to the
		// caller only with the activation, so it never did: that run is
		// abandoned too, and a later run's holders may replace its
		// share, and the coordinator does not activate it late.
		out, err = v.joinRunLocked(walletID, userPartyID, key, epoch, sessionID, rec.Runs, rec.Floor, nil, true)
		return err
	})
	return out, err
}

// withUserRuns checks the arguments of a user party's run, then calls f
// with the key and record of the user party's runs, under the lock.
func (v *Vault) withUserRuns(walletID, userPartyID string, epoch int, sessionID string, f func(key string, rec runsRecord) error) error {
	if err := v.checkUserRunArgs(walletID, userPartyID, epoch, sessionID); err != nil {
		return err
	}
	v.pendingMu.Lock()
	defer v.pendingMu.Unlock()
	key := v.userRunsKey(userPartyID)
	rec, err := v.runsRecordLocked(walletID, key)
	if err != nil {
		return err
	}
	return f(key, rec)
}

// SettleUserRuns records that epoch of walletID was activated with user
// party userPartyID's share of a run this vault recorded (its holders'
// acknowledgements verified): the floor rises to epoch, and the runs of
// that epoch and below, which can no longer store a share, are dropped.
func (v *Vault) SettleUserRuns(walletID, userPartyID string, epoch int) error {
	return v.withUserRuns(walletID, userPartyID, epoch, "-", func(key string, rec runsRecord) error {
		if epoch <= rec.Floor {
			return nil
		}
		rec.Floor = epoch
		rec.Runs = slices.DeleteFunc(rec.Runs, func(r Run) bool { return r.Epoch <= epoch })
		return v.putRunsRecordLocked(walletID, key, rec)
	})
}

// MarkUserRunStored records, before a user party reports its new share
// of sessionID stored (the share is handed back, not kept here), that
// the run stored it; it refuses a run recorded abandoned, and a run not
// joined (JoinUserRun).
func (v *Vault) MarkUserRunStored(walletID, userPartyID string, epoch int, sessionID string) error {
	return v.withUserRuns(walletID, userPartyID, epoch, sessionID, func(key string, rec runsRecord) error {
		i := slices.IndexFunc(rec.Runs, func(r Run) bool { return r.SessionID == sessionID && r.Epoch == epoch })
		switch {
		case i < 0:
			return newErr(ErrInvalid, "", fmt.Sprintf("reshare session %q of epoch %d was not joined by user party %q here", sessionID, epoch, userPartyID), nil)
		case rec.Runs[i].State == RunAbandoned:
			return newErr(ErrInvalid, "", fmt.Sprintf("reshare session %q was abandoned by user party %q; its share is not stored", sessionID, userPartyID), nil)
		case rec.Runs[i].State == RunStored:
			return nil
		}
		rec.Runs[i].State = RunStored
		return v.putRunsRecordLocked(walletID, key, rec)
	})
}

// UserRuns returns the recorded reshare runs of user party userPartyID
// of walletID, oldest first.
func (v *Vault) UserRuns(walletID, userPartyID string) ([]Run, error) {
	var runs []Run
	err := v.withUserRuns(walletID, userPartyID, 1, "-", func(_ string, rec runsRecord) error {
		runs = rec.Runs
		return nil
	})
	return runs, err
}

func countRuns(runs []Run, epoch int) int {
	n := 0
	for _, r := range runs {
		if r.Epoch == epoch {
			n++
		}
	}
	return n
}

// prunedRunsLocked checks that a run of epoch may be recorded — above
// the active share's epoch, and above the record's floor — and returns
// the recorded runs without those of an epoch not above the active
// share's, which can no longer store a share, and the floor raised to
// it. The active share's epoch is read from the share (authenticated),
// never from the runs record.
func (v *Vault) prunedRunsLocked(walletID, partyID string, epoch int) ([]Run, int, error) {
	rec, err := v.runsRecordLocked(walletID, partyID)
	if err != nil {
		return nil, 0, err
	}
	floor := rec.Floor
	a, err := v.GetShare(walletID, partyID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, 0, err
	default:
		floor = max(floor, a.Epoch)
	}
	if epoch <= floor {
		return nil, 0, newErr(ErrStaleEpoch, "", fmt.Sprintf("a reshare run of epoch %d of wallet %q; this party has had epoch %d", epoch, walletID, floor), nil)
	}
	return slices.DeleteFunc(rec.Runs, func(r Run) bool { return r.Epoch <= floor }), floor, nil
}

// sharesFromLocked is the sessions the stored shares of (walletID,
// partyID), active and pending, name (authenticated with each share):
// runs that stored, whatever the runs record says.
func (v *Vault) sharesFromLocked(walletID, partyID string) (map[string]bool, error) {
	from := map[string]bool{}
	for _, pending := range []bool{false, true} {
		_, s, err := v.getShare(walletID, partyID, pending)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if s != "" {
			from[s] = true
		}
	}
	return from, nil
}

// markStoredLocked records, before a pending share of sessionID is
// stored, that the run stored its share; it refuses a run recorded
// abandoned. A session not recorded (a caller that does not record
// runs) is recorded stored.
func (v *Vault) markStoredLocked(walletID, partyID string, epoch int, sessionID string) error {
	rec, err := v.runsRecordLocked(walletID, partyID)
	if err != nil {
		return err
	}
	runs := rec.Runs
	i := slices.IndexFunc(runs, func(r Run) bool { return r.SessionID == sessionID })
	switch {
	case i >= 0 && runs[i].State == RunAbandoned:
		return newErr(ErrInvalid, "", fmt.Sprintf("reshare session %q was abandoned by this party; its share is not stored", sessionID), nil)
	case i >= 0 && (runs[i].State == RunFrozen || runs[i].State == RunPinned):
		return newErr(ErrFrozen, "", fmt.Sprintf("reshare session %q is frozen by an operator; its share is not stored again", sessionID), nil)
	case i >= 0 && runs[i].Epoch != epoch:
		return newErr(ErrInvalid, "", fmt.Sprintf("reshare session %q is recorded as a run of epoch %d, not %d", sessionID, runs[i].Epoch, epoch), nil)
	case i >= 0 && runs[i].State == RunStored:
		return nil
	case i >= 0:
		runs[i].State = RunStored
	default:
		runs = append(runs, Run{SessionID: sessionID, Epoch: epoch, State: RunStored})
	}
	rec.Runs = runs
	return v.putRunsRecordLocked(walletID, partyID, rec)
}

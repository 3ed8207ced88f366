package serverparty

import (
	"errors"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// Settling a run in limbo at a server party (docs/lifecycle.md; tsskit
// settle), with the party stopped (Vault.Exclusive): FreezeRun on every
// holder of the run that is not silent, then DropRun on each with the
// others' statements; when the run turns out to be active at a
// holder, PinRun at every other holder that froze it, then ThawRun at
// each.

// Settled is what a settle step gives out: a statement for the other
// holders, and the run's epoch.
type Settled struct {
	// Statement: a frozen-run statement (FreezeRun), an activated-run
	// statement (FreezeRun of a run active here: Activated), a pinned-run
	// statement (PinRun) or an abandoned-run statement (DropRun), in its
	// wire form.
	Statement []byte
	Epoch     int
	Activated bool
	// Pinned: FreezeRun of a run pinned or thawed here before, which is
	// pinned again (never dropped here): Statement is its pinned-run
	// statement.
	Pinned bool
}

// FreezeRun freezes run sessionID of walletID at partyID (vault.FreezeRun)
// and returns the party's frozen-run statement, signed with its identity
// key, which must be the key the run's record names for it, saying
// whether it holds the active share of the epoch before. A run already
// activated here is not frozen: it returns the party's activated-run
// statement instead (Activated), with which the holders that froze it
// thaw it. A run pinned or thawed here before is pinned again, never
// frozen: it returns the party's pinned-run statement (Pinned), for a
// frozen-run statement would let the others drop a run this party may
// activate.
func FreezeRun(v *vault.Vault, walletID, partyID, sessionID string) (*Settled, error) {
	// The party's key, loaded once, checked against each record it signs
	// for.
	var key *identity.Key
	defer func() {
		if key != nil {
			key.Destroy()
		}
	}()
	keyFor := func(rec *share.Record) (*identity.Key, error) {
		if key == nil {
			k, _, err := v.Identity(rec.PartyID)
			if err != nil {
				return nil, err
			}
			key = k
		}
		return key, namesKey(rec, key)
	}
	// settled signs a run statement with the key rec names, for rec's
	// epoch.
	settled := func(rec *share.Record, sign func(k *identity.Key, sessionID, walletID, partyID string, epoch int) []byte, s Settled) (*Settled, error) {
		k, err := keyFor(rec)
		if err != nil {
			return nil, err
		}
		s.Statement, s.Epoch = sign(k, sessionID, walletID, partyID, rec.Epoch), rec.Epoch
		return &s, nil
	}
	// The key first: a party frozen without a statement to give would
	// refuse every run of the epoch for nothing.
	if pending, from, err := v.GetPendingShareFrom(walletID, partyID); err == nil && from == sessionID {
		if _, err := keyFor(pending); err != nil {
			return nil, err
		}
	}
	pending, pinned, err := v.FreezeRun(walletID, partyID, sessionID)
	if errors.Is(err, vault.ErrActivated) {
		active, gerr := v.GetShare(walletID, partyID)
		if gerr != nil {
			return nil, gerr
		}
		return settled(active, identity.SignActivated, Settled{Activated: true})
	}
	if err != nil {
		return nil, err
	}
	if pinned {
		return settled(pending, identity.SignPinned, Settled{Pinned: true})
	}
	active, err := v.GetShare(walletID, partyID)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		active = nil
	case err != nil:
		return nil, err
	}
	held := party.HeldBefore(active, pending)
	k, err := keyFor(pending)
	if err != nil {
		return nil, err
	}
	return &Settled{Statement: identity.SignFrozen(k, sessionID, walletID, partyID, pending.Epoch, held), Epoch: pending.Epoch}, nil
}

// DropRun drops partyID's share of the frozen run sessionID of walletID
// (vault.DropRun) once party.CheckSettle accepts it — silent names the
// run's holders that stay silent, frozen the others' frozen-run
// statements, dropped other holders' abandoned-run statements (which a
// party holding no share of the epoch before needs) — and returns the
// party's abandoned-run statement for the run.
func DropRun(v *vault.Vault, walletID, partyID, sessionID string, silent []string, frozen, dropped [][]byte) (*Settled, error) {
	epoch, err := v.DropRun(walletID, partyID, sessionID, func(pending, active *share.Record) error {
		return party.CheckSettle(pending, active, sessionID, silent, frozen, dropped)
	})
	if err != nil {
		return nil, err
	}
	k, _, err := v.Identity(partyID)
	if err != nil {
		return nil, err
	}
	defer k.Destroy()
	return &Settled{Statement: identity.SignAbandoned(k, sessionID, walletID, partyID, epoch), Epoch: epoch}, nil
}

// PinRun pins the frozen run sessionID of walletID at partyID
// (vault.PinRun: it is never dropped there) and returns the party's
// pinned-run statement, with which the other holders that froze it thaw
// it.
func PinRun(v *vault.Vault, walletID, partyID, sessionID string) (*Settled, error) {
	pending, err := v.PinRun(walletID, partyID, sessionID)
	if err != nil {
		return nil, err
	}
	k, err := holderKey(v, pending)
	if err != nil {
		return nil, err
	}
	defer k.Destroy()
	return &Settled{Statement: identity.SignPinned(k, sessionID, walletID, partyID, pending.Epoch), Epoch: pending.Epoch}, nil
}

// ThawRun thaws the frozen (or pinned) run sessionID of walletID at
// partyID (vault.ThawRun) on the activated-run or pinned-run statement of
// every other holder of it not named in silent (party.CheckThaw); the
// party activates the run's share at its next start, once the
// coordinator's record names the run.
func ThawRun(v *vault.Vault, walletID, partyID, sessionID string, silent []string, words [][]byte) error {
	return v.ThawRun(walletID, partyID, sessionID, func(pending *share.Record) error {
		return party.CheckThaw(pending, sessionID, silent, words)
	})
}

// holderKey is the party's identity key, which must be the key rec names
// for it: another key's statement proves nothing to the other holders.
func holderKey(v *vault.Vault, rec *share.Record) (*identity.Key, error) {
	k, _, err := v.Identity(rec.PartyID)
	if err != nil {
		return nil, err
	}
	if err := namesKey(rec, k); err != nil {
		k.Destroy()
		return nil, err
	}
	return k, nil
}

// namesKey checks that rec names k as its party's identity key.
func namesKey(rec *share.Record, k *identity.Key) error {
	for _, h := range rec.Holders {
		if h.PartyID == rec.PartyID && h.Identity == k.Public() {
			return nil
		}
	}
	return errors.New("the run's record names another identity key for this party than its vault's: its statements would not verify")
}

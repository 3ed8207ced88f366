package party

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

// RunWords are what one party's reshare join says of earlier runs of the
// wallet's epoch: its abandoned-run statements (identity.SignAbandoned's
// wire form) and its stored acknowledgements (identity.SignStored) by
// session id.
type RunWords struct {
	Abandoned [][]byte
	Stored    map[string][]byte
}

// IsEarlierRun says whether pending, the share a party holds pending
// from session from, is its share of an earlier run of the reshare
// sessionID of walletID's epoch: the same wallet, party and epoch, and
// another session. Anything else is not what CheckEarlierRun checks.
func IsEarlierRun(pending *share.Record, from, sessionID, walletID, partyID string, epoch int) bool {
	return pending != nil && pending.WalletID == walletID && pending.PartyID == partyID && pending.Epoch == epoch &&
		from != "" && from != sessionID
}

// StoredAgain is a holder's stored acknowledgement of the earlier run
// from whose share it holds pending, signed again with its identity key k
// for a later run's join (PartyKeys.stored), by session id. It is nil
// unless k is the key pending's record names for its holder: the key of a
// run made before the holder's identity key changed is gone, and that run
// then cannot be found complete.
func StoredAgain(k *identity.Key, pending *share.Record, from string) map[string][]byte {
	for _, h := range pending.Holders {
		if h.PartyID == pending.PartyID && h.Identity == k.Public() {
			return map[string][]byte{from: identity.SignStored(k, from, pending.WalletID, pending.PartyID, pending.Epoch, pending.PublicKey)}
		}
	}
	return nil
}

// CheckEarlierRun is one acknowledged run per epoch, as a holder of an
// earlier run's share checks it before a reshare computes anything
// (docs/lifecycle.md). A party holding pending the share of run
// pendingSession of the same epoch takes part in session sessionID only
// if another new holder of that run says, in its join, signed by the
// identity key the pending record names for it, that it never stored
// that run's share and never will: that run can then never be
// activated. Otherwise it refuses, before anything is computed: with
// run_complete when every other new holder of that run presents its
// stored acknowledgement of it (a run to activate, not to run again),
// with run_not_abandoned when some holder's word is missing. words are
// every party's, by party id. The coordinator can make neither
// statement. No pending share of the epoch, or one from this very
// session, is nil. It holds for a party in the old committee only too:
// a second run of the epoch must not complete beside the first.
func CheckEarlierRun(sessionID, self string, epoch int, pending *share.Record, pendingSession string, words map[string]RunWords) error {
	if pending == nil || pending.Epoch != epoch || pendingSession == "" || pendingSession == sessionID {
		return nil
	}
	holders := map[string]identity.PublicKey{}
	for _, h := range pending.Holders {
		holders[h.PartyID] = h.Identity
	}
	for _, w := range words {
		for _, b := range w.Abandoned {
			a, err := identity.ParseAbandoned(b)
			if err != nil || a.SessionID != pendingSession || a.WalletID != pending.WalletID || a.Epoch != epoch || a.PartyID == self {
				continue
			}
			if key, ok := holders[a.PartyID]; ok && a.Verify(key) {
				return nil
			}
		}
	}
	var missing []string
	for _, h := range pending.Holders {
		if h.PartyID != self && !identity.VerifyStored(h.Identity, words[h.PartyID].Stored[pendingSession], pendingSession, pending.WalletID, h.PartyID, epoch, pending.PublicKey) {
			missing = append(missing, h.PartyID)
		}
	}
	slices.Sort(missing)
	if len(missing) == 0 {
		return &Error{Code: CodeRunComplete, Err: fmt.Errorf(
			"every new holder of run %s of epoch %d stored its share: that run is to be activated, not run again", pendingSession, epoch)}
	}
	return &Error{Code: CodeRunNotAbandoned, Err: fmt.Errorf(
		"this party holds pending its share of run %s of epoch %d, and no other new holder of that run says it abandoned it (no word from %v)", pendingSession, epoch, missing)}
}

// CheckSettle is what a holder of a run in limbo checks before it drops
// its share of that run, pending (stored from session sessionID, never
// activated, frozen here), given its active share of the epoch before (nil
// if it holds none) (docs/lifecycle.md, settling a run in limbo). Every
// other new holder of the run that is not named silent must have frozen
// it too — a frozen-run statement among frozen, signed by the identity key
// pending's record names for it — so that none of them can be made to
// activate it. The silent holders, who may still activate it, must be too
// few to sign with it. And the wallet must still sign at the active
// epoch: the holders that keep its share whatever becomes of the run —
// this party, if it holds one, and the others whose frozen statements say
// they hold one (a silent holder may activate the run and lose its share;
// a holder the run drops retires its share when told it completed) —
// must be as many as that epoch needs. A party with no active share
// cannot count them: it drops only on an abandoned-run statement for the
// run, among dropped, of a holder whose frozen statement says it holds
// one — that holder dropped after making the count. Anything else is a
// typed settle_refused.
func CheckSettle(pending, active *share.Record, sessionID string, silent []string, frozen, dropped [][]byte) error {
	refuse := func(format string, a ...any) error {
		return &Error{Code: CodeSettle, Err: fmt.Errorf(format, a...)}
	}
	if pending == nil {
		return refuse("no share of the run to drop")
	}
	if active != nil && (active.WalletID != pending.WalletID || active.PartyID != pending.PartyID || active.Epoch != pending.Epoch-1 ||
		!bytes.Equal(active.PublicKey, pending.PublicKey)) {
		return refuse("the active share (wallet %s, party %s, epoch %d) is not the epoch before the run's (wallet %s, party %s, epoch %d) of the same key",
			active.WalletID, active.PartyID, active.Epoch, pending.WalletID, pending.PartyID, pending.Epoch)
	}
	newHolders := map[string]identity.PublicKey{}
	for _, h := range pending.Holders {
		newHolders[h.PartyID] = h.Identity
	}
	quiet := map[string]bool{}
	for _, id := range silent {
		if _, ok := newHolders[id]; !ok || id == pending.PartyID || quiet[id] {
			return refuse("silent holder %q is not another new holder of the run, or is named twice", id)
		}
		quiet[id] = true
	}
	if len(quiet) >= pending.Threshold {
		return refuse("%d silent holders could sign with the run's shares (it needs %d signers): at most %d", len(quiet), pending.Threshold, pending.Threshold-1)
	}
	said := map[string]*identity.Frozen{}
	for _, b := range frozen {
		f, err := identity.ParseFrozen(b)
		if err != nil || f.SessionID != sessionID || f.WalletID != pending.WalletID || f.Epoch != pending.Epoch || f.PartyID == pending.PartyID || quiet[f.PartyID] {
			continue
		}
		if key, ok := newHolders[f.PartyID]; ok && f.Verify(key) {
			said[f.PartyID] = f
		}
	}
	var missing []string
	for _, h := range pending.Holders {
		if h.PartyID != pending.PartyID && !quiet[h.PartyID] && said[h.PartyID] == nil {
			missing = append(missing, h.PartyID)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return refuse("no valid frozen-run statement for run %s from %v: every holder that is not silent freezes it first", sessionID, missing)
	}
	if active == nil {
		for _, b := range dropped {
			a, err := identity.ParseAbandoned(b)
			if err != nil || a.SessionID != sessionID || a.WalletID != pending.WalletID || a.Epoch != pending.Epoch {
				continue
			}
			if f := said[a.PartyID]; f != nil && f.Held && a.Verify(newHolders[a.PartyID]) {
				return nil
			}
		}
		return refuse("this party holds no share of epoch %d: it drops run %s only after a holder of that epoch did (its abandoned-run statement)", pending.Epoch-1, sessionID)
	}
	holdsActive := map[string]bool{}
	for _, h := range active.Holders {
		holdsActive[h.PartyID] = true
	}
	keep := 1 // this party
	for id, f := range said {
		if f.Held && holdsActive[id] {
			keep++
		}
	}
	if keep < active.Threshold {
		return refuse("%d holders of epoch %d keep its share whatever becomes of the run (not silent, and say they hold it); it needs %d signers", keep, active.Epoch, active.Threshold)
	}
	return nil
}

// CheckThaw is what a holder that froze run sessionID (its share of it
// pending) checks before it thaws it: every other holder of the run not
// named in silent says, signed with the key pending's record names for
// it, either that the run is its active share (an activated-run
// statement) or that it froze the run and never drops it (a pinned-run
// statement). A holder that drops a run does so on the others'
// frozen-run statements (a server party with tsskit settle, a CLI party
// with tsskit party settle, a browser with the SDK's settleRun), so then
// none dropped on this holder's, and none will: thawing it cannot leave
// the run active here and dropped there. silent names the holders the
// operator says never drop it — a device that is gone — and
// the tool trusts that word as it trusts a drop's, as far as the holders
// not named silent are enough to sign with the run. Anything else is a
// typed settle_refused.
func CheckThaw(pending *share.Record, sessionID string, silent []string, words [][]byte) error {
	holders := map[string]bool{}
	for _, h := range pending.Holders {
		holders[h.PartyID] = true
	}
	quiet := map[string]bool{}
	for _, id := range silent {
		if !holders[id] || id == pending.PartyID || quiet[id] {
			return &Error{Code: CodeSettle, Err: fmt.Errorf("silent holder %q is not another holder of the run, or is named twice", id)}
		}
		quiet[id] = true
	}
	// The holders not named silent, which never drop the run once this
	// check passes, must be enough to sign with it: a holder named
	// silent wrongly (it dropped the run) then loses only its own seat.
	if n := len(holders) - len(quiet); n < pending.Threshold {
		return &Error{Code: CodeSettle, Err: fmt.Errorf("%d holders of run %s are not named silent; the run needs %d signers: name fewer silent", n, sessionID, pending.Threshold)}
	}
	said := map[string]bool{}
	for _, b := range words {
		// Both statements have one wire form; the signature tells which.
		a, err := identity.ParseActivated(b)
		if err != nil || a.SessionID != sessionID || a.WalletID != pending.WalletID || a.Epoch != pending.Epoch {
			continue
		}
		for _, h := range pending.Holders {
			if h.PartyID == a.PartyID && (a.Verify(h.Identity) || (*identity.Pinned)(a).Verify(h.Identity)) {
				said[a.PartyID] = true
			}
		}
	}
	var missing []string
	for _, h := range pending.Holders {
		if h.PartyID != pending.PartyID && !quiet[h.PartyID] && !said[h.PartyID] {
			missing = append(missing, h.PartyID)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &Error{Code: CodeSettle, Err: fmt.Errorf(
			"no valid activated-run or pinned-run statement for run %s from holders %v (name a holder that never drops the run, such as one that is gone, silent): a frozen run is thawed only when no holder dropped it, nor will", sessionID, missing)}
	}
	return nil
}

// NamedKey is the identity key rec keeps, which must be the key rec's
// holders name for its party: a statement signed with another key proves
// nothing to the other holders. A record made before identities keeps
// none, and signs no statement.
func NamedKey(rec *share.Record) (*identity.Key, error) {
	k, err := rec.IdentityKey()
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errors.New("the share record keeps no identity key (made before identities): it can sign no statement")
	}
	for _, h := range rec.Holders {
		if h.PartyID == rec.PartyID && h.Identity == k.Public() {
			return k, nil
		}
	}
	k.Destroy()
	return nil, errors.New("the share record names another identity key for this party than the one it keeps: its statements would not verify")
}

// HeldBefore says whether active, a party's active share (nil: none), is
// its share of the epoch before pending's, of the same wallet, party and
// key: what a frozen-run statement's held flag says.
func HeldBefore(active, pending *share.Record) bool {
	return active != nil && pending != nil && active.WalletID == pending.WalletID && active.PartyID == pending.PartyID &&
		active.Epoch == pending.Epoch-1 && bytes.Equal(active.PublicKey, pending.PublicKey)
}

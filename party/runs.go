package party

import (
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

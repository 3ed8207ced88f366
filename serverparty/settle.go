package serverparty

import (
	"errors"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// Settling a run in limbo at a server party (docs/lifecycle.md; tsskit
// settle), with the party stopped: FreezeRun on every holder of the run
// that is not silent, then DropRun on each with the others' statements.

// FreezeRun freezes run sessionID of walletID at partyID (vault.FreezeRun)
// and returns the party's frozen-run statement, signed with its identity
// key, which must be the key the run's record names for it, and the
// run's epoch.
func FreezeRun(v *vault.Vault, walletID, partyID, sessionID string) ([]byte, int, error) {
	pending, err := v.FreezeRun(walletID, partyID, sessionID)
	if err != nil {
		return nil, 0, err
	}
	k, _, err := v.Identity(partyID)
	if err != nil {
		return nil, 0, err
	}
	defer k.Destroy()
	for _, h := range pending.Holders {
		if h.PartyID == partyID && h.Identity == k.Public() {
			return identity.SignFrozen(k, sessionID, walletID, partyID, pending.Epoch), pending.Epoch, nil
		}
	}
	return nil, 0, errors.New("the run's record names another identity key for this party than its vault's: its statement would not verify (the run is frozen here all the same)")
}

// DropRun drops partyID's share of the frozen run sessionID of walletID
// (vault.DropRun) once party.CheckSettle accepts it: silent names the
// run's holders that stay silent, frozen the others' frozen-run
// statements.
func DropRun(v *vault.Vault, walletID, partyID, sessionID string, silent []string, frozen [][]byte) error {
	return v.DropRun(walletID, partyID, sessionID, func(pending, active *share.Record) error {
		return party.CheckSettle(pending, active, sessionID, silent, frozen)
	})
}

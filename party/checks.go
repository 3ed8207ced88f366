package party

import (
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/peercheck"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// keygenCheck returns the checks run on every peer keygen message before
// tss-lib sees it (package peercheck). This party's own moduli are not
// passed: peers' moduli are compared with each other but not with ours,
// and the factorization proofs made for us are bounded with 2^2048 in
// place of our NTilde.
func keygenCheck(r *roster.Roster, self string, threshold int) func(tss.ParsedMessage) error {
	return peercheck.NewKeygen(r.Len(), r.Index(self), threshold, nil).Check
}

// signCheck returns the checks run on every peer signing message before
// tss-lib sees it (package peercheck), against the key data of rec.
func signCheck(r *roster.Roster, rec *share.Record) func(tss.ParsedMessage) error {
	c, err := peercheck.NewSign(rec.SaveData, r.PartyIDs(), r.Index(rec.PartyID))
	if err != nil {
		// Sign has validated the record and that every signer holds a
		// share of it, so this does not happen; if it did, refuse every
		// message rather than run unchecked.
		return func(tss.ParsedMessage) error { return err }
	}
	return c.Check
}

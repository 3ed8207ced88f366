package party

import (
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/peercheck"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// keygenCheck returns the checks run on every peer keygen message before
// tss-lib sees it (package peercheck), with this party's own moduli (pre)
// to compare peers' with and to bound the proofs made for it.
func keygenCheck(r *roster.Roster, self string, threshold int, pre *keygen.LocalPreParams) func(tss.ParsedMessage) error {
	own := &peercheck.Ring{N: pre.PaillierSK.N, NTilde: pre.NTildei, H1: pre.H1i, H2: pre.H2i}
	return peercheck.NewKeygen(r.Len(), r.Index(self), threshold, own).Check
}

// signCheck returns the checks run on every peer signing message before
// tss-lib sees it (package peercheck), against the key data of rec. The
// key data rec holds for every other signer is checked first, before
// anything is sent (records made before these checks carry peers' moduli
// that only tss-lib looked at): a failure names that signer.
func signCheck(r *roster.Roster, rec *share.Record) (func(tss.ParsedMessage) error, error) {
	c, err := peercheck.NewSign(rec.SaveData, r.PartyIDs(), r.Index(rec.PartyID))
	if err != nil {
		// Sign has validated the record and that every signer holds a
		// share of it, so this does not happen.
		return nil, &Error{Code: CodeInvalidParams, Err: err}
	}
	if j, err := c.CheckStored(); err != nil {
		return nil, &Error{Code: CodeProtocol, Culprits: []string{r.IDs()[j]}, Err: fmt.Errorf("the key data this share holds for %s: %w", r.IDs()[j], err)}
	}
	return c.Check, nil
}

package party

import (
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// keygenCheck returns the checks run on every peer keygen message before
// tss-lib sees it (nil: none).
func keygenCheck(r *roster.Roster, self string, threshold int) func(tss.ParsedMessage) error {
	return nil
}

// signCheck returns the checks run on every peer signing message before
// tss-lib sees it (nil: none).
func signCheck(r *roster.Roster, rec *share.Record) func(tss.ParsedMessage) error {
	return nil
}

package peercheck

import (
	"errors"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// TestReshareSessionIDLength: tss-lib v2.0.2's old members send a session
// id made as SHA512_256i(...).Bytes(), without leading zeros: one in 256
// is 31 bytes, and must pass; an empty one, or one longer than a hash, is
// refused.
func TestReshareSessionIDLength(t *testing.T) {
	var short []byte
	for i := int64(1); len(short) == 0 || len(short) == 32; i++ {
		short = common.SHA512_256i(big.NewInt(i)).Bytes() // as resharing's getSSID
	}
	pub := crypto.ScalarBaseMult(tss.S256(), big.NewInt(7))
	from := tss.NewPartyID("old", "old", big.NewInt(1))
	to := []*tss.PartyID{tss.NewPartyID("new", "new", big.NewInt(2))}
	check := NewReshare(3, 0, 1, pub.X(), pub.Y(), nil).Check
	for _, tc := range []struct {
		ssid []byte
		ok   bool
	}{
		{make([]byte, 32), true},
		{short, true},
		{nil, false},
		{make([]byte, 33), false},
	} {
		err := check(resharing.NewDGRound1Message(to, from, pub, big.NewInt(1), tc.ssid))
		var e *Error
		if tc.ok && err != nil || !tc.ok && (!errors.As(err, &e) || e.Check != CheckReshareSSID) {
			t.Errorf("a session id of %d bytes: %v", len(tc.ssid), err)
		}
	}
}

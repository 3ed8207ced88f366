package peercheck

import (
	"crypto/subtle"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Names of the reshare checks, as Error.Check reports them.
const (
	CheckResharePublicKey = "reshare.public-key" // an old member hands over another key than the wallet's
	CheckReshareSSID      = "reshare.ssid"       // an old member's session id is empty or longer than 32 bytes
)

// Reshare checks the messages a member of a reshare's new committee
// receives (a member of the old committee only only receives
// acknowledgements, which carry nothing to check). The old members'
// messages must hand over the wallet's own public key: tss-lib v2.0.2
// takes the key from the first old member's message only. The new
// members' key material and proofs are checked as at keygen.
type Reshare struct {
	newParties, self, newThreshold int
	pub                            []byte // the wallet's key, uncompressed X||Y (32 bytes each)
	rings
}

// NewReshare returns the checks of a new committee member with index self
// among newParties new members, of a reshare to tss-lib threshold
// newThreshold of the key whose affine coordinates are x, y; own is this
// member's key material (from its pre-parameters).
func NewReshare(newParties, self, newThreshold int, x, y *big.Int, own *Ring) *Reshare {
	pub := make([]byte, 64)
	x.FillBytes(pub[:32])
	y.FillBytes(pub[32:])
	return &Reshare{newParties: newParties, self: self, newThreshold: newThreshold, pub: pub, rings: rings{own: own, peers: make([]keygenPeer, newParties)}}
}

// Check checks one decoded message for the new committee; others pass.
func (k *Reshare) Check(msg tss.ParsedMessage) error {
	switch c := msg.Content().(type) {
	case *resharing.DGRound1Message:
		var got [64]byte
		px, py := c.GetEcdsaPubX(), c.GetEcdsaPubY()
		if len(px) > 32 || len(py) > 32 {
			return refuse(CheckResharePublicKey, "public key coordinates longer than 32 bytes")
		}
		copy(got[32-len(px):32], px)
		copy(got[64-len(py):], py)
		if subtle.ConstantTimeCompare(got[:], k.pub) != 1 {
			return refuse(CheckResharePublicKey, "the old member hands over another key than the wallet's")
		}
		// tss-lib makes the session id as SHA512_256i(...).Bytes(): a
		// big.Int's bytes, without leading zeros, so one in 256 is 31
		// bytes (fewer more rarely). It is derived from the old
		// committee's key data with a fixed nonce, so refusing a short one
		// would fail every reshare of that wallet by that committee.
		if n := len(c.GetSsid()); n == 0 || n > 32 {
			return refuse(CheckReshareSSID, "session id of %d bytes; want 1..32", n)
		}
	case *resharing.DGRound3Message2:
		return checkVSSLength(c.GetVDecommitment(), k.newThreshold)
	case *resharing.DGRound2Message1:
		j, err := senderIndex(msg, k.newParties, k.self)
		if err != nil {
			return err
		}
		return k.round2(j, c)
	case *resharing.DGRound4Message1:
		j, err := senderIndex(msg, k.newParties, k.self)
		if err != nil {
			return err
		}
		if _, err := facProofInts(c.GetFacProof()); err != nil {
			return err
		}
		return k.withRing(j, msg.Type(), func(r *Ring) error {
			return checkFacProof(c.GetFacProof(), r.N, k.own.NTilde)
		})
	}
	return nil
}

// round2 checks a new member's key material as Keygen.round1 does, and
// its Paillier modulus proof.
func (k *Reshare) round2(j int, c *resharing.DGRound2Message1) error {
	return k.admit(j, c.GetPaillierN(), c.GetNTilde(), c.GetH1(), c.GetH2(), c.GetDlnproof_1(), c.GetDlnproof_2(), func(r *Ring) error {
		if _, err := modProofInts(c.GetModProof()); err != nil {
			return err
		}
		return checkModProof(c.GetModProof(), r.N)
	})
}

package peercheck

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Sign checks the signing messages of one session's peers against the key
// data of this party's share: the senders' Paillier moduli and this party's
// own modulus and ring.
type Sign struct {
	self    int
	rings   []*Ring // by index in the signing roster
	checked []bool  // the sender's stored ring has passed checkRing
	bound   *big.Int
}

// NewSign returns the checks of a signing by signers (the session's sorted
// roster) in which this party has index self, with save, this party's
// keygen output, holding every signer's key material (tss-lib keeps it in
// keygen roster order and matches it to signers by key, as here).
func NewSign(save *keygen.LocalPartySaveData, signers tss.SortedPartyIDs, self int) (*Sign, error) {
	if save == nil || self < 0 || self >= len(signers) {
		return nil, errors.New("peercheck: no key data or self not a signer")
	}
	s := &Sign{self: self, rings: make([]*Ring, len(signers)), checked: make([]bool, len(signers))}
	for i, id := range signers {
		k := -1
		for x, kx := range save.Ks {
			if kx != nil && kx.Cmp(id.KeyInt()) == 0 {
				k = x
				break
			}
		}
		if k < 0 || k >= len(save.NTildej) || k >= len(save.H1j) || k >= len(save.H2j) || k >= len(save.PaillierPKs) ||
			save.NTildej[k] == nil || save.H1j[k] == nil || save.H2j[k] == nil || save.PaillierPKs[k] == nil || save.PaillierPKs[k].N == nil {
			return nil, fmt.Errorf("peercheck: no key data for signer %s", id.Id)
		}
		s.rings[i] = &Ring{N: save.PaillierPKs[k].N, NTilde: save.NTildej[k], H1: save.H1j[k], H2: save.H2j[k]}
	}
	s.checked[self] = true
	s.bound = responseBound(s.rings[self].NTilde)
	return s, nil
}

// Check checks one decoded peer message. The first message from each peer
// also checks the key material the share holds for it (checkRing,
// checkDistinct against every other signer): shares made before these
// checks existed carry rings that only tss-lib v2.0.2 looked at, and this
// party commits its secrets under them.
func (s *Sign) Check(msg tss.ParsedMessage) error {
	j, err := senderIndex(msg, len(s.rings), s.self)
	if err != nil {
		return err
	}
	if !s.checked[j] {
		if err := s.checkStored(j); err != nil {
			return err
		}
		s.checked[j] = true
	}
	own := s.rings[s.self]
	switch c := msg.Content().(type) {
	case *signing.SignRound1Message1:
		// The sender's k_j encrypted under its own N, with a range proof
		// made under this party's ring.
		if err := checkCiphertext("C", c.GetC(), s.rings[j].N); err != nil {
			return err
		}
		return checkRangeProof(c.GetRangeProofAlice(), s.rings[j].N, own.NTilde, new(big.Int).SetBytes(c.GetC()))
	case *signing.SignRound2Message:
		// MtA answers to this party's ciphertext: under this party's N,
		// with Bob's proofs made under this party's ring.
		if err := checkCiphertext("C1", c.GetC1(), own.N); err != nil {
			return err
		}
		if err := checkCiphertext("C2", c.GetC2(), own.N); err != nil {
			return err
		}
		if err := checkBobProof("ProofBob", c.GetProofBob(), mta.ProofBobBytesParts, own.NTilde); err != nil {
			return err
		}
		return checkBobProof("ProofBobWC", c.GetProofBobWc(), mta.ProofBobWCBytesParts, own.NTilde)
	}
	return nil
}

func (s *Sign) checkStored(j int) error {
	var others []*Ring
	for i, r := range s.rings {
		if i != j {
			others = append(others, r)
		}
	}
	err := checkRing(s.rings[j])
	if err == nil {
		err = checkDistinct(s.rings[j], others)
	}
	if e, ok := err.(*Error); ok {
		return &Error{Check: e.Check, Detail: "in the key data this share holds for the sender: " + e.Detail}
	}
	return err
}

// CheckStored checks, before anything is sent, the key material the share
// holds for every other signer (what Check would check on each peer's
// first message), and returns the index of the first that fails.
func (s *Sign) CheckStored() (int, error) {
	for j := range s.rings {
		if s.checked[j] {
			continue
		}
		if err := s.checkStored(j); err != nil {
			return j, err
		}
		s.checked[j] = true
	}
	return -1, nil
}

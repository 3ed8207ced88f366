package peercheck

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Keygen checks the keygen messages of one session's peers. A peer's later
// messages are checked against what its round-1 message announced (its
// Paillier N); one that arrives before that message is held and checked
// when it comes, and a failure is then reported with the round-1 message.
type Keygen struct {
	parties, self, threshold int
	rings
}

// rings are the peers' key material as their first message announced it,
// and the checks of their later messages held until it has.
type rings struct {
	own   *Ring // this party's (nil: not known)
	peers []keygenPeer
}

type keygenPeer struct {
	ring *Ring
	held []heldCheck
}

// heldCheck is a check of a later message waiting for its sender's ring.
type heldCheck struct {
	msgType string
	run     func(*Ring) error
}

// NewKeygen returns the checks of a keygen among parties parties in which
// this party has index self and tss-lib's threshold is threshold (signers
// needed minus one). own, if not nil, is this party's own key material
// (from its pre-parameters): peers' moduli must then differ from its
// moduli, and the factorization proofs made for it are checked against its
// NTilde exactly; without it, 2^ModulusBits stands in for its NTilde.
func NewKeygen(parties, self, threshold int, own *Ring) *Keygen {
	return &Keygen{
		parties:   parties,
		self:      self,
		threshold: threshold,
		rings:     rings{own: own, peers: make([]keygenPeer, parties)},
	}
}

// Check checks one decoded peer message. Messages of other phases pass.
func (k *Keygen) Check(msg tss.ParsedMessage) error {
	j, err := senderIndex(msg, k.parties, k.self)
	if err != nil {
		return err
	}
	switch c := msg.Content().(type) {
	case *keygen.KGRound1Message:
		return k.round1(j, c)
	case *keygen.KGRound2Message1:
		if _, err := facProofInts(c.GetFacProof()); err != nil {
			return err
		}
		var nTilde *big.Int
		if k.own != nil {
			nTilde = k.own.NTilde
		}
		return k.withRing(j, msg.Type(), func(r *Ring) error {
			return checkFacProof(c.GetFacProof(), r.N, nTilde)
		})
	case *keygen.KGRound2Message2:
		if err := checkVSSLength(c.GetDeCommitment(), k.threshold); err != nil {
			return err
		}
		if _, err := modProofInts(c.GetModProof()); err != nil {
			return err
		}
		return k.withRing(j, msg.Type(), func(r *Ring) error {
			return checkModProof(c.GetModProof(), r.N)
		})
	case *keygen.KGRound3Message:
		if _, err := paillierProofInts(c.GetPaillierProof()); err != nil {
			return err
		}
		return k.withRing(j, msg.Type(), func(r *Ring) error {
			return checkPaillierProof(c.GetPaillierProof(), r.N)
		})
	}
	return nil
}

// round1 checks the sender's round-1 key material (rings.admit).
func (k *Keygen) round1(j int, c *keygen.KGRound1Message) error {
	return k.admit(j, c.GetPaillierN(), c.GetNTilde(), c.GetH1(), c.GetH2(), c.GetDlnproof_1(), c.GetDlnproof_2(), nil)
}

// admit checks peer j's key material (checkRing), both DLN proofs
// (checkDLNProof), then extra if set, and that its moduli are new
// (checkDistinct, against the other peers heard from and this party's
// own); then it runs the checks held for the peer's later messages.
func (k *rings) admit(j int, n, nTilde, h1, h2 []byte, dln1, dln2 [][]byte, extra func(*Ring) error) error {
	p := &k.peers[j]
	if p.ring != nil {
		return refuse(CheckSender, "a second key material message")
	}
	r := &Ring{
		N:      new(big.Int).SetBytes(n),
		NTilde: new(big.Int).SetBytes(nTilde),
		H1:     new(big.Int).SetBytes(h1),
		H2:     new(big.Int).SetBytes(h2),
	}
	if err := checkRing(r); err != nil {
		return err
	}
	if err := checkDLNProof("DLN proof 1", dln1, r.NTilde); err != nil {
		return err
	}
	if err := checkDLNProof("DLN proof 2", dln2, r.NTilde); err != nil {
		return err
	}
	if extra != nil {
		if err := extra(r); err != nil {
			return err
		}
	}
	others := []*Ring{k.own}
	for i := range k.peers {
		others = append(others, k.peers[i].ring)
	}
	if err := checkDistinct(r, others); err != nil {
		return err
	}
	p.ring = r
	held := p.held
	p.held = nil
	for _, h := range held {
		if err := h.run(r); err != nil {
			return heldError(h.msgType, err)
		}
	}
	return nil
}

// withRing runs check now if peer j's ring is known, or holds it.
func (k *rings) withRing(j int, msgType string, check func(*Ring) error) error {
	p := &k.peers[j]
	if p.ring != nil {
		return check(p.ring)
	}
	p.held = append(p.held, heldCheck{msgType: msgType, run: check})
	return nil
}

func heldError(msgType string, err error) error {
	if e, ok := err.(*Error); ok {
		return &Error{Check: e.Check, Detail: fmt.Sprintf("in the sender's earlier %s: %s", msgType, e.Detail)}
	}
	return err
}

// senderIndex returns the sender's index in the session's sorted roster,
// refusing one that is out of range or this party's own.
func senderIndex(msg tss.ParsedMessage, parties, self int) (int, error) {
	from := msg.GetFrom()
	if from == nil || from.Index < 0 || from.Index >= parties || from.Index == self {
		return 0, refuse(CheckSender, "not a peer of this session")
	}
	return from.Index, nil
}

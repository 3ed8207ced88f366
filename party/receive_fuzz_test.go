package party

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// receiveRig is one party ("self") of a keygen roster and of a signing
// roster, with every party's session keys, so that a test can seal
// envelopes as any peer and hand them to a fresh runner.
type receiveRig struct {
	keygenIDs, signIDs []string
	self               string // in both rosters
	threshold          int    // of the signing roster's wallet
	save               *keygen.LocalPartySaveData
	keys               map[string]*seal.Keys
	pub                map[string]seal.PublicKeys
	peers              map[string]*seal.Channel // each peer's channel, to seal with
}

const fuzzSession = "fuzz-receive"

func newReceiveRig(tb testing.TB) *receiveRig {
	tb.Helper()
	// The share package's golden record: a real keygen's save data, so that
	// a signing party can be built without running a keygen here.
	b, err := os.ReadFile(filepath.Join("share", "testdata", "v1.json"))
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := share.Decode(b)
	if err != nil {
		tb.Fatal(err)
	}
	rg := &receiveRig{
		keygenIDs: []string{"fuzz-a", "fuzz-b", "fuzz-c"},
		signIDs:   rec.Parties,
		self:      rec.PartyID,
		threshold: rec.Threshold,
		save:      rec.SaveData,
		keys:      map[string]*seal.Keys{},
		pub:       map[string]seal.PublicKeys{},
		peers:     map[string]*seal.Channel{},
	}
	// self plays in both rosters; the keygen roster is self and two others.
	rg.keygenIDs[0] = rg.self
	for _, id := range append(slices.Clone(rg.keygenIDs), rg.signIDs...) {
		if rg.keys[id] != nil {
			continue
		}
		k, err := seal.GenerateKeys()
		if err != nil {
			tb.Fatal(err)
		}
		rg.keys[id], rg.pub[id] = k, k.Public()
	}
	for _, ids := range [][]string{rg.keygenIDs, rg.signIDs} {
		for _, id := range ids {
			if id == rg.self || rg.peers[id] != nil {
				continue
			}
			ch, err := seal.NewChannel(fuzzSession, id, rg.keys[id], rg.pubOf(ids))
			if err != nil {
				tb.Fatal(err)
			}
			rg.peers[id] = ch
		}
	}
	return rg
}

func (rg *receiveRig) pubOf(ids []string) map[string]seal.PublicKeys {
	m := make(map[string]seal.PublicKeys, len(ids))
	for _, id := range ids {
		m[id] = rg.pub[id]
	}
	return m
}

// runner returns a fresh runner of self for keygen or signing, with a
// tss-lib party that has not started: Update validates and stores what it
// gets, and no round runs (no proofs, no waiting).
func (rg *receiveRig) runner(tb testing.TB, sign bool) *runner {
	tb.Helper()
	ids, phase, rounds, kinds := rg.keygenIDs, PhaseKeygen, KeygenRounds, keygenKinds
	if sign {
		ids, phase, rounds, kinds = rg.signIDs, PhaseSign, SignRounds, signKinds
	}
	r, err := roster.New(ids)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Session{ID: fuzzSession, Parties: ids, Self: rg.self, Keys: rg.keys[rg.self]}
	ver := make(map[string]*identity.Verified, len(ids))
	for _, id := range ids {
		ver[id] = &identity.Verified{PartyID: id}
	}
	rn, err := newRunner(s, r, phase, rounds, kinds, rg.pubOf(ids), ver)
	if err != nil {
		tb.Fatal(err)
	}
	// The roster was confirmed (round 0): this target is the tss-lib rounds.
	rn.started = true
	if sign {
		rn.drv = single{signing.NewLocalParty(big.NewInt(1), params(r, rg.self, rg.threshold-1), *rg.save, rn.out, make(chan *common.SignatureData, 1), DigestSize), r}
	} else {
		rn.drv = single{keygen.NewLocalParty(params(r, rg.self, 1), rn.out, make(chan *keygen.LocalPartySaveData, 1)), r}
	}
	return rn
}

// peer picks a peer of self in the chosen roster.
func (rg *receiveRig) peer(sign bool, i uint8) string {
	ids := rg.keygenIDs
	if sign {
		ids = rg.signIDs
	}
	var others []string
	for _, id := range ids {
		if id != rg.self {
			others = append(others, id)
		}
	}
	return others[int(i)%len(others)]
}

// fuzzWire is what tss-lib's WireBytes gives for content: the protobuf of an Any.
func fuzzWire(tb testing.TB, content proto.Message) []byte {
	tb.Helper()
	a, err := anypb.New(content)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func fuzzFilled(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i + 1)}, size)
	}
	return out
}

// FuzzReceive feeds arbitrary payloads, sealed and signed by a real peer,
// to runner.receive: the path from an opened envelope through
// tss.ParseWireMessage and the engine's round and routing checks into
// tss-lib's Update. A malformed message from a peer must be an *Error of
// code protocol naming that peer, never a panic; an accepted one must be a
// message type of the phase in its own round and routing, and accepting it
// again (a resend) must be harmless.
func FuzzReceive(f *testing.F) {
	rg := newReceiveRig(f)
	type seed struct {
		sign      bool
		round     uint32
		broadcast bool
		content   proto.Message
	}
	seeds := []seed{
		{false, 1, true, &keygen.KGRound1Message{
			Commitment: []byte{1}, PaillierN: []byte{2}, NTilde: []byte{3}, H1: []byte{4}, H2: []byte{5},
			Dlnproof_1: fuzzFilled(2+2*dlnproof.Iterations, 2), Dlnproof_2: fuzzFilled(2+2*dlnproof.Iterations, 2),
		}},
		{false, 2, false, &keygen.KGRound2Message1{Share: []byte{7}}},
		{false, 2, true, &keygen.KGRound2Message2{DeCommitment: fuzzFilled(3, 32)}},
		{false, 3, true, &keygen.KGRound3Message{PaillierProof: fuzzFilled(paillier.ProofIters, 8)}},
		{false, 3, true, &keygen.KGRound3Message{PaillierProof: fuzzFilled(paillier.ProofIters-1, 8)}}, // fails ValidateBasic
		{false, 1, false, &keygen.KGRound1Message{}},                                                   // wrong routing
		{false, 2, true, &keygen.KGRound2Message1{Share: []byte{7}}},                                   // a secret share as broadcast
		{false, 1, true, &signing.SignRound9Message{S: []byte{1}}},                                     // another phase's message
		{false, 1, true, &emptypb.Empty{}},                                                             // a registered type that is no tss-lib message
		{true, 1, true, &signing.SignRound1Message2{Commitment: []byte{1}}},
		{true, 1, false, &signing.SignRound1Message1{C: []byte{1}, RangeProofAlice: fuzzFilled(mta.RangeProofAliceBytesParts, 4)}},
		{true, 2, false, &signing.SignRound2Message{C1: []byte{1}, C2: []byte{2}, ProofBob: fuzzFilled(mta.ProofBobBytesParts, 4), ProofBobWc: fuzzFilled(mta.ProofBobWCBytesParts, 4)}},
		{true, 4, true, &signing.SignRound4Message{DeCommitment: fuzzFilled(3, 4), ProofAlphaX: []byte{1}, ProofAlphaY: []byte{1}, ProofT: []byte{1}}},
		{true, 6, true, &signing.SignRound6Message{DeCommitment: fuzzFilled(5, 4), ProofAlphaX: []byte{1}, ProofAlphaY: []byte{1}, ProofT: []byte{1}, VProofAlphaX: []byte{1}, VProofAlphaY: []byte{1}, VProofT: []byte{1}, VProofU: []byte{1}}},
		{true, 8, true, &signing.SignRound8Message{DeCommitment: fuzzFilled(5, 4)}},
		{true, 9, true, &signing.SignRound9Message{S: []byte{1}}},
		{true, 9, false, &signing.SignRound9Message{S: []byte{1}}},
		{true, 2, true, &keygen.KGRound3Message{}},
	}
	for i, s := range seeds {
		f.Add(s.sign, uint8(i), s.round, s.broadcast, fuzzWire(f, s.content))
	}
	f.Add(false, uint8(0), uint32(1), true, []byte{})
	f.Add(true, uint8(1), uint32(9), true, []byte("not protobuf"))
	f.Add(false, uint8(0), uint32(1), true, []byte{0x0a, 0x03, 'x', '/', 'y'}) // an Any of an unknown type
	f.Fuzz(func(t *testing.T, sign bool, peer uint8, round uint32, broadcast bool, payload []byte) {
		from := rg.peer(sign, peer)
		to := rg.self
		if broadcast {
			to = ""
		}
		deliver := func(rn *runner) error {
			env, err := rg.peers[from].Seal(to, round, payload)
			if err != nil {
				if errors.Is(err, seal.ErrTooLarge) {
					return nil
				}
				t.Fatalf("seal: %v", err)
			}
			return rn.receive(env)
		}
		rn := rg.runner(t, sign)
		err := deliver(rn)
		if err != nil {
			e, ok := AsError(err)
			if !ok || e.Code != CodeProtocol || !slices.Equal(e.Culprits, []string{from}) {
				t.Fatalf("receive: %T %v; want a protocol error naming %s", err, err, from)
			}
			return
		}
		if len(payload) > seal.MaxPayload {
			return
		}
		msg, perr := tss.ParseWireMessage(payload, rn.roster.PartyID(from), broadcast)
		if perr != nil {
			t.Fatalf("receive accepted a payload tss-lib cannot parse: %v", perr)
		}
		kind, ok := kindOf(rn.kinds, msg.Content())
		if !ok || kind.round != int(round) || kind.broadcast != broadcast {
			t.Fatalf("receive accepted %s as round %d broadcast=%t", msg.Type(), round, broadcast)
		}
		// The same message again, in a new envelope: a resend, not an error.
		if err := deliver(rn); err != nil {
			t.Fatalf("resending an accepted message: %v", err)
		}
	})
}

package party

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/peercheck"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// The attacks of this file are a party of the session that sends crafted
// tss-lib messages: real keygens and signings among three in-memory
// parties, in which testOutgoing rewrites what "mallory" sends (or mallory
// keygens with crafted pre-parameters). Each crafted message is one that
// tss-lib v2.0.2 either accepts or crashes on; the peer checks (package
// peercheck) must make every honest party fail with a protocol error that
// names exactly mallory, and the failure must come from the check named.

const (
	mallory       = "mallory"
	attackSigners = 2 // signers needed: tss-lib threshold 1
)

var attackIDs = []string{"honest-a", mallory, "honest-b"}

// attackWorld is a deployment for the attack sessions: a root, a certified
// identity per party, and each party's pre-parameters from the committed
// test fixture.
type attackWorld struct {
	trust  *identity.Trust
	keys   map[string]*identity.Key
	chains map[string][]*identity.Certificate
	pps    map[string]*keygen.LocalPreParams
	roster *roster.Roster
}

var (
	attackOnce   sync.Once
	attackShared *attackWorld
	attackErr    error
)

func newAttackWorld(t *testing.T) *attackWorld {
	t.Helper()
	attackOnce.Do(func() { attackShared, attackErr = makeAttackWorld() })
	if attackErr != nil {
		t.Fatal(attackErr)
	}
	return attackShared
}

func makeAttackWorld() (*attackWorld, error) {
	root, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	trust, err := identity.NewTrust([]identity.PublicKey{root.Public()}, nil)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join("..", "internal", "testkit", "preparams.json"))
	if err != nil {
		return nil, err
	}
	var sets []json.RawMessage
	if err := json.Unmarshal(raw, &sets); err != nil {
		return nil, err
	}
	r, err := roster.New(attackIDs)
	if err != nil {
		return nil, err
	}
	w := &attackWorld{trust: trust, keys: map[string]*identity.Key{}, chains: map[string][]*identity.Certificate{},
		pps: map[string]*keygen.LocalPreParams{}, roster: r}
	now := time.Now()
	for i, id := range attackIDs {
		k, err := identity.GenerateKey()
		if err != nil {
			return nil, err
		}
		c, err := identity.Issue(root, identity.KindServer, id, k.Public(), now.Add(-time.Minute), now.Add(24*time.Hour))
		if err != nil {
			return nil, err
		}
		w.keys[id], w.chains[id] = k, []*identity.Certificate{c}
		if w.pps[id], err = preparams.Unmarshal(sets[i]); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// sessions returns every party's Session of one session, with signed
// roster entries.
func (w *attackWorld) sessions(t *testing.T, kind identity.SessionKind, id, wallet string, digest []byte) []Session {
	t.Helper()
	keys := make([]*seal.Keys, len(attackIDs))
	entries := make(map[string]*identity.Entry, len(attackIDs))
	for i, pid := range attackIDs {
		k, err := seal.GenerateKeys()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		pub := k.Public()
		st := &identity.Statement{SessionKind: kind, SessionID: id, PartyID: pid, Kind: identity.KindServer, WalletID: wallet,
			Threshold: attackSigners, Parties: slices.Sorted(slices.Values(attackIDs)), Digest: digest, Expires: time.Now().Add(10 * time.Minute)}
		copy(st.X25519[:], pub.X25519)
		copy(st.Ed25519[:], pub.Ed25519)
		if entries[pid], err = identity.SignStatement(w.keys[pid], st, w.chains[pid]); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]Session, len(attackIDs))
	for i, pid := range attackIDs {
		out[i] = Session{ID: id, Parties: attackIDs, Self: pid, SignersNeeded: attackSigners, Keys: keys[i], Roster: entries, Trust: w.trust}
		if kind == identity.SessionSign {
			out[i].SignersNeeded = 0
		}
	}
	return out
}

// attackNet delivers sealed envelopes between the parties of one process,
// each through its wire encoding.
type attackNet struct {
	boxes map[string]chan *seal.Envelope
}

type attackTransport struct {
	net  *attackNet
	self string
}

func newAttackNet() *attackNet {
	n := &attackNet{boxes: map[string]chan *seal.Envelope{}}
	for _, id := range attackIDs {
		n.boxes[id] = make(chan *seal.Envelope, 4096)
	}
	return n
}

func (tr *attackTransport) Send(ctx context.Context, env *seal.Envelope) error {
	wire, err := env.MarshalBinary()
	if err != nil {
		return err
	}
	for id, box := range tr.net.boxes {
		if id == tr.self || (env.To != "" && env.To != id) {
			continue
		}
		cp, err := seal.UnmarshalEnvelope(wire)
		if err != nil {
			return err
		}
		select {
		case box <- cp:
		default:
			return errors.New("mailbox full")
		}
	}
	return nil
}

func (tr *attackTransport) Incoming() <-chan *seal.Envelope { return tr.net.boxes[tr.self] }

// runAttack runs run for every party; once the honest parties have
// finished, mallory is stopped unless waitAll. It returns every honest
// party's error.
func runAttack[T any](t *testing.T, waitAll bool, run func(ctx context.Context, i int, tr Transport) (T, error)) map[string]error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	net := newAttackNet()
	type result struct {
		id  string
		err error
	}
	done := make(chan result, len(attackIDs))
	for i, id := range attackIDs {
		go func() {
			_, err := run(ctx, i, &attackTransport{net: net, self: id})
			done <- result{id, err}
		}()
	}
	errs := map[string]error{}
	for range attackIDs {
		r := <-done
		if r.id != mallory {
			errs[r.id] = r.err
		}
		if len(errs) == len(attackIDs)-1 && !waitAll {
			cancel()
		}
	}
	return errs
}

func (w *attackWorld) keygen(t *testing.T, session string, pps map[string]*keygen.LocalPreParams) map[string]error {
	t.Helper()
	ss := w.sessions(t, identity.SessionKeygen, session, "wallet-"+session, nil)
	return runAttack(t, false, func(ctx context.Context, i int, tr Transport) (*KeygenResult, error) {
		id := attackIDs[i]
		pp := w.pps[id]
		if pps[id] != nil {
			pp = pps[id]
		}
		return Keygen(ctx, KeygenRequest{Session: ss[i], WalletID: "wallet-" + session, PreParams: pp, Identity: w.keys[id]}, tr)
	})
}

// wallet runs an honest keygen and returns every party's share.
func (w *attackWorld) wallet(t *testing.T) map[string]*share.Record {
	t.Helper()
	ss := w.sessions(t, identity.SessionKeygen, "kg-attack-wallet", "wallet-attack", nil)
	shares := map[string]*share.Record{}
	var mu sync.Mutex
	errs := runAttack(t, true, func(ctx context.Context, i int, tr Transport) (*KeygenResult, error) {
		res, err := Keygen(ctx, KeygenRequest{Session: ss[i], WalletID: "wallet-attack", PreParams: w.pps[attackIDs[i]], Identity: w.keys[attackIDs[i]]}, tr)
		if err == nil {
			mu.Lock()
			shares[attackIDs[i]] = res.Share
			mu.Unlock()
		}
		return res, err
	})
	for id, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if len(shares) != len(attackIDs) {
		t.Fatalf("keygen gave %d shares", len(shares))
	}
	return shares
}

func (w *attackWorld) sign(t *testing.T, session string, shares map[string]*share.Record, digest []byte) map[string]error {
	t.Helper()
	ss := w.sessions(t, identity.SessionSign, session, shares[mallory].WalletID, digest)
	return runAttack(t, false, func(ctx context.Context, i int, tr Transport) (*Signature, error) {
		return Sign(ctx, SignRequest{Session: ss[i], Share: shares[attackIDs[i]], Digest: digest}, tr)
	})
}

// wantBlamed checks that every honest party failed with a protocol error
// naming exactly mallory, refused by the peer check named check.
func wantBlamed(t *testing.T, errs map[string]error, check string) {
	t.Helper()
	for id, err := range errs {
		e, ok := AsError(err)
		if !ok || e.Code != CodeProtocol || !slices.Equal(e.Culprits, []string{mallory}) {
			t.Fatalf("%s: got %v; want a protocol error naming only %s", id, err, mallory)
		}
		if !strings.Contains(err.Error(), check+": ") {
			t.Fatalf("%s: failed, but not by the check %s: %v", id, check, err)
		}
	}
}

// playMallory makes f rewrite the wire bytes of each message mallory sends.
func playMallory(t *testing.T, f func(msg tss.ParsedMessage, wire []byte) []byte) {
	testOutgoing = func(self string, msg tss.ParsedMessage, wire []byte) []byte {
		if self != mallory {
			return wire
		}
		return f(msg, wire)
	}
	t.Cleanup(func() { testOutgoing = nil })
}

// rewrite decodes wire (a protobuf Any of a T), applies edit and encodes it.
func rewrite[T proto.Message](t *testing.T, wire []byte, edit func(c T)) []byte {
	var a anypb.Any
	if err := proto.Unmarshal(wire, &a); err != nil {
		t.Errorf("rewrite: %v", err)
		return wire
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Errorf("rewrite: %v", err)
		return wire
	}
	c, ok := m.(T)
	if !ok {
		t.Errorf("rewrite: unexpected %T", m)
		return wire
	}
	edit(c)
	b, err := anypb.New(c)
	if err == nil {
		var out []byte
		if out, err = proto.Marshal(b); err == nil {
			return out
		}
	}
	t.Errorf("rewrite: %v", err)
	return wire
}

// keygenContext is tss-lib v2.0.2's proof context of party j in a keygen
// among w's parties: SHA512_256i(curve, party keys, 1, 0) || j. Its SSID
// nonce is always 0, so this depends on the roster alone.
func (w *attackWorld) keygenContext(j int) []byte {
	ec := tss.S256().Params()
	list := []*big.Int{ec.P, ec.N, ec.Gx, ec.Gy}
	list = append(list, w.roster.PartyIDs().Keys()...)
	list = append(list, big.NewInt(1), big.NewInt(0))
	return append(common.SHA512_256i(list...).Bytes(), big.NewInt(int64(j)).Bytes()...)
}

var (
	attackQ  = tss.S256().Params().N
	attackQ3 = new(big.Int).Exp(attackQ, big.NewInt(3), nil)
	bigOne   = big.NewInt(1)
)

func randBelow(t *testing.T, n *big.Int) *big.Int {
	v, err := rand.Int(rand.Reader, n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// forgeModProof makes a Paillier-Blum modulus proof for N = P·Q with
// W = P, so gcd(W, N) = P (tss-lib #323). W has Jacobi symbol 0, not 1,
// so v2.0.2 takes it for a non-residue. Every b_i is 1: X_i^4 = ±W·Y_i is
// 0 modulo P, so X_i is 0 modulo P and a fourth root modulo Q, where one
// of ±W·Y_i is a residue (Q ≡ 3 mod 4) and residues are fourth powers.
func forgeModProof(t *testing.T, ctx []byte, sk *paillier.PrivateKey) *modproof.ProofMod {
	N, P, Q := sk.N, sk.P, sk.Q
	W := new(big.Int).Set(P)
	phi := new(big.Int).Mul(new(big.Int).Sub(P, bigOne), new(big.Int).Sub(Q, bigOne))
	invN := new(big.Int).ModInverse(N, phi)
	quarter := new(big.Int).Rsh(new(big.Int).Add(Q, bigOne), 2) // (Q+1)/4
	crtP := new(big.Int).Mul(P, new(big.Int).ModInverse(P, Q))  // 0 mod P, 1 mod Q
	pf := &modproof.ProofMod{W: W, A: new(big.Int).Lsh(bigOne, modproof.Iterations), B: new(big.Int).Lsh(bigOne, modproof.Iterations)}
	var Y [modproof.Iterations]*big.Int
	for i := range Y {
		e := common.SHA512_256i_TAGGED(ctx, append([]*big.Int{W, N}, Y[:i]...)...)
		Y[i] = common.RejectionSample(N, e)
		pf.Z[i] = new(big.Int).Exp(Y[i], invN, N)
		v := new(big.Int).Mod(new(big.Int).Mul(W, Y[i]), Q)
		if big.Jacobi(v, Q) != 1 {
			v.Sub(Q, v)
			pf.A.SetBit(pf.A, i, 1)
		}
		pf.B.SetBit(pf.B, i, 1)
		root := new(big.Int).Exp(new(big.Int).Exp(v, quarter, Q), quarter, Q)
		pf.X[i] = new(big.Int).Mod(new(big.Int).Mul(crtP, root), N)
	}
	if !pf.Verify(ctx, N) {
		t.Fatal("the forged modulus proof does not pass tss-lib v2.0.2")
	}
	return pf
}

// forgeFacProof makes the factorization proof (CGGMP21 Fig. 28, as
// tss-lib v2.0.2 hashes it) for N0 = p·q under the ring (nCap, s, t) with
// the mask x of W1 = e·mu + x above 2·q^3·2^2048, the bound tsskit uses
// for its own ring during keygen (tss-lib #331/#332: W1 < 2·q^3·NTilde).
func forgeFacProof(t *testing.T, ctx []byte, n0, nCap, s, tt, p, q *big.Int) *facproof.ProofFac {
	q3 := attackQ3
	sqrtN0 := new(big.Int).Sqrt(n0)
	mod := func(x *big.Int) *big.Int { return x.Mod(x, nCap) }
	pow := func(b, e *big.Int) *big.Int { return new(big.Int).Exp(b, e, nCap) }
	alpha := randBelow(t, new(big.Int).Mul(q3, sqrtN0))
	beta := randBelow(t, new(big.Int).Mul(q3, sqrtN0))
	qN := new(big.Int).Mul(attackQ, nCap)
	mu, nu := randBelow(t, qN), randBelow(t, qN)
	sigma := randBelow(t, new(big.Int).Mul(qN, n0))
	r := randBelow(t, new(big.Int).Mul(new(big.Int).Mul(q3, nCap), n0))
	x := new(big.Int).Lsh(q3, 2048+1)
	x.Add(x, randBelow(t, x))
	y := randBelow(t, new(big.Int).Mul(q3, nCap))
	P := mod(new(big.Int).Mul(pow(s, p), pow(tt, mu)))
	Q := mod(new(big.Int).Mul(pow(s, q), pow(tt, nu)))
	A := mod(new(big.Int).Mul(pow(s, alpha), pow(tt, x)))
	B := mod(new(big.Int).Mul(pow(s, beta), pow(tt, y)))
	T := mod(new(big.Int).Mul(pow(Q, alpha), pow(tt, r)))
	e := common.RejectionSample(attackQ, common.SHA512_256i_TAGGED(ctx, n0, nCap, s, tt, P, Q, A, B, T, sigma))
	lin := func(a, b, c *big.Int) *big.Int { return new(big.Int).Add(new(big.Int).Mul(a, b), c) }
	pf := &facproof.ProofFac{P: P, Q: Q, A: A, B: B, T: T, Sigma: sigma,
		Z1: lin(e, p, alpha), Z2: lin(e, q, beta), W1: lin(e, mu, x), W2: lin(e, nu, y),
		V: lin(e, new(big.Int).Sub(sigma, new(big.Int).Mul(nu, p)), r)}
	if !pf.Verify(ctx, tss.S256(), n0, nCap, s, tt) {
		t.Fatal("the forged factorization proof does not pass tss-lib v2.0.2")
	}
	return pf
}

// forgeRangeProof encrypts m under pk and proves it (GG18 Fig. 9, as
// tss-lib v2.0.2 hashes it: no session) under the ring (nTilde, h1, h2),
// with the mask gamma of S2 = e·rho + gamma at 2·q^3·NTilde or more
// (tss-lib #331/#332: S2 < 2·q^3·NTilde).
func forgeRangeProof(t *testing.T, pk *paillier.PublicKey, m, nTilde, h1, h2 *big.Int) (*big.Int, *mta.RangeProofAlice) {
	c, r, err := pk.EncryptAndReturnRandomness(rand.Reader, m)
	if err != nil {
		t.Fatal(err)
	}
	n2 := pk.NSquare()
	alpha := randBelow(t, attackQ3)
	beta := new(big.Int)
	for beta.Sign() == 0 || new(big.Int).GCD(nil, nil, beta, pk.N).Cmp(bigOne) != 0 {
		beta = randBelow(t, pk.N)
	}
	gamma := new(big.Int).Lsh(new(big.Int).Mul(attackQ3, nTilde), 1)
	gamma.Add(gamma, randBelow(t, gamma))
	rho := randBelow(t, new(big.Int).Mul(attackQ, nTilde))
	z := new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Exp(h1, m, nTilde), new(big.Int).Exp(h2, rho, nTilde)), nTilde)
	u := new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Exp(pk.Gamma(), alpha, n2), new(big.Int).Exp(beta, pk.N, n2)), n2)
	w := new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Exp(h1, alpha, nTilde), new(big.Int).Exp(h2, gamma, nTilde)), nTilde)
	e := common.RejectionSample(attackQ, common.SHA512_256i(append(pk.AsInts(), c, z, u, w)...))
	s := new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Exp(r, e, pk.N), beta), pk.N)
	pf := &mta.RangeProofAlice{Z: z, U: u, W: w, S: s,
		S1: new(big.Int).Add(new(big.Int).Mul(e, m), alpha),
		S2: new(big.Int).Add(new(big.Int).Mul(e, rho), gamma)}
	if !pf.Verify(tss.S256(), pk, nTilde, h1, h2, c) {
		t.Fatal("the forged range proof does not pass tss-lib v2.0.2")
	}
	return c, pf
}

// craftedPreParams returns base with the ring replaced by one over
// nTilde, of which lambda is a multiple of the order of every unit: h1 a
// random square, h2 = h1^x. Both DLN proofs of round 1 can be made from
// them (tss-lib reduces its responses modulo P·Q = lambda·1).
func craftedPreParams(t *testing.T, base *keygen.LocalPreParams, nTilde, lambda *big.Int) *keygen.LocalPreParams {
	f := randBelow(t, nTilde)
	h1 := new(big.Int).Exp(f, big.NewInt(2), nTilde)
	var x, y *big.Int
	for y == nil {
		x = randBelow(t, lambda)
		y = new(big.Int).ModInverse(x, lambda)
	}
	pp := *base
	pp.NTildei, pp.H1i, pp.H2i = nTilde, h1, new(big.Int).Exp(h1, x, nTilde)
	pp.Alpha, pp.Beta, pp.P, pp.Q = x, y, lambda, big.NewInt(1)
	p1 := dlnproof.NewDLNProof(pp.H1i, pp.H2i, pp.Alpha, pp.P, pp.Q, pp.NTildei, rand.Reader)
	p2 := dlnproof.NewDLNProof(pp.H2i, pp.H1i, pp.Beta, pp.P, pp.Q, pp.NTildei, rand.Reader)
	if !p1.Verify(pp.H1i, pp.H2i, pp.NTildei) || !p2.Verify(pp.H2i, pp.H1i, pp.NTildei) {
		t.Fatal("the crafted ring's DLN proofs do not pass tss-lib v2.0.2")
	}
	return &pp
}

// primeAround returns a prime of bits bits in [lo, lo + 2^(bits-8)).
func primeAround(t *testing.T, lo *big.Int) *big.Int {
	for {
		p := new(big.Int).Add(lo, randBelow(t, new(big.Int).Rsh(lo, 8)))
		p.SetBit(p, 0, 1)
		if p.ProbablyPrime(20) {
			return p
		}
	}
}

// TestAttackPeerParams: for each attack, a keygen or a signing among three
// in-memory parties in which mallory sends one kind of crafted message.
// Every honest party must fail with a protocol error that names exactly
// mallory, refused by the peer check named after the attack. tss-lib
// v2.0.2 alone would accept each crafted message (the session succeeds,
// or ends in a timeout) or crash the process on it.
func TestAttackPeerParams(t *testing.T) {
	if testing.Short() {
		t.Skip("real keygens and signings in -short mode")
	}
	w := newAttackWorld(t)
	malloryIdx := w.roster.Index(mallory)
	mpp := w.pps[mallory]

	// A de-commitment of one point where t+1 = 2 are due (tss-lib #291),
	// with a round-1 commitment to match. v2.0.2 crashes in round 3.
	t.Run("keygen_vss_length", func(t *testing.T) {
		ec := tss.S256().Params()
		deCommitment := []*big.Int{randBelow(t, new(big.Int).Lsh(bigOne, 256)), ec.Gx, ec.Gy}
		commitment := common.SHA512_256i(deCommitment...)
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			switch msg.Content().(type) {
			case *keygen.KGRound1Message:
				return rewrite(t, wire, func(c *keygen.KGRound1Message) { c.Commitment = commitment.Bytes() })
			case *keygen.KGRound2Message2:
				return rewrite(t, wire, func(c *keygen.KGRound2Message2) { c.DeCommitment = common.BigIntsToBytes(deCommitment) })
			}
			return wire
		})
		wantBlamed(t, w.keygen(t, "kg-vss-length", nil), peercheck.CheckVSSLength)
	})

	// A DLN proof whose first length prefix is 2^63: v2.0.2 slices with
	// it as a negative int64 in a round-2 goroutine and crashes.
	t.Run("keygen_dln_layout", func(t *testing.T) {
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*keygen.KGRound1Message); ok {
				return rewrite(t, wire, func(c *keygen.KGRound1Message) { c.Dlnproof_1[0] = []byte{0x80, 0, 0, 0, 0, 0, 0, 0} })
			}
			return wire
		})
		wantBlamed(t, w.keygen(t, "kg-dln-layout", nil), peercheck.CheckDLNLayout)
	})

	// A DLN proof response t_1 + 5·p'q', above NTilde: h1 has order p'q',
	// so the proof still verifies, and v2.0.2 checks t_1 mod NTilde only
	// (tss-lib #331/#332 bounds t_i by NTilde).
	t.Run("keygen_dln_response_bound", func(t *testing.T) {
		order := new(big.Int).Mul(mpp.P, mpp.Q)
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*keygen.KGRound1Message); ok {
				return rewrite(t, wire, func(c *keygen.KGRound1Message) {
					i := 2 + dlnproof.Iterations
					t1 := new(big.Int).SetBytes(c.Dlnproof_1[i])
					c.Dlnproof_1[i] = t1.Add(t1, new(big.Int).Mul(order, big.NewInt(5))).Bytes()
				})
			}
			return wire
		})
		wantBlamed(t, w.keygen(t, "kg-dln-bound", nil), peercheck.CheckDLNT)
	})

	// A Paillier-Blum modulus proof with gcd(W, N) = P (tss-lib #323),
	// which v2.0.2 verifies.
	t.Run("keygen_modproof_gcd", func(t *testing.T) {
		forged := forgeModProof(t, w.keygenContext(malloryIdx), mpp.PaillierSK)
		bzs := forged.Bytes()
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*keygen.KGRound2Message2); ok {
				return rewrite(t, wire, func(c *keygen.KGRound2Message2) { c.ModProof = bzs[:] })
			}
			return wire
		})
		wantBlamed(t, w.keygen(t, "kg-modproof-gcd", nil), peercheck.CheckModProofW)
	})

	// Factorization proofs with W1 above 2·q^3·NTilde (tss-lib #331/#332),
	// made for each recipient's ring; v2.0.2 verifies them.
	t.Run("keygen_facproof_bound", func(t *testing.T) {
		ctx := w.keygenContext(malloryIdx)
		forged := map[string][][]byte{}
		for _, id := range attackIDs {
			if id == mallory {
				continue
			}
			pp := w.pps[id]
			pf := forgeFacProof(t, ctx, mpp.PaillierSK.N, pp.NTildei, pp.H1i, pp.H2i, mpp.PaillierSK.P, mpp.PaillierSK.Q)
			bzs := pf.Bytes()
			forged[id] = bzs[:]
		}
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*keygen.KGRound2Message1); ok {
				return rewrite(t, wire, func(c *keygen.KGRound2Message1) { c.FacProof = forged[msg.GetTo()[0].Id] })
			}
			return wire
		})
		wantBlamed(t, w.keygen(t, "kg-facproof-bound", nil), peercheck.CheckFacProofBounds)
	})

	// A Paillier proof with y_1 + N in place of y_1: y^N mod N is the same,
	// so v2.0.2 verifies it (tss-lib #331/#332: y_i in Z*_N).
	t.Run("keygen_paillier_proof_range", func(t *testing.T) {
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*keygen.KGRound3Message); ok {
				return rewrite(t, wire, func(c *keygen.KGRound3Message) {
					y := new(big.Int).SetBytes(c.PaillierProof[0])
					c.PaillierProof[0] = y.Add(y, mpp.PaillierSK.N).Bytes()
				})
			}
			return wire
		})
		wantBlamed(t, w.keygen(t, "kg-paillier-range", nil), peercheck.CheckPaillierProofUnits)
	})

	// Mallory keygens with a ring modulus 3·P': its DLN proofs are
	// genuine, and v2.0.2 checks nothing else of NTilde. A factor 3 gives
	// mallory an order-2·3 part in which other parties' commitments live.
	t.Run("keygen_ntilde_small_factor", func(t *testing.T) {
		lo := new(big.Int).Div(new(big.Int).Lsh(bigOne, 2047), big.NewInt(3))
		lo.Add(lo, new(big.Int).Rsh(lo, 4))
		p := primeAround(t, lo)
		nTilde := new(big.Int).Mul(p, big.NewInt(3))
		pp := craftedPreParams(t, mpp, nTilde, new(big.Int).Sub(p, bigOne))
		wantBlamed(t, w.keygen(t, "kg-ntilde-3p", map[string]*keygen.LocalPreParams{mallory: pp}), peercheck.CheckModulusSmallFactor)
	})

	// Mallory keygens with a prime ring modulus, of which it knows the
	// group order.
	t.Run("keygen_ntilde_prime", func(t *testing.T) {
		lo := new(big.Int).Lsh(bigOne, 2047)
		lo.Add(lo, new(big.Int).Rsh(lo, 4))
		p := primeAround(t, lo)
		pp := craftedPreParams(t, mpp, p, new(big.Int).Sub(p, bigOne))
		wantBlamed(t, w.keygen(t, "kg-ntilde-prime", map[string]*keygen.LocalPreParams{mallory: pp}), peercheck.CheckNTildePrime)
	})

	shares := w.wallet(t)

	// An MtA ciphertext C = N_mallory, not a unit modulo N^2 (tss-lib
	// #331/#332). v2.0.2's range proof computes C^-e mod N^2, gets nil and
	// crashes in a signing round-2 goroutine.
	t.Run("sign_mta_ciphertext", func(t *testing.T) {
		nMallory := shares[mallory].SaveData.PaillierSK.N
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*signing.SignRound1Message1); ok {
				return rewrite(t, wire, func(c *signing.SignRound1Message1) { c.C = nMallory.Bytes() })
			}
			return wire
		})
		wantBlamed(t, w.sign(t, "sign-mta-ciphertext", shares, attackDigest("ciphertext")), peercheck.CheckCiphertext)
	})

	// A fresh MtA ciphertext for each recipient with a range proof whose
	// S2 is above 2·q^3·NTilde (tss-lib #331/#332); v2.0.2 verifies it and
	// answers; mallory's own party then refuses the answer to a ciphertext
	// it never made, and the honest parties wait for it until the deadline.
	t.Run("sign_range_proof_bound", func(t *testing.T) {
		save := shares[mallory].SaveData
		pk := &save.PaillierSK.PublicKey
		forged := map[string][2]any{}
		for _, id := range attackIDs {
			if id == mallory {
				continue
			}
			k := w.roster.Index(id) // keygen roster = signing roster here
			c, pf := forgeRangeProof(t, pk, randBelow(t, attackQ), save.NTildej[k], save.H1j[k], save.H2j[k])
			forged[id] = [2]any{c, pf}
		}
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*signing.SignRound1Message1); ok {
				f := forged[msg.GetTo()[0].Id]
				return rewrite(t, wire, func(c *signing.SignRound1Message1) {
					bzs := f[1].(*mta.RangeProofAlice).Bytes()
					c.C, c.RangeProofAlice = f[0].(*big.Int).Bytes(), bzs[:]
				})
			}
			return wire
		})
		wantBlamed(t, w.sign(t, "sign-range-bound", shares, attackDigest("range")), peercheck.CheckRangeProofBound)
	})
}

func attackDigest(s string) []byte {
	d := make([]byte, 32)
	copy(d, s)
	return d
}

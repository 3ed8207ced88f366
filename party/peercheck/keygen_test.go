package peercheck_test

import (
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/peercheck"
)

var (
	one   = big.NewInt(1)
	q     = tss.S256().Params().N
	q3    = new(big.Int).Exp(q, big.NewInt(3), nil)
	round = struct{ r1, r2p2p, r2bc, r3 string }{
		"binance.tsslib.ecdsa.keygen.KGRound1Message",
		"binance.tsslib.ecdsa.keygen.KGRound2Message1",
		"binance.tsslib.ecdsa.keygen.KGRound2Message2",
		"binance.tsslib.ecdsa.keygen.KGRound3Message",
	}
)

// wantRefused fails unless err is a *peercheck.Error of check.
func wantRefused(t *testing.T, err error, check string) {
	t.Helper()
	var e *peercheck.Error
	if !errors.As(err, &e) || !errors.Is(err, peercheck.ErrRefused) {
		t.Fatalf("got %v; want a refusal by %s", err, check)
	}
	if e.Check != check {
		t.Fatalf("refused by %s (%v); want %s", e.Check, err, check)
	}
}

// feed checks msgs in order with c and returns the first error; every
// message before the last must pass.
func feed(t *testing.T, c interface {
	Check(tss.ParsedMessage) error
}, msgs ...tss.ParsedMessage) error {
	t.Helper()
	for i, m := range msgs {
		if err := c.Check(m); err != nil {
			if i != len(msgs)-1 {
				t.Fatalf("message %d (%s) refused before the one under test: %v", i, m.Type(), err)
			}
			return err
		}
	}
	return nil
}

func b(x *big.Int) []byte { return x.Bytes() }

func bi(v []byte) *big.Int { return new(big.Int).SetBytes(v) }

// nonResidue returns a small g with Jacobi(g, n) = -1.
func nonResidue(t *testing.T, n *big.Int) *big.Int {
	for g := int64(2); g < 1000; g++ {
		if big.Jacobi(big.NewInt(g), n) == -1 {
			return big.NewInt(g)
		}
	}
	t.Fatal("no small non-residue")
	return nil
}

// Keygen checks, from party 0's side: a pass case for each message type
// (the honest message after the sender's honest round-1 message) and one
// or more fail cases for each check.
func TestKeygenChecks(t *testing.T) {
	f := fixture(t)
	const self, peer = 0, 1
	r1 := f.msg(t, false, round.r1, peer, -1)
	r1other := f.msg(t, false, round.r1, 2, -1)
	r2p2p := f.msg(t, false, round.r2p2p, peer, self)
	r2bc := f.msg(t, false, round.r2bc, peer, -1)
	r3 := f.msg(t, false, round.r3, peer, -1)
	pre := f.pre[peer]
	nTilde, n := pre.NTildei, pre.PaillierSK.N
	nTildeFactor := new(big.Int).Add(new(big.Int).Lsh(pre.P, 1), one) // 2p'+1
	own := f.ring(self)

	editR1 := func(edit func(c *keygen.KGRound1Message)) tss.ParsedMessage {
		return tamper(t, r1, edit)
	}
	setDLN := func(which, i int, v []byte) tss.ParsedMessage {
		return editR1(func(c *keygen.KGRound1Message) {
			p := c.Dlnproof_1
			if which == 2 {
				p = c.Dlnproof_2
			}
			p[i] = v
		})
	}
	editFac := func(i int, v *big.Int) tss.ParsedMessage {
		return tamper(t, r2p2p, func(c *keygen.KGRound2Message1) { c.FacProof[i] = b(v) })
	}
	editMod := func(i int, v *big.Int) tss.ParsedMessage {
		return tamper(t, r2bc, func(c *keygen.KGRound2Message2) { c.ModProof[i] = b(v) })
	}
	editPai := func(i int, v *big.Int) tss.ParsedMessage {
		return tamper(t, r3, func(c *keygen.KGRound3Message) { c.PaillierProof[i] = b(v) })
	}
	facBounds := func(i int) *big.Int { // P, Q, A, B, T, Sigma, Z1, Z2, W1, W2, V
		switch i {
		case 5:
			return new(big.Int).Mul(new(big.Int).Mul(q, n), own.NTilde)
		case 6, 7:
			return new(big.Int).Mul(q3, new(big.Int).Sqrt(n))
		case 8, 9:
			return new(big.Int).Lsh(new(big.Int).Mul(q3, own.NTilde), 1)
		default:
			return new(big.Int).Lsh(new(big.Int).Mul(new(big.Int).Mul(q3, n), own.NTilde), 2)
		}
	}
	prime2048, err := rand.Prime(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	smallFactor := func(m *big.Int) *big.Int { // odd, 2048 bits, divisible by 65521
		p := big.NewInt(65521)
		x := new(big.Int).Sub(m, new(big.Int).Mod(m, p))
		if x.Bit(0) == 0 {
			x.Sub(x, p)
		}
		return x
	}
	square := func(m *big.Int) *big.Int {
		s := new(big.Int).Sqrt(m)
		s.SetBit(s, 0, 1)
		return s.Mul(s, s)
	}
	jac := new(big.Int).Mod(new(big.Int).Mul(pre.H1i, nonResidue(t, nTilde)), nTilde)

	cases := []struct {
		name  string
		own   *peercheck.Ring
		msgs  []tss.ParsedMessage
		check string // "" = must pass
	}{
		{"pass/round1", own, []tss.ParsedMessage{r1}, ""},
		{"pass/round2-share", own, []tss.ParsedMessage{r1, r2p2p}, ""},
		{"pass/round2-share-without-own-ring", nil, []tss.ParsedMessage{r1, r2p2p}, ""},
		{"pass/round2-decommitment", own, []tss.ParsedMessage{r1, r2bc}, ""},
		{"pass/round3", own, []tss.ParsedMessage{r1, r3}, ""},
		{"pass/later-rounds-first", own, []tss.ParsedMessage{r3, r2bc, r2p2p, r1}, ""},

		{"sender/self", own, []tss.ParsedMessage{f.msg(t, false, round.r1, self, -1)}, peercheck.CheckSender},
		{"sender/second-round1", own, []tss.ParsedMessage{r1, r1}, peercheck.CheckSender},

		{"moduli.bits/N", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.PaillierN = c.PaillierN[1:] })}, peercheck.CheckModulusBits},
		{"moduli.bits/NTilde-too-long", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.NTilde = append(c.NTilde, 1) })}, peercheck.CheckModulusBits},
		{"moduli.odd/N", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.PaillierN = b(new(big.Int).Add(n, one)) })}, peercheck.CheckModulusOdd},
		{"moduli.square/NTilde", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.NTilde = b(square(nTilde)) })}, peercheck.CheckModulusSquare},
		{"moduli.small-factor/N", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.PaillierN = b(smallFactor(n)) })}, peercheck.CheckModulusSmallFactor},
		{"moduli.small-factor/NTilde", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.NTilde = b(smallFactor(nTilde)) })}, peercheck.CheckModulusSmallFactor},
		{"moduli.ntilde-prime", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.NTilde = b(prime2048) })}, peercheck.CheckNTildePrime},
		{"moduli.coprime/NTilde=N", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.NTilde = c.PaillierN })}, peercheck.CheckModuliCoprime},
		{"moduli.distinct/another-peer's-N", own, []tss.ParsedMessage{r1other, editR1(func(c *keygen.KGRound1Message) {
			c.PaillierN = b(f.pre[2].PaillierSK.N)
		})}, peercheck.CheckModuliDistinct},
		{"moduli.distinct/own-NTilde-as-N", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.PaillierN = b(own.NTilde) })}, peercheck.CheckModuliDistinct},

		{"ring.h/h1=1", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.H1 = []byte{1} })}, peercheck.CheckRingH},
		{"ring.h/h2=-1", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.H2 = b(new(big.Int).Sub(nTilde, one)) })}, peercheck.CheckRingH},
		{"ring.h/h1+NTilde", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.H1 = b(new(big.Int).Add(pre.H1i, nTilde)) })}, peercheck.CheckRingH},
		{"ring.h/h2-not-a-unit", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.H2 = b(nTildeFactor) })}, peercheck.CheckRingH},
		{"ring.h-jacobi", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.H1 = b(jac) })}, peercheck.CheckRingJacobi},
		{"ring.h-equal", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.H2 = c.H1 })}, peercheck.CheckRingEqual},

		{"dln.layout/prefix-2^63", own, []tss.ParsedMessage{setDLN(1, 0, []byte{0x80, 0, 0, 0, 0, 0, 0, 0})}, peercheck.CheckDLNLayout},
		{"dln.layout/second-prefix", own, []tss.ParsedMessage{setDLN(2, 1+dlnproof.Iterations, []byte{127})}, peercheck.CheckDLNLayout},
		{"dln.layout/part-missing", own, []tss.ParsedMessage{editR1(func(c *keygen.KGRound1Message) { c.Dlnproof_2 = c.Dlnproof_2[:len(c.Dlnproof_2)-1] })}, peercheck.CheckDLNLayout},
		{"dln.layout/empty-part", own, []tss.ParsedMessage{setDLN(1, 5, nil)}, peercheck.CheckDLNLayout},
		{"dln.alpha/alpha+NTilde", own, []tss.ParsedMessage{setDLN(1, 3, b(new(big.Int).Add(bi(r1.Content().(*keygen.KGRound1Message).Dlnproof_1[3]), nTilde)))}, peercheck.CheckDLNAlpha},
		{"dln.alpha/alpha=1", own, []tss.ParsedMessage{setDLN(2, 100, []byte{1})}, peercheck.CheckDLNAlpha},
		{"dln.t/t+NTilde", own, []tss.ParsedMessage{setDLN(2, 2+dlnproof.Iterations+7, b(new(big.Int).Add(bi(r1.Content().(*keygen.KGRound1Message).Dlnproof_2[2+dlnproof.Iterations+7]), nTilde)))}, peercheck.CheckDLNT},
		{"dln.t/t=1", own, []tss.ParsedMessage{setDLN(1, 2*dlnproof.Iterations+1, []byte{1})}, peercheck.CheckDLNT},

		{"vss.length/one-point-short", own, []tss.ParsedMessage{tamper(t, r2bc, func(c *keygen.KGRound2Message2) {
			c.DeCommitment = c.DeCommitment[:len(c.DeCommitment)-2]
		})}, peercheck.CheckVSSLength},
		{"vss.length/one-point-long", own, []tss.ParsedMessage{tamper(t, r2bc, func(c *keygen.KGRound2Message2) {
			c.DeCommitment = append(c.DeCommitment, c.DeCommitment[1], c.DeCommitment[2])
		})}, peercheck.CheckVSSLength},

		{"facproof.layout/10-parts", own, []tss.ParsedMessage{r1, tamper(t, r2p2p, func(c *keygen.KGRound2Message1) { c.FacProof = c.FacProof[:10] })}, peercheck.CheckFacProofLayout},
		{"facproof.layout/none", own, []tss.ParsedMessage{tamper(t, r2p2p, func(c *keygen.KGRound2Message1) { c.FacProof = nil })}, peercheck.CheckFacProofLayout},
		{"facproof.bounds/Z1", own, []tss.ParsedMessage{r1, editFac(6, facBounds(6))}, peercheck.CheckFacProofBounds},
		{"facproof.bounds/W1", own, []tss.ParsedMessage{r1, editFac(8, facBounds(8))}, peercheck.CheckFacProofBounds},
		{"facproof.bounds/W2-without-own-ring", nil, []tss.ParsedMessage{r1, editFac(9, new(big.Int).Lsh(q3, peercheck.ModulusBits+1))}, peercheck.CheckFacProofBounds},
		{"facproof.bounds/Sigma", own, []tss.ParsedMessage{r1, editFac(5, facBounds(5))}, peercheck.CheckFacProofBounds},
		{"facproof.bounds/V", own, []tss.ParsedMessage{r1, editFac(10, facBounds(10))}, peercheck.CheckFacProofBounds},
		{"facproof.units/P=NTilde", own, []tss.ParsedMessage{r1, editFac(0, own.NTilde)}, peercheck.CheckFacProofUnits},
		{"facproof.units/T-not-a-unit", own, []tss.ParsedMessage{r1, editFac(4, new(big.Int).Add(new(big.Int).Lsh(f.pre[self].P, 1), one))}, peercheck.CheckFacProofUnits},
		{"facproof.units/A-without-own-ring", nil, []tss.ParsedMessage{r1, editFac(2, new(big.Int).Lsh(one, peercheck.ModulusBits))}, peercheck.CheckFacProofUnits},

		{"modproof.layout", own, []tss.ParsedMessage{tamper(t, r2bc, func(c *keygen.KGRound2Message2) { c.ModProof = c.ModProof[1:] })}, peercheck.CheckModProofLayout},
		{"modproof.w-unit/W=p", own, []tss.ParsedMessage{r1, editMod(0, pre.PaillierSK.P)}, peercheck.CheckModProofW},
		{"modproof.w-unit/W+N", own, []tss.ParsedMessage{r1, editMod(0, new(big.Int).Add(bi(r2bc.Content().(*keygen.KGRound2Message2).ModProof[0]), n))}, peercheck.CheckModProofW},
		{"modproof.w-unit/held-until-round1", own, []tss.ParsedMessage{editMod(0, pre.PaillierSK.Q), r1}, peercheck.CheckModProofW},
		{"modproof.units/X", own, []tss.ParsedMessage{r1, editMod(1+4, new(big.Int).Mul(pre.PaillierSK.Q, big.NewInt(3)))}, peercheck.CheckModProofUnits},
		{"modproof.units/Z", own, []tss.ParsedMessage{r1, editMod(3+modproof.Iterations+9, n)}, peercheck.CheckModProofUnits},

		{"paillierproof.layout", own, []tss.ParsedMessage{tamper(t, r3, func(c *keygen.KGRound3Message) { c.PaillierProof = c.PaillierProof[:12] })}, peercheck.CheckPaillierProofLayout},
		{"paillierproof.units/y+N", own, []tss.ParsedMessage{r1, editPai(0, new(big.Int).Add(bi(r3.Content().(*keygen.KGRound3Message).PaillierProof[0]), n))}, peercheck.CheckPaillierProofUnits},
		{"paillierproof.units/y=p", own, []tss.ParsedMessage{editPai(12, pre.PaillierSK.P), r1}, peercheck.CheckPaillierProofUnits},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := peercheck.NewKeygen(fixtureParties, self, fixtureThreshold, tc.own)
			err := feed(t, c, tc.msgs...)
			if tc.check == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantRefused(t, err, tc.check)
		})
	}
}

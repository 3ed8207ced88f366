//go:build profile

package profile_test

import (
	"crypto/rand"
	"math/big"
	mathrand "math/rand"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"

	"github.com/rwadurian/tsskit/internal/testkit"
)

// Prototypes for docs/performance-plan.md, outside the shipped build: what
// the options that need a patched tss-lib would save, measured on the
// kernel they change. Run natively and under GOOS=js GOARCH=wasm (Node's
// V8 or wasmbrowsertest's Chromium) with -tags profile -bench Option.

// crtKey is a modulus N = P·Q with its factors, from a fixture
// pre-parameters set (NTilde = P·Q of two safe primes, as tss-lib's DLN
// proofs use it).
type crtKey struct {
	n, p, q, qInvP *big.Int
}

func fixtureKey(tb testing.TB) crtKey {
	tb.Helper()
	pp, err := testkit.PreParams(0)
	if err != nil {
		tb.Fatal(err)
	}
	p := new(big.Int).Lsh(pp.P, 1) // tss-lib keeps p, q with P = 2p+1
	p.Add(p, big.NewInt(1))
	q := new(big.Int).Lsh(pp.Q, 1)
	q.Add(q, big.NewInt(1))
	if new(big.Int).Mul(p, q).Cmp(pp.NTildei) != 0 {
		tb.Fatal("the fixture's NTilde is not (2p+1)(2q+1)")
	}
	return crtKey{n: pp.NTildei, p: p, q: q, qInvP: new(big.Int).ModInverse(q, p)}
}

// expCRT is b^e mod N from b^e mod P and b^e mod Q (exponents reduced
// mod P-1 and Q-1), recombined by Garner's formula. Variable time, like
// big.Int.Exp.
func (k crtKey) expCRT(b, e *big.Int) *big.Int {
	one := big.NewInt(1)
	ep := new(big.Int).Mod(e, new(big.Int).Sub(k.p, one))
	eq := new(big.Int).Mod(e, new(big.Int).Sub(k.q, one))
	mp := new(big.Int).Exp(new(big.Int).Mod(b, k.p), ep, k.p)
	mq := new(big.Int).Exp(new(big.Int).Mod(b, k.q), eq, k.q)
	h := new(big.Int).Sub(mp, mq)
	h.Mul(h, k.qInvP).Mod(h, k.p)
	return h.Mul(h, k.q).Add(h, mq)
}

func operands(k crtKey, n int) (bs, es []*big.Int) {
	rng := mathrand.New(mathrand.NewSource(0x0c27)) // operands only: public, fixed
	for range n {
		b := new(big.Int).Rand(rng, k.n)
		e := new(big.Int).Rand(rng, k.n) // DLN proving: exponents below the order bound
		bs, es = append(bs, b), append(es, e)
	}
	return bs, es
}

// TestOptionExpCRT: the CRT exponentiation is the same number.
func TestOptionExpCRT(t *testing.T) {
	k := fixtureKey(t)
	bs, es := operands(k, 8)
	for i := range bs {
		if got, want := k.expCRT(bs[i], es[i]), new(big.Int).Exp(bs[i], es[i], k.n); got.Cmp(want) != 0 {
			t.Fatalf("operand %d: CRT %x, Exp %x", i, got, want)
		}
	}
}

// BenchmarkOptionExp2048 is one exponentiation mod a 2048-bit N with a
// 2048-bit exponent, as the DLN, modulus and Paillier proofs do: big.Int.Exp
// (what tss-lib calls) against CRT with the factors the prover knows
// (option b).
func BenchmarkOptionExp2048(b *testing.B) {
	k := fixtureKey(b)
	bs, es := operands(k, 16)
	b.Run("impl=exp", func(b *testing.B) {
		i := 0
		for b.Loop() {
			new(big.Int).Exp(bs[i%16], es[i%16], k.n)
			i++
		}
	})
	b.Run("impl=crt", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k.expCRT(bs[i%16], es[i%16])
			i++
		}
	})
}

// BenchmarkOptionDLN is one DLN proof made and one verified with tss-lib
// v2.0.2 (128 iterations over the fixture's 2048-bit NTilde): the unit of
// rows 1 and 2 of the browser keygen profile (docs/benchmarks.md). A
// party verifies 6 per keygen, 2 of them its own (option a), and makes 2.
func BenchmarkOptionDLN(b *testing.B) {
	pp, err := testkit.PreParams(0)
	if err != nil {
		b.Fatal(err)
	}
	proof := dlnproof.NewDLNProof(pp.H1i, pp.H2i, pp.Alpha, pp.P, pp.Q, pp.NTildei, rand.Reader)
	b.Run("op=prove", func(b *testing.B) {
		for b.Loop() {
			dlnproof.NewDLNProof(pp.H1i, pp.H2i, pp.Alpha, pp.P, pp.Q, pp.NTildei, rand.Reader)
		}
	})
	// The exponentiations of a proof made (h2^a_i mod NTilde, 128 of
	// them, a_i below p·q as tss-lib draws them) with big.Int.Exp and with
	// CRT: option b on row 2.
	k := fixtureKey(b)
	pq := new(big.Int).Mul(pp.P, pp.Q)
	rng := mathrand.New(mathrand.NewSource(0xd1))
	as := make([]*big.Int, dlnproof.Iterations)
	for i := range as {
		as[i] = new(big.Int).Rand(rng, pq)
	}
	b.Run("op=prove-exps/impl=exp", func(b *testing.B) {
		for b.Loop() {
			for _, a := range as {
				new(big.Int).Exp(pp.H2i, a, pp.NTildei)
			}
		}
	})
	b.Run("op=prove-exps/impl=crt", func(b *testing.B) {
		for b.Loop() {
			for _, a := range as {
				k.expCRT(pp.H2i, a)
			}
		}
	})
	b.Run("op=verify", func(b *testing.B) {
		for b.Loop() {
			if !proof.Verify(pp.H1i, pp.H2i, pp.NTildei) {
				b.Fatal("the proof does not verify")
			}
		}
	})
}

package peercheck

import (
	"math/big"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

const (
	// ModulusBits is the size of every Paillier modulus N and ring modulus
	// NTilde: tss-lib v2.0.2 keygen round 2 refuses any other size for a
	// peer, and package preparams makes exactly this size.
	ModulusBits = 2048
	// SmallPrimeBound: no modulus may have a prime factor below it. Honest
	// moduli are products of two 1024-bit primes.
	SmallPrimeBound = 1 << 16
)

var (
	one = big.NewInt(1)
	// curveQ is q, the order of secp256k1, the curve tsskit uses.
	curveQ = tss.S256().Params().N
	// q3 = q^3 bounds the range proofs' responses on the secret side.
	q3 = new(big.Int).Exp(curveQ, big.NewInt(3), nil)
	// maxModulus = 2^ModulusBits bounds a modulus whose value is not at
	// hand (this party's own NTilde during keygen).
	maxModulus = new(big.Int).Lsh(one, ModulusBits)
)

// Ring is one party's public key material for the MtA proofs: its Paillier
// modulus N and its ring-Pedersen parameters (NTilde, h1, h2), under which
// the other parties commit to their secrets when they prove to it.
type Ring struct {
	N, NTilde, H1, H2 *big.Int
}

// inRange reports 0 < v < m.
func inRange(v, m *big.Int) bool { return v.Sign() > 0 && v.Cmp(m) < 0 }

// isUnit reports v ∈ Z*_m for m > 1: 0 < v < m and gcd(v, m) = 1.
func isUnit(v, m *big.Int) bool {
	return inRange(v, m) && new(big.Int).GCD(nil, nil, v, m).Cmp(one) == 0
}

var (
	smallPrimesOnce    sync.Once
	smallPrimesProduct *big.Int
)

// smallPrimes returns the product of all primes below SmallPrimeBound
// (about 94 000 bits), made once: a sieve and a product tree, 2-3 ms.
func smallPrimes() *big.Int {
	smallPrimesOnce.Do(func() {
		composite := make([]bool, SmallPrimeBound)
		var level []*big.Int
		for i := 2; i < SmallPrimeBound; i++ {
			if composite[i] {
				continue
			}
			level = append(level, big.NewInt(int64(i)))
			for j := i * i; j < SmallPrimeBound; j += i {
				composite[j] = true
			}
		}
		for len(level) > 1 {
			next := make([]*big.Int, 0, (len(level)+1)/2)
			for i := 0; i+1 < len(level); i += 2 {
				next = append(next, new(big.Int).Mul(level[i], level[i+1]))
			}
			if len(level)%2 == 1 {
				next = append(next, level[len(level)-1])
			}
			level = next
		}
		smallPrimesProduct = level[0]
	})
	return smallPrimesProduct
}

// checkModulus checks the shape of a Paillier modulus or ring modulus m:
//
//   - |m| = ModulusBits. tss-lib v2.0.2 checks this too, in keygen round 2
//     (tss-lib #331/#332 moved it into the message's ValidateBasic); here it
//     guards the checks below and everything computed with m later, so that
//     an oversized modulus is refused before any work is done with it;
//   - m is odd (tss-lib #331/#332: an "unknown-order modulus" is odd);
//   - m is not a perfect square: ⌊√m⌋² ≠ m;
//   - gcd(m, ∏ primes < SmallPrimeBound) = 1: no small prime factor.
//
// tss-lib v2.0.2 refuses an even or square Paillier N only in keygen round
// 3 (the modulus proof) and trial-divides it by primes below 1000 in round
// 4; it checks nothing of the kind for NTilde, which the MtA range proofs
// rely on: a ring modulus with small factors gives its owner small-order
// subgroups in which commitments to the other parties' secrets can leak.
func checkModulus(name string, m *big.Int) error {
	if m.BitLen() != ModulusBits {
		return refuse(CheckModulusBits, "%s has %d bits; want %d", name, m.BitLen(), ModulusBits)
	}
	if m.Bit(0) == 0 {
		return refuse(CheckModulusOdd, "%s is even", name)
	}
	if r := new(big.Int).Sqrt(m); r.Mul(r, r).Cmp(m) == 0 {
		return refuse(CheckModulusSquare, "%s is a perfect square", name)
	}
	if new(big.Int).GCD(nil, nil, m, smallPrimes()).Cmp(one) != 0 {
		return refuse(CheckModulusSmallFactor, "%s has a prime factor below %d", name, SmallPrimeBound)
	}
	return nil
}

// checkRing checks one party's key material, as its keygen round-1 message
// announces it or as a share record keeps it:
//
//   - N and NTilde: checkModulus;
//   - NTilde is composite: Baillie-PSW (ProbablyPrime(0)) says "not prime"
//     (tss-lib #331/#332 requires an unknown-order modulus to be composite).
//     A prime passes the test always, so no prime NTilde is accepted; a
//     composite fails it only if it is a Baillie-PSW pseudoprime, of which
//     none is known. v2.0.2's modulus proof covers N, nothing covers NTilde;
//   - gcd(N, NTilde) = 1: the Paillier key and the ring are independent
//     (package preparams makes them so; v2.0.2 does not check it);
//   - h1, h2 ∈ Z*_NTilde \ {1, NTilde-1}: 1 < h < NTilde-1 and
//     gcd(h, NTilde) = 1 (tss-lib #331/#332's "canonical generator"; v2.0.2
//     only asks h mod NTilde ∉ {0, 1}, so h ≥ NTilde is accepted there).
//     -1 has order 2 and generates nothing useful;
//   - Jacobi(h1, NTilde) = Jacobi(h2, NTilde) = 1: h1 and h2 should generate
//     the quadratic residues modulo NTilde, and a residue has Jacobi symbol
//     1 (necessary, not sufficient; no tss-lib version checks it);
//   - h1 ≠ h2 (v2.0.2 checks this in round 2 as well).
func checkRing(r *Ring) error {
	if err := checkModulus("N", r.N); err != nil {
		return err
	}
	if err := checkModulus("NTilde", r.NTilde); err != nil {
		return err
	}
	if r.NTilde.ProbablyPrime(0) {
		return refuse(CheckNTildePrime, "NTilde is prime")
	}
	if new(big.Int).GCD(nil, nil, r.N, r.NTilde).Cmp(one) != 0 {
		return refuse(CheckModuliCoprime, "N and NTilde share a factor")
	}
	minusOne := new(big.Int).Sub(r.NTilde, one)
	for _, h := range []struct {
		name string
		v    *big.Int
	}{{"h1", r.H1}, {"h2", r.H2}} {
		if h.v.Cmp(one) <= 0 || h.v.Cmp(minusOne) >= 0 {
			return refuse(CheckRingH, "%s is not in (1, NTilde-1)", h.name)
		}
		if new(big.Int).GCD(nil, nil, h.v, r.NTilde).Cmp(one) != 0 {
			return refuse(CheckRingH, "%s shares a factor with NTilde", h.name)
		}
		if big.Jacobi(h.v, r.NTilde) != 1 {
			return refuse(CheckRingJacobi, "%s is not a quadratic residue modulo NTilde (Jacobi symbol %d)", h.name, big.Jacobi(h.v, r.NTilde))
		}
	}
	if r.H1.Cmp(r.H2) == 0 {
		return refuse(CheckRingEqual, "h1 = h2")
	}
	return nil
}

// checkDistinct refuses a ring whose N or NTilde equals a modulus of another
// party (either kind). A party that reuses another's Paillier key or ring
// cannot make that party's proofs, but it need not get as far as trying.
// others may hold nil entries (parties not heard from yet).
func checkDistinct(r *Ring, others []*Ring) error {
	for _, o := range others {
		if o == nil {
			continue
		}
		for _, a := range []*big.Int{r.N, r.NTilde} {
			for _, b := range []*big.Int{o.N, o.NTilde} {
				if a.Cmp(b) == 0 {
					return refuse(CheckModuliDistinct, "a modulus equals another party's")
				}
			}
		}
	}
	return nil
}

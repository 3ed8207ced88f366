package peercheck

import (
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
)

// ints decodes parts as big-endian unsigned integers, refusing a missing or
// empty part (tss-lib's "non-empty multi-bytes" rule) or a count other than
// want.
func ints(check, what string, parts [][]byte, want int) ([]*big.Int, error) {
	if len(parts) != want {
		return nil, refuse(check, "%s has %d parts; want %d", what, len(parts), want)
	}
	out := make([]*big.Int, len(parts))
	for i, p := range parts {
		if len(p) == 0 {
			return nil, refuse(check, "%s part %d is empty", what, i)
		}
		out[i] = new(big.Int).SetBytes(p)
	}
	return out, nil
}

// dlnProofParts is the wire size of a DLN proof: tss-lib's commitment
// builder writes [128, alpha_1..alpha_128, 128, t_1..t_128].
const dlnProofParts = 2 + 2*dlnproof.Iterations

// checkDLNProof checks one of the two DLN proofs of a keygen round-1
// message against the sender's NTilde (already checked by checkRing).
//
//   - Layout: exactly [128, α_1..α_128, 128, t_1..t_128]. v2.0.2 parses the
//     two length prefixes with Int64 and slices with them, in a goroutine of
//     keygen round 2: a prefix of 2^63 slices with a negative bound and
//     crashes the process.
//   - 1 < α_i < NTilde and 1 < t_i < NTilde (tss-lib #331/#332). v2.0.2
//     checks only α_i mod NTilde and t_i mod NTilde, so it accepts any
//     representative: the hash then covers values other than the ones the
//     proof "is", and h1^t_i is computed with an exponent as large as the
//     sender cares to send. An honest t_i is reduced modulo the order p'q' <
//     NTilde/4 of the quadratic residues.
func checkDLNProof(which string, parts [][]byte, nTilde *big.Int) error {
	v, err := ints(CheckDLNLayout, which, parts, dlnProofParts)
	if err != nil {
		return err
	}
	it := int64(dlnproof.Iterations)
	if !v[0].IsInt64() || v[0].Int64() != it || !v[1+it].IsInt64() || v[1+it].Int64() != it {
		return refuse(CheckDLNLayout, "%s length prefixes are not %d", which, it)
	}
	for i, a := range v[1 : 1+it] {
		if a.Cmp(one) <= 0 || a.Cmp(nTilde) >= 0 {
			return refuse(CheckDLNAlpha, "%s alpha_%d is not in (1, NTilde)", which, i+1)
		}
	}
	for i, t := range v[2+it:] {
		if t.Cmp(one) <= 0 || t.Cmp(nTilde) >= 0 {
			return refuse(CheckDLNT, "%s t_%d is not in (1, NTilde)", which, i+1)
		}
	}
	return nil
}

// checkVSSLength checks a keygen de-commitment [r, x_0, y_0, ..., x_t, y_t]:
// the random r and the t+1 Feldman commitments a_k·G of the sender's
// polynomial of degree t, flattened (tss-lib #291: len(vs) = t+1). v2.0.2
// reads vs[0..t] without checking, in a goroutine of keygen round 3: a
// shorter list crashes the process; a longer one is silently cut.
func checkVSSLength(deCommitment [][]byte, t int) error {
	if want := 1 + 2*(t+1); len(deCommitment) != want {
		return refuse(CheckVSSLength, "de-commitment has %d values; want %d (r and t+1 = %d points)", len(deCommitment), want, t+1)
	}
	return nil
}

// facProofBounds are the factorization proof's ranges for one prover's N0
// and the verifier's NTilde (tss-lib #331/#332, after CGGMP21 Fig. 28).
type facProofBounds struct {
	z, w, sigma, v *big.Int
}

// newFacProofBounds: with q the curve order, N0 the prover's Paillier
// modulus and NCap the verifier's NTilde (or a bound on it),
//
//	Z1, Z2 < q^3·⌊√N0⌋  (v2.0.2 checks this one)
//	W1, W2 < 2·q^3·NCap
//	Sigma  < q·N0·NCap
//	V      < 4·q^3·N0·NCap
//
// An honest prover samples alpha, beta < q^3·√N0, mu, nu < q·NCap,
// x, y < q^3·NCap, sigma < q·N0·NCap, r < q^3·N0·NCap and e < q, so
// W1 = e·mu + x < 2·q^3·NCap and V = e·(sigma - nu·p) + r < 2·q^3·N0·NCap.
func newFacProofBounds(n0, nCap *big.Int) facProofBounds {
	q3N := new(big.Int).Mul(q3, nCap)
	return facProofBounds{
		z:     new(big.Int).Mul(q3, new(big.Int).Sqrt(n0)),
		w:     new(big.Int).Lsh(q3N, 1),
		sigma: new(big.Int).Mul(new(big.Int).Mul(curveQ, n0), nCap),
		v:     new(big.Int).Lsh(new(big.Int).Mul(q3N, n0), 2),
	}
}

// checkFacProof checks the factorization proof a keygen round-2 message
// carries for this party: proof that the sender's N0 = p·q with p, q near
// √N0, made under this party's ring (nTilde; nil when not known, then
// 2^ModulusBits bounds it and P, Q, A, B, T are checked for range only).
//
//   - 0 < Z1, Z2 < q^3·√N0; 0 < W1, W2 < 2·q^3·NTilde;
//     0 < Sigma < q·N0·NTilde; 0 < V < 4·q^3·N0·NTilde (tss-lib #331/#332;
//     v2.0.2 bounds only Z1 and Z2, and from below by 0);
//   - P, Q, A, B, T ∈ Z*_NTilde (tss-lib #331/#332): the verification
//     equations treat them as units of the ring.
func checkFacProof(parts [][]byte, n0, nTilde *big.Int) error {
	v, err := facProofInts(parts)
	if err != nil {
		return err
	}
	nCap := nTilde
	if nCap == nil {
		nCap = maxModulus
	}
	b := newFacProofBounds(n0, nCap)
	// P, Q, A, B, T, Sigma, Z1, Z2, W1, W2, V
	bounds := []struct {
		name  string
		v     *big.Int
		bound *big.Int
	}{
		{"Z1", v[6], b.z}, {"Z2", v[7], b.z},
		{"W1", v[8], b.w}, {"W2", v[9], b.w},
		{"Sigma", v[5], b.sigma}, {"V", v[10], b.v},
	}
	for _, x := range bounds {
		if !inRange(x.v, x.bound) {
			return refuse(CheckFacProofBounds, "%s is not in (0, bound)", x.name)
		}
	}
	for i, name := range []string{"P", "Q", "A", "B", "T"} {
		if nTilde == nil {
			if !inRange(v[i], nCap) {
				return refuse(CheckFacProofUnits, "%s is not in (0, 2^%d)", name, ModulusBits)
			}
		} else if !isUnit(v[i], nTilde) {
			return refuse(CheckFacProofUnits, "%s is not a unit modulo NTilde", name)
		}
	}
	return nil
}

func facProofInts(parts [][]byte) ([]*big.Int, error) {
	return ints(CheckFacProofLayout, "factorization proof", parts, facproof.ProofFacBytesParts)
}

// checkModProof checks the Paillier-Blum modulus proof of a keygen round-2
// de-commitment message against the sender's N, [W, X_1..X_80, A, B,
// Z_1..Z_80]:
//
//   - W ∈ Z*_N: 0 < W < N and gcd(W, N) = 1 (tss-lib #323). v2.0.2 refuses
//     a W with Jacobi symbol 1, but a W with gcd(W, N) > 1 has symbol 0, and
//     with W ≡ 0 modulo some factors of N a prover can answer every
//     challenge for an N that is not a Paillier-Blum integer;
//   - X_i, Z_i ∈ Z*_N (tss-lib #331/#332; v2.0.2 checks 0 < X_i, Z_i < N).
func checkModProof(parts [][]byte, n *big.Int) error {
	v, err := modProofInts(parts)
	if err != nil {
		return err
	}
	if !isUnit(v[0], n) {
		return refuse(CheckModProofW, "W is not a unit modulo N")
	}
	it := modproof.Iterations
	for i, x := range v[1 : 1+it] {
		if !isUnit(x, n) {
			return refuse(CheckModProofUnits, "X_%d is not a unit modulo N", i+1)
		}
	}
	for i, z := range v[3+it:] {
		if !isUnit(z, n) {
			return refuse(CheckModProofUnits, "Z_%d is not a unit modulo N", i+1)
		}
	}
	return nil
}

func modProofInts(parts [][]byte) ([]*big.Int, error) {
	return ints(CheckModProofLayout, "modulus proof", parts, modproof.ProofModBytesParts)
}

// checkPaillierProof checks the keygen round-3 proof that the sender's N
// is a Paillier modulus (y_i^N = x_i mod N for 13 hashed x_i):
// y_i ∈ Z*_N (tss-lib #331/#332). v2.0.2 takes any y_i, so y_i + k·N
// verifies as well as y_i and y_i^N is computed with a base of any size.
func checkPaillierProof(parts [][]byte, n *big.Int) error {
	v, err := paillierProofInts(parts)
	if err != nil {
		return err
	}
	for i, y := range v {
		if !isUnit(y, n) {
			return refuse(CheckPaillierProofUnits, "y_%d is not a unit modulo N", i+1)
		}
	}
	return nil
}

func paillierProofInts(parts [][]byte) ([]*big.Int, error) {
	return ints(CheckPaillierProofLayout, "Paillier proof", parts, paillier.ProofIters)
}

// checkCiphertext checks a Paillier ciphertext under modulus n:
// c ∈ Z*_{N^2}, i.e. 0 < c < N^2 and gcd(c, N) = 1 (tss-lib #331/#332's
// "canonical Paillier ciphertext"). In v2.0.2, Alice's range proof
// computes c^-e mod N^2 without checking c: for c sharing a factor with N
// the inverse does not exist, big.Int.Exp returns nil and the multiplication
// after it panics, in a goroutine of signing round 2, crashing the process.
func checkCiphertext(name string, c []byte, n *big.Int) error {
	v := new(big.Int).SetBytes(c)
	if !inRange(v, new(big.Int).Mul(n, n)) || new(big.Int).GCD(nil, nil, v, n).Cmp(one) != 0 {
		return refuse(CheckCiphertext, "%s is not a unit modulo N^2", name)
	}
	return nil
}

// checkRangeProof checks Alice's range proof [Z, U, W, S, S1, S2] (GG18
// Fig. 9) that a signing round-1 message carries for this party: proof
// that the sender's ciphertext, under its modulus n, encrypts a value
// below q^3, made under this party's ring nTilde.
//
//   - S ≠ 1, Z ≠ 1, S1 ≠ S2 (tss-lib #289);
//   - S ∈ Z*_N (tss-lib #331/#332; v2.0.2 checks 0 ≤ S < N);
//   - S2 < 2·q^3·NTilde (tss-lib #331/#332; v2.0.2 has no upper bound).
//     An honest S2 = e·rho + gamma with e < q, rho < q·NTilde and
//     gamma < q^3·NTilde.
//
// Z, U, W and the bounds q ≤ S1 ≤ q^3, S2 ≥ q are v2.0.2's own.
func checkRangeProof(parts [][]byte, n, nTilde, c *big.Int) error {
	v, err := ints(CheckRangeProofLayout, "range proof", parts, mta.RangeProofAliceBytesParts)
	if err != nil {
		return err
	}
	z, u, w, s, s1, s2 := v[0], v[1], v[2], v[3], v[4], v[5]
	switch {
	case s.Cmp(one) == 0:
		return refuse(CheckRangeProofTrivial, "S = 1")
	case z.Cmp(one) == 0:
		return refuse(CheckRangeProofTrivial, "Z = 1")
	case s1.Cmp(s2) == 0:
		return refuse(CheckRangeProofTrivial, "S1 = S2")
	}
	if !isUnit(s, n) {
		return refuse(CheckRangeProofS, "S is not a unit modulo N")
	}
	if bound := responseBound(nTilde); s2.Cmp(bound) >= 0 {
		return refuse(CheckRangeProofBound, "S2 has %d bits; the bound 2·q^3·NTilde has %d", s2.BitLen(), bound.BitLen())
	}
	if e := rangeChallenge(n, c, z, u, w); new(big.Int).GCD(nil, nil, e, n).Cmp(one) != 0 {
		return refuse(CheckRangeProofChallenge, "the challenge shares a factor with the prover's N")
	}
	return nil
}

// rangeChallenge is the challenge e of Alice's range proof as tss-lib
// v2.0.2 computes it: RejectionSample(q, SHA512/256i(N, N+1, c, Z, U, W)).
func rangeChallenge(n, c, z, u, w *big.Int) *big.Int {
	gamma := new(big.Int).Add(n, one)
	return common.RejectionSample(curveQ, common.SHA512_256i(n, gamma, c, z, u, w))
}

// responseBound is 2·q^3·NTilde, the bound on the responses S2 and T2 of
// the MtA proofs.
func responseBound(nTilde *big.Int) *big.Int {
	b := new(big.Int).Mul(q3, nTilde)
	return b.Lsh(b, 1)
}

// checkBobProof checks one of Bob's MtA proofs [Z, Z', T, V, W, S, S1, S2,
// T1, T2 (, U.x, U.y)] (GG18 Figs. 10, 11) that a signing round-2 message
// carries for this party, made under this party's ring nTilde:
// S2 < 2·q^3·NTilde and T2 < 2·q^3·NTilde (tss-lib #331/#332; v2.0.2 bounds
// them from below only). Honest S2 = e·rho + rho' and T2 = e·sigma + tau
// with e < q, rho, sigma < q·NTilde and rho', tau < q^3·NTilde. The other
// elements are checked by v2.0.2 (ranges, units, S1 ≤ q^3, T1 ≤ q^7).
func checkBobProof(which string, parts [][]byte, want int, nTilde *big.Int) error {
	v, err := ints(CheckBobProofLayout, which, parts, want)
	if err != nil {
		return err
	}
	bound := responseBound(nTilde)
	if v[7].Cmp(bound) >= 0 {
		return refuse(CheckBobProofBounds, "%s S2 has %d bits; the bound 2·q^3·NTilde has %d", which, v[7].BitLen(), bound.BitLen())
	}
	if v[9].Cmp(bound) >= 0 {
		return refuse(CheckBobProofBounds, "%s T2 has %d bits; the bound 2·q^3·NTilde has %d", which, v[9].BitLen(), bound.BitLen())
	}
	return nil
}

package preparams

import (
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// validateRounds: Miller-Rabin rounds for the primes of pre-parameters
// that come from elsewhere (storage, fixtures), as tss-lib uses for its own.
const validateRounds = 30

// Validate checks pre-parameters thoroughly without making proofs (about a
// tenth of a second natively; the primality tests dominate). Besides the
// nil checks of keygen.LocalPreParams.ValidateWithProof, which keygen round
// 1 applies, it checks what the rest of keygen relies on:
//
//   - Paillier: N = P·Q has exactly 2048 bits (round 2 rejects anything
//     else), P and Q are 1024-bit safe primes with |P-Q| of at least 1021
//     bits, PhiN = (P-1)(Q-1), LambdaN = lcm(P-1, Q-1);
//   - NTilde = (2p+1)(2q+1) has exactly 2048 bits, where p = pp.P and
//     q = pp.Q are distinct primes and 2p+1, 2q+1 are 1024-bit primes;
//     NTilde and N share no factor;
//   - h1, h2 lie in [2, NTilde) and differ (round 2 rejects h1 = h2);
//     h1 has order pq, i.e. generates the quadratic residues mod NTilde;
//     alpha·beta ≡ 1 (mod pq) and h2 = h1^alpha mod NTilde, which are the
//     witnesses of the two DLN proofs of round 1.
//
// All failures match ErrInvalid.
func Validate(pp *keygen.LocalPreParams) error {
	if err := checkFields(pp); err != nil {
		return err
	}
	if err := validatePaillier(pp); err != nil {
		return err
	}
	return validateNTilde(pp)
}

// checkFields rejects missing values, including those keygen does not test
// for nil but uses.
func checkFields(pp *keygen.LocalPreParams) error {
	if pp == nil {
		return invalidf("nil pre-parameters")
	}
	if !pp.ValidateWithProof() {
		return invalidf("missing fields (tss-lib's ValidateWithProof fails)")
	}
	sk := pp.PaillierSK
	if sk.N == nil || sk.PhiN == nil || sk.LambdaN == nil {
		return invalidf("missing fields of the Paillier key")
	}
	return nil
}

func validatePaillier(pp *keygen.LocalPreParams) error {
	sk := pp.PaillierSK
	if sk.N.BitLen() != 2*SafePrimeBits {
		return invalidf("Paillier N has %d bits, want %d", sk.N.BitLen(), 2*SafePrimeBits)
	}
	if err := checkSafePrime(sk.P, validateRounds); err != nil {
		return invalidf("Paillier P: %v", err)
	}
	if err := checkSafePrime(sk.Q, validateRounds); err != nil {
		return invalidf("Paillier Q: %v", err)
	}
	if d := new(big.Int).Sub(sk.P, sk.Q).BitLen(); d < paillierMinDiffBits {
		return invalidf("Paillier |P-Q| has %d bits, tss-lib requires %d", d, paillierMinDiffBits)
	}
	if new(big.Int).Mul(sk.P, sk.Q).Cmp(sk.N) != 0 {
		return invalidf("Paillier N != P·Q")
	}
	pm1 := new(big.Int).Sub(sk.P, one)
	qm1 := new(big.Int).Sub(sk.Q, one)
	phi := new(big.Int).Mul(pm1, qm1)
	if phi.Cmp(sk.PhiN) != 0 {
		return invalidf("Paillier PhiN != (P-1)(Q-1)")
	}
	gcd := new(big.Int).GCD(nil, nil, pm1, qm1)
	if new(big.Int).Div(phi, gcd).Cmp(sk.LambdaN) != 0 {
		return invalidf("Paillier LambdaN != lcm(P-1, Q-1)")
	}
	return nil
}

func validateNTilde(pp *keygen.LocalPreParams) error {
	nTilde, p, q := pp.NTildei, pp.P, pp.Q
	if nTilde.BitLen() != 2*SafePrimeBits {
		return invalidf("NTilde has %d bits, want %d", nTilde.BitLen(), 2*SafePrimeBits)
	}
	if p.Cmp(q) == 0 {
		return invalidf("P = Q")
	}
	NP := safeFromGermain(p)
	NQ := safeFromGermain(q)
	if err := checkSafePrime(NP, validateRounds); err != nil {
		return invalidf("NTilde factor 2P+1: %v", err)
	}
	if err := checkSafePrime(NQ, validateRounds); err != nil {
		return invalidf("NTilde factor 2Q+1: %v", err)
	}
	if new(big.Int).Mul(NP, NQ).Cmp(nTilde) != 0 {
		return invalidf("NTilde != (2P+1)(2Q+1)")
	}
	if new(big.Int).GCD(nil, nil, nTilde, pp.PaillierSK.N).Cmp(one) != 0 {
		return invalidf("NTilde and the Paillier N share a factor")
	}

	h1, h2 := pp.H1i, pp.H2i
	if h1.Cmp(two) < 0 || h1.Cmp(nTilde) >= 0 || h2.Cmp(two) < 0 || h2.Cmp(nTilde) >= 0 {
		return invalidf("h1 and h2 must lie in [2, NTilde)")
	}
	if h1.Cmp(h2) == 0 {
		return invalidf("h1 = h2")
	}
	if !generatesQR(h1, p, q, nTilde) {
		return invalidf("h1 does not generate the quadratic residues mod NTilde")
	}
	pq := new(big.Int).Mul(p, q)
	if pp.Alpha.Sign() <= 0 || pp.Beta.Sign() <= 0 {
		return invalidf("alpha and beta must be positive")
	}
	ab := new(big.Int).Mul(pp.Alpha, pp.Beta)
	if ab.Mod(ab, pq).Cmp(one) != 0 {
		return invalidf("alpha·beta != 1 mod P·Q")
	}
	if new(big.Int).Exp(h1, pp.Alpha, nTilde).Cmp(h2) != 0 {
		return invalidf("h2 != h1^alpha mod NTilde")
	}
	return nil
}

// safeFromGermain returns 2p+1.
func safeFromGermain(p *big.Int) *big.Int {
	P := new(big.Int).Lsh(p, 1)
	return P.SetBit(P, 0, 1)
}

// checkSafePrime checks that P is a safe prime of SafePrimeBits bits:
// q = (P-1)/2 passes big.Int.ProbablyPrime(rounds), and P passes the
// Fermat test to base 2, which for prime q proves P prime (Pocklington, see
// SafePrime; it needs 3 ∤ P).
func checkSafePrime(P *big.Int, rounds int) error {
	switch {
	case P == nil:
		return errors.New("missing")
	case P.BitLen() != SafePrimeBits:
		return fmt.Errorf("has %d bits, want %d", P.BitLen(), SafePrimeBits)
	case P.Bit(0) == 0:
		return errors.New("is even")
	case new(big.Int).Mod(P, big.NewInt(3)).Sign() == 0:
		return errors.New("is divisible by 3")
	}
	q := new(big.Int).Rsh(P, 1)
	if !q.ProbablyPrime(rounds) {
		return errors.New("(P-1)/2 is not prime")
	}
	e := new(big.Int).Sub(P, one)
	if new(big.Int).Exp(two, e, P).Cmp(one) != 0 {
		return errors.New("is not prime")
	}
	return nil
}

// generatesQR reports whether h has order exactly pq modulo n = (2p+1)(2q+1)
// for distinct primes p, q. The units mod n form Z_2p × Z_2q, whose only
// subgroup of order pq is the group of quadratic residues; h generates it
// iff h^(pq) = 1 while h^p != 1 and h^q != 1. A non-unit never has a power
// equal to 1, so this also excludes h sharing a factor with n.
func generatesQR(h, p, q, n *big.Int) bool {
	hp := new(big.Int).Exp(h, p, n)
	if hp.Cmp(one) == 0 {
		return false
	}
	if new(big.Int).Exp(hp, q, n).Cmp(one) != 0 {
		return false
	}
	return new(big.Int).Exp(h, q, n).Cmp(one) != 0
}

// proofSession is the session label of the modulus and factorization
// proofs made here; keygen uses its own session, these proofs only check
// that the pre-parameters can carry them.
var proofSession = []byte("tsskit preparams self-check")

// ValidateWithProofs runs Validate, then makes and verifies every proof
// keygen will make from the pre-parameters: both DLN proofs of round 1
// (h2 = h1^alpha, h1 = h2^beta), the Paillier modulus and factorization
// proofs of round 2 (the latter against the party's own NTilde) and the
// Paillier key proof of round 3, for which any curve point serves; the
// generator of secp256k1 and k = 1 are used. It takes seconds; use it in
// tests and on pre-parameters read from storage. rand nil means
// crypto/rand.Reader; tss-lib panics if it fails.
func ValidateWithProofs(pp *keygen.LocalPreParams, rand io.Reader) error {
	if err := Validate(pp); err != nil {
		return err
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	h1, h2, nTilde := pp.H1i, pp.H2i, pp.NTildei
	if !dlnproof.NewDLNProof(h1, h2, pp.Alpha, pp.P, pp.Q, nTilde, rand).Verify(h1, h2, nTilde) {
		return invalidf("DLN proof of h2 = h1^alpha does not verify")
	}
	if !dlnproof.NewDLNProof(h2, h1, pp.Beta, pp.P, pp.Q, nTilde, rand).Verify(h2, h1, nTilde) {
		return invalidf("DLN proof of h1 = h2^beta does not verify")
	}

	sk := pp.PaillierSK
	mod, err := modproof.NewProof(proofSession, sk.N, sk.P, sk.Q, rand)
	if err != nil || !mod.Verify(proofSession, sk.N) {
		return &Error{Code: CodeInvalid, Msg: "Paillier modulus proof does not verify", Err: err}
	}
	ec := tss.S256()
	fac, err := facproof.NewProof(proofSession, ec, sk.N, nTilde, h1, h2, sk.P, sk.Q, rand)
	if err != nil || !fac.Verify(proofSession, ec, sk.N, nTilde, h1, h2) {
		return &Error{Code: CodeInvalid, Msg: "Paillier factorization proof does not verify", Err: err}
	}
	k := big.NewInt(1)
	pub := crypto.ScalarBaseMult(ec, k)
	ok, err := sk.Proof(k, pub).Verify(sk.N, k, pub)
	if err != nil || !ok {
		return &Error{Code: CodeInvalid, Msg: "Paillier key proof does not verify", Err: err}
	}
	return nil
}

package peercheck

import (
	"errors"
	"fmt"
)

// ErrRefused is matched (errors.Is) by every error a check returns.
var ErrRefused = errors.New("peercheck: refused")

// Error says which check refused a message and why. Details name values by
// their role and give sizes and counts, never the values themselves.
type Error struct {
	// Check is the stable name of the check, e.g. "modproof.w-unit".
	Check  string
	Detail string
}

func (e *Error) Error() string { return e.Check + ": " + e.Detail }

// Is matches ErrRefused.
func (e *Error) Is(target error) bool { return target == ErrRefused }

func refuse(check, format string, a ...any) *Error {
	return &Error{Check: check, Detail: fmt.Sprintf(format, a...)}
}

// Names of the checks, as Error.Check reports them.
const (
	CheckSender = "sender" // a message from no peer of the session

	CheckModulusBits        = "moduli.bits"         // N or NTilde is not ModulusBits long
	CheckModulusOdd         = "moduli.odd"          // N or NTilde is even
	CheckModulusSquare      = "moduli.square"       // N or NTilde is a perfect square
	CheckModulusSmallFactor = "moduli.small-factor" // N or NTilde has a prime factor < SmallPrimeBound
	CheckNTildePrime        = "moduli.ntilde-prime" // NTilde is prime
	CheckModuliCoprime      = "moduli.coprime"      // gcd(N, NTilde) != 1
	CheckModuliDistinct     = "moduli.distinct"     // a modulus equals another party's

	CheckRingH      = "ring.h"        // h1 or h2 not in Z*_NTilde \ {1, -1}
	CheckRingJacobi = "ring.h-jacobi" // h1 or h2 has Jacobi symbol != 1 modulo NTilde
	CheckRingEqual  = "ring.h-equal"  // h1 = h2

	CheckDLNLayout = "dln.layout" // a DLN proof is not [128, alpha_1..128, 128, t_1..128]
	CheckDLNAlpha  = "dln.alpha"  // alpha_i not in (1, NTilde)
	CheckDLNT      = "dln.t"      // t_i not in (1, NTilde)

	CheckVSSLength = "vss.length" // the de-commitment does not hold t+1 points

	CheckFacProofLayout = "facproof.layout" // not 11 non-empty parts
	CheckFacProofBounds = "facproof.bounds" // a response outside its range
	CheckFacProofUnits  = "facproof.units"  // P, Q, A, B or T not in Z*_NTilde

	CheckModProofLayout = "modproof.layout" // not 163 non-empty parts
	CheckModProofW      = "modproof.w-unit" // W not in Z*_N
	CheckModProofUnits  = "modproof.units"  // some X_i or Z_i not in Z*_N

	CheckPaillierProofLayout = "paillierproof.layout" // not 13 non-empty parts
	CheckPaillierProofUnits  = "paillierproof.units"  // some y_i not in Z*_N

	CheckCiphertext = "mta.ciphertext" // a Paillier ciphertext not in Z*_{N^2}

	CheckRangeProofLayout  = "rangeproof.layout"  // not 6 non-empty parts
	CheckRangeProofTrivial = "rangeproof.trivial" // S = 1, Z = 1 or S1 = S2
	CheckRangeProofS       = "rangeproof.s-unit"  // S not in Z*_N
	CheckRangeProofBound   = "rangeproof.s2-bound"
	// CheckRangeProofChallenge: the proof's challenge e shares a factor
	// with the prover's N. An honest N's factors are 1024-bit primes and
	// e < q, so this never happens to one; a BitForge-shaped N (small
	// factors) lets its owner pass the proof for an out-of-range value
	// exactly when a small factor divides e.
	CheckRangeProofChallenge = "rangeproof.challenge"

	CheckBobProofLayout = "bobproof.layout" // not 10 (ProofBob) or 12 (ProofBobWC) non-empty parts
	CheckBobProofBounds = "bobproof.bounds" // S2 or T2 too large
)

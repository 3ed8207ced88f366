// Package peercheck holds the checks the engine runs on every decoded peer
// message before tss-lib v2.0.2 sees it. They are the conditions that later
// tss-lib work added to its own verifiers and that v2.0.2 lacks, as far as
// they can be decided from outside tss-lib, from the message, the sender's
// earlier messages and this party's own key data:
//
//   - tss-lib #291: a keygen de-commitment carries exactly t+1 Feldman VSS
//     commitments. v2.0.2 indexes the list up to t without checking its
//     length, inside a goroutine: a short list crashes the process.
//   - tss-lib #323: the Paillier modulus proof's W is a unit, gcd(W, N) = 1.
//     v2.0.2 only asks that W is not a quadratic residue, which a multiple of
//     a factor of N (Jacobi symbol 0) satisfies, and with such a W a modulus
//     that is not a Paillier-Blum integer can be "proven".
//   - tss-lib #289: Alice's range proof with S = 1, Z = 1 or S1 = S2 is
//     refused.
//   - tss-lib #331/#332 (the v4 hardening): upper bounds on every proof
//     response that v2.0.2 bounds only from below or not at all (the DLN
//     proofs' t_i, the factorization proof's W1, W2, Sigma, V, the range
//     proofs' S2 and T2), proof elements and Paillier ciphertexts in the
//     unit group of their modulus (0 < x < m and gcd(x, m) = 1), and moduli
//     that are odd, composite and of the agreed size.
//
// On top of those, cheap conditions on the ring-Pedersen parameters
// (NTilde, h1, h2) that no tss-lib version checks and that every honest
// party meets: NTilde is not a perfect square and has no prime factor below
// SmallPrimeBound (it should be a product of two 1024-bit safe primes, which
// v2.0.2 cannot prove), h1 and h2 are not ±1 and have Jacobi symbol 1 (they
// should generate the quadratic residues), and no two parties share a
// modulus. Several checks also keep a malformed message from crashing a
// tss-lib goroutine (see the DLN proof layout and the MtA ciphertext).
//
// What needs tss-lib itself is left to it: v2.0.2 sends no proof that
// NTilde is a product of two (safe) primes, and its Fiat-Shamir challenges
// are bound to no session nonce (its SSID nonce is always 0).
//
// The checks cost comparisons, gcds, square roots and, for each party's
// NTilde once per session, a Baillie-PSW primality test (about one modular
// exponentiation): under one percent of what tss-lib spends verifying the
// same message, except the once-per-peer check of the key data a share
// holds, which costs about as much as that primality test (BenchmarkMessage
// has the figures). They use no goroutines and run unchanged under GOOS=js.
// Keygen and Sign are not safe for concurrent use; the engine calls Check
// from one goroutine.
package peercheck

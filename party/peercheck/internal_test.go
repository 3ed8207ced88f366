package peercheck

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// TestRangeChallengeSharesFactor: a prover whose N has a small factor p
// gets, for about one proof in p, a challenge that p divides — the case
// in which BitForge's out-of-range value passes tss-lib. The check refuses
// exactly those, and the challenge is tss-lib's (an honest-size N never
// shares a factor with it).
func TestRangeChallengeSharesFactor(t *testing.T) {
	m, _ := rand.Prime(rand.Reader, 512)
	n := new(big.Int).Mul(big.NewInt(3), m) // N with the factor 3
	c, _ := rand.Int(rand.Reader, n)
	z, u := big.NewInt(5), big.NewInt(7)
	hits := 0
	for i := int64(2); i < 200; i++ {
		e := rangeChallenge(n, c, z, u, big.NewInt(i))
		if new(big.Int).Mod(e, big.NewInt(3)).Sign() == 0 {
			hits++
		}
	}
	if hits < 30 || hits > 110 {
		t.Fatalf("%d of 198 challenges divisible by 3; want about a third", hits)
	}
	honest, _ := rand.Prime(rand.Reader, 1024)
	honest.Mul(honest, honest) // stands in for p·q: no factor below 2^1024
	for i := int64(2); i < 50; i++ {
		if e := rangeChallenge(honest, c, z, u, big.NewInt(i)); new(big.Int).GCD(nil, nil, e, honest).Cmp(one) != 0 {
			t.Fatal("a challenge shares a factor with a modulus of large primes")
		}
	}
}

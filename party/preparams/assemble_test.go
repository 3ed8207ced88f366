package preparams_test

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/party/preparams"
)

// allFixturePrimes returns the 20 safe primes of the fixture.
func allFixturePrimes(t *testing.T) []*big.Int {
	var primes []*big.Int
	for _, pp := range fixture(t) {
		primes = append(primes, safePrimesOf(pp)...)
	}
	return primes
}

func TestAssemble(t *testing.T) {
	primes := safePrimesOf(fixture(t)[0])
	pp, err := preparams.Assemble(primes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := preparams.Validate(pp); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, P := range []*big.Int{pp.PaillierSK.P, pp.PaillierSK.Q, new(big.Int).Lsh(pp.P, 1), new(big.Int).Lsh(pp.Q, 1)} {
		used[new(big.Int).SetBit(P, 0, 1).String()] = true
	}
	for _, P := range primes {
		if !used[P.String()] {
			t.Fatalf("input prime %v not used", P)
		}
	}
	// Fresh randomness: same primes, other h1, alpha.
	again, err := preparams.Assemble(primes, cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if again.H1i.Cmp(pp.H1i) == 0 || again.Alpha.Cmp(pp.Alpha) == 0 {
		t.Fatal("h1 or alpha repeated")
	}
}

func TestAssembleRejects(t *testing.T) {
	good := safePrimesOf(fixture(t)[0])
	small, err := preparams.SafePrime(context.Background(), 512, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A 1024-bit prime P whose (P-1)/2 is composite.
	var notSafe *big.Int
	for notSafe == nil || new(big.Int).Rsh(notSafe, 1).ProbablyPrime(20) {
		if notSafe, err = cryptorand.Prime(cryptorand.Reader, preparams.SafePrimeBits); err != nil {
			t.Fatal(err)
		}
	}
	with := func(i int, x *big.Int) []*big.Int {
		out := append([]*big.Int(nil), good...)
		out[i] = x
		return out
	}
	cases := map[string]struct {
		primes []*big.Int
		msg    string
	}{
		"none":        {nil, "at least 4"},
		"three":       {good[:3], "at least 4"},
		"duplicate":   {with(3, good[1]), "equal"},
		"nil":         {with(0, nil), "missing"},
		"P+2":         {with(1, new(big.Int).Add(good[1], big.NewInt(2))), "not prime"},
		"composite":   {with(2, new(big.Int).Add(good[2], big.NewInt(4))), "#2"},
		"not safe":    {with(2, notSafe), "(P-1)/2 is not prime"},
		"512 bits":    {with(3, small), "bits"},
		"2048 bits":   {with(3, new(big.Int).Mul(good[0], good[1])), "bits"},
		"extra bad":   {append(append([]*big.Int(nil), good...), small), "#4"},
		"top bits 10": {with(0, new(big.Int).SetBit(good[0], preparams.SafePrimeBits-2, 0)), "#0"},
	}
	for name, c := range cases {
		_, err := preparams.Assemble(c.primes, nil)
		if !errors.Is(err, preparams.ErrInvalid) || errors.Is(err, preparams.ErrNeedMorePrimes) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.msg)
		}
	}
}

// TestAssembleNeedMorePrimes uses four fixture primes within 2^1020 of each
// other: the 20 fixture primes lie in [3·2^1022, 2^1024), four intervals
// of width 2^1020, so one of them holds at least five (pigeonhole).
func TestAssembleNeedMorePrimes(t *testing.T) {
	all := allFixturePrimes(t)
	buckets := map[uint64][]*big.Int{}
	for _, P := range all {
		b := new(big.Int).Rsh(P, preparams.SafePrimeBits-4).Uint64()
		buckets[b] = append(buckets[b], P)
	}
	var close []*big.Int
	for _, b := range buckets {
		if len(b) >= 4 {
			close = b[:4]
		}
	}
	if close == nil {
		t.Fatal("pigeonhole failed: fixture primes are not 1024-bit with the top two bits set")
	}
	_, err := preparams.Assemble(close, nil)
	if !errors.Is(err, preparams.ErrNeedMorePrimes) {
		t.Fatalf("got %v, want ErrNeedMorePrimes", err)
	}
	var perr *preparams.Error
	if !errors.As(err, &perr) || perr.Code != preparams.CodeNeedMorePrimes {
		t.Fatalf("not a *preparams.Error with CodeNeedMorePrimes: %#v", err)
	}

	// One more prime far enough from one of them completes the set.
	limit := new(big.Int).Lsh(big.NewInt(1), preparams.SafePrimeBits-4) // 2^1020
	for _, P := range all {
		far := false
		for _, C := range close {
			if new(big.Int).Sub(P, C).CmpAbs(limit) >= 0 {
				far = true
			}
		}
		if !far {
			continue
		}
		pp, err := preparams.Assemble(append(append([]*big.Int(nil), close...), P), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := new(big.Int).Sub(pp.PaillierSK.P, pp.PaillierSK.Q); d.CmpAbs(limit) < 0 {
			t.Fatalf("Paillier primes only %v apart", d)
		}
		return
	}
	t.Fatal("no fixture prime far from the close ones")
}

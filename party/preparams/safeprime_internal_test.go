package preparams

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"errors"
	"math/big"
	mathrand "math/rand/v2"
	"testing"
)

func TestOddPrimesUpTo(t *testing.T) {
	const n = 20000
	got := oddPrimesUpTo(n)
	var want []uint32
	for c := 3; c <= n; c += 2 {
		prime := true
		for d := 3; d*d <= c; d += 2 {
			if c%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			want = append(want, uint32(c))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d primes up to %d, want %d", len(got), n, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("prime #%d: got %d, want %d", i, got[i], want[i])
		}
	}

	table := sievePrimes()
	// pi(2^23) = 564163, minus the prime 2.
	if len(table) != 564162 {
		t.Fatalf("sieve table has %d primes, want 564162", len(table))
	}
	if last := table[len(table)-1]; last > sieveBound || !big.NewInt(int64(last)).ProbablyPrime(10) {
		t.Fatalf("bad last sieve prime %d", last)
	}
}

// digitsOf returns x in base 2^32, most significant digit first.
func digitsOf(x *big.Int, n int) []uint32 {
	d := make([]uint32, n)
	t := new(big.Int).Set(x)
	mask := big.NewInt(1<<32 - 1)
	for i := n - 1; i >= 0; i-- {
		d[i] = uint32(new(big.Int).And(t, mask).Uint64())
		t.Rsh(t, 32)
	}
	return d
}

// randomOdd returns a random odd number of exactly bits bits.
func randomOdd(rng *mathrand.ChaCha8, bits int) *big.Int {
	buf := make([]byte, (bits+7)/8)
	_, _ = rng.Read(buf)
	x := new(big.Int).SetBytes(buf)
	x.Rsh(x, uint(8*len(buf)-bits))
	return x.SetBit(x, bits-1, 1).SetBit(x, 0, 1)
}

// TestMarkPrimesMatchesNaive compares the sieve with a direct computation:
// q0 mod p with big.Int, then for every k whether p divides q = q0+2k or
// 2q+1. Random q0 of several sizes, window lengths that are not multiples
// of 64, and the full prime table at 1023 bits.
func TestMarkPrimesMatchesNaive(t *testing.T) {
	rng := mathrand.NewChaCha8([32]byte{7})
	cases := []struct {
		q0Bits, n int
		primes    []uint32
	}{
		{40, 5000, oddPrimesUpTo(3000)},
		{63, 777, oddPrimesUpTo(3000)},
		{64, 1000, oddPrimesUpTo(70000)},
		{200, 3001, oddPrimesUpTo(5000)},
		{1023, 200, sievePrimes()},
	}
	for _, c := range cases {
		for range 3 {
			q0 := randomOdd(rng, c.q0Bits)
			composite := make([]uint64, (c.n+63)/64)
			markPrimes(composite, c.n, digitsOf(q0, (c.q0Bits+31)/32), c.primes)

			want := make([]bool, c.n)
			r := new(big.Int)
			for _, p32 := range c.primes {
				p := uint64(p32)
				r0 := r.Mod(q0, new(big.Int).SetUint64(p)).Uint64()
				for k := range c.n {
					q := (r0 + 2*uint64(k)) % p
					if q == 0 || (2*q+1)%p == 0 {
						want[k] = true
					}
				}
			}
			for k := range c.n {
				if got := composite[k/64]>>(k%64)&1 == 1; got != want[k] {
					t.Fatalf("q0=%v k=%d: marked=%v, want %v", q0, k, got, want[k])
				}
			}
		}
	}
}

// fixedReader returns the same bytes forever.
type fixedReader []byte

func (f fixedReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = f[i%len(f)]
	}
	return len(b), nil
}

// TestWindowKeepsEverySafePrime sieves whole windows at small sizes, where
// the window reaches the top of the range and the sieve primes come close
// to q. There every composite q or 2q+1 < 2^bits has a factor below
// 2^(bits/2) <= 2^(bits-3), inside the sieve's range, while every prime is
// above it; so exactly the positions that are not safe primes must be
// marked.
func TestWindowKeepsEverySafePrime(t *testing.T) {
	ctx := context.Background()
	safe := 0
	for _, bits := range []int{16, 17, 20, 22} {
		for _, start := range [][]byte{{0x00}, {0x5a, 0x3c, 0x81}, {0xff, 0xff, 0xf0}, {0xff}} {
			s, err := newSearcher(bits, fixedReader(start), func() {}, func(int, int) {})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.newWindow(ctx); err != nil {
				t.Fatal(err)
			}
			if s.q0.BitLen() != bits-1 || s.q0.Bit(bits-3) != 1 || s.q0.Bit(0) != 1 {
				t.Fatalf("bits=%d: bad q0 %v", bits, &s.q0)
			}
			q0 := s.q0.Uint64()
			if last := q0 + 2*uint64(s.n-1); last >= 1<<(bits-1) {
				t.Fatalf("bits=%d: window of %d from %d leaves the range", bits, s.n, q0)
			} else if s.n < windowLen && last+2 < 1<<(bits-1) {
				t.Fatalf("bits=%d: window of %d from %d stops early", bits, s.n, q0)
			}
			for k := range s.n {
				q := q0 + 2*uint64(k)
				isSafe := new(big.Int).SetUint64(q).ProbablyPrime(0) && new(big.Int).SetUint64(2*q+1).ProbablyPrime(0)
				if isSafe {
					safe++
				}
				if marked := s.composite[k/64]>>(k%64)&1 == 1; marked == isSafe {
					t.Fatalf("bits=%d q=%d: marked=%v, safe prime=%v", bits, q, marked, isSafe)
				}
			}
			for k := s.n; k < 64*((s.n+63)/64); k++ {
				if s.composite[k/64]>>(k%64)&1 == 0 {
					t.Fatalf("bits=%d: position %d past the window of %d is not marked", bits, k, s.n)
				}
			}
		}
	}
	if safe == 0 {
		t.Fatal("no safe primes in any window; the test is vacuous")
	}
}

func checkSafe(t *testing.T, P *big.Int, bits int) {
	t.Helper()
	if P.BitLen() != bits || P.Bit(bits-2) != 1 {
		t.Fatalf("P=%v has %d bits (want %d) or lacks the second top bit", P, P.BitLen(), bits)
	}
	q := new(big.Int).Rsh(P, 1)
	if !P.ProbablyPrime(30) || !q.ProbablyPrime(30) {
		t.Fatalf("P=%v is not a safe prime", P)
	}
}

func TestSafePrimeSmall(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ bits, runs int }{{16, 200}, {24, 100}, {32, 100}, {64, 50}, {128, 20}, {256, 10}, {512, 2}} {
		seen := map[string]bool{}
		for range c.runs {
			P, err := SafePrime(ctx, c.bits, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSafe(t, P, c.bits)
			seen[P.String()] = true
		}
		// Distinct draws show the search starts from fresh randomness. At 32
		// bits there are only a few million safe primes, and the search's
		// first-after-a-random-start picks favour those after long gaps, so
		// two equal draws in 100 happen (about once in a few hundred runs);
		// from 64 bits on a repeat is beyond chance.
		want := c.runs
		if c.bits < 64 {
			want = c.runs * 9 / 10
		}
		if c.bits >= 32 && len(seen) < want {
			t.Fatalf("bits=%d: only %d distinct primes in %d runs", c.bits, len(seen), c.runs)
		}
	}
}

func TestSafePrime1024(t *testing.T) {
	var last Progress
	P, err := SafePrime(context.Background(), SafePrimeBits, &Options{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	checkSafe(t, P, SafePrimeBits)
	if last.PrimesFound != 1 || last.PrimesNeeded != 1 || last.Tested == 0 || last.Candidates < last.Tested {
		t.Fatalf("final progress %+v", last)
	}
	t.Logf("%d candidates, %d tested", last.Candidates, last.Tested)
}

func TestSafePrimeUsesOptionsRand(t *testing.T) {
	run := func(seed byte) *big.Int {
		rng := mathrand.NewChaCha8([32]byte{seed})
		P, err := SafePrime(context.Background(), 256, &Options{Rand: rng})
		if err != nil {
			t.Fatal(err)
		}
		return P
	}
	if a, b := run(1), run(1); a.Cmp(b) != 0 {
		t.Fatal("same random stream gave different primes")
	}
	if a, b := run(1), run(2); a.Cmp(b) == 0 {
		t.Fatal("different random streams gave the same prime")
	}
}

func TestSafePrimeProgressAndYield(t *testing.T) {
	var calls, yields int
	var prev Progress
	o := &Options{
		Yield: func() { yields++ },
		Progress: func(p Progress) {
			calls++
			if p.Tested < prev.Tested || p.Candidates < prev.Candidates || p.Candidates < p.Tested {
				t.Errorf("progress went from %+v to %+v", prev, p)
			}
			prev = p
		},
	}
	for range 5 {
		calls, yields, prev = 0, 0, Progress{}
		if _, err := SafePrime(context.Background(), 512, o); err != nil {
			t.Fatal(err)
		}
		if calls < 1 || yields < 1 || prev.PrimesFound != 1 {
			t.Fatalf("%d progress calls, %d yields, last %+v", calls, yields, prev)
		}
		if prev.Tested >= 2*progressEvery && calls < prev.Tested/progressEvery {
			t.Fatalf("%d progress calls for %d tests", calls, prev.Tested)
		}
	}
}

func TestSafePrimeErrors(t *testing.T) {
	if _, err := SafePrime(context.Background(), minSafePrimeBits-1, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("too small: got %v", err)
	}
	boom := errors.New("no entropy")
	_, err := SafePrime(context.Background(), 64, &Options{Rand: failingReader{boom}})
	if !errors.Is(err, ErrRandom) || !errors.Is(err, boom) {
		t.Fatalf("failing reader: got %v", err)
	}
	if _, err := SafePrime(context.Background(), 64, &Options{Rand: bytes.NewReader(nil)}); !errors.Is(err, ErrRandom) {
		t.Fatalf("empty reader: got %v", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestPaillierPair(t *testing.T) {
	base := new(big.Int).Lsh(big.NewInt(3), SafePrimeBits-2) // 3·2^1022
	at := func(offset *big.Int) *big.Int { return new(big.Int).Add(base, offset) }
	limit := new(big.Int).Lsh(one, paillierMinDiffBits-1) // 2^1020
	close := []*big.Int{
		at(big.NewInt(1)),
		at(new(big.Int).Sub(limit, one)),
		at(big.NewInt(12345)),
		at(new(big.Int).Rsh(limit, 1)),
	}
	if _, _, ok := paillierPair(close); ok {
		t.Fatal("pair found among primes less than 2^1020 apart")
	}
	// 2^1020+1 - 1 = 2^1020 has 1021 bits: exactly enough.
	far := append(close, at(new(big.Int).Add(limit, one)))
	i, j, ok := paillierPair(far)
	if !ok || i != 0 || j != 4 {
		t.Fatalf("got pair (%d, %d, %v), want (0, 4, true)", i, j, ok)
	}
	// Order does not matter: |P-Q| is used.
	rev := []*big.Int{far[4], far[1], far[2], far[3], far[0]}
	if i, j, ok := paillierPair(rev); !ok || i != 0 || j != 4 {
		t.Fatalf("reversed: got pair (%d, %d, %v), want (0, 4, true)", i, j, ok)
	}
}

func TestCheckSafePrime(t *testing.T) {
	P, err := SafePrime(context.Background(), SafePrimeBits, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSafePrime(P, 20); err != nil {
		t.Fatal(err)
	}
	// A 1024-bit prime P whose (P-1)/2 is composite.
	var prime *big.Int
	for prime == nil || new(big.Int).Rsh(prime, 1).ProbablyPrime(20) {
		if prime, err = cryptorand.Prime(cryptorand.Reader, SafePrimeBits); err != nil {
			t.Fatal(err)
		}
	}
	for name, x := range map[string]*big.Int{
		"nil":        nil,
		"P+2":        new(big.Int).Add(P, two),
		"P·3":        new(big.Int).Mul(P, big.NewInt(3)),
		"2^1023":     new(big.Int).Lsh(one, SafePrimeBits-1),
		"not safe":   prime,
		"P-1 (even)": new(big.Int).Sub(P, one),
		"small":      big.NewInt(23),
	} {
		if err := checkSafePrime(x, 20); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

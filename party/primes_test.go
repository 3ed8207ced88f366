package party_test

import (
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/otiai10/primes"
)

func want(n int64) []int64 {
	var out []int64
	for i := int64(2); i <= n; i++ {
		if big.NewInt(i).ProbablyPrime(20) {
			out = append(out, i)
		}
	}
	return out
}

// TestPrimesUntil: third_party/primes, which tss-lib's Paillier check
// uses: the list is exactly the primes <= n, whatever the cache held
// before (larger, smaller or nothing), and a list handed out is never
// changed by a later, longer sieve.
func TestPrimesUntil(t *testing.T) {
	first := primes.Until(1000).List()
	if !slices.Equal(first, want(1000)) || len(first) != 168 {
		t.Fatalf("primes <= 1000: %d of them", len(first))
	}
	for _, n := range []int64{-1, 0, 1, 2, 3, 4, 97, 100, 999, 1000, 1009, 5000, 10, 1} {
		if got := primes.Globally.Until(n).List(); !slices.Equal(got, want(n)) {
			t.Fatalf("Until(%d) = %v", n, got)
		}
	}
	if !slices.Equal(first, want(1000)) {
		t.Fatal("an earlier list changed")
	}
	if l := primes.Until(1000).List(); cap(l) != len(l) {
		t.Fatal("an append to a list could write into the cache")
	}
}

// TestPrimesConcurrent: tss-lib calls Until from several goroutines at once (run
// with -race).
func TestPrimesConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(500 + 300*i)
			if got := primes.Until(n).List(); !slices.Equal(got, want(n)) {
				t.Errorf("Until(%d) wrong", n)
			}
		}()
	}
	wg.Wait()
}

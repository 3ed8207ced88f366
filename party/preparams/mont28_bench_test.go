package preparams

import (
	"context"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"testing"
)

// BenchmarkFermat2 compares big.Int.Exp and mont28 for the base-2 Fermat
// test on random odd candidates with the top two bits set, as the search
// draws them: 1023 and 1024 bits are q and P = 2q+1 of a 1024-bit safe
// prime, 511 and 512 those of a 512-bit one. mont_fermat_*.go choose by
// GOARCH from its results: run it natively and under GOOS=js in a browser
// (scripts/wasm-tools.sh).
func BenchmarkFermat2(b *testing.B) {
	for _, bits := range []int{511, 512, 1023, 1024} {
		rng := mathrand.NewChaCha8([32]byte{byte(bits)})
		xs := make([]*big.Int, 16)
		for i := range xs {
			xs[i] = montRandom(rng, bits, true)
			xs[i].SetBit(xs[i], bits-2, 1)
		}
		b.Run(fmt.Sprintf("bits=%d/impl=bigint", bits), func(b *testing.B) {
			var e, r big.Int
			i := 0
			for b.Loop() {
				x := xs[i%len(xs)]
				e.Sub(x, one)
				r.Exp(two, &e, x)
				_ = r.Cmp(one) == 0
				i++
			}
		})
		b.Run(fmt.Sprintf("bits=%d/impl=mont28", bits), func(b *testing.B) {
			var z mont28
			i := 0
			for b.Loop() {
				z.fermat2(xs[i%len(xs)])
				i++
			}
		})
	}
}

// BenchmarkSafePrimeSeeded is one search for one safe prime per iteration,
// iteration i drawing from a ChaCha8 stream seeded with i: the same -benchtime
// Nx does the same work (same candidates, same tests) in every build, so
// implementations of fermat2 compare without the variance of the number of
// tests per prime.
func BenchmarkSafePrimeSeeded(b *testing.B) {
	for _, bits := range []int{512, SafePrimeBits} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			var tested int
			i := 0
			for b.Loop() {
				o := &Options{
					Rand: mathrand.NewChaCha8([32]byte{byte(i), byte(i >> 8), 0x5a}),
					Progress: func(p Progress) {
						if p.PrimesFound == 1 {
							tested += p.Tested
						}
					},
				}
				if _, err := SafePrime(context.Background(), bits, o); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(tested)/float64(b.N), "tests/prime")
		})
	}
}

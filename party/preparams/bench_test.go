package preparams_test

import (
	"context"
	"crypto/rand"
	mathrand "math/rand/v2"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/preparams"
)

// BenchmarkSafePrime1024 is one search, in one goroutine, for one 1024-bit
// safe prime; compare with BenchmarkSafePrime1024TSSLib.
func BenchmarkSafePrime1024(b *testing.B) {
	var tested, candidates int
	o := &preparams.Options{Progress: func(p preparams.Progress) {
		if p.PrimesFound == 1 {
			tested += p.Tested
			candidates += p.Candidates
		}
	}}
	for b.Loop() {
		if _, err := preparams.SafePrime(context.Background(), preparams.SafePrimeBits, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tested)/float64(b.N), "tests/prime")
	b.ReportMetric(float64(candidates)/float64(b.N), "candidates/prime")
}

// BenchmarkSafePrime1024TSSLib is tss-lib's safe prime search with a single
// searching goroutine.
func BenchmarkSafePrime1024TSSLib(b *testing.B) {
	for b.Loop() {
		if _, err := common.GetRandomSafePrimesConcurrent(context.Background(), preparams.SafePrimeBits, 1, 1, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// seeded is the candidate stream of iteration i of a seeded benchmark:
// ChaCha8 seeded with i. Every run (-count) of BenchmarkSafePrime1024Seeded
// or BenchmarkSafePrime1024TSSLibSeeded with the same -benchtime Nx
// searches the same N primes from the same candidates, so runs differ only
// by the machine, not by how lucky the search was. Not for keys: a
// benchmark's seed is public.
func seeded(i int) *mathrand.ChaCha8 {
	return mathrand.NewChaCha8([32]byte{byte(i), byte(i >> 8), 0xb5, 0x5e})
}

// BenchmarkSafePrime1024Seeded is BenchmarkSafePrime1024 with iteration i
// searching the stream seeded(i): the candidates drawn and the Fermat
// tests run per prime are the same in every run.
func BenchmarkSafePrime1024Seeded(b *testing.B) {
	var tested, candidates int
	i := 0
	for b.Loop() {
		o := &preparams.Options{Rand: seeded(i), Progress: func(p preparams.Progress) {
			if p.PrimesFound == 1 {
				tested += p.Tested
				candidates += p.Candidates
			}
		}}
		if _, err := preparams.SafePrime(context.Background(), preparams.SafePrimeBits, o); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(tested)/float64(b.N), "tests/prime")
	b.ReportMetric(float64(candidates)/float64(b.N), "candidates/prime")
}

// BenchmarkSafePrime1024TSSLibSeeded is tss-lib's search (one goroutine)
// on the streams of BenchmarkSafePrime1024Seeded: deterministic too, so
// the ratio of the two compares the same work run to run.
func BenchmarkSafePrime1024TSSLibSeeded(b *testing.B) {
	i := 0
	for b.Loop() {
		if _, err := common.GetRandomSafePrimesConcurrent(context.Background(), preparams.SafePrimeBits, 1, 1, seeded(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGenerate makes complete pre-parameters with the default
// concurrency.
func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		if _, err := preparams.Generate(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateTSSLib is tss-lib's keygen.GeneratePreParams with its
// default concurrency.
func BenchmarkGenerateTSSLib(b *testing.B) {
	for b.Loop() {
		if _, err := keygen.GeneratePreParamsWithContext(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

package preparams_test

import (
	"context"
	"crypto/rand"
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

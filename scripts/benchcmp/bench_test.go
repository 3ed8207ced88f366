package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Output of `go test -bench -count 3` as Go 1.26 prints it.
const goOut = `goos: linux
goarch: amd64
pkg: github.com/rwadurian/tsskit/party/preparams
cpu: AMD EPYC
BenchmarkSafePrime1024Seeded-2          	       4	 400000000 ns/op	      2500 candidates/prime	       120.0 tests/prime
BenchmarkSafePrime1024Seeded-2          	       4	 440000000 ns/op	      2500 candidates/prime	       120.0 tests/prime
BenchmarkSafePrime1024Seeded-2          	       4	 420000000 ns/op	      2500 candidates/prime	       120.0 tests/prime
BenchmarkSafePrime1024TSSLibSeeded-2    	       4	3200000000 ns/op
BenchmarkSafePrime1024TSSLibSeeded-2    	       4	3000000000 ns/op
BenchmarkSafePrime1024TSSLibSeeded-2    	       4	3100000000 ns/op
BenchmarkFermat2/bits=1024/impl=bigint-2	     200	   1500000 ns/op
PASS
ok  	github.com/rwadurian/tsskit/party/preparams	50.1s
`

func TestParseGoBench(t *testing.T) {
	s, order, err := ParseGoBench(strings.NewReader(goOut), "preparams")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"go/preparams/SafePrime1024Seeded ns/op", "go/preparams/SafePrime1024Seeded candidates/prime", "go/preparams/SafePrime1024Seeded tests/prime",
		"go/preparams/SafePrime1024TSSLibSeeded ns/op", "go/preparams/Fermat2/bits=1024/impl=bigint ns/op",
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("figures %q, want %q", order, want)
	}
	if got := s["go/preparams/SafePrime1024Seeded ns/op"]; len(got) != 3 || got[1] != 440000000 {
		t.Fatalf("samples %v", got)
	}
	if _, _, err := ParseGoBench(strings.NewReader("BenchmarkX-2 1 5 ns/op 7\n"), "p"); err == nil {
		t.Fatal("a line whose values and units do not pair parsed")
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		med, lo, hi float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		f := summarize("x", "ms", tc.in)
		if f.Median != tc.med || f.Min != tc.lo || f.Max != tc.hi || f.Runs != len(tc.in) {
			t.Fatalf("summarize(%v) = %+v", tc.in, f)
		}
	}
}

func TestCollectRatiosCompare(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "safeprime.txt"), []byte(goOut), 0o644); err != nil {
		t.Fatal(err)
	}
	browser := `{"primeMs":[500,600,700],"naiveMs":[90000],"seqMs":[6000,5800],"results":[{"preParamsMs":4000,"keygenMs":25000,"signMs":2000},{"preParamsMs":4200,"keygenMs":26000,"signMs":2100}],"sdkRuns":[{"load":300,"create":27000,"sign":2000,"refresh":30000}],"warmMs":24000,"rows":[],"primeRuns":[{"ms":500,"candidates":9000,"tested":250},{"ms":600,"candidates":9900,"tested":200}],"naiveRuns":[{"ms":90000,"candidates":400000,"tested":60000}]}`
	if err := os.WriteFile(filepath.Join(dir, "browser.json"), []byte(browser), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "workers.json"), []byte(`{"runs":3,"ms":{"1":[6000,7000,5000],"2":[4000,4500,5000],"4":[4100,3900,4000]},"seeded":{"1":[9000,9100],"2":[5000,5200]},"perTest":{"1":[3.1,3.2],"2":[3.5,3.3]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeCollected(dir, "abc1234"); err != nil {
		t.Fatal(err)
	}
	f, err := load(filepath.Join(dir, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Commit != "abc1234" || f.Machine.CPUs < 1 {
		t.Fatalf("header %+v", f)
	}
	by := map[string]Figure{}
	for _, g := range f.Figures {
		by[g.key()] = g
	}
	if g := by["browser/preparams-2-workers ms"]; g.Runs != 2 || g.Median != 4100 {
		t.Fatalf("browser pre-params figure %+v", g)
	}
	if g := by["browser/preparams-workers=2 ms"]; g.Runs != 3 || g.Median != 4500 {
		t.Fatalf("workers figure %+v", g)
	}
	if g := by["browser/safe-prime-ms-per-test ms"]; g.Runs != 2 || g.Min != 2 || g.Max != 3 {
		t.Fatalf("per-test figure %+v", g)
	}
	if g := by["browser/safe-prime-naive-ms-per-test ms"]; g.Runs != 1 || g.Median != 1.5 {
		t.Fatalf("naive per-test figure %+v", g)
	}
	if g := by["browser/safe-prime-naive-seeds ms"]; g.Runs != 1 || g.Median != 500 {
		t.Fatalf("same-seeds figure %+v", g)
	}
	if g := by["browser/seeded-primes-workers=2 ms"]; g.Runs != 2 || g.Median != 5100 {
		t.Fatalf("seeded workers figure %+v", g)
	}
	if g := by["browser/ms-per-test-workers=1 ms"]; g.Runs != 2 || g.Min != 3.1 {
		t.Fatalf("per-test workers figure %+v", g)
	}
	if g := by["sdk/createWallet-warm ms"]; g.Runs != 1 {
		t.Fatalf("warm figure %+v", g)
	}
	var prime *Ratio
	for i := range f.Ratios {
		if strings.HasPrefix(f.Ratios[i].Name, "one 1024-bit safe prime") {
			prime = &f.Ratios[i]
		}
	}
	if prime == nil {
		t.Fatalf("no safe prime ratio in %+v", f.Ratios)
	}
	// 420 ms / 3100 ms, range 400/3200 – 440/3000.
	if math.Abs(prime.Value-420.0/3100) > 1e-12 || math.Abs(prime.Low-400.0/3200) > 1e-12 || math.Abs(prime.High-440.0/3000) > 1e-12 {
		t.Fatalf("ratio %+v", prime)
	}

	// The same run again: nothing flagged.
	for _, c := range Compare(f, f) {
		if c.Beyond || c.Worse || c.Rel != 0 {
			t.Fatalf("a run against itself: %+v", c)
		}
	}
	// Slower beyond the spread: flagged worse; within it: not; one run:
	// never judged.
	slow := *f
	slow.Figures = append([]Figure(nil), f.Figures...)
	for i, g := range slow.Figures {
		switch g.key() {
		case "go/preparams/SafePrime1024Seeded ns/op":
			slow.Figures[i] = summarize(g.Name, g.Unit, []float64{500e6, 520e6, 510e6})
		case "go/preparams/SafePrime1024TSSLibSeeded ns/op":
			slow.Figures[i] = summarize(g.Name, g.Unit, []float64{3150e6, 3050e6, 3100e6})
		case "sdk/createWallet-warm ms":
			slow.Figures[i] = summarize(g.Name, g.Unit, []float64{48000})
		}
	}
	slow.Ratios = Ratios(slow.Figures, Headline)
	verdict := map[string]Change{}
	for _, c := range Compare(f, &slow) {
		verdict[c.Name+" "+c.Unit] = c
	}
	if c := verdict["go/preparams/SafePrime1024Seeded ns/op"]; !c.Beyond || !c.Worse {
		t.Fatalf("a slower safe prime: %+v", c)
	}
	if c := verdict["go/preparams/SafePrime1024TSSLibSeeded ns/op"]; c.Beyond {
		t.Fatalf("a change within the spread flagged: %+v", c)
	}
	if c := verdict["sdk/createWallet-warm ms"]; c.Beyond || !c.NoSpread {
		t.Fatalf("a one-run figure judged: %+v", c)
	}
	if c := verdict["one 1024-bit safe prime, tsskit / tss-lib (same seeds) ratio"]; !c.Worse {
		t.Fatalf("the worse ratio: %+v", c)
	}
	var out bytes.Buffer
	Format(&out, f, &slow, Compare(f, &slow))
	if !strings.Contains(out.String(), "**worse, beyond spread**") || !strings.Contains(out.String(), "one run: no spread") {
		t.Fatalf("table:\n%s", out.String())
	}
	// Throughputs are better higher.
	c := judge(Change{Unit: "envelopes/s", Old: 100, New: 50, OldLo: 90, OldHi: 110, NewLo: 40, NewHi: 60, Runs: [2]int{3, 3}, LowerBetter: lowerIsBetter("envelopes/s")})
	if !c.Worse {
		t.Fatalf("a lower throughput: %+v", c)
	}
}

// warmMs is one figure per run now (an array); an earlier browser.json's
// single number still reads as one run.
func TestParseBrowserWarm(t *testing.T) {
	for in, want := range map[string]int{`{"warmMs":[30000,31000,29000]}`: 3, `{"warmMs":24000}`: 1, `{}`: 0} {
		figs, err := ParseBrowser([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		runs := 0
		for _, f := range figs {
			if f.Name == "sdk/createWallet-warm" {
				runs = f.Runs
			}
		}
		if runs != want {
			t.Fatalf("%s: warm figure of %d runs; want %d", in, runs, want)
		}
	}
	if _, err := ParseBrowser([]byte(`{"warmMs":"soon"}`)); err == nil {
		t.Fatal("a warmMs that is neither a number nor an array parsed")
	}
}

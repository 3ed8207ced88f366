package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// File is bench-out/bench.json: every figure of one `make bench` run.
type File struct {
	Format  string   `json:"format"` // "tsskit.bench"
	Version int      `json:"version"`
	Commit  string   `json:"commit"`
	Date    string   `json:"date"`
	Machine Machine  `json:"machine"`
	Figures []Figure `json:"figures"`
	Ratios  []Ratio  `json:"ratios"`
}

// Machine says where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Figure is one measured quantity over its runs: the median and the
// spread (min–max) of its samples, one sample per run.
type Figure struct {
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Runs    int       `json:"runs"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

// Ratio is a headline ratio of two figures' medians (Of / To), with the
// range the two spreads allow: Low = Of.Min/To.Max, High = Of.Max/To.Min.
type Ratio struct {
	Name   string  `json:"name"`
	Of     string  `json:"of"`
	To     string  `json:"to"`
	Value  float64 `json:"value"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
	Better string  `json:"better"` // "lower" or "higher"
}

// RatioSpec names a ratio to compute from two figures.
type RatioSpec struct{ Name, Of, To, Better string }

// Headline is the ratios `make bench` reports. browser.mjs's pre-params
// on 2 workers against 1 (browser/preparams-2-workers and -1-worker, a few
// random runs each) stays a figure but is no headline: workers.mjs's
// interleaved runs measure the same with a stated spread.
var Headline = []RatioSpec{
	{"one 1024-bit safe prime, tsskit / tss-lib (same seeds)", "go/preparams/SafePrime1024Seeded ns/op", "go/preparams/SafePrime1024TSSLibSeeded ns/op", "lower"},
	{"browser safe prime, tsskit / naive math/big (same seeds)", "browser/safe-prime-naive-seeds ms", "browser/safe-prime-naive ms", "lower"},
	{"browser seeded safe primes, 2 workers / 1", "browser/seeded-primes-workers=2 ms", "browser/seeded-primes-workers=1 ms", "lower"},
	{"browser seeded safe primes, 4 workers / 1", "browser/seeded-primes-workers=4 ms", "browser/seeded-primes-workers=1 ms", "lower"},
	{"browser wallet refresh / createWallet", "sdk/refreshWallet ms", "sdk/createWallet-cold ms", "lower"},
	{"browser pre-params, 2 workers / 1 (interleaved runs)", "browser/preparams-workers=2 ms", "browser/preparams-workers=1 ms", "lower"},
	{"browser pre-params, 4 workers / 1 (interleaved runs)", "browser/preparams-workers=4 ms", "browser/preparams-workers=1 ms", "lower"},
}

func summarize(name, unit string, samples []float64) Figure {
	s := slices.Clone(samples)
	sort.Float64s(s)
	f := Figure{Name: name, Unit: unit, Runs: len(s), Samples: samples}
	if len(s) == 0 {
		return f
	}
	f.Min, f.Max = s[0], s[len(s)-1]
	if n := len(s); n%2 == 1 {
		f.Median = s[n/2]
	} else {
		f.Median = (s[n/2-1] + s[n/2]) / 2
	}
	return f
}

// key is how a figure is named in Ratio.Of and To: "name unit".
func (f Figure) key() string { return f.Name + " " + f.Unit }

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// ParseGoBench reads `go test -bench` output: every line of a benchmark
// is one run (make bench runs them with -benchtime Nx -count K), and each
// value/unit pair of the line a sample of the figure "go/<pkg>/<name>
// <unit>", pkg being the last element of the package path (given).
func ParseGoBench(r io.Reader, pkg string) (map[string][]float64, []string, error) {
	samples := map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name := "go/" + pkg + "/" + strings.TrimPrefix(m[1], "Benchmark")
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			return nil, nil, fmt.Errorf("benchmark line %q: values and units do not pair", sc.Text())
		}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			k := name + " " + fields[i+1]
			if _, ok := samples[k]; !ok {
				order = append(order, k)
			}
			samples[k] = append(samples[k], v)
		}
	}
	return samples, order, sc.Err()
}

// browserJSON is what sdk-ts/bench/browser.mjs writes to browser.json.
type browserJSON struct {
	PrimeMs []float64 `json:"primeMs"`
	NaiveMs []float64 `json:"naiveMs"`
	SeqMs   []float64 `json:"seqMs"`
	Results []struct {
		PreParamsMs float64 `json:"preParamsMs"`
		KeygenMs    float64 `json:"keygenMs"`
		SignMs      float64 `json:"signMs"`
	} `json:"results"`
	SDKRuns []struct {
		Load    float64 `json:"load"`
		Create  float64 `json:"create"`
		Sign    float64 `json:"sign"`
		Refresh float64 `json:"refresh"`
	} `json:"sdkRuns"`
	// WarmMs: one createWallet with a pooled set per run (a single
	// number from an earlier browser.mjs).
	WarmMs json.RawMessage `json:"warmMs"`
	// The seeded searches, one per seed: time, candidates, tests.
	PrimeRuns []seededRun `json:"primeRuns"`
	NaiveRuns []seededRun `json:"naiveRuns"`
}

type seededRun struct {
	Ms         float64 `json:"ms"`
	Candidates float64 `json:"candidates"`
	Tested     float64 `json:"tested"`
}

// perTest is each seeded search's time over its tests (sieving
// included): the same work every run, so its spread across runs is the
// machine's alone; across seeds it varies with the share of sieving.
func perTest(runs []seededRun) []float64 {
	var out []float64
	for _, r := range runs {
		if r.Tested > 0 {
			out = append(out, r.Ms/r.Tested)
		}
	}
	return out
}

// ParseBrowser turns browser.json into figures, in milliseconds.
func ParseBrowser(b []byte) ([]Figure, error) {
	var j browserJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("browser.json: %w", err)
	}
	col := func(n int, at func(int) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = at(i)
		}
		return out
	}
	figs := []Figure{
		summarize("browser/safe-prime-1-worker", "ms", j.PrimeMs),
		summarize("browser/safe-prime-naive", "ms", j.NaiveMs),
		summarize("browser/preparams-1-worker", "ms", j.SeqMs),
		summarize("browser/preparams-2-workers", "ms", col(len(j.Results), func(i int) float64 { return j.Results[i].PreParamsMs })),
		summarize("browser/keygen-2of3", "ms", col(len(j.Results), func(i int) float64 { return j.Results[i].KeygenMs })),
		summarize("browser/sign", "ms", col(len(j.Results), func(i int) float64 { return j.Results[i].SignMs })),
		summarize("sdk/load", "ms", col(len(j.SDKRuns), func(i int) float64 { return j.SDKRuns[i].Load })),
		summarize("sdk/createWallet-cold", "ms", col(len(j.SDKRuns), func(i int) float64 { return j.SDKRuns[i].Create })),
		summarize("sdk/sign", "ms", col(len(j.SDKRuns), func(i int) float64 { return j.SDKRuns[i].Sign })),
		summarize("sdk/refreshWallet", "ms", col(len(j.SDKRuns), func(i int) float64 { return j.SDKRuns[i].Refresh })),
	}
	// tsskit's search on the naive one's seeds: the like-for-like pair.
	var sameSeeds []float64
	for i, r := range j.PrimeRuns {
		if i < len(j.NaiveRuns) {
			sameSeeds = append(sameSeeds, r.Ms)
		}
	}
	figs = append(figs,
		summarize("browser/safe-prime-naive-seeds", "ms", sameSeeds),
		summarize("browser/safe-prime-ms-per-test", "ms", perTest(j.PrimeRuns)),
		summarize("browser/safe-prime-naive-ms-per-test", "ms", perTest(j.NaiveRuns)))
	if len(j.WarmMs) > 0 && string(j.WarmMs) != "null" {
		var warm []float64
		if err := json.Unmarshal(j.WarmMs, &warm); err != nil {
			var one float64
			if err := json.Unmarshal(j.WarmMs, &one); err != nil {
				return nil, fmt.Errorf("browser.json: warmMs: %w", err)
			}
			warm = []float64{one}
		}
		figs = append(figs, summarize("sdk/createWallet-warm", "ms", warm))
	}
	return slices.DeleteFunc(figs, func(f Figure) bool { return f.Runs == 0 }), nil
}

// ParseWorkers turns workers.json (sdk-ts/bench/workers.mjs: one
// pre-params set on N workers, per run; and the seeded safe primes on N
// workers, with the time per test in each worker) into figures per
// worker count.
func ParseWorkers(b []byte) ([]Figure, error) {
	var j struct {
		MS      map[string][]float64 `json:"ms"`
		Seeded  map[string][]float64 `json:"seeded"`
		PerTest map[string][]float64 `json:"perTest"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("workers.json: %w", err)
	}
	var figs []Figure
	for _, m := range []struct {
		by   map[string][]float64
		name string
	}{{j.MS, "browser/preparams-workers=%d"}, {j.Seeded, "browser/seeded-primes-workers=%d"}, {j.PerTest, "browser/ms-per-test-workers=%d"}} {
		counts := make([]int, 0, len(m.by))
		for k := range m.by {
			n, err := strconv.Atoi(k)
			if err != nil {
				return nil, fmt.Errorf("workers.json: worker count %q", k)
			}
			counts = append(counts, n)
		}
		sort.Ints(counts)
		for _, n := range counts {
			figs = append(figs, summarize(fmt.Sprintf(m.name, n), "ms", m.by[strconv.Itoa(n)]))
		}
	}
	return figs, nil
}

// Collect reads a bench-out directory: every <pkg>.txt of Go benchmark
// output named in goFiles (file → package name) and browser.json if it is
// there.
func Collect(dir string, goFiles map[string]string) ([]Figure, error) {
	var figs []Figure
	names := make([]string, 0, len(goFiles))
	for f := range goFiles {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, name := range names {
		fh, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		samples, order, err := ParseGoBench(fh, goFiles[name])
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, k := range order {
			i := strings.LastIndexByte(k, ' ')
			figs = append(figs, summarize(k[:i], k[i+1:], samples[k]))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "workers.json")); err == nil {
		wf, err := ParseWorkers(b)
		if err != nil {
			return nil, err
		}
		figs = append(figs, wf...)
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "browser.json")); err == nil {
		bf, err := ParseBrowser(b)
		if err != nil {
			return nil, err
		}
		figs = append(figs, bf...)
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	return figs, nil
}

// Ratios computes the specs whose two figures are both present.
func Ratios(figs []Figure, specs []RatioSpec) []Ratio {
	by := map[string]Figure{}
	for _, f := range figs {
		by[f.key()] = f
	}
	var out []Ratio
	for _, s := range specs {
		of, ok1 := by[s.Of]
		to, ok2 := by[s.To]
		if !ok1 || !ok2 || to.Median == 0 || to.Min == 0 || to.Max == 0 {
			continue
		}
		out = append(out, Ratio{Name: s.Name, Of: s.Of, To: s.To, Better: s.Better,
			Value: of.Median / to.Median, Low: of.Min / to.Max, High: of.Max / to.Min})
	}
	return out
}

// Change is one figure or ratio found in both files.
type Change struct {
	Name        string
	Unit        string
	Old, New    float64 // medians (ratio values)
	OldLo       float64
	OldHi       float64
	NewLo       float64
	NewHi       float64
	Runs        [2]int // 0: a ratio
	Rel         float64
	Beyond      bool // the new range lies outside the old one: a change larger than the measured spread
	NoSpread    bool // a single run on either side: no spread to judge by
	Worse       bool // Beyond, in the bad direction
	LowerBetter bool
}

// Compare lists every figure and ratio of old also in new. A change is
// flagged (Beyond) when the two runs' min–max ranges do not overlap: the
// difference is larger than the spread either run measured.
func Compare(old, new *File) []Change {
	var out []Change
	nf := map[string]Figure{}
	for _, f := range new.Figures {
		nf[f.key()] = f
	}
	for _, o := range old.Figures {
		n, ok := nf[o.key()]
		if !ok {
			continue
		}
		c := Change{Name: o.Name, Unit: o.Unit, Old: o.Median, New: n.Median, OldLo: o.Min, OldHi: o.Max, NewLo: n.Min, NewHi: n.Max,
			Runs: [2]int{o.Runs, n.Runs}, LowerBetter: lowerIsBetter(o.Unit)}
		out = append(out, judge(c))
	}
	nr := map[string]Ratio{}
	for _, r := range new.Ratios {
		nr[r.Name] = r
	}
	for _, o := range old.Ratios {
		n, ok := nr[o.Name]
		if !ok {
			continue
		}
		c := Change{Name: o.Name, Unit: "ratio", Old: o.Value, New: n.Value, OldLo: o.Low, OldHi: o.High, NewLo: n.Low, NewHi: n.High,
			LowerBetter: o.Better != "higher"}
		out = append(out, judge(c))
	}
	return out
}

func judge(c Change) Change {
	if c.Old != 0 {
		c.Rel = c.New/c.Old - 1
	}
	if c.Runs[0] == 1 || c.Runs[1] == 1 {
		c.NoSpread = true
		return c
	}
	c.Beyond = c.NewLo > c.OldHi || c.NewHi < c.OldLo
	if c.Beyond {
		up := c.NewLo > c.OldHi
		c.Worse = up == c.LowerBetter
	}
	return c
}

// lowerIsBetter: times, sizes and counts of work are better lower;
// throughputs higher.
func lowerIsBetter(unit string) bool {
	return !strings.HasSuffix(unit, "/s")
}

// Format writes the comparison as a Markdown table.
func Format(w io.Writer, old, new *File, cs []Change) {
	fmt.Fprintf(w, "old: %s (%s), new: %s (%s)\n\n", old.Commit, old.Date, new.Commit, new.Date)
	fmt.Fprintln(w, "| figure | unit | old median [min–max] (runs) | new median [min–max] (runs) | change | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, c := range cs {
		verdict := "within spread"
		switch {
		case c.NoSpread:
			verdict = "one run: no spread"
		case c.Worse:
			verdict = "**worse, beyond spread**"
		case c.Beyond:
			verdict = "**better, beyond spread**"
		}
		runs := func(i int) string {
			if c.Runs[i] == 0 {
				return ""
			}
			return fmt.Sprintf(" (%d)", c.Runs[i])
		}
		fmt.Fprintf(w, "| %s | %s | %s [%s–%s]%s | %s [%s–%s]%s | %+.1f%% | %s |\n", c.Name, c.Unit,
			num(c.Old), num(c.OldLo), num(c.OldHi), runs(0), num(c.New), num(c.NewLo), num(c.NewHi), runs(1), 100*c.Rel, verdict)
	}
}

func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1e4:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

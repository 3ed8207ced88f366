// Command benchcmp writes and compares the figures of `make bench`.
//
//	benchcmp -collect bench-out -commit REV   write bench-out/bench.json
//	benchcmp -table bench-out/bench.json       print its figures and ratios
//	benchcmp OLD.json NEW.json                 compare two runs
//
// -collect reads the Go benchmark outputs bench.sh leaves in the directory
// (each benchmark line is one run: bench.sh runs them with -count) and the
// browser figures (browser.json), and writes every figure with its unit,
// run count, median, min and max and samples, and the headline ratios with
// the range their figures' spreads allow.
//
// A comparison flags a figure or ratio whose new min–max range does not
// overlap the old one: a change larger than the spread both runs measured.
// Figures with one run have no spread and are never flagged. benchcmp
// exits 1 if a change is flagged worse.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// goFiles: the Go benchmark outputs bench.sh writes, by the package whose
// benchmarks they hold.
var goFiles = map[string]string{
	"fermat.txt":    "preparams",
	"safeprime.txt": "preparams",
	"preparams.txt": "preparams",
	"engine.txt":    "party",
	"account.txt":   "coordinator",
	"router.txt":    "router",
}

func main() {
	collect := flag.String("collect", "", "write `DIR`/bench.json from the outputs in DIR")
	commit := flag.String("commit", "", "the commit measured (with -collect)")
	table := flag.String("table", "", "print the figures of `FILE`")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchcmp -collect DIR -commit REV | benchcmp -table FILE | benchcmp OLD.json NEW.json")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	code := 0
	switch {
	case *collect != "":
		err = writeCollected(*collect, *commit)
	case *table != "":
		var f *File
		if f, err = load(*table); err == nil {
			printTable(os.Stdout, f)
		}
	case flag.NArg() == 2:
		var old, new *File
		if old, err = load(flag.Arg(0)); err == nil {
			if new, err = load(flag.Arg(1)); err == nil {
				cs := Compare(old, new)
				Format(os.Stdout, old, new, cs)
				for _, c := range cs {
					if c.Worse {
						code = 1
					}
				}
			}
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func writeCollected(dir, commit string) error {
	figs, err := Collect(dir, goFiles)
	if err != nil {
		return err
	}
	if len(figs) == 0 {
		return fmt.Errorf("no benchmark output in %s", dir)
	}
	f := &File{Format: "tsskit.bench", Version: 1, Commit: commit, Date: time.Now().UTC().Format(time.RFC3339),
		Machine: Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH},
		Figures: figs, Ratios: Ratios(figs, Headline)}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d figures, %d ratios, commit %s\n", out, len(f.Figures), len(f.Ratios), commit)
	return nil
}

func load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Format != "tsskit.bench" || f.Version != 1 {
		return nil, fmt.Errorf("%s: not a bench.json of version 1 (format %q, version %d)", path, f.Format, f.Version)
	}
	return &f, nil
}

func printTable(w io.Writer, f *File) {
	fmt.Fprintf(w, "commit %s, %s, %d CPUs, %s\n\n", f.Commit, f.Date, f.Machine.CPUs, f.Machine.GoVersion)
	fmt.Fprintln(w, "| figure | unit | median | min–max | runs |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, g := range f.Figures {
		fmt.Fprintf(w, "| %s | %s | %s | %s–%s | %d |\n", g.Name, g.Unit, num(g.Median), num(g.Min), num(g.Max), g.Runs)
	}
	if len(f.Ratios) > 0 {
		fmt.Fprintln(w, "\n| ratio | value (of medians) | range the spreads allow |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, r := range f.Ratios {
			fmt.Fprintf(w, "| %s | %s× | %s–%s× |\n", r.Name, num(r.Value), num(r.Low), num(r.High))
		}
	}
}

// Command testsummary reads `go test -json` on stdin, prints each package's
// result and the output of every failed test, and ends with one line
// "N passed, N failed, N skipped". It exits 1 if anything failed.
//
// With TSSKIT_COUNTS=<dir> it also records the counts in <dir>/<-name>.txt,
// and `testsummary -total <dir>` adds up every record there (Go, wasm,
// Vitest, the browser tests) into the one closing line of `make test`.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-total" {
		os.Exit(total(os.Args[2]))
	}
	name := "go"
	if len(os.Args) == 3 && os.Args[1] == "-name" {
		name = os.Args[2]
	}
	var passed, failed, skipped int
	type timed struct {
		name string
		secs float64
	}
	var slow []timed
	output := map[string][]string{} // package/test → lines, kept until the test ends
	buildFailed := false
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		line := in.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil {
			// Build errors and other non-JSON lines go straight through.
			fmt.Println(string(line))
			if strings.Contains(string(line), "build failed") || strings.HasPrefix(string(line), "#") {
				buildFailed = true
			}
			continue
		}
		key := ev.Package + "/" + ev.Test
		switch ev.Action {
		case "output":
			output[key] = append(output[key], ev.Output)
		case "pass", "fail", "skip":
			if ev.Test == "" {
				d := time.Duration(ev.Elapsed * float64(time.Second)).Round(100 * time.Millisecond)
				fmt.Printf("%-4s %s (%v)\n", map[string]string{"pass": "ok", "fail": "FAIL", "skip": "--"}[ev.Action], ev.Package, d)
				if ev.Action == "fail" {
					// Package-level output: panics, timeouts, build errors.
					for _, l := range output[key] {
						fmt.Print("    ", l)
					}
				}
				delete(output, key)
				continue
			}
			if !strings.Contains(ev.Test, "/") {
				slow = append(slow, timed{ev.Package + " " + ev.Test, ev.Elapsed})
			}
			switch ev.Action {
			case "pass":
				passed++
			case "skip":
				skipped++
			case "fail":
				failed++
				fmt.Printf("--- FAIL: %s %s\n", ev.Package, ev.Test)
				for _, l := range output[key] {
					fmt.Print("    ", l)
				}
			}
			delete(output, key)
		}
	}
	if buildFailed && failed == 0 {
		failed++
	}
	// Where the suite's time goes: the slowest top-level tests.
	slices.SortFunc(slow, func(a, b timed) int { return cmp.Compare(b.secs, a.secs) })
	for _, t := range slow[:min(len(slow), 12)] {
		if t.secs >= 20 {
			fmt.Printf("slow %6.1fs %s\n", t.secs, t.name)
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	record(name, passed, failed, skipped)
	if failed > 0 {
		os.Exit(1)
	}
}

// record writes the counts for -total when TSSKIT_COUNTS names a directory.
func record(name string, passed, failed, skipped int) {
	dir := os.Getenv("TSSKIT_COUNTS")
	if dir == "" {
		return
	}
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, name+".txt"), fmt.Appendf(nil, "%d %d %d\n", passed, failed, skipped), 0o644)
}

// total adds up the records in dir and prints the closing line.
func total(dir string) int {
	var p, f, s int
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	var parts []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var a, b2, c int
		if _, err := fmt.Sscan(string(b), &a, &b2, &c); err != nil {
			continue
		}
		p, f, s = p+a, f+b2, s+c
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimSuffix(filepath.Base(file), ".txt"), a+b2+c))
	}
	fmt.Printf("all suites (%s)\n", strings.Join(parts, ", "))
	fmt.Printf("%d passed, %d failed, %d skipped\n", p, f, s)
	if f > 0 {
		return 1
	}
	return 0
}

// Command testsummary reads `go test -json` on stdin, prints each package's
// result and the output of every failed test, and ends with one line
// "N passed, N failed, N skipped". It exits 1 if anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
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
	var passed, failed, skipped int
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
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		os.Exit(1)
	}
}

// Package deploy_test checks the deployment files: the container image
// (image_test.go, run by make test-image) and the Compose files
// (compose_test.go, with every Go test).
package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository: this package is deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

// tsskitBinary builds cmd/tsskit once for the package's tests.
func tsskitBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tsskit-deploy-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "tsskit")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/tsskit")
		cmd.Dir = repoRoot(t)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = &buildError{err: err, out: out.String()}
		}
	})
	if buildErr != nil {
		t.Fatalf("build tsskit: %v", buildErr)
	}
	return buildBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// commandHelp is what `tsskit <command> -h` says: its flags and the
// environment variables it reads.
type commandHelp struct {
	flags map[string]bool
	env   map[string]bool
}

var (
	helpFlag = regexp.MustCompile(`^\s+-([a-z][a-z0-9-]*)`)
	helpEnv  = regexp.MustCompile(`^\s+([A-Z][A-Z0-9_]+(?:, [A-Z][A-Z0-9_]+)*)\s`)
)

// helpOf runs bin with args and -h and parses what it prints.
func helpOf(t *testing.T, bin string, args ...string) commandHelp {
	t.Helper()
	cmd := exec.Command(bin, append(args, "-h")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -h: %v\n%s", strings.Join(args, " "), err, out)
	}
	h := commandHelp{flags: map[string]bool{}, env: map[string]bool{}}
	inEnv := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.TrimSpace(line) == "environment:" {
			inEnv = true
			continue
		}
		if m := helpFlag.FindStringSubmatch(line); m != nil && !inEnv {
			h.flags[m[1]] = true
		}
		if m := helpEnv.FindStringSubmatch(line); m != nil && inEnv {
			for name := range strings.SplitSeq(m[1], ", ") {
				h.env[name] = true
			}
		}
	}
	if len(h.flags) == 0 {
		t.Fatalf("%s -h listed no flags:\n%s", strings.Join(args, " "), out)
	}
	return h
}

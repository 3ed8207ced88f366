package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The identity ceremony of docs/security.md, run with the binary as an
// operator runs it: the process tests' server parties are certified this
// way.

// initRoot runs "tsskit identity init" and returns the root key file and
// the TSSKIT_TRUST_ROOT line it printed.
func initRoot(t *testing.T, bin, dir string) (rootFile, trustEnv string) {
	t.Helper()
	rootFile = filepath.Join(dir, "root.key")
	out, err := exec.Command(bin, "identity", "init", "--out", rootFile).Output()
	if err != nil {
		t.Fatalf("identity init: %v", err)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "TSSKIT_TRUST_ROOT=") || len(line) != len("TSSKIT_TRUST_ROOT=")+64 {
		t.Fatalf("identity init printed %q", out)
	}
	if st, err := os.Stat(rootFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root key file: %v %v", st, err)
	}
	return rootFile, line
}

// certify prints a server party's identity (serverparty --print-identity
// with args: its --data-dir and --party-id), issues its certificate with
// the root and returns the certificate file.
func certify(t *testing.T, bin string, env []string, rootFile string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serverparty", "--print-identity"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("serverparty --print-identity: %v", err)
	}
	var id struct {
		PartyID     string `json:"party_id"`
		IdentityKey string `json:"identity_key"`
	}
	if err := json.Unmarshal(out, &id); err != nil || id.PartyID == "" || len(id.IdentityKey) != 64 {
		t.Fatalf("serverparty --print-identity printed %q", out)
	}
	certFile := filepath.Join(filepath.Dir(rootFile), id.PartyID+".cert")
	issue := exec.Command(bin, "identity", "issue", "--root", rootFile, "--kind", "server", "--party-id", id.PartyID,
		"--key", id.IdentityKey, "--valid-for", "24h", "--out", certFile)
	if out, err := issue.CombinedOutput(); err != nil {
		t.Fatalf("identity issue: %v\n%s", err, out)
	}
	return certFile
}

// certifyCoordinator makes the coordinator's signing key (identity key)
// and its certificate from the root (identity issue --kind coordinator),
// and returns the environment that points the coordinator and `tsskit
// token` at them.
func certifyCoordinator(t *testing.T, bin, rootFile string) []string {
	t.Helper()
	dir := filepath.Dir(rootFile)
	keyFile, certFile := filepath.Join(dir, "coordinator.key"), filepath.Join(dir, "coordinator.cert")
	out, err := exec.Command(bin, "identity", "key", "--out", keyFile).Output()
	if err != nil {
		t.Fatalf("identity key: %v", err)
	}
	pub := strings.TrimSpace(string(out))
	if len(pub) != 64 {
		t.Fatalf("identity key printed %q", out)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("coordinator key file: %v %v", st, err)
	}
	issue := exec.Command(bin, "identity", "issue", "--root", rootFile, "--kind", "coordinator", "--party-id", "coordinator",
		"--key", pub, "--valid-for", "24h", "--out", certFile)
	if out, err := issue.CombinedOutput(); err != nil {
		t.Fatalf("identity issue: %v\n%s", err, out)
	}
	return []string{"TSSKIT_SIGNING_KEY=" + keyFile, "TSSKIT_CERTIFICATE=" + certFile}
}

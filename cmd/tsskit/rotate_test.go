package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// TestRotateKey: the binary re-encrypts a vault under a new key; the old
// key no longer opens its entries, the new one does; a bad new key is
// refused with status 2 and nothing changes.
func TestRotateKey(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	oldHex, newHex := strings.Repeat("11", 32), strings.Repeat("22", 32)
	oldKey, _ := vault.ParseMasterKey(oldHex)
	newKey, _ := vault.ParseMasterKey(newHex)
	v, err := vault.Open(filepath.Join(dir, "vault"), oldKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		pp, _ := testkit.PreParams(i)
		if _, err := v.PutPreParams(pp); err != nil {
			t.Fatal(err)
		}
	}
	run := func(newEnv string) (string, error) {
		cmd := exec.Command(bin, "rotate-key", "--data-dir", dir)
		cmd.Env = append(cleanEnv(), "CRYPTO_MASTER_KEY="+oldHex, "CRYPTO_MASTER_KEY_NEW="+newEnv)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("abcd"); err == nil || exitCode(err) != 2 || strings.Contains(out, oldHex) {
		t.Fatalf("bad new key: %v %q", err, out)
	}
	out, err := run(newHex)
	if err != nil || !strings.Contains(out, "rewrote 2 records") {
		t.Fatalf("rotate: %v %q", err, out)
	}
	if strings.Contains(out, oldHex) || strings.Contains(out, newHex) {
		t.Fatal("output shows a key")
	}
	stale, _ := vault.Open(filepath.Join(dir, "vault"), oldKey)
	if _, err := stale.TakePreParams(); err == nil {
		t.Fatal("the old key still opens an entry")
	}
	fresh, _ := vault.Open(filepath.Join(dir, "vault"), newKey)
	if _, err := fresh.TakePreParams(); err != nil {
		t.Fatalf("new key: %v", err)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

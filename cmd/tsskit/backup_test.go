package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/quorumtest"
)

// TestBackupRestore: a wallet made in tsskit dev, a backup taken while
// the stack runs, the data directory destroyed, the backup restored into a
// new one, and the restarted stack signs with the wallet made before (the
// signature checked with decred's ECDSA). The master key is not in the
// backup; the restart takes it from the environment.
func TestBackupRestore(t *testing.T) {
	bin := buildBinary(t)
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	apiKey := "backup-api-key-" + strings.Repeat("q", 20)
	master := strings.Repeat("cd", 32)
	env := append(cleanEnv(), "MPC_API_KEY="+apiKey, "CRYPTO_MASTER_KEY="+master)
	var metricsAddr string
	start := func() (*exec.Cmd, string, *quorumtest.LogBuffer) {
		api := quorumtest.FreeAddr(t)
		metricsAddr = quorumtest.FreeAddr(t)
		cmd := exec.Command(bin, "dev", "--data-dir", dir, "--api-addr", api, "--coordinator-addr", quorumtest.FreeAddr(t),
			"--router-addr", quorumtest.FreeAddr(t), "--party-api-addr", quorumtest.FreeAddr(t), "--web-addr", "", "--preparams-pool", "1",
			"--metrics-addr", metricsAddr)
		cmd.Env = env
		buf := &quorumtest.LogBuffer{}
		cmd.Stdout, cmd.Stderr = buf, buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		deadline := time.Now().Add(90 * time.Second)
		for {
			code, body := 0, map[string]any{}
			req, _ := http.NewRequest("GET", "http://"+api+"/api/v1/health", nil)
			req.Header.Set("X-API-Key", apiKey)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				code = resp.StatusCode
				json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
			}
			if code == 200 {
				if pool, ok := body["components"].(map[string]any)["pool"].(map[string]any); ok && pool["healthy"].(float64) == 3 {
					return cmd, "http://" + api, buf
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("dev not ready: %d %v\n%s", code, body, tail(buf.String(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stop := func(cmd *exec.Cmd, log *quorumtest.LogBuffer) {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("dev exited with %v\n%s", err, tail(log.String(), 3000))
		}
	}

	cmd, api, log := start()
	code, acct := quorumtest.CallAPI(t, api, "POST", "/api/v1/accounts", apiKey, "", `{"user_id":"backed-up","share_password":"backup pw 3 saffron"}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, acct)
	}
	file := filepath.Join(base, "tsskit.backup")
	out, err := exec.Command(bin, "backup", "--data-dir", dir, "--out", file).CombinedOutput()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "server-1/vault/shares/") || !strings.Contains(string(out), "backup: coordinator.db") {
		t.Fatalf("backup output:\n%s", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(file)
	stop(cmd, log)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// Refused over existing data, and with a second --out of the same name.
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600)
	if out, err := exec.Command(bin, "restore", "--in", file, "--data-dir", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("restore over data: %v %s", err, out)
	}
	os.RemoveAll(dir)
	if out, err := exec.Command(bin, "backup", "--data-dir", base, "--out", file).CombinedOutput(); err == nil || !strings.Contains(string(out), "exists") {
		t.Fatalf("backup over an existing file: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "restore", "--in", file, "--data-dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if strings.Contains(string(b), master) {
		t.Fatal("the backup holds the master key")
	}

	cmd, api, log = start()
	d := sha256.Sum256([]byte("after restore"))
	code, sig := quorumtest.CallAPI(t, api, "POST", "/api/v1/accounts/"+acct["account_id"].(string)+"/sign", apiKey, "", `{"message":"`+hex.EncodeToString(d[:])+`"}`)
	if code != 200 {
		t.Fatalf("sign after restore: %d %v\n%s", code, sig, tail(log.String(), 3000))
	}
	verifyHex(t, acct["public_key"].(string), hex.EncodeToString(d[:]), sig["der"].(string))
	// tsskit dev --metrics-addr: the signing just made moved the counters.
	// A server party counts its seat once it has seen the session end,
	// which can be just after the API answered.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m, err := metrics.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		coordinator, parties := m.Value("tsskit_sessions_finished_total", "kind=sign", "result=completed"), m.Value("tsskit_party_sessions_total", "kind=sign", "result=completed")
		if coordinator == 1 && parties == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev metrics after one signing: coordinator %v, server parties %v; want 1, 2", coordinator, parties)
		}
	}
	stop(cmd, log)
}

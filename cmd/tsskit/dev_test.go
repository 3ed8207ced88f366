package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// TestDevMode: `tsskit dev` needs no configuration, says it is a
// development mode, prints the secrets it made once (and keeps them, so a
// restart can read its vaults), is ready when /health answers 200 on every
// port, and stops cleanly on SIGTERM.
func TestDevMode(t *testing.T) {
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "dev")
	run := func() string {
		coord, router, api, partyAPI, web := quorumtest.FreeAddr(t), quorumtest.FreeAddr(t), quorumtest.FreeAddr(t), quorumtest.FreeAddr(t), quorumtest.FreeAddr(t)
		metricsAddr := quorumtest.FreeAddr(t)
		cmd := exec.Command(bin, "dev", "--data-dir", dir, "--coordinator-addr", coord, "--router-addr", router,
			"--api-addr", api, "--party-api-addr", partyAPI, "--web-addr", web, "--web-dir", t.TempDir(), "--metrics-addr", metricsAddr)
		cmd.Env = cleanEnv()
		buf := &quorumtest.LogBuffer{}
		cmd.Stdout, cmd.Stderr = buf, buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("dev exited with %v after SIGTERM\n%s", err, tail(buf.String(), 3000))
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Error("dev did not stop within 30s of SIGTERM")
			}
		}()
		deadline := time.Now().Add(60 * time.Second)
		for _, addr := range []string{api, coord, router, partyAPI} {
			for {
				resp, err := http.Get("http://" + addr + "/health")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s/health not 200: %v\n%s", addr, err, tail(buf.String(), 3000))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		checkDevConfig(t, web)
		checkDevMetrics(t, metricsAddr, buf)
		return buf.String()
	}
	// Dev mode serves loopback only.
	out, err := exec.Command(bin, "dev", "--data-dir", t.TempDir(), "--api-addr", "0.0.0.0:4000").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "loopback addresses only") {
		t.Fatalf("dev on 0.0.0.0: %v %s", err, out)
	}
	first := run()
	if !strings.Contains(first, "DEVELOPMENT MODE") || !strings.Contains(first, "generated now") || !strings.Contains(first, "MPC_API_KEY=") {
		t.Fatalf("first start banner:\n%s", tail(first, 3000))
	}
	if st, err := os.Stat(filepath.Join(dir, "dev-secrets.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("dev secrets file: %v %v", st, err)
	}
	second := run()
	if !strings.Contains(second, "DEVELOPMENT MODE") || strings.Contains(second, "generated now") {
		t.Fatalf("second start banner:\n%s", tail(second, 3000))
	}
}

// checkDevConfig: /config.json hands the admin app a user token (never an
// admin token), and only to a loopback Host: a page of another site whose
// name was rebound to 127.0.0.1 (Host: attacker.example) gets nothing.
func checkDevConfig(t *testing.T, web string) {
	t.Helper()
	get := func(host string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", "http://"+web+"/config.json", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	_, port, _ := net.SplitHostPort(web)
	for _, host := range []string{"attacker.example", "attacker.example:" + port, "127.0.0.1.attacker.example:" + port, "10.0.0.5:" + port} {
		if code, body := get(host); code != 403 || body["token"] != nil {
			t.Fatalf("/config.json for Host %s: %d %v", host, code, body)
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		code, body := get(host)
		tok, _ := body["token"].(string)
		if code != 200 || tok == "" {
			t.Fatalf("/config.json for Host %s: %d %v", host, code, body)
		}
		// No TSSKIT_RECOVERY_KEYS: the app is told not to offer backend approvals.
		if rb, ok := body["recoveryBackend"].(bool); !ok || rb {
			t.Fatalf("/config.json recoveryBackend: %v", body["recoveryBackend"])
		}
		parts := strings.Split(tok, ".")
		claims, err := base64.RawURLEncoding.DecodeString(parts[1])
		var c struct {
			Kind string   `json:"knd"`
			Ops  []string `json:"ops"`
		}
		if err != nil || json.Unmarshal(claims, &c) != nil || c.Kind != "user" || len(c.Ops) == 0 {
			t.Fatalf("/config.json token is not a user token: %s", claims)
		}
	}
}

// checkDevMetrics: `tsskit dev --metrics-addr` serves every dev service's
// metrics on one port and says where in its banner.
func checkDevMetrics(t *testing.T, addr string, log *quorumtest.LogBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := metrics.Get("http://" + addr + "/metrics")
		if err == nil && s.Value("tsskit_pool_parties", "state=healthy") == 3 && strings.Contains(log.String(), addr+"/metrics") {
			if ps := s.LabelValues("tsskit_party_preparams_ready", "party"); strings.Join(ps, ",") != "server-1,server-2,server-3" {
				t.Fatalf("server parties' gauges: %v", ps)
			}
			if s.Value("tsskit_grpc_requests_total", "service=coordinator", "method=/tsskit.v1.PoolService/Register") == 0 &&
				s.Value("tsskit_grpc_requests_total", "service=coordinator", "method=/tsskit.v1.PoolService/Challenge") == 0 {
				t.Fatal("the coordinator's pool calls are not counted")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev metrics on %s: %v\n%s", addr, err, tail(log.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The dev stack's profiler (--pprof-addr): a CPU profile for the seconds
// asked (gzipped, as go tool pprof reads it), the named profiles, 404 for
// others; nothing on http.DefaultServeMux.
func TestServePprof(t *testing.T) {
	run, addr, err := servePprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	if code, b := get("/debug/pprof/profile?seconds=1"); code != 200 || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("CPU profile: %d, %d bytes", code, len(b))
	}
	if code, b := get("/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(string(b), "goroutine profile") {
		t.Fatalf("goroutine profile: %d %.80q", code, b)
	}
	if code, _ := get("/debug/pprof/nothing"); code != 404 {
		t.Fatalf("an unknown profile: %d", code)
	}
	rec := httptest.NewRecorder()
	http.DefaultServeMux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
	if rec.Code != 404 {
		t.Fatalf("http.DefaultServeMux serves the profiler: %d", rec.Code)
	}
}

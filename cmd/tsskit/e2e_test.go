package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/internal/evilcoord"
	"github.com/rwadurian/tsskit/internal/quorumtest"
)

// The tests in this file run the real binary as separate processes on
// loopback: tsskit router, tsskit coordinator and three tsskit serverparty,
// configured only through flags and the environment, as an operator would.

var binPath string

func buildBinary(t *testing.T) string {
	t.Helper()
	if binPath != "" {
		return binPath
	}
	if testing.Short() {
		t.Skip("process tests build and run the binary")
	}
	dir, err := os.MkdirTemp("", "tsskit-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tsskit")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	binPath = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *quorumtest.LogBuffer
	done chan error
}

type cluster struct {
	t        *testing.T
	bin      string
	env      []string
	secrets  []string
	procs    []*proc
	router   string
	coord    string
	api      string
	partyAPI string
	dir      string
	parties  []string
	// evil: a lying coordinator in front of the real one, which the
	// server parties and CLI parties reach at via (attack tests).
	evil *evilcoord.Proxy
	via  string
	// metrics: each process's --metrics-addr, by process name; health:
	// each server party's --health-addr.
	metrics, health map[string]string
	// recoveryKey: the app backend's recovery key file, which every server
	// party trusts (TSSKIT_RECOVERY_KEYS).
	recoveryKey string
}

func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	env := c.env
	if len(args) > 0 && args[0] == "serverparty" {
		// A server party refuses to start holding the account API's key.
		env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, "MPC_API_KEY=") })
	}
	cmd.Env = append(os.Environ(), env...)
	buf := &quorumtest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: buf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	c.procs = append(c.procs, p)
	return p
}

func (c *cluster) dump() {
	for _, p := range c.procs {
		c.t.Logf("---- %s ----\n%s", p.name, tail(p.log.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// stop sends SIGTERM to every process and requires a clean exit.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if p.cmd.ProcessState != nil {
			continue
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				c.t.Errorf("%s exited with %v after SIGTERM", p.name, err)
			}
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			c.t.Errorf("%s did not stop within 30s of SIGTERM", p.name)
		}
	}
}

func startCluster(t *testing.T) *cluster { return startClusterWith(t, false) }

// clusterDrain is the server parties' --drain-timeout in test clusters:
// short, so that stopping a cluster whose attack tests left sessions
// hanging stays within stop's 30 s; TestDrainFinishesSessions sets more.
var clusterDrain = "5s"

// startClusterWith starts the cluster; with evil, the server parties
// reach the coordinator through an evilcoord proxy in this process (c.via,
// c.evil), as the CLI parties of the attack tests do.
func startClusterWith(t *testing.T, evil bool) *cluster {
	bin := buildBinary(t)
	c := &cluster{t: t, bin: bin, dir: t.TempDir()}
	apiKey := "e2e-api-key-" + strings.Repeat("k", 20)
	master := strings.Repeat("ab", 32)
	c.secrets = []string{apiKey, master}
	rootFile, trustEnv := initRoot(t, bin, c.dir)
	c.env = append([]string{"MPC_API_KEY=" + apiKey, "ALLOWED_IPS=127.0.0.1", "CRYPTO_MASTER_KEY=" + master, "DATABASE_URL=", "REDIS_URL=", trustEnv},
		certifyCoordinator(t, bin, rootFile)...)
	c.recoveryKey = filepath.Join(c.dir, "backend-recovery.key")
	bk := c.quiet("recovery", "backend-key", "--out", c.recoveryKey)
	c.env = append(c.env, "TSSKIT_RECOVERY_KEYS="+bk["public_key"].(string))
	c.router, c.coord, c.api, c.partyAPI = quorumtest.FreeAddr(t), quorumtest.FreeAddr(t), quorumtest.FreeAddr(t), quorumtest.FreeAddr(t)
	c.metrics, c.health = map[string]string{}, map[string]string{}
	for _, n := range []string{"router", "coordinator", "serverparty-1", "serverparty-2", "serverparty-3"} {
		c.metrics[n] = quorumtest.FreeAddr(t)
	}
	c.start("router", "router", "--addr", c.router, "--metrics-addr", c.metrics["router"])
	c.start("coordinator", "coordinator", "--addr", c.coord, "--api-addr", c.api, "--router", c.router,
		"--party-api", "http://"+c.partyAPI, "--data-dir", filepath.Join(c.dir, "coordinator"), "--metrics-addr", c.metrics["coordinator"])
	c.via = c.coord
	if evil {
		c.via = startEvilCoordinator(t, c)
	}
	for i := 1; i <= 3; i++ {
		dataDir := filepath.Join(c.dir, fmt.Sprintf("sp%d", i))
		cert := certify(t, bin, c.env, rootFile, "--data-dir", dataDir)
		args := []string{"serverparty", "--coordinator", c.via, "--router", c.router, "--preparams-pool", "1", "--drain-timeout", clusterDrain,
			"--data-dir", dataDir, "--certificate", cert, "--metrics-addr", c.metrics[fmt.Sprintf("serverparty-%d", i)]}
		c.health[fmt.Sprintf("serverparty-%d", i)] = quorumtest.FreeAddr(t)
		args = append(args, "--health-addr", c.health[fmt.Sprintf("serverparty-%d", i)])
		if i == 1 {
			args = append(args, "--api-addr", c.partyAPI)
		}
		c.start(fmt.Sprintf("serverparty-%d", i), args...)
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			c.dump()
		}
	})
	// Ready: /health answers 200 with three healthy parties.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := c.rest("GET", "/api/v1/health", "")
		if code == 200 {
			pool := body["components"].(map[string]any)["pool"].(map[string]any)
			if pool["healthy"].(float64) == 3 {
				for _, p := range pool["parties"].([]any) {
					c.parties = append(c.parties, p.(string))
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ready: %d %v", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

func (c *cluster) rest(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.api+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", c.secrets[0])
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return 0, map[string]any{"transport_error": err.Error()}
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// cli runs a tsskit command that must succeed and show progress, and
// returns its stdout JSON.
func (c *cluster) cli(env []string, args ...string) map[string]any {
	c.t.Helper()
	out, stderr, err := c.exec(env, args...)
	if err != nil {
		c.t.Fatalf("tsskit %s: %v", strings.Join(args, " "), err)
	}
	if !strings.Contains(stderr, "round") {
		c.t.Fatalf("tsskit %s printed no progress:\n%s", strings.Join(args, " "), stderr)
	}
	return out
}

func verifyHex(t *testing.T, pubHex, digestHex, derHex string) {
	t.Helper()
	pub, err := secp256k1.ParsePubKey(hexb(pubHex))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ecdsa.ParseDERSignature(hexb(derHex))
	if err != nil {
		t.Fatal(err)
	}
	if !sig.Verify(hexb(digestHex), pub) {
		t.Fatal("signature does not verify")
	}
}

func hexb(s string) []byte { b, _ := hex.DecodeString(s); return b }

// TestProcessesAccountAPIAndCLIParty: REST keygen and signing among
// separate processes; every two-party subset of the account's wallet signs
// (the user's share through the CLI party); then a CLI party makes a
// co-managed wallet with two server parties and signs with it. Every
// signature is checked with decred's ECDSA.
func TestProcessesAccountAPIAndCLIParty(t *testing.T) {
	c := startCluster(t)
	code, acct := c.rest("POST", "/api/v1/accounts", `{"user_id":"e2e-user","share_password":"share pw 1 violet"}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, acct)
	}
	id, pub := acct["account_id"].(string), acct["public_key"].(string)
	d := sha256.Sum256([]byte("e2e rest"))
	code, sig := c.rest("POST", "/api/v1/accounts/"+id+"/sign", `{"message":"`+hex.EncodeToString(d[:])+`"}`)
	if code != 200 {
		t.Fatalf("sign: %d %v", code, sig)
	}
	verifyHex(t, pub, hex.EncodeToString(d[:]), sig["der"].(string))

	// The account's server holders, from the CLI party's point of view.
	blob, _ := base64.StdEncoding.DecodeString(acct["user_share"].(string))
	shareFile := filepath.Join(c.dir, "user.share")
	os.WriteFile(shareFile, blob, 0o600)
	pwEnv := []string{"TSSKIT_SHARE_PASSWORD=share pw 1 violet"}
	tok := strings.TrimSpace(c.run("token", "--subject", "e2e"))
	pwEnv = append(pwEnv, "TSSKIT_TOKEN="+tok)
	holders := map[string]bool{}
	for _, p := range c.parties {
		holders[p] = true
	}
	signedWith := 0
	for _, srv := range c.parties {
		out, err := c.tryCLI(pwEnv, "party", "sign", "--coordinator", c.coord, "--router", c.router,
			"--share", shareFile, "--message", "subset "+srv, "--server-parties", srv)
		if err != nil {
			// The one server party that does not hold this wallet is refused.
			if !strings.Contains(err.Error(), "not a server holder") {
				t.Fatalf("sign with %s: %v", srv, err)
			}
			continue
		}
		signedWith++
		h := sha256.Sum256([]byte("subset " + srv))
		if out["digest"] != hex.EncodeToString(h[:]) || out["public_key"] != pub {
			t.Fatalf("cli sign: %v", out)
		}
		verifyHex(t, pub, out["digest"].(string), out["der"].(string))
	}
	if signedWith != 2 {
		t.Fatalf("the user's share signed with %d server holders, want 2", signedWith)
	}
	accountRefresh(t, c, id, acct, pwEnv[1:])

	// A CLI party and two server parties: a co-managed wallet.
	walletFile := filepath.Join(c.dir, "cli.share")
	kg := c.cli(append(pwEnv[1:], "TSSKIT_SHARE_PASSWORD=cli pw quartz 42"), "party", "keygen", "--coordinator", c.coord, "--router", c.router,
		"--name", "desk", "--out", walletFile, "--party-id", "cli-e2e")
	if kg["party_id"] != "cli-e2e" || len(kg["parties"].([]any)) != 3 {
		t.Fatalf("cli keygen: %v", kg)
	}
	st, err := os.Stat(walletFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("share file: %v %v", st, err)
	}
	out := c.cli(append(pwEnv[1:], "TSSKIT_SHARE_PASSWORD=cli pw quartz 42"), "party", "sign", "--coordinator", c.coord, "--router", c.router,
		"--share", walletFile, "--message", "co-managed")
	if out["public_key"] != kg["public_key"] {
		t.Fatalf("signed with %v, wallet %v", out["public_key"], kg["public_key"])
	}
	verifyHex(t, kg["public_key"].(string), out["digest"].(string), out["der"].(string))
	cliEthereum(t, c, append(pwEnv[1:], "TSSKIT_SHARE_PASSWORD=cli pw quartz 42"), walletFile, kg)
	cliRefresh(t, c, append(pwEnv[1:], "TSSKIT_SHARE_PASSWORD=cli pw quartz 42"), walletFile, kg)
	cliRecover(t, c, append(pwEnv[1:], "TSSKIT_SHARE_PASSWORD=cli pw quartz 42"))

	// A wrong password is refused before anything is sent.
	if _, err := c.tryCLI(append(pwEnv[1:], "TSSKIT_SHARE_PASSWORD=nope"), "party", "sign", "--coordinator", c.coord, "--router", c.router,
		"--share", walletFile, "--message", "x"); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("wrong password: %v", err)
	}

	// The metrics saw all of it, and name no wallet, session or user.
	c.checkMetrics(t, []string{id, pub, acct["address"].(string), "e2e-user", kg["wallet_id"].(string), kg["public_key"].(string), tok})

	// Nothing secret reached a log.
	c.stop()
	for _, p := range c.procs {
		for _, s := range append(c.secrets, "share pw 1 violet", "cli pw quartz 42", "share pw 2 amber") {
			if strings.Contains(p.log.String(), s) {
				t.Errorf("%s logged a secret", p.name)
			}
		}
	}
}

func (c *cluster) run(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("tsskit %s: %v", args[0], err)
	}
	return string(out)
}

func (c *cluster) tryCLI(env []string, args ...string) (map[string]any, error) {
	out, _, err := c.exec(env, args...)
	return out, err
}

// quiet runs a command that prints no progress, and fails the test if it
// fails.
func (c *cluster) quiet(args ...string) map[string]any {
	c.t.Helper()
	out, _, err := c.exec(nil, args...)
	if err != nil {
		c.t.Fatalf("tsskit %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// envValue is name's value in env ("" if unset).
func envValue(env []string, name string) string {
	v := ""
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			v = strings.TrimPrefix(e, name+"=")
		}
	}
	return v
}

// exec runs the binary with the cluster's environment plus env and parses
// its stdout as JSON.
func (c *cluster) exec(env []string, args ...string) (map[string]any, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), fmt.Errorf("%v: %s", err, tail(stderr.String(), 2000))
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, stderr.String(), fmt.Errorf("stdout is not JSON: %q", stdout.String())
	}
	return out, stderr.String(), nil
}

// TestConfigRefusals: a service with missing or malformed configuration
// refuses to start, says why, and exits with status 2.
func TestConfigRefusals(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	rootFile, trustEnv := initRoot(t, bin, dir)
	good := append([]string{"MPC_API_KEY=" + strings.Repeat("k", 20), "ALLOWED_IPS=127.0.0.1", "CRYPTO_MASTER_KEY=" + strings.Repeat("ab", 32), trustEnv},
		certifyCoordinator(t, bin, rootFile)...)
	good = slices.Clip(good) // each case appends its own
	without := func(name string, extra ...string) []string {
		var out []string
		for _, e := range good {
			if !strings.HasPrefix(e, name+"=") {
				out = append(out, e)
			}
		}
		return append(out, extra...)
	}
	otherRoot, _ := initRoot(t, bin, t.TempDir())
	strangerCert := without("TSSKIT_CERTIFICATE", certifyCoordinator(t, bin, otherRoot)[1])
	jwtSecret := "JWT_SECRET_KEY=" + strings.Repeat("s", 40)
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"serverparty without master key", without("CRYPTO_MASTER_KEY"), []string{"serverparty", "--data-dir", dir}, "CRYPTO_MASTER_KEY is not set"},
		{"serverparty with a short master key", without("CRYPTO_MASTER_KEY", "CRYPTO_MASTER_KEY=abcd"), []string{"serverparty", "--data-dir", dir}, "CRYPTO_MASTER_KEY"},
		{"router with JWT_SECRET_KEY still set", append(good, jwtSecret), []string{"router", "--addr", "127.0.0.1:0"}, "JWT_SECRET_KEY is set, but no service uses a shared secret"},
		{"coordinator with JWT_SECRET_KEY still set", append(good, jwtSecret), []string{"coordinator", "--data-dir", dir}, "JWT_SECRET_KEY is set, but no service uses a shared secret"},
		{"serverparty with JWT_SECRET_KEY still set", append(without("MPC_API_KEY"), jwtSecret), []string{"serverparty", "--data-dir", dir}, "JWT_SECRET_KEY is set, but no service uses a shared secret"},
		{"serverparty holding the account API's key", good, []string{"serverparty", "--data-dir", dir, "--api-addr", "127.0.0.1:0"}, "MPC_API_KEY is set, but a server party must not hold it"},
		{"router without a trust root", without("TSSKIT_TRUST_ROOT"), []string{"router", "--addr", "127.0.0.1:0"}, "TSSKIT_TRUST_ROOT is not set"},
		{"coordinator without a signing key", without("TSSKIT_SIGNING_KEY"), []string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, "--signing-key and --certificate are required"},
		{"coordinator with a certificate from another root", strangerCert, []string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, "does not certify --signing-key"},
		{"router on a non-loopback address in cleartext", good, []string{"router", "--addr", "0.0.0.0:0"}, "is not a loopback address, and this port would be cleartext"},
		{"coordinator API on all interfaces in cleartext", good, []string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", ":0"}, "--api-addr :0 is not a loopback address"},
		{"router metrics on all interfaces in cleartext", good, []string{"router", "--addr", "127.0.0.1:0", "--metrics-addr", ":0"}, "--metrics-addr :0 is not a loopback address"},
		{"dev metrics off loopback", good, []string{"dev", "--data-dir", dir, "--metrics-addr", "0.0.0.0:0"}, "dev mode listens on loopback addresses only"},
		{"dev profiler off loopback", good, []string{"dev", "--data-dir", dir, "--pprof-addr", "0.0.0.0:0"}, "dev mode listens on loopback addresses only"},
		{"serverparty API on all interfaces in cleartext", without("MPC_API_KEY"), []string{"serverparty", "--data-dir", dir, "--api-addr", "0.0.0.0:0"}, "--api-addr 0.0.0.0:0 is not a loopback address"},
		{"router with a TLS certificate but no key", good, []string{"router", "--addr", "127.0.0.1:0", "--tls-cert", "x.pem"}, "--tls-cert and --tls-key go together"},
		{"router with a missing TLS certificate", good, []string{"router", "--addr", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")}, "TLS:"},
		{"party keygen with a weak share password", without("TSSKIT_SHARE_PASSWORD", "TSSKIT_TOKEN=x", "TSSKIT_SHARE_PASSWORD=hunter2"), []string{"party", "keygen", "--out", filepath.Join(dir, "k.share")}, "share password: use at least 12 characters"},
		{"token without a signing key", without("TSSKIT_SIGNING_KEY"), []string{"token"}, "--signing-key and --certificate are required"},
		{"coordinator without allowlist", without("ALLOWED_IPS"), []string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, "ALLOWED_IPS is not set"},
		{"coordinator with a bad allowlist", without("ALLOWED_IPS", "ALLOWED_IPS=10.0.0.0/99"), []string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, "ALLOWED_IPS"},
		{"coordinator without api key", without("MPC_API_KEY"), []string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, "MPC_API_KEY is not set"},
		{"coordinator with an unreachable DATABASE_URL", append(good, "DATABASE_URL=postgres://tsskit:db-secret-pw@127.0.0.1:1/x?connect_timeout=2"),
			[]string{"coordinator", "--data-dir", dir, "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, "open store"},
		{"router with an unreachable REDIS_URL", append(good, "REDIS_URL=redis://:redis-secret-pw@127.0.0.1:1/0"),
			[]string{"router", "--addr", "127.0.0.1:0"}, "redis"},
		{"party sign without a share", good, []string{"party", "sign", "--message", "x"}, "--share is required"},
		{"coordinator without a trust root", without("TSSKIT_TRUST_ROOT"), []string{"coordinator", "--data-dir", dir}, "TSSKIT_TRUST_ROOT is not set"},
		{"serverparty without a trust root", without("TSSKIT_TRUST_ROOT"), []string{"serverparty", "--data-dir", dir}, "TSSKIT_TRUST_ROOT is not set"},
		{"serverparty with a bad trust root", without("TSSKIT_TRUST_ROOT", "TSSKIT_TRUST_ROOT=abc"), []string{"serverparty", "--data-dir", dir}, "TSSKIT_TRUST_ROOT"},
		{"serverparty without a certificate", without("MPC_API_KEY"), []string{"serverparty", "--data-dir", dir}, "certify it offline with the deployment root"},
		{"party keygen without a trust root", without("TSSKIT_TRUST_ROOT", "TSSKIT_TOKEN=x", "TSSKIT_SHARE_PASSWORD=strong pw for kg"), []string{"party", "keygen", "--out", filepath.Join(dir, "k.share")}, "TSSKIT_TRUST_ROOT is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Env = append(cleanEnv(), c.env...)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			want := 2 // configuration refused
			if strings.Contains(c.name, "unreachable") {
				want = 1 // configuration fine, a server not there
			}
			if !ok || ee.ExitCode() != want || !strings.Contains(string(out), c.want) {
				t.Fatalf("exit %v, output %q; want status %d and %q", err, out, want, c.want)
			}
			if strings.Contains(string(out), "secret-pw") {
				t.Fatalf("output shows a password: %q", out)
			}
			for _, e := range c.env {
				name, v, _ := strings.Cut(e, "=")
				switch name {
				case "ALLOWED_IPS", "TSSKIT_CERTIFICATE", "TSSKIT_SIGNING_KEY":
					continue // not secrets (a list, file paths), and naming them helps
				}
				if len(v) > 8 && strings.Contains(string(out), v) {
					t.Fatalf("output echoes a secret: %q", out)
				}
			}
		})
	}
}

// cleanEnv is the environment without tsskit's variables.
func cleanEnv() []string {
	var out []string
	for _, e := range os.Environ() {
		switch strings.SplitN(e, "=", 2)[0] {
		case "JWT_SECRET_KEY", "MPC_API_KEY", "ALLOWED_IPS", "CRYPTO_MASTER_KEY", "DATABASE_URL", "REDIS_URL", "TSSKIT_TRUST_ROOT", "TSSKIT_REVOKED",
			"TSSKIT_CERTIFICATE", "TSSKIT_SIGNING_KEY", "TSSKIT_TOKEN":
			continue
		}
		out = append(out, e)
	}
	return out
}

// cliEthereum: the CLI party's BIP32 and Ethereum commands on a
// co-managed wallet, checked with go-ethereum: the address at a path, an
// EIP-1559 transaction signed there (its sender is that address), a
// personal message signed with the wallet key; bad input is refused.
func cliEthereum(t *testing.T, c *cluster, env []string, walletFile string, kg map[string]any) {
	t.Helper()
	addr, err := c.tryCLI(env, "party", "address", "--share", walletFile, "--path", "m/0/5")
	if err != nil {
		t.Fatal(err)
	}
	if addr["path"] != "m/0/5" || addr["address"] == kg["address"] || !strings.HasPrefix(addr["xpub"].(string), "xpub") || addr["legacy_chain_code"] != false {
		t.Fatalf("party address: %v", addr)
	}
	self, err := c.tryCLI(env, "party", "address", "--share", walletFile)
	if err != nil {
		t.Fatal(err)
	}
	if self["address"] != kg["address"] || self["path"] != "m" {
		t.Fatalf("party address without --path: %v (wallet %v)", self, kg["address"])
	}
	txFile := filepath.Join(c.dir, "tx.json")
	tx1559 := func(from any) []byte {
		return []byte(fmt.Sprintf(`{"type":"eip1559","chainId":11155111,"nonce":3,"from":%q,"to":"0x00000000000000000000000000000000000000aa",
		"value":"1000000000000000","gas":21000,"maxFeePerGas":"0x6fc23ac00","maxPriorityFeePerGas":"1000000000"}`, from))
	}
	os.WriteFile(txFile, tx1559(addr["address"]), 0o600)
	out := c.cli(env, "party", "sign", "--coordinator", c.coord, "--router", c.router, "--share", walletFile, "--path", "m/0/5", "--eth-tx", txFile)
	if out["address"] != addr["address"] {
		t.Fatalf("signed at m/0/5 by %v; want %v", out["address"], addr["address"])
	}
	raw, err := hexutil.Decode(out["signed_transaction"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), &tx)
	if err != nil || !strings.EqualFold(from.Hex(), addr["address"].(string)) || tx.Nonce() != 3 || tx.Type() != types.DynamicFeeTxType ||
		tx.ChainId().Int64() != 11155111 || tx.GasFeeCap().Int64() != 30_000_000_000 {
		t.Fatalf("go-ethereum reads sender %s (%v), nonce %d, type %d, chain %v, fee cap %v", from.Hex(), err, tx.Nonce(), tx.Type(), tx.ChainId(), tx.GasFeeCap())
	}
	out = c.cli(env, "party", "sign", "--coordinator", c.coord, "--router", c.router, "--share", walletFile, "--eth-message", "hello from the CLI")
	sig, err := hexutil.Decode(out["eth_signature"].(string))
	if err != nil || len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
		t.Fatalf("eth_signature %v", out["eth_signature"])
	}
	sig[64] -= 27
	pub, err := crypto.SigToPub(accounts.TextHash([]byte("hello from the CLI")), sig)
	if err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*pub).Hex(), kg["address"].(string)) {
		t.Fatalf("go-ethereum recovers %v (%v); want %v", pub, err, kg["address"])
	}
	noChain := filepath.Join(c.dir, "nochain.json")
	os.WriteFile(noChain, []byte(`{"type":"legacy","nonce":0,"to":"0x00000000000000000000000000000000000000aa","gas":21000,"gasPrice":1}`), 0o600)
	// A transaction from the wallet's own address, signed at m/0/5:
	// refused before a session is made, not signed by another key.
	otherFrom := filepath.Join(c.dir, "otherfrom.json")
	os.WriteFile(otherFrom, tx1559(kg["address"]), 0o600)
	if _, err := c.tryCLI(env, "party", "sign", "--coordinator", c.coord, "--router", c.router, "--share", walletFile, "--path", "m/0/5", "--eth-tx", otherFrom); err == nil || !strings.Contains(err.Error(), "from is") {
		t.Errorf("a transaction from another address: %v", err)
	}
	for _, bad := range [][]string{
		{"--path", "m/0'", "--eth-message", "x"},
		{"--path", "m/a", "--eth-message", "x"},
		{"--eth-tx", noChain},
		{"--eth-message", "x", "--message", "y"},
	} {
		args := append([]string{"party", "sign", "--coordinator", c.coord, "--router", c.router, "--share", walletFile}, bad...)
		if _, err := c.tryCLI(env, args...); err == nil {
			t.Errorf("party sign %v: accepted", bad)
		}
	}
	if _, err := c.tryCLI(env, "party", "address", "--share", walletFile, "--path", "m/1h"); err == nil || !strings.Contains(err.Error(), "hardened") {
		t.Errorf("party address at a hardened path: %v", err)
	}
}

// accountRefresh refreshes the account made by TestProcessesAccountAPIAndCLIParty:
// the same key and address at epoch 1 with a new user share; signing goes
// on through the account API and with the new share, and the old user
// share is refused as stale.
func accountRefresh(t *testing.T, c *cluster, id string, acct map[string]any, env []string) {
	t.Helper()
	pub := acct["public_key"].(string)
	code, ref := c.rest("POST", "/api/v1/accounts/"+id+"/refresh", `{"share_password":"share pw 2 amber"}`)
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, ref)
	}
	if ref["public_key"] != pub || ref["address"] != acct["address"] || ref["account_id"] != id || ref["epoch"] != float64(1) {
		t.Fatalf("refresh answered %v; the account is %v", ref, acct)
	}
	newShare, _ := ref["user_share"].(string)
	if newShare == "" || newShare == acct["user_share"] {
		t.Fatal("the refresh returned no new user share")
	}
	if code, got := c.rest("GET", "/api/v1/accounts/"+id, ""); code != 200 || got["epoch"] != float64(1) || got["public_key"] != pub {
		t.Fatalf("account after the refresh: %d %v", code, got)
	}
	if code, _ := c.rest("POST", "/api/v1/accounts/"+id+"/refresh", `{"share_password":"short"}`); code != 400 {
		t.Fatalf("a refresh with a weak password: %d", code)
	}
	if code, _ := c.rest("POST", "/api/v1/accounts/no-such-account/refresh", `{"share_password":"share pw 2 amber"}`); code != 404 {
		t.Fatalf("a refresh of no account: %d", code)
	}
	d := sha256.Sum256([]byte("e2e after refresh"))
	code, sig := c.rest("POST", "/api/v1/accounts/"+id+"/sign", `{"message":"`+hex.EncodeToString(d[:])+`"}`)
	if code != 200 {
		t.Fatalf("sign after the refresh: %d %v", code, sig)
	}
	verifyHex(t, pub, hex.EncodeToString(d[:]), sig["der"].(string))

	oldFile := filepath.Join(c.dir, "user.share")
	newFile := filepath.Join(c.dir, "user-epoch1.share")
	blob, _ := base64.StdEncoding.DecodeString(newShare)
	os.WriteFile(newFile, blob, 0o600)
	stale, signed := 0, 0
	for _, srv := range c.parties {
		_, err := c.tryCLI(append(env, "TSSKIT_SHARE_PASSWORD=share pw 1 violet"), "party", "sign", "--coordinator", c.coord, "--router", c.router,
			"--share", oldFile, "--message", "stale", "--server-parties", srv)
		switch {
		case err != nil && strings.Contains(err.Error(), "not a server holder"):
			continue
		case err == nil || !strings.Contains(err.Error(), "stale_epoch"):
			t.Fatalf("signing with the user share of the old epoch and %s: %v; want stale_epoch", srv, err)
		}
		stale++
		out, err := c.tryCLI(append(env, "TSSKIT_SHARE_PASSWORD=share pw 2 amber"), "party", "sign", "--coordinator", c.coord, "--router", c.router,
			"--share", newFile, "--message", "refreshed "+srv, "--server-parties", srv)
		if err != nil {
			t.Fatalf("sign with the new user share and %s: %v", srv, err)
		}
		signed++
		h := sha256.Sum256([]byte("refreshed " + srv))
		if out["digest"] != hex.EncodeToString(h[:]) || out["public_key"] != pub {
			t.Fatalf("cli sign: %v", out)
		}
		verifyHex(t, pub, out["digest"].(string), out["der"].(string))
	}
	if stale != 2 || signed != 2 {
		t.Fatalf("%d stale refusals and %d signings with the new user share; want 2 of each", stale, signed)
	}
}

// cliRefresh refreshes the CLI party's co-managed wallet (walletFile,
// from kg) with "tsskit party refresh", then changes its policy to 3 of 4:
// the address stays, the share file is replaced, every signing afterwards
// verifies, and the share of the old epoch is refused with stale_epoch.
func cliRefresh(t *testing.T, c *cluster, env []string, walletFile string, kg map[string]any) {
	t.Helper()
	pub := kg["public_key"].(string)
	oldFile := walletFile + ".epoch-0"
	old, err := os.ReadFile(walletFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(oldFile, old, 0o600)
	party := func(args ...string) []string {
		return append([]string{"party", args[0], "--coordinator", c.coord, "--router", c.router, "--share", walletFile}, args[1:]...)
	}
	signs := func(what string, file string, signers int) {
		t.Helper()
		out := c.cli(env, append(party("sign", "--message", what), "--share", file)...)
		h := sha256.Sum256([]byte(what))
		if out["public_key"] != pub || out["digest"] != hex.EncodeToString(h[:]) {
			t.Fatalf("%s: signed %v; the wallet is %v", what, out, kg)
		}
		verifyHex(t, pub, out["digest"].(string), out["der"].(string))
	}

	ref := c.cli(env, party("refresh")...)
	if ref["public_key"] != pub || ref["address"] != kg["address"] || ref["epoch"] != float64(1) || ref["threshold"] != float64(2) || len(ref["parties"].([]any)) != 3 {
		t.Fatalf("refresh answered %v; the wallet is %v", ref, kg)
	}
	if now, _ := os.ReadFile(walletFile); bytes.Equal(now, old) {
		t.Fatal("the refresh left the share file as it was")
	}
	// Left: the runs record of the active epoch (it answers a freeze of
	// the run that made it, tsskit party settle), nothing else.
	if m, _ := filepath.Glob(walletFile + ".epoch-*.*"); len(m) != 1 || m[0] != runsFile(walletFile, 1) {
		t.Fatalf("pending or session files left: %v", m)
	}
	signs("co-managed, refreshed", walletFile, 2)
	if _, err := c.tryCLI(env, append(party("sign", "--message", "stale"), "--share", oldFile)...); err == nil || !strings.Contains(err.Error(), "stale_epoch") {
		t.Fatalf("signing with the share of epoch 0: %v; want stale_epoch", err)
	}

	// The files a refresh leaves when this party misses its end (the
	// share of epoch 0 in place, the new one pending beside it): --resume
	// with a session id of nothing is refused and leaves both; with the
	// refresh's session id, the coordinator's record of it and every
	// holder's stored acknowledgement put the pending share in place.
	refreshed, _ := os.ReadFile(walletFile)
	pendingFile, sessionFile := walletFile+".epoch-1.pending", walletFile+".epoch-1.session"
	if os.WriteFile(pendingFile, refreshed, 0o600) != nil || os.WriteFile(walletFile, old, 0o600) != nil {
		t.Fatal("write the files of a missed end")
	}
	// A missed end: the run was never marked activated here (a run
	// marked so is put in place without asking the coordinator).
	os.Remove(runsFile(walletFile, 1))
	for _, sid := range []string{"", "no-such-session"} {
		if sid != "" {
			os.WriteFile(sessionFile, []byte(sid+"\n"), 0o600)
		}
		if _, err := c.tryCLI(env, party("refresh", "--resume")...); err == nil {
			t.Fatalf("--resume with session %q recorded was accepted", sid)
		}
		if now, _ := os.ReadFile(walletFile); !bytes.Equal(now, old) {
			t.Fatal("a refused --resume changed the share file")
		}
	}
	os.WriteFile(sessionFile, []byte(ref["session_id"].(string)+"\n"), 0o600)
	// No rounds run: what it prints is the outcome.
	resumed, stderr, err := c.exec(env, party("refresh", "--resume")...)
	if err != nil || resumed["public_key"] != pub || resumed["epoch"] != float64(1) || resumed["session_id"] != ref["session_id"] ||
		!strings.Contains(stderr, "the pending share of session") {
		t.Fatalf("--resume: %v; answered %v\n%s", err, resumed, stderr)
	}
	if now, _ := os.ReadFile(walletFile); !bytes.Equal(now, refreshed) {
		t.Fatal("--resume did not put the pending share in place")
	}
	if m, _ := filepath.Glob(walletFile + ".epoch-*.*"); len(m) != 1 || m[0] != runsFile(walletFile, 1) {
		t.Fatalf("files left after --resume: %v", m)
	}
	signs("co-managed, resumed", walletFile, 2)

	// A new policy: 3 of 4, a server party added from the pool.
	ref = c.cli(env, party("refresh", "--signers", "3", "--parties", "4")...)
	if ref["public_key"] != pub || ref["epoch"] != float64(2) || ref["threshold"] != float64(3) || len(ref["parties"].([]any)) != 4 {
		t.Fatalf("reshare to 3 of 4 answered %v", ref)
	}
	signs("co-managed, 3 of 4", walletFile, 3)
	// The client alone plus one server party is no longer enough, and the
	// coordinator's record of the wallet says so.
	if _, err := c.tryCLI(env, append(party("sign", "--message", "too few"), "--server-parties", c.parties[0])...); err == nil {
		t.Fatal("a 3-of-4 wallet signed with 2 parties")
	}
	// A policy the holders refuse: the client alone would reach it.
	if _, err := c.tryCLI(env, party("refresh", "--signers", "1")...); err == nil {
		t.Fatal("a reshare to 1 signer was accepted")
	}
}

// cliRecover makes a co-managed wallet with a recovery kit and backend
// approvals allowed ("tsskit party keygen --recovery-code-out
// --recovery-backend"), loses its client, and recovers it twice with real
// processes: with the recovery code, then with the app backend's
// approval of a new device's request ("tsskit recovery approve"). An
// approval signed by a key the server parties do not trust is refused.
// Each time the address stays and the new client signs (verified).
func cliRecover(t *testing.T, c *cluster, env []string) {
	t.Helper()
	at := func(args ...string) []string {
		return append([]string{args[0], args[1], "--coordinator", c.coord, "--router", c.router}, args[2:]...)
	}
	lost, code := filepath.Join(c.dir, "lost.share"), filepath.Join(c.dir, "recovery-code.txt")
	kg := c.cli(env, at("party", "keygen", "--out", lost, "--party-id", "cli-lost", "--recovery-code-out", code, "--recovery-backend")...)
	wallet, pub, addr := kg["wallet_id"].(string), kg["public_key"].(string), kg["address"].(string)
	if st, err := os.Stat(code); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("recovery code file: %v %v", st, err)
	}
	signs := func(file, what string) {
		t.Helper()
		out := c.cli(env, at("party", "sign", "--share", file, "--message", what)...)
		if out["public_key"] != pub {
			t.Fatalf("%s: signed for %v; the wallet is %s", what, out["public_key"], pub)
		}
		verifyHex(t, pub, out["digest"].(string), out["der"].(string))
	}

	// The recovery code: a new party, a new device key, the same wallet —
	// the one whose address the owner knows: a session handing over
	// another key is refused, and nothing is written.
	// The first attempt's device (--device) is kept for the retries: the
	// same party, whatever --party-id a retry would give.
	kitShare, kitDevice := filepath.Join(c.dir, "recovered-kit.share"), filepath.Join(c.dir, "kit-device.json")
	// A well-formed code that is not this wallet's: refused before any
	// session, and no device kept.
	wrongCode := filepath.Join(c.dir, "wrong-code.txt")
	if err := os.WriteFile(wrongCode, []byte(strings.Repeat("abandon ", 11)+"about\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tryCLI(append(env, "TSSKIT_RECOVERY_CODE="), at("party", "recover", "--wallet", wallet, "--address", addr,
		"--recovery-code-file", wrongCode, "--device", kitDevice, "--out", kitShare)...); err == nil || !strings.Contains(err.Error(), "not wallet") {
		t.Fatalf("recovery with another wallet's code: %v; want it refused", err)
	}
	if _, err := os.Stat(kitDevice); err == nil {
		t.Fatal("a refused code kept a device")
	}
	if _, err := c.tryCLI(append(env, "TSSKIT_RECOVERY_CODE="), at("party", "recover", "--wallet", wallet, "--address", "0x"+strings.Repeat("11", 20),
		"--recovery-code-file", code, "--party-id", "cli-kit", "--device", kitDevice, "--out", kitShare)...); err == nil || !strings.Contains(err.Error(), "hands over the key of address") {
		t.Fatalf("recovery with another address: %v; want it refused", err)
	}
	if _, err := os.Stat(kitShare); err == nil {
		t.Fatal("a refused recovery wrote a share")
	}
	if st, err := os.Stat(kitDevice); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the attempt's device file: %v %v", st, err)
	}
	if _, err := c.tryCLI(append(env, "TSSKIT_RECOVERY_CODE="), at("party", "recover", "--wallet", wallet, "--address", addr, "--recovery-code-file", code,
		"--party-id", "cli-other", "--device", kitDevice, "--out", kitShare)...); err == nil || !strings.Contains(err.Error(), "is party cli-kit's") {
		t.Fatalf("a retry naming another party than its device's: %v; want it refused", err)
	}
	rec := c.cli(append(env, "TSSKIT_RECOVERY_CODE="), at("party", "recover", "--wallet", wallet, "--address", addr, "--recovery-code-file", code, "--device", kitDevice, "--out", kitShare)...)
	if rec["public_key"] != pub || rec["address"] != kg["address"] || rec["epoch"] != float64(1) || rec["party_id"] != "cli-kit" {
		t.Fatalf("recovery with the code answered %v; the wallet is %v", rec, kg)
	}
	for _, f := range []string{kitDevice, runsFile(kitDevice, 1)} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s kept once the share is written", f)
		}
	}
	for _, p := range rec["parties"].([]any) {
		if p == "cli-lost" {
			t.Fatal("the lost client is still a holder")
		}
	}
	signs(kitShare, "recovered with the code")
	if _, err := c.tryCLI(env, at("party", "sign", "--share", lost, "--message", "lost")...); err == nil {
		t.Fatal("the lost client's share still signs")
	}

	// The backend: the new device asks, a key the servers do not trust
	// approves (refused), then the backend's key does.
	device := filepath.Join(c.dir, "device.json")
	req := c.quiet(append([]string{"party", "recover", "--request", "--wallet", wallet, "--device", device, "--party-id", "cli-backend",
		"--coordinator", c.coord, "--router", c.router}, "--token", envValue(env, "TSSKIT_TOKEN"))...)
	if pol, _ := req["recovery"].(map[string]any); req["epoch"] != float64(1) || req["party_id"] != "cli-backend" || pol["kit"] != true || pol["backend"] != true {
		t.Fatalf("request: %v", req)
	}
	approve := func(key, out string) {
		t.Helper()
		c.run("recovery", "approve", "--key", key, "--wallet", wallet, "--epoch", "1", "--party-id", "cli-backend",
			"--identity", req["identity"].(string), "--out", out)
	}
	evilKey, forged := filepath.Join(c.dir, "evil.key"), filepath.Join(c.dir, "forged-approval.json")
	c.quiet("recovery", "backend-key", "--out", evilKey)
	approve(evilKey, forged)
	if _, err := c.tryCLI(env, at("party", "recover", "--approval", forged, "--device", device, "--address", addr, "--out", filepath.Join(c.dir, "forged.share"))...); err == nil ||
		!strings.Contains(err.Error(), "recovery") {
		t.Fatalf("recovery with an approval of an untrusted key: %v; want it refused", err)
	}
	// The refused run was recorded beside the device, and abandoned when
	// its session failed: the next attempt's join says so, signed with
	// the device key.
	refusedRuns, err := readRuns(runsFile(device, 2))
	if err != nil || len(refusedRuns) != 1 || refusedRuns[0].State != "abandoned" {
		t.Fatalf("runs of the refused attempt: %v, %v", refusedRuns, err)
	}
	approval, backendShare := filepath.Join(c.dir, "approval.json"), filepath.Join(c.dir, "recovered-backend.share")
	approve(c.recoveryKey, approval)
	rec = c.cli(env, at("party", "recover", "--approval", approval, "--device", device, "--address", addr, "--out", backendShare)...)
	if rec["public_key"] != pub || rec["epoch"] != float64(2) || rec["party_id"] != "cli-backend" {
		t.Fatalf("recovery with the backend's approval answered %v", rec)
	}
	signs(backendShare, "recovered with the approval")
	if _, err := os.Stat(runsFile(device, 2)); err == nil {
		t.Fatal("the device's runs kept once the share is written")
	}
	// The approval again (replayed): the wallet is at epoch 2 now.
	if _, err := c.tryCLI(env, at("party", "recover", "--approval", approval, "--device", device, "--address", addr, "--out", filepath.Join(c.dir, "replayed.share"))...); err == nil {
		t.Fatal("a replayed approval recovered the wallet again")
	}
}

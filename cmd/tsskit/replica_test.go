package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/testdb"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// replicas is a scaled-out deployment on loopback, as separate processes:
// two routers sharing Redis, two coordinators sharing PostgreSQL, three
// server parties keeping their vaults in PostgreSQL and registered with
// both coordinators, each talking to the routers in its own order.
type replicas struct {
	*cluster
	db              string
	routers, coords []string
	apis            []string
	routerProcs     []*proc
	coordProcs      []*proc
	partyProcs      map[string]*proc
}

func (r *replicas) coordArgs(i int) []string {
	return []string{"coordinator", "--addr", r.coords[i], "--advertise", r.coords[i], "--peers", r.coords[1-i], "--api-addr", r.apis[i],
		"--router", strings.Join(r.routers, ","), "--party-api", "http://" + r.partyAPI,
		"--heartbeat-timeout", "3s", "--stall-timeout", "45s", "--join-timeout", "60s"}
}

func startReplicas(t *testing.T) *replicas {
	bin := buildBinary(t)
	r := &replicas{cluster: &cluster{t: t, bin: bin, dir: t.TempDir()}, db: testdb.Postgres(t), partyProcs: map[string]*proc{}}
	apiKey := "replica-api-key-" + strings.Repeat("k", 20)
	master := strings.Repeat("cd", 32)
	r.secrets = []string{apiKey, master}
	rootFile, trustEnv := initRoot(t, bin, r.dir)
	r.env = append([]string{"MPC_API_KEY=" + apiKey, "ALLOWED_IPS=127.0.0.1", "CRYPTO_MASTER_KEY=" + master,
		"DATABASE_URL=" + r.db, "REDIS_URL=" + testdb.RedisURL(), trustEnv}, certifyCoordinator(t, bin, rootFile)...)
	for range 2 {
		r.routers = append(r.routers, quorumtest.FreeAddr(t))
		r.coords = append(r.coords, quorumtest.FreeAddr(t))
		r.apis = append(r.apis, quorumtest.FreeAddr(t))
	}
	r.partyAPI = quorumtest.FreeAddr(t)
	for i, a := range r.routers {
		r.routerProcs = append(r.routerProcs, r.start(fmt.Sprintf("router-%d", i+1), "router", "--addr", a))
	}
	for i := range r.coords {
		r.coordProcs = append(r.coordProcs, r.start(fmt.Sprintf("coordinator-%d", i+1), r.coordArgs(i)...))
	}
	// Seed the server parties' pools (in PostgreSQL) with fixture
	// pre-params, distinct per party, so the first keygens do not wait
	// for safe primes; the parties' own generators refill behind them.
	mk, err := vault.ParseMasterKey(master)
	if err != nil {
		t.Fatal(err)
	}
	for i, fixtures := range [][]int{{0}, {1, 2}, {3, 4}} {
		v, err := vault.OpenPostgres(context.Background(), r.db, fmt.Sprintf("replica-sp%d", i+1), mk)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fixtures {
			pre, err := testkit.PreParams(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.PutPreParams(pre); err != nil {
				t.Fatal(err)
			}
		}
		v.Close()
	}
	for i := 1; i <= 3; i++ {
		routers := r.routers
		if i == 2 {
			routers = []string{r.routers[1], r.routers[0]} // another replica first
		}
		id := fmt.Sprintf("replica-sp%d", i)
		cert := certify(t, bin, r.env, rootFile, "--party-id", id, "--data-dir", filepath.Join(r.dir, id))
		args := []string{"serverparty", "--party-id", id, "--coordinator", strings.Join(r.coords, ","),
			"--router", strings.Join(routers, ","), "--preparams-pool", "2", "--data-dir", filepath.Join(r.dir, id), "--certificate", cert,
			"--drain-timeout", "5s"}
		if i == 1 {
			args = append(args, "--api-addr", r.partyAPI)
		}
		r.partyProcs[id] = r.start(id, args...)
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			r.dump()
		}
	})
	for i := range r.apis {
		r.waitHealthy(i, 3)
	}
	return r
}

// waitHealthy waits until coordinator i's pool has n healthy parties.
func (r *replicas) waitHealthy(i, n int) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body := r.restAt(i, "GET", "/api/v1/health", "")
		if code == 200 {
			pool := body["components"].(map[string]any)["pool"].(map[string]any)
			if int(pool["healthy"].(float64)) == n {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("coordinator %d: not %d healthy parties: %d %v", i+1, n, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *replicas) restAt(i int, method, path, body string) (int, map[string]any) {
	r.api = r.apis[i]
	return r.rest(method, path, body)
}

// party is a CLI party run in the background, its stderr kept.
type cliParty struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr *quorumtest.LogBuffer
	done   chan error
}

func (r *replicas) party(env []string, args ...string) *cliParty {
	r.t.Helper()
	p := &cliParty{stderr: &quorumtest.LogBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(r.bin, args...)
	p.cmd.Env = append(append(os.Environ(), r.env...), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	r.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
	})
	return p
}

// waitFor waits until the party's progress output contains s.
func (p *cliParty) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case err := <-p.done:
			t.Fatalf("party ended (%v) before %q:\n%s", err, s, tail(p.stderr.String(), 3000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", s, tail(p.stderr.String(), 3000))
		}
	}
}

// result waits for the party to end and returns its JSON output, or the
// error with its last output.
func (p *cliParty) result(t *testing.T) (map[string]any, error) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, tail(p.stderr.String(), 2000))
		}
	case <-time.After(5 * time.Minute):
		p.cmd.Process.Kill()
		t.Fatalf("party did not end:\n%s", tail(p.stderr.String(), 3000))
	}
	var out map[string]any
	if err := json.Unmarshal(p.stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("stdout is not JSON: %q", p.stdout.String())
	}
	return out, nil
}

func (r *replicas) kill(p *proc) {
	r.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// runningServers is the server parties of the one running session.
func (r *replicas) runningServers() []string {
	r.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var parties string
	if err := conn.QueryRow(ctx, `SELECT parties FROM sessions WHERE state = 'running' ORDER BY created_at DESC LIMIT 1`).Scan(&parties); err != nil {
		r.t.Fatalf("running session: %v", err)
	}
	var ids []string
	json.Unmarshal([]byte(parties), &ids)
	var out []string
	for _, id := range ids {
		if strings.HasPrefix(id, "replica-sp") {
			out = append(out, id)
		}
	}
	return out
}

// TestReplicas runs a scaled-out deployment through its faults, in order:
// work spread over replicas, a router replica killed mid-keygen, a server
// party killed mid-keygen, a coordinator killed and restarted mid-session.
// Every signature is checked with decred's ECDSA.
func TestReplicas(t *testing.T) {
	r := startReplicas(t)
	tok := strings.TrimSpace(r.run("token", "--subject", "replica-test"))
	env := []string{"TSSKIT_TOKEN=" + tok, "TSSKIT_SHARE_PASSWORD=replica pw topaz 7"}
	keygen := func(coord, routers, out string) *cliParty {
		return r.party(env, "party", "keygen", "--coordinator", coord, "--router", routers, "--out", out, "--party-id", "cli-"+filepath.Base(out))
	}
	sign := func(coord, routers, shareFile, msg string) {
		t.Helper()
		p := r.party(env, "party", "sign", "--coordinator", coord, "--router", routers, "--share", shareFile, "--message", msg)
		out, err := p.result(t)
		if err != nil {
			t.Fatalf("sign %q: %v", msg, err)
		}
		h := sha256.Sum256([]byte(msg))
		if out["digest"] != hex.EncodeToString(h[:]) {
			t.Fatalf("signed digest %v", out["digest"])
		}
		verifyHex(t, out["public_key"].(string), out["digest"].(string), out["der"].(string))
	}

	t.Run("spread over replicas", func(t *testing.T) {
		// An account made through one coordinator signs through the other.
		code, acct := r.restAt(0, "POST", "/api/v1/accounts", `{"user_id":"replica-user","share_password":"replica share pw"}`)
		if code != 201 {
			t.Fatalf("create account on coordinator 1: %d %v", code, acct)
		}
		d := sha256.Sum256([]byte("replicas"))
		code, sig := r.restAt(1, "POST", "/api/v1/accounts/"+acct["account_id"].(string)+"/sign", `{"message":"`+hex.EncodeToString(d[:])+`"}`)
		if code != 200 {
			t.Fatalf("sign on coordinator 2: %d %v", code, sig)
		}
		verifyHex(t, acct["public_key"].(string), hex.EncodeToString(d[:]), sig["der"].(string))

		// A client party on the second router and second coordinator; the
		// server parties reach the session's owner, directly or forwarded.
		f := filepath.Join(r.dir, "spread.share")
		if _, err := keygen(r.coords[1], r.routers[1], f).result(t); err != nil {
			t.Fatal(err)
		}
		sign(r.coords[0], r.routers[0], f, "spread")
	})

	t.Run("router replica killed mid-keygen", func(t *testing.T) {
		f := filepath.Join(r.dir, "router-kill.share")
		p := keygen(r.coords[0], strings.Join(r.routers, ","), f)
		p.waitFor(t, "round 2/")
		r.kill(r.routerProcs[0])
		if _, err := p.result(t); err != nil {
			t.Fatalf("keygen after a router replica died: %v", err)
		}
		sign(r.coords[1], strings.Join(r.routers, ","), f, "after router kill")
	})

	t.Run("server party killed mid-keygen", func(t *testing.T) {
		f := filepath.Join(r.dir, "party-kill.share")
		p := keygen(r.coords[0], strings.Join(r.routers, ","), f)
		p.waitFor(t, "round 2/")
		victim := r.runningServers()[0]
		r.kill(r.partyProcs[victim])
		start := time.Now()
		_, err := p.result(t)
		if err == nil || !strings.Contains(err.Error(), victim) {
			t.Fatalf("keygen with %s killed: %v; want a failure naming it", victim, err)
		}
		t.Logf("failed %s after the kill: %v", time.Since(start).Round(time.Millisecond), firstLine(err.Error()))
		for i := range r.apis {
			r.waitHealthy(i, 2)
		}
		// A new session picks the healthy parties.
		f2 := filepath.Join(r.dir, "after-party-kill.share")
		if _, err := keygen(r.coords[1], strings.Join(r.routers, ","), f2).result(t); err != nil {
			t.Fatalf("keygen with the healthy parties: %v", err)
		}
		sign(r.coords[0], strings.Join(r.routers, ","), f2, "after party kill")
	})

	t.Run("coordinator restarted mid-session", func(t *testing.T) {
		f := filepath.Join(r.dir, "coord-restart.share")
		p := keygen(r.coords[0], strings.Join(r.routers, ","), f)
		p.waitFor(t, "round 2/")
		r.kill(r.coordProcs[0])
		r.coordProcs[0] = r.start("coordinator-1-restarted", r.coordArgs(0)...)
		_, err := p.result(t)
		if err == nil || !strings.Contains(err.Error(), "coordinator restarted") {
			t.Fatalf("keygen across a coordinator restart: %v; want it failed with the reason", err)
		}
		r.waitHealthy(0, 2)
		f2 := filepath.Join(r.dir, "after-restart.share")
		if _, err := keygen(r.coords[0], strings.Join(r.routers, ","), f2).result(t); err != nil {
			t.Fatalf("keygen on the restarted coordinator: %v", err)
		}
		sign(r.coords[0], strings.Join(r.routers, ","), f2, "after restart")
	})

	t.Run("master key rotated, then the vault claim lost", func(t *testing.T) {
		// Stop a server holder of the last wallet, re-encrypt its rows under
		// a new key, start it with the new key: it signs with that wallet.
		f := filepath.Join(r.dir, "after-restart.share")
		holder := r.newestServerHolder()
		p := r.partyProcs[holder]
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-p.done; err != nil {
			t.Fatalf("%s stopped with %v", holder, err)
		}
		newKey := strings.Repeat("ef", 32)
		cmd := exec.Command(r.bin, "rotate-key", "--party-id", holder)
		cmd.Env = append(append(os.Environ(), r.env...), "CRYPTO_MASTER_KEY_NEW="+newKey)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "rewrote") {
			t.Fatalf("rotate-key: %v\n%s", err, out)
		}
		if strings.Contains(string(out), newKey) || strings.Contains(string(out), r.secrets[1]) {
			t.Fatal("rotate-key printed a key")
		}
		t.Logf("rotate-key: %s", strings.TrimSpace(string(out)))
		r.partyProcs[holder] = r.startEnv(holder+"-rotated", []string{"CRYPTO_MASTER_KEY=" + newKey}, p.cmd.Args[1:]...)
		r.waitHealthy(0, 2)
		p2 := r.party(env, "party", "sign", "--coordinator", r.coords[0], "--router", strings.Join(r.routers, ","),
			"--share", f, "--message", "after rotation", "--server-parties", holder)
		res, err := p2.result(t)
		if err != nil {
			t.Fatalf("sign after rotation: %v", err)
		}
		verifyHex(t, res["public_key"].(string), res["digest"].(string), res["der"].(string))

		// The database connection holding the party's claim of its vault
		// ends (a killed backend, a database restart): the party stops,
		// writing nothing more, and claims the vault anew when started.
		conn, err := pgx.Connect(context.Background(), r.db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
			"tsskit-vault-claim "+holder).Scan(&n); err != nil || n != 1 {
			t.Fatalf("terminating the claim's connection of %s: %d, %v", holder, n, err)
		}
		q := r.partyProcs[holder]
		select {
		case err := <-q.done:
			if err == nil || !strings.Contains(q.log.String(), "the database connection holding the claim of its vault ended") {
				t.Fatalf("%s ended with %v, log:\n%s", holder, err, tail(q.log.String(), 2000))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still runs 30 s after its vault's claim ended:\n%s", holder, tail(q.log.String(), 2000))
		}
		r.partyProcs[holder] = r.startEnv(holder+"-reclaimed", []string{"CRYPTO_MASTER_KEY=" + newKey}, p.cmd.Args[1:]...)
		r.waitHealthy(0, 2)
		p3 := r.party(env, "party", "sign", "--coordinator", r.coords[0], "--router", strings.Join(r.routers, ","),
			"--share", f, "--message", "after the claim ended", "--server-parties", holder)
		if res, err = p3.result(t); err != nil {
			t.Fatalf("sign after the party claimed its vault anew: %v", err)
		}
		verifyHex(t, res["public_key"].(string), res["digest"].(string), res["der"].(string))
	})
}

// newestServerHolder is a server party holding a share of the newest
// wallet.
func (r *replicas) newestServerHolder() string {
	r.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var id string
	err = conn.QueryRow(ctx, `SELECT h.party_id FROM wallet_holders h JOIN wallets w ON w.id = h.wallet_id
		WHERE h.kind = 'server' AND h.party_id LIKE 'replica-sp%' ORDER BY w.created_at DESC, h.position LIMIT 1`).Scan(&id)
	if err != nil {
		r.t.Fatalf("server holder: %v", err)
	}
	return id
}

// startEnv starts a process with extra environment (later entries win).
func (r *replicas) startEnv(name string, env []string, args ...string) *proc {
	saved := r.env
	r.env = append(append([]string(nil), r.env...), env...)
	defer func() { r.env = saved }()
	return r.start(name, args...)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

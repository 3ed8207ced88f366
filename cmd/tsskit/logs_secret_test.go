package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	golog "github.com/ipfs/go-log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// lsGRPCTap receives gRPC's own log (grpclog) while a capture is active and
// drops it otherwise. gRPC's logger can only be replaced before gRPC is
// used, so init installs it for the whole test binary: info and warnings go
// to the tap only, errors also to stderr — what the default logger prints.
var lsGRPCTap lsTap

type lsTap struct {
	to atomic.Pointer[quorumtest.LogBuffer]
}

func (t *lsTap) Write(p []byte) (int, error) {
	if b := t.to.Load(); b != nil {
		return b.Write(p)
	}
	return len(p), nil
}

func init() {
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(&lsGRPCTap, io.Discard, os.Stderr))
}

// lsCapture routes every logger of the process into buf until the returned
// function is called: the services' slog loggers (given buf by the caller),
// log/slog's default logger (where tss-lib's go-log lines go, at the level
// the party package sets for production), gRPC's grpclog and the standard
// library's log.
func lsCapture(t *testing.T, buf *quorumtest.LogBuffer) (stop func()) {
	prevOut, prevFlags, prevSlog := log.Writer(), log.Flags(), slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	lsGRPCTap.to.Store(buf)
	log.SetOutput(io.MultiWriter(prevOut, buf))

	// Each capture path works: a probe through each reaches buf.
	probe := "probe-" + lsRandHex(t, 8)
	golog.Logger("tsskit-logs-probe").Error("go-log " + probe)
	grpclog.Infof("grpclog %s", probe)
	log.Printf("stdlog %s", probe)
	var once sync.Once
	return func() {
		once.Do(func() {
			slog.SetDefault(prevSlog)
			log.SetOutput(prevOut)
			log.SetFlags(prevFlags)
			lsGRPCTap.to.Store(nil)
			for _, p := range []string{"go-log " + probe, "grpclog " + probe, "stdlog " + probe} {
				if !strings.Contains(buf.String(), p) {
					t.Errorf("capture misses a logger: %q not seen", p)
				}
			}
		})
	}
}

func lsRandHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// lsSecrets names every spelling of each secret to look for.
type lsSecrets map[string]string // spelling -> what it is

func (s lsSecrets) add(what, v string) {
	if len(v) >= 12 { // shorter strings would match by chance
		s[v] = what
	}
}

func (s lsSecrets) addBytes(what string, b []byte) {
	s.add(what+" (raw)", string(b))
	s.add(what+" (hex)", hex.EncodeToString(b))
	s.add(what+" (HEX)", strings.ToUpper(hex.EncodeToString(b)))
	s.add(what+" (base64)", base64.StdEncoding.EncodeToString(b))
	s.add(what+" (base64url)", base64.RawURLEncoding.EncodeToString(b))
}

func (s lsSecrets) addInt(what string, n *big.Int) {
	if n == nil {
		return
	}
	s.add(what+" (decimal)", n.String())
	s.add(what+" (hex)", n.Text(16))
	s.add(what+" (HEX)", strings.ToUpper(n.Text(16)))
	s.add(what+" (0x hex)", fmt.Sprintf("%#x", n))
	s.add(what+" (base64)", base64.StdEncoding.EncodeToString(n.Bytes()))
	if len(n.Bytes()) < 32 {
		s.add(what+" (padded hex)", fmt.Sprintf("%064x", n))
	}
}

// addPreParams adds the secret parts of pre-parameters: the Paillier
// private key and the safe primes behind NTilde (N, NTilde, h1, h2 are
// public: they are sent to the other parties).
func (s lsSecrets) addPreParams(what string, pp *keygen.LocalPreParams) {
	if pp == nil {
		return
	}
	if sk := pp.PaillierSK; sk != nil {
		s.addInt(what+" Paillier lambda", sk.LambdaN)
		s.addInt(what+" Paillier phi", sk.PhiN)
		s.addInt(what+" Paillier p", sk.P)
		s.addInt(what+" Paillier q", sk.Q)
	}
	s.addInt(what+" alpha", pp.Alpha)
	s.addInt(what+" beta", pp.Beta)
	s.addInt(what+" safe prime P", pp.P)
	s.addInt(what+" safe prime Q", pp.Q)
}

func (s lsSecrets) addRecord(what string, r *share.Record) {
	s.addInt(what+" xi", r.SaveData.Xi)
	s.addPreParams(what, &r.SaveData.LocalPreParams)
	if len(r.IdentitySeed) > 0 {
		s.addBytes(what+" device identity key", r.IdentitySeed)
	}
}

// TestLogsHoldNoSecrets runs an account keygen (with a backup password) and
// a signing over REST — behind a trusted proxy, with refused requests and
// gRPC calls on the side — in one process with every logger writing into
// one buffer, then looks in it for every secret of the run in every usual
// spelling: the API key and a wrong one, the coordinator's signing key, the master key,
// each party's secret share xi and pre-parameter secrets, the backup
// password, the user's share and every token. None may appear. It also
// checks that the audit records of the run are there.
func TestLogsHoldNoSecrets(t *testing.T) {
	buf := &quorumtest.LogBuffer{}
	stopCapture := lsCapture(t, buf)
	defer stopCapture()
	logger := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
	))

	wrongKey := "ls-wrong-key-" + lsRandHex(t, 16)
	password := "ls backup pw " + lsRandHex(t, 6)
	t.Setenv(envTrustedProxies, "127.0.0.1, ::1")
	t.Setenv(envRateLimit, "100/s,burst=100")
	proxies, limit, err := proxiesAndLimitFromEnv()
	if err != nil {
		t.Fatal(err)
	}

	// A whole stack on loopback (router, coordinator, three server parties
	// with fixture pre-params, the server-party API), every service logging
	// into buf; its secrets are the ones looked for below.
	q := quorumtest.Start(t, quorumtest.Options{Logger: logger})
	apiKey, signer, coordAddr := q.APIKey, q.Minter, q.CoordAddr
	coordSeed, mkHex := q.CoordinatorKey.Seed(), q.MasterKeyHex
	mk, err := vault.ParseMasterKey(mkHex)
	if err != nil {
		t.Fatal(err)
	}
	vaultDir := func(i int) string { return filepath.Join(q.DataDir, fmt.Sprintf("server-%d", i+1), "vault") }
	// The account API behind a (simulated) reverse proxy on loopback.
	api := httptest.NewServer(q.Coordinator.AccountAPI(coordinator.AccountConfig{
		APIKey: apiKey, Allow: mustAllowlist(t, "203.0.113.0/24"), TrustedProxies: proxies, RateLimit: limit,
		PartyAPIURL: q.PartyAPIURL,
	}))
	stopStack := func() { api.Close(); q.Stop() }
	defer stopStack()

	rest := func(method, path, key, body string) (int, map[string]any) {
		t.Helper()
		return quorumtest.CallAPI(t, api.URL, method, path, key, "203.0.113.10", body)
	}
	code, acct := rest("POST", "/api/v1/accounts", apiKey, `{"user_id":"ls-user","share_password":"`+password+`"}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, acct)
	}
	id := acct["account_id"].(string)
	userShare := acct["user_share"].(string)
	digest := hex.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	if code, sig := rest("POST", "/api/v1/accounts/"+id+"/sign", apiKey, `{"message":"`+digest+`"}`); code != 200 {
		t.Fatalf("sign: %d %v", code, sig)
	}
	// Refused requests carrying secrets: a wrong key, a body cut off after
	// a password.
	if code, _ := rest("POST", "/api/v1/accounts", wrongKey, `{"user_id":"ls-other","share_password":"`+password+`"}`); code != 401 {
		t.Fatalf("wrong key: %d", code)
	}
	if code, _ := rest("POST", "/api/v1/accounts", apiKey, `{"user_id":"ls-other","share_password":"`+password+`"`); code != 400 {
		t.Fatalf("cut-off body: %d", code)
	}
	// gRPC: an admin reads the wallet; a token under another secret and a
	// party token are refused.
	conn, err := serve.Dial(coordAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cs := tsskitv1.NewCoordinatorServiceClient(conn)
	ctx := context.Background()
	adminTok, err := signer.MintAdmin("ls-admin", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: id}, grpc.PerRPCCredentials(serve.Bearer(adminTok))); err != nil {
		t.Fatal(err)
	}
	forged, _ := quorumtest.ForeignMinter(t).MintAdmin("ls-admin", time.Minute)
	if _, err := cs.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: id}, grpc.PerRPCCredentials(serve.Bearer(forged))); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged token: %v", err)
	}
	partyTok, _ := signer.MintParty("ls-session", "ls-party", time.Minute)
	if _, err := cs.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: id, Digest: make([]byte, 32)}, grpc.PerRPCCredentials(serve.Bearer(partyTok))); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("party token: %v", err)
	}

	// Stop everything so shutdown logs are in too, then stop capturing.
	conn.Close()
	stopStack()
	stopCapture()
	logs := buf.String()

	// Every secret of the run, in every spelling.
	secrets := lsSecrets{}
	secrets.add("API key", apiKey)
	secrets.add("wrong API key", wrongKey)
	secrets.add("coordinator signing key (hex)", hex.EncodeToString(coordSeed))
	secrets.addBytes("coordinator signing key", coordSeed)
	secrets.add("master key", mkHex)
	secrets.add("master key (HEX)", strings.ToUpper(mkHex))
	secrets.add("backup password", password)
	secrets.add("user share", userShare)
	secrets.add("admin token", adminTok)
	secrets.add("forged token", forged)
	secrets.add("party token", partyTok)
	// Any token the coordinator mints (party and service tokens too)
	// starts with this header: its algorithm and certificate chain.
	secrets.add("a token's header", strings.SplitN(adminTok, ".", 2)[0])
	records := 0
	for i := range 3 {
		v, err := vault.Open(vaultDir(i), mk)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := v.ListShares()
		if err != nil {
			t.Fatal(err)
		}
		// The party's long-term identity key, in its vault.
		idKey, _, err := v.Identity(fmt.Sprintf("server-%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		secrets.addBytes(fmt.Sprintf("server-%d identity key", i+1), idKey.Seed())
		for _, ref := range refs {
			rec, err := v.GetShare(ref.WalletID, ref.PartyID)
			if err != nil {
				t.Fatal(err)
			}
			secrets.addRecord("share of "+ref.PartyID, rec)
			records++
		}
	}
	blob, err := base64.StdEncoding.DecodeString(userShare)
	if err != nil {
		t.Fatal(err)
	}
	userRec, err := share.Unprotect(blob, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	secrets.addRecord("user share", userRec)
	records++
	if len(userRec.IdentitySeed) != 32 || userRec.Own().Kind != identity.KindUser {
		t.Fatalf("the user share carries no device identity (holder %+v)", userRec.Own())
	}
	for i := range 4 {
		pp, err := testkit.PreParams(i)
		if err != nil {
			t.Fatal(err)
		}
		secrets.addPreParams(fmt.Sprintf("fixture pre-params %d", i), pp)
	}
	if records != 3 {
		t.Fatalf("%d share records found, want 3 (two server holders and the user)", records)
	}
	if len(logs) < 2000 || !strings.Contains(logs, "session created") {
		t.Fatalf("the capture looks empty (%d bytes)", len(logs))
	}
	for s, what := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s", what)
		}
	}
	t.Logf("%d bytes of logs, %d secret spellings checked", len(logs), len(secrets))

	// The audit records of the run are there, naming the key by its id.
	var audit []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["audit"] == true {
			audit = append(audit, m)
		}
	}
	want := []map[string]any{
		{"event": "keygen.requested", "via": "rest", "who": auth.KeyID(apiKey), "ip": "203.0.113.10", "user_id": "ls-user", "wallet_id": id},
		{"event": "sign.requested", "via": "rest", "who": auth.KeyID(apiKey), "ip": "203.0.113.10", "wallet_id": id, "digest": digest},
		{"event": "request.refused", "via": "rest", "who": auth.WhoInvalidKey, "ip": "203.0.113.10", "reason": "unauthorized"},
		{"event": "request.refused", "via": "rest", "who": auth.KeyID(apiKey), "reason": "invalid_json"},
		{"event": "request.refused", "via": "grpc", "who": "party:ls-party", "reason": "forbidden"},
	}
next:
	for _, w := range want {
		for _, m := range audit {
			match := true
			for k, v := range w {
				match = match && m[k] == v
			}
			if match {
				continue next
			}
		}
		t.Errorf("no audit record with %v", w)
	}
}

func mustAllowlist(t *testing.T, s string) *auth.Allowlist {
	t.Helper()
	a, err := auth.ParseAllowlist(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The configuration helpers the commands use for the REST guard (kept in
// this file with the test that uses them).

func TestTrustedProxiesFromEnv(t *testing.T) {
	for _, tt := range []struct {
		val     string
		trusted string // "" for none
		err     bool
	}{
		{val: "", trusted: ""},
		{val: "  ", trusted: ""},
		{val: "10.0.0.1, 192.168.0.0/16", trusted: "10.0.0.1, 192.168.0.0/16"},
		{val: "10.0.0.0/33", err: true},
		{val: "proxy.internal", err: true},
	} {
		t.Setenv(envTrustedProxies, tt.val)
		a, err := trustedProxiesFromEnv()
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), envTrustedProxies) {
				t.Fatalf("%q: %v, want an error naming %s", tt.val, err, envTrustedProxies)
			}
			if _, ok := err.(*configError); !ok {
				t.Fatalf("%q: %T is not a configError", tt.val, err)
			}
			continue
		}
		if err != nil || a.String() != tt.trusted || (tt.trusted == "") != (a == nil) {
			t.Fatalf("%q: %v, %v", tt.val, a, err)
		}
	}
}

func TestRateLimitFromEnv(t *testing.T) {
	for _, tt := range []struct {
		val  string
		want auth.RateLimit
		err  bool
	}{
		{val: "", want: auth.DefaultRateLimit},
		{val: "5/s,burst=20", want: auth.RateLimit{PerSecond: 5, Burst: 20}},
		{val: "120/m", want: auth.RateLimit{PerSecond: 2, Burst: 2}},
		{val: "0", want: auth.RateLimit{}},
		{val: "off", want: auth.RateLimit{}},
		{val: "fast", err: true},
		{val: "5/s,burst=0", err: true},
	} {
		t.Setenv(envRateLimit, tt.val)
		got, err := rateLimitFromEnv()
		if tt.err {
			if _, ok := err.(*configError); !ok || !strings.Contains(err.Error(), envRateLimit) {
				t.Fatalf("%q: %v, want a configError naming %s", tt.val, err, envRateLimit)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Fatalf("%q: %+v, %v; want %+v", tt.val, got, err, tt.want)
		}
	}
}

package coordinator_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

type apiClient struct {
	t      *testing.T
	base   string
	key    string
	client *http.Client
}

func (c *apiClient) do(method, path, key, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(key, "Bearer "):
		req.Header.Set("Authorization", key)
	case key != "":
		req.Header.Set("X-API-Key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	cl := c.client
	if cl == nil {
		cl = quorumtest.HTTPClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	if strings.Contains(string(raw), c.key) {
		c.t.Fatalf("%s %s: response contains the API key", method, path)
	}
	return resp.StatusCode, out
}

// verifySig checks an account API signature with decred's ECDSA, not
// through tsskit code.
func verifySig(t *testing.T, pubHex, digestHex string, sig map[string]any) {
	t.Helper()
	pub, err := hex.DecodeString(pubHex)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := hex.DecodeString(sig["der"].(string))
	parsed, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		t.Fatalf("der: %v", err)
	}
	digest, _ := hex.DecodeString(digestHex)
	if !parsed.Verify(digest, pk) {
		t.Fatal("signature does not verify")
	}
	rs := sig["signature"].(string)
	if rs != sig["r"].(string)+sig["s"].(string) || len(rs) != 128 {
		t.Fatalf("signature %q is not r||s", rs)
	}
	var s secp256k1.ModNScalar
	sb, _ := hex.DecodeString(sig["s"].(string))
	s.SetByteSlice(sb)
	if s.IsOverHalfOrder() {
		t.Fatal("s is not low")
	}
	if v := sig["v"].(float64); v != 0 && v != 1 {
		t.Fatalf("v = %v", v)
	}
	// v recovers the key: compact form is 27+v || r || s.
	compact := append([]byte{27 + byte(sig["v"].(float64))}, append(hexBytes(sig["r"].(string)), hexBytes(sig["s"].(string))...)...)
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil || !rec.IsEqual(pk) {
		t.Fatalf("v does not recover the key: %v", err)
	}
}

func hexBytes(s string) []byte { b, _ := hex.DecodeString(s); return b }

func digestOf(s string) string {
	var d [32]byte
	copy(d[:], s)
	return hex.EncodeToString(d[:])
}

// TestAccountAPI runs the seed contract end to end in one process: an
// account keygen whose user share comes back encrypted, REST signing, every
// two-party subset signing, and every error row leaving state unchanged.
func TestAccountAPI(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	ctx := context.Background()

	// /health says only "ok" to anyone, whatever key it carries; the
	// pool's party ids and counts are behind the guard at /api/v1/health.
	code, body := api.do("GET", "/health", "", "")
	if code != 200 || body["status"] != "ok" || len(body) != 1 {
		t.Fatalf("health without the key: %d %v", code, body)
	}
	raw, _ := json.Marshal(body)
	for _, p := range q.Parties {
		if strings.Contains(string(raw), p.ID()) {
			t.Fatalf("health without the key names party %s: %s", p.ID(), raw)
		}
	}
	if code, body := api.do("GET", "/health", q.APIKey, ""); code != 200 || len(body) != 1 {
		t.Fatalf("health with the key: %d %v", code, body)
	}
	if code, _ := api.do("GET", "/api/v1/health", "wrong-key-wrong-key", ""); code != 401 {
		t.Fatalf("health details with a wrong key: %d", code)
	}
	code, body = api.do("GET", "/api/v1/health", q.APIKey, "")
	if comps, _ := body["components"].(map[string]any); code != 200 || comps["pool"] == nil {
		t.Fatalf("health with the key: %d %v", code, body)
	}
	sp := &apiClient{t: t, base: q.PartyAPIURL, key: q.APIKey}
	// The party behind the API may still be registering: it says
	// "degraded" (503) until it is online.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body := sp.do("GET", "/health", "", "")
		if code == 200 && len(body) == 1 {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("server-party API health without the key: %d %v", code, body)
		}
	}
	// The server-party API takes no API key: an operator reads its
	// details with an admin token.
	if code, body := sp.do("GET", "/api/v1/health", q.APIKey, ""); code != 401 {
		t.Fatalf("server-party API health with the account API's key: %d %v", code, body)
	}
	admin, err := q.Minter.MintAdmin("ops", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := sp.do("GET", "/api/v1/health", "Bearer "+admin, ""); code != 200 || body["components"] == nil {
		t.Fatalf("server-party API health with an admin token: %d %v", code, body)
	}

	code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"alice","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, acct)
	}
	id := acct["account_id"].(string)
	pubHex := acct["public_key"].(string)
	if len(pubHex) != 66 || acct["threshold"].(float64) != 2 || acct["parties"].(float64) != 3 || acct["user_id"] != "alice" {
		t.Fatalf("account: %v", acct)
	}
	if want := share.Address(hexBytes(pubHex)); acct["address"] != want || len(want) != 42 {
		t.Fatalf("address %v, want %s", acct["address"], want)
	}
	blob, err := base64.StdEncoding.DecodeString(acct["user_share"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := share.Unprotect(blob, []byte("wrong password")); err == nil {
		t.Fatal("user share opened with a wrong password")
	}
	userRec, err := share.Unprotect(blob, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if userRec.WalletID != id || userRec.PublicKeyHex() != pubHex || !strings.HasPrefix(userRec.PartyID, "user-") {
		t.Fatalf("user share: wallet %s party %s", userRec.WalletID, userRec.PartyID)
	}
	// No server party keeps the user's share, and the party that ran the
	// user's party (server-1, which serves the server-party API) holds no
	// other share of the account.
	for _, p := range q.Parties {
		if p.ID() == userRec.PartyID {
			t.Fatal("user party is a server party")
		}
	}
	for _, h := range userRec.Parties {
		if h == "server-1" {
			t.Fatalf("the server-party API's own party holds a share of the account: %v", userRec.Parties)
		}
	}

	// The wallet's holders: two server parties and the user.
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	w, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: id}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, h := range w.Wallet.Holders {
		if h.Kind == tsskitv1.HolderKind_HOLDER_KIND_SERVER {
			servers = append(servers, h.PartyId)
		}
	}
	if len(servers) != 2 || len(w.Wallet.Holders) != 3 {
		t.Fatalf("holders %v", w.Wallet.Holders)
	}

	// {server, server}: the account API.
	d := digestOf("pay bob 1")
	code, sig := api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, `{"message":"`+d+`"}`)
	if code != 200 {
		t.Fatalf("sign: %d %v", code, sig)
	}
	verifySig(t, pubHex, d, sig)

	// {user, server A} and {user, server B}: the user's share in a client party.
	conn := q.Conn(t)
	for i, srv := range servers {
		dg := hexBytes(digestOf(fmt.Sprintf("subset %d", i)))
		resp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{
			WalletId: id, Digest: dg, ClientPartyIds: []string{userRec.PartyID}, ServerPartyIds: []string{srv},
		}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		s, err := participant.Sign(ctx, conn, q.SignJob(t, resp, userRec, dg), userRec)
		if err != nil {
			t.Fatalf("sign with %s: %v", srv, err)
		}
		verifySig(t, pubHex, hex.EncodeToString(dg), map[string]any{
			"r": s.RHex(), "s": s.SHex(), "v": float64(s.V), "signature": s.SignatureHex(), "der": hex.EncodeToString(s.DER),
		})
	}

	code, got := api.do("GET", "/api/v1/accounts/"+id, q.APIKey, "")
	if code != 200 || got["public_key"] != pubHex || got["user_share"] != nil {
		t.Fatalf("get: %d %v", code, got)
	}

	// Error rows: each returns its code and changes nothing.
	before := walletCount(t, q)
	cases := []struct {
		name, method, path, key, body string
		status                        int
		code                          string
	}{
		{"no key", "POST", "/api/v1/accounts", "", `{"user_id":"bob"}`, 401, "unauthorized"},
		{"bad key", "POST", "/api/v1/accounts", "not-the-key-at-all", `{"user_id":"bob"}`, 401, "unauthorized"},
		{"bad json", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":`, 400, "invalid_json"},
		{"wrong type", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":7}`, 400, "invalid_json"},
		{"no user", "POST", "/api/v1/accounts", q.APIKey, `{}`, 400, "invalid_argument"},
		{"existing user", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":"alice","share_password":"` + testPassword + `"}`, 409, "conflict"},
		{"no password", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":"bob"}`, 400, "invalid_argument"},
		{"weak password", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":"bob","share_password":"hunter2 hunter2"}`, 400, "weak_password"},
		{"short password", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":"bob","share_password":"pw"}`, 400, "weak_password"},
		{"sign bad json", "POST", "/api/v1/accounts/" + id + "/sign", q.APIKey, `[`, 400, "invalid_json"},
		{"sign bad hex", "POST", "/api/v1/accounts/" + id + "/sign", q.APIKey, `{"message":"zz"}`, 400, "invalid_argument"},
		{"sign short digest", "POST", "/api/v1/accounts/" + id + "/sign", q.APIKey, `{"message":"` + d[:62] + `"}`, 400, "invalid_argument"},
		{"sign long digest", "POST", "/api/v1/accounts/" + id + "/sign", q.APIKey, `{"message":"` + d + `00"}`, 400, "invalid_argument"},
		{"sign unknown account", "POST", "/api/v1/accounts/00000000-0000-4000-8000-000000000000/sign", q.APIKey, `{"message":"` + d + `"}`, 404, "not_found"},
		{"get unknown account", "GET", "/api/v1/accounts/nope", q.APIKey, ``, 404, "not_found"},
		{"oversized body", "POST", "/api/v1/accounts", q.APIKey, `{"user_id":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large"},
		{"no such endpoint", "GET", "/api/v1/nothing", q.APIKey, ``, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
			code, body := api.do(c.method, c.path, c.key, c.body)
			e, _ := body["error"].(map[string]any)
			if code != c.status || e == nil || e["code"] != c.code || e["message"] == "" {
				t.Fatalf("got %d %v, want %d %s", code, body, c.status, c.code)
			}
		})
	}
	if after := walletCount(t, q); after != before {
		t.Fatalf("wallets %d -> %d after refused requests", before, after)
	}
}

func walletCount(t *testing.T, q *quorumtest.Quorum) int {
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	resp, err := coord.ListWallets(context.Background(), &tsskitv1.ListWalletsRequest{PageSize: 1000}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Wallets)
}

// TestAccountAPIAllowlist: a caller outside ALLOWED_IPS gets 403 whatever
// its key; /health stays open.
func TestAccountAPIAllowlist(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{AllowedIPs: "127.0.0.1", ServerParties: 2})
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: time.Minute}
	}
	other := &apiClient{t: t, base: q.APIURL, key: q.APIKey, client: from("127.0.0.2")}
	code, body := other.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"mallory"}`)
	if code != 403 || body["error"].(map[string]any)["code"] != "forbidden_ip" {
		t.Fatalf("outside the allowlist: %d %v", code, body)
	}
	if code, _ := other.do("GET", "/health", "", ""); code != 200 {
		t.Fatalf("health from outside: %d", code)
	}
	local := &apiClient{t: t, base: q.APIURL, key: q.APIKey, client: from("127.0.0.1")}
	if code, body := local.do("GET", "/api/v1/accounts/nope", q.APIKey, ""); code != 404 {
		t.Fatalf("inside the allowlist: %d %v", code, body)
	}
	// The server-party API has the same allowlist; it takes the
	// coordinator's token for the session's user party, not the API key.
	tok, err := q.Minter.MintParty("no-such-session", "user-x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sp := &apiClient{t: t, base: q.PartyAPIURL, key: q.APIKey, client: from("127.0.0.2")}
	if code, _ := sp.do("POST", "/api/v1/shares/generate", "Bearer "+tok, `{"session_id":"x"}`); code != 403 {
		t.Fatalf("server-party API outside the allowlist: %d", code)
	}
	sp.client = from("127.0.0.1")
	if code, _ := sp.do("POST", "/api/v1/shares/generate", q.APIKey, `{"session_id":"x"}`); code != 401 {
		t.Fatalf("server-party API with the account API's key: %d", code)
	}
	if code, _ := sp.do("POST", "/api/v1/shares/generate", "Bearer not-a-token", `{"session_id":"x"}`); code != 401 {
		t.Fatalf("server-party API with a bad token: %d", code)
	}
	if code, body := sp.do("POST", "/api/v1/shares/generate", "Bearer "+tok, `{"session_id":"another-session","share_password":"`+testPassword+`"}`); code != 403 {
		t.Fatalf("server-party API, a token for another session: %d %v", code, body)
	}
	if code, body := sp.do("POST", "/api/v1/shares/generate", "Bearer "+tok, `{"session_id":"no-such-session","share_password":"`+testPassword+`"}`); code != 404 {
		t.Fatalf("server-party API, unknown session: %d %v", code, body)
	}
}

// TestAccountAPIDeadline: a keygen that cannot finish in the request's time
// answers 504, and the session fails so no half-made account remains.
func TestAccountAPIDeadline(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{APITimeout: 300 * time.Millisecond})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, body := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"carol","share_password":"`+testPassword+`"}`)
	if code != 504 || body["error"].(map[string]any)["code"] != "deadline_exceeded" {
		t.Fatalf("%d %v", code, body)
	}
	time.Sleep(time.Second)
	if n := walletCount(t, q); n != 0 {
		t.Fatalf("%d wallets after a timed-out keygen", n)
	}
}

// testPassword meets the password rule (internal/pwrule).
const testPassword = "violet orbit 7 canyon"

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// loggedQuorum is a quorum whose services all log JSON into one buffer.
type loggedQuorum struct {
	*quorumtest.Quorum
	log *quorumtest.LogBuffer
}

func startLoggedQuorum(t *testing.T) *loggedQuorum {
	t.Helper()
	buf := &quorumtest.LogBuffer{}
	q := quorumtest.Start(t, quorumtest.Options{Logger: slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return &loggedQuorum{Quorum: q, log: buf}
}

// auditRecords returns the audit records of a JSON log.
func auditRecords(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["audit"] == true {
			if m["msg"] != "audit" {
				t.Fatalf("audit record with message %v", m["msg"])
			}
			out = append(out, m)
		}
	}
	return out
}

// findAudit returns the one audit record of event whose fields include
// want; it fails if there is not exactly one.
func findAudit(t *testing.T, recs []map[string]any, event string, want map[string]any) map[string]any {
	t.Helper()
	var hits []map[string]any
next:
	for _, r := range recs {
		if r["event"] != event {
			continue
		}
		for k, v := range want {
			if r[k] != v {
				continue next
			}
		}
		hits = append(hits, r)
	}
	if len(hits) != 1 {
		t.Fatalf("%d %s records with %v; audit records:\n%v", len(hits), event, want, recs)
	}
	return hits[0]
}

// TestAccountAPIAudit: REST behind a trusted proxy and gRPC write one audit
// record per created session and per refused request, with who asked from
// where, and no key, token, password or body in any record.
func TestAccountAPIAudit(t *testing.T) {
	q := startLoggedQuorum(t)
	allow, _ := auth.ParseAllowlist("203.0.113.0/24")
	proxies, _ := auth.ParseAllowlist("127.0.0.1")
	api := httptest.NewServer(q.Coordinator.AccountAPI(coordinator.AccountConfig{
		APIKey: q.APIKey, Allow: allow, TrustedProxies: proxies, PartyAPIURL: q.PartyAPIURL,
	}))
	defer api.Close()
	call := func(method, path, key, xff, body string) (int, map[string]any) {
		t.Helper()
		return quorumtest.CallAPI(t, api.URL, method, path, key, xff, body)
	}
	const password = "audit pw 7f3e9 quartz"
	keyID := auth.KeyID(q.APIKey)

	code, acct := call("POST", "/api/v1/accounts", q.APIKey, "198.51.100.9, 203.0.113.7", `{"user_id":"audit-user","share_password":"`+password+`"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, acct)
	}
	id := acct["account_id"].(string)
	d := digestOf("audit sign")
	if code, sig := call("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, "203.0.113.8", `{"message":"0x`+d+`"}`); code != 200 {
		t.Fatalf("sign: %d %v", code, sig)
	}

	// Refusals.
	const wrongKey = "wrong-key-0123456789abcdef"
	refusals := []struct {
		name, method, path, key, xff, body string
		status                             int
		code                               string
		who, ip                            string
	}{
		{"the proxy itself is not allowed", "GET", "/api/v1/accounts/" + id, q.APIKey, "", "", 403, "forbidden_ip", keyID, "127.0.0.1"},
		{"malformed header from the proxy", "GET", "/api/v1/accounts/" + id, q.APIKey, "203.0.113.7:443", "", 400, "bad_forwarded_for", keyID, "127.0.0.1"},
		{"wrong key", "POST", "/api/v1/accounts", wrongKey, "203.0.113.20", `{"user_id":"mallory"}`, 401, "unauthorized", auth.WhoInvalidKey, "203.0.113.20"},
		{"no key", "POST", "/api/v1/accounts", "", "203.0.113.21", `{"user_id":"mallory"}`, 401, "unauthorized", auth.WhoAnonymous, "203.0.113.21"},
		{"bad json", "POST", "/api/v1/accounts", q.APIKey, "203.0.113.22", `{"user_id":"secret-in-body`, 400, "invalid_json", keyID, "203.0.113.22"},
		{"existing user", "POST", "/api/v1/accounts", q.APIKey, "203.0.113.23", `{"user_id":"audit-user","share_password":"other pw 123 ok"}`, 409, "conflict", keyID, "203.0.113.23"},
		{"bad digest", "POST", "/api/v1/accounts/" + id + "/sign", q.APIKey, "203.0.113.24", `{"message":"zz-secret-in-body"}`, 400, "invalid_argument", keyID, "203.0.113.24"},
		{"unknown account", "POST", "/api/v1/accounts/nope/sign", q.APIKey, "203.0.113.25", `{"message":"` + d + `"}`, 404, "not_found", keyID, "203.0.113.25"},
	}
	for _, r := range refusals {
		code, body := call(r.method, r.path, r.key, r.xff, r.body)
		e, _ := body["error"].(map[string]any)
		if code != r.status || e == nil || e["code"] != r.code {
			t.Fatalf("%s: %d %v, want %d %s", r.name, code, body, r.status, r.code)
		}
	}

	// gRPC: a party token may not create sessions; an admin signs with the
	// account's two server holders.
	conn, err := serve.Dial(q.CoordAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	coord := tsskitv1.NewCoordinatorServiceClient(conn)
	partyTok, _ := q.Minter.MintParty("some-session", "server-9", time.Minute)
	_, err = coord.CreateKeygenSession(context.Background(), &tsskitv1.CreateKeygenSessionRequest{Name: "x", SignersNeeded: 2, Parties: 3},
		grpc.PerRPCCredentials(serve.Bearer(partyTok)))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("keygen with a party token: %v", err)
	}
	adminTok, _ := q.Minter.MintAdmin("audit-admin", time.Minute)
	admin := grpc.PerRPCCredentials(serve.Bearer(adminTok))
	gd := hexBytes(digestOf("audit grpc"))
	sresp, err := coord.CreateSignSession(context.Background(), &tsskitv1.CreateSignSessionRequest{WalletId: id, Digest: gd}, admin)
	if err != nil {
		t.Fatal(err)
	}
	watch, err := coord.WatchSession(context.Background(), &tsskitv1.WatchSessionRequest{SessionId: sresp.SessionId}, admin)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.GetCompleted() != nil {
			break
		}
		if f := ev.GetFailed(); f != nil {
			t.Fatalf("grpc sign failed: %v", f)
		}
	}
	if _, err := coord.CreateSignSession(context.Background(), &tsskitv1.CreateSignSessionRequest{WalletId: id, Digest: gd[:5]}, admin); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("short digest: %v", err)
	}

	log := q.log.String()
	recs := auditRecords(t, log)
	kg := findAudit(t, recs, "keygen.requested", map[string]any{"via": "rest"})
	for k, v := range map[string]any{"who": keyID, "ip": "203.0.113.7", "peer": "127.0.0.1", "user_id": "audit-user",
		"wallet_id": id, "parties": float64(3), "signers": float64(2), "level": "INFO"} {
		if kg[k] != v {
			t.Fatalf("keygen.requested %s = %v, want %v: %v", k, kg[k], v, kg)
		}
	}
	if s, _ := kg["session_id"].(string); len(s) != 36 {
		t.Fatalf("keygen.requested without a session id: %v", kg)
	}
	sg := findAudit(t, recs, "sign.requested", map[string]any{"via": "rest"})
	for k, v := range map[string]any{"who": keyID, "ip": "203.0.113.8", "user_id": "audit-user", "wallet_id": id, "digest": d} {
		if sg[k] != v {
			t.Fatalf("sign.requested %s = %v, want %v: %v", k, sg[k], v, sg)
		}
	}
	gs := findAudit(t, recs, "sign.requested", map[string]any{"via": "grpc"})
	for k, v := range map[string]any{"who": "admin:audit-admin", "ip": "127.0.0.1", "user_id": "audit-user", "wallet_id": id,
		"session_id": sresp.SessionId, "digest": hex.EncodeToString(gd)} {
		if gs[k] != v {
			t.Fatalf("grpc sign.requested %s = %v, want %v: %v", k, gs[k], v, gs)
		}
	}
	for _, r := range refusals {
		findAudit(t, recs, "request.refused", map[string]any{"via": "rest", "reason": r.code, "who": r.who, "ip": r.ip, "status": float64(r.status)})
	}
	findAudit(t, recs, "request.refused", map[string]any{"via": "grpc", "op": "keygen", "who": "party:server-9", "reason": "forbidden", "grpc_code": "PermissionDenied"})
	findAudit(t, recs, "request.refused", map[string]any{"via": "grpc", "op": "sign", "who": "admin:audit-admin", "reason": "invalid_argument"})

	for _, secret := range []string{q.APIKey, wrongKey, password, "other pw 123 ok", adminTok, partyTok, "secret-in-body", acct["user_share"].(string)} {
		if strings.Contains(log, secret) {
			t.Fatalf("the log contains a secret or request body content (%.6s…)", secret)
		}
	}
	if strings.Contains(log, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9") {
		t.Fatal("the log contains a token")
	}
}

// TestAccountAPIRateLimit: over the limit the account API answers 429 with
// Retry-After and a JSON error, and writes an audit record.
func TestAccountAPIRateLimit(t *testing.T) {
	q := startLoggedQuorum(t)
	api := httptest.NewServer(q.Coordinator.AccountAPI(coordinator.AccountConfig{
		APIKey: q.APIKey, RateLimit: &auth.RateLimit{PerSecond: 0.5, Burst: 2}, PartyAPIURL: q.PartyAPIURL,
	}))
	defer api.Close()
	get := func(path string) *http.Response {
		req, _ := http.NewRequest("GET", api.URL+path, nil)
		req.Header.Set("X-API-Key", q.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := range 2 {
		resp := get("/api/v1/accounts/nope")
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := get("/api/v1/accounts/nope")
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 429 || body.Error.Code != "rate_limited" || body.Error.Message == "" {
		t.Fatalf("over the limit: %d %+v", resp.StatusCode, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if resp := get("/health"); resp.StatusCode != 200 {
		t.Fatalf("health limited: %d", resp.StatusCode)
	}
	findAudit(t, auditRecords(t, q.log.String()), "request.refused", map[string]any{"reason": "rate_limited", "status": float64(429),
		"who": auth.KeyID(q.APIKey), "ip": "127.0.0.1", "op": "get_account"})

	// A zero RateLimit does not limit.
	off := httptest.NewServer(q.Coordinator.AccountAPI(coordinator.AccountConfig{APIKey: q.APIKey, RateLimit: &auth.RateLimit{}}))
	defer off.Close()
	for i := range 50 {
		req, _ := http.NewRequest("GET", off.URL+"/api/v1/accounts/nope", nil)
		req.Header.Set("X-API-Key", q.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("unlimited API, request %d: %d", i+1, resp.StatusCode)
		}
	}
}

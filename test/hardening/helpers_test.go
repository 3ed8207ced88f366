package hardening_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// statusProblem says how err differs from a gRPC status with code and a
// message mentioning msgPart ("" if it does not): a caller must learn why,
// not only that.
func statusProblem(err error, code codes.Code, msgPart string) string {
	st, ok := status.FromError(err)
	switch {
	case !ok || st.Code() != code:
		return fmt.Sprintf("got %v, want %v", err, code)
	case st.Message() == "" || (msgPart != "" && !strings.Contains(st.Message(), msgPart)):
		return fmt.Sprintf("got %v: the message should mention %q", err, msgPart)
	}
	return ""
}

// wantStatus is statusProblem for the test goroutine.
func wantStatus(t *testing.T, err error, code codes.Code, msgPart string) {
	t.Helper()
	if p := statusProblem(err, code, msgPart); p != "" {
		t.Fatal(p)
	}
}

// rest calls a REST API the way an integrator does.
type rest struct {
	base   string
	key    string // the real key, which no response may quote
	client *http.Client
}

var clients sync.Map // ip -> *http.Client

// from returns an HTTP client whose connections come from local address ip
// (any 127/8 address works on loopback), for allowlist tests.
func from(ip string) *http.Client {
	if c, ok := clients.Load(ip); ok {
		return c.(*http.Client)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, _ := clients.LoadOrStore(ip, &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 5 * time.Minute})
	return c.(*http.Client)
}

type restReply struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

// errCode is the JSON error code of a reply ("" if it has none).
func (r restReply) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r restReply) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// do sends one request. headers are extra header lines ("Name: value");
// the API key is sent only if key is not empty.
func (c *rest) do(t *testing.T, method, path, key, body string, headers ...string) restReply {
	t.Helper()
	cl := c.client
	if cl == nil {
		cl = from("127.0.0.1")
	}
	resp, raw, err := send(cl, func() (*http.Request, error) {
		req, err := newJSONRequest(method, c.base+path, body, key)
		if err != nil {
			return nil, err
		}
		for _, h := range headers {
			name, v, _ := strings.Cut(h, ":")
			req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(v))
		}
		return req, nil
	})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	out := restReply{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		t.Fatalf("%s %s: status %d, body is not a JSON object: %q", method, path, resp.StatusCode, raw)
	}
	if c.key != "" && strings.Contains(string(raw), c.key) {
		t.Fatalf("%s %s: the response quotes the API key", method, path)
	}
	return out
}

// wantError checks a REST error reply: status, JSON error code and a
// message.
func wantError(t *testing.T, r restReply, status int, code string) {
	t.Helper()
	if r.status != status || r.errCode() != code || r.errMessage() == "" {
		t.Fatalf("got %d %s, want %d {error:{code:%q, message:…}}", r.status, r.raw, status, code)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error reply has Content-Type %q", ct)
	}
}

func walletCount(t *testing.T, q *quorumtest.Quorum) int {
	t.Helper()
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	resp, err := coord.ListWallets(context.Background(), &tsskitv1.ListWalletsRequest{PageSize: 1000}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Wallets)
}

// runningSessions is the coordinator's count of live sessions, from its
// /health on the account API port.
func runningSessions(t *testing.T, q *quorumtest.Quorum) int {
	t.Helper()
	h := (&rest{base: q.APIURL}).do(t, "GET", "/api/v1/health", q.APIKey, "")
	comps, _ := h.body["components"].(map[string]any)
	sess, _ := comps["sessions"].(map[string]any)
	n, ok := sess["running"].(float64)
	if h.status != 200 || !ok {
		t.Fatalf("health: %d %s", h.status, h.raw)
	}
	return int(n)
}

// waitIdle waits until no session is live and no server party runs one:
// what a refused or failed request leaves behind must drain.
func waitIdle(t *testing.T, q *quorumtest.Quorum) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		busy := runningSessions(t, q)
		for _, p := range q.Parties {
			busy += p.Running()
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d sessions running", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// routerBytes is what the router's bus holds, from its /health.
func routerBytes(t *testing.T, q *quorumtest.Quorum) float64 {
	t.Helper()
	tok, err := q.Minter.MintAdmin("health", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h := (&rest{base: "http://" + q.RouterAddr}).do(t, "GET", "/health", "", "", "Authorization: Bearer "+tok)
	comps, _ := h.body["components"].(map[string]any)
	b, ok := comps["bytes"].(float64)
	if h.status != 200 || !ok {
		t.Fatalf("router health: %d %s", h.status, h.raw)
	}
	return b
}

// shareFiles lists the share files in server party i's vault.
func shareFiles(t *testing.T, q *quorumtest.Quorum, party string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(q.DataDir, party)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Base(filepath.Dir(path)) == "shares" && strings.HasSuffix(path, ".json") {
			// The party's identity key is a record of its own there.
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), `"wallet_id":"`+vault.IdentityWalletID+`"`) {
				return nil
			}
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// checkDER checks a signature with decred's ECDSA, not through tsskit.
func checkDER(pub, dg, der []byte) error {
	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		return err
	}
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return err
	}
	if !sig.Verify(dg, pk) {
		return errors.New("signature does not verify")
	}
	return nil
}

func verifyDER(t *testing.T, pub, dg, der []byte) {
	t.Helper()
	if err := checkDER(pub, dg, der); err != nil {
		t.Fatal(err)
	}
}

// send sends the request mk makes and reads the reply. A 429 from the
// APIs' rate limiter is not what these tests are about: it waits as
// Retry-After says and sends again.
func send(cl *http.Client, mk func() (*http.Request, error)) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := mk()
		if err != nil {
			return nil, nil, err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return nil, nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode != http.StatusTooManyRequests || attempt == 50 {
			return resp, raw, nil
		}
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(min(max(time.Duration(wait)*time.Second, 100*time.Millisecond), 2*time.Second))
	}
}

func newJSONRequest(method, url, body, key string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	return req, nil
}

func hexb(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bearer is a call option carrying a token as it is.
func bearer(tok string) grpc.CallOption { return grpc.PerRPCCredentials(serve.Bearer(tok)) }

// rawCodec sends and receives bytes as they are, so a test can put any
// bytes on the wire where a protobuf message belongs.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

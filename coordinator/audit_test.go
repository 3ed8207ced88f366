package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
)

// records parses JSON log lines.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func loggedCoordinator(buf *bytes.Buffer) *Coordinator {
	return &Coordinator{log: slog.New(slog.NewJSONHandler(buf, nil))}
}

// wantFields checks that rec has exactly the given string fields (and
// audit=true, msg "audit").
func wantFields(t *testing.T, rec map[string]any, want map[string]any) {
	t.Helper()
	if rec["msg"] != "audit" || rec["audit"] != true || rec["level"] != "INFO" {
		t.Fatalf("not an audit record: %v", rec)
	}
	for k, v := range want {
		if rec[k] != v {
			t.Fatalf("%s = %v (%T), want %v in %v", k, rec[k], rec[k], v, rec)
		}
	}
}

func TestAuditRecord(t *testing.T) {
	var buf bytes.Buffer
	c := loggedCoordinator(&buf)
	c.audit(context.Background(), "test.event", slog.String("session_id", "s1"), slog.Int("n", 3))
	recs := records(t, &buf)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	wantFields(t, recs[0], map[string]any{"event": "test.event", "session_id": "s1", "n": float64(3)})

	// A coordinator without a logger (never made by New) writes nothing
	// and does not panic.
	(&Coordinator{}).audit(context.Background(), "x")
	var nilC *Coordinator
	nilC.audit(context.Background(), "x")
}

func TestAuditFinish(t *testing.T) {
	var buf bytes.Buffer
	c := loggedCoordinator(&buf)
	c.auditFinish("sess-1", store.SessionKeygen, "wallet-1", "alice", store.StateCompleted, "")
	c.auditFinish("sess-2", store.SessionSign, "wallet-1", "", store.StateFailed, "timed out waiting for [server-2] to join")
	c.auditFinish("sess-3", store.SessionSign, "wallet-1", "", store.StateFailed, strings.Repeat("é", 400))
	recs := records(t, &buf)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	wantFields(t, recs[0], map[string]any{"event": "session.finished", "session_id": "sess-1", "kind": "keygen",
		"wallet_id": "wallet-1", "user_id": "alice", "state": "completed"})
	if _, ok := recs[0]["reason"]; ok {
		t.Fatalf("reason on a completed session: %v", recs[0])
	}
	wantFields(t, recs[1], map[string]any{"event": "session.finished", "session_id": "sess-2", "kind": "sign",
		"state": "failed", "reason": "timed out waiting for [server-2] to join", "user_id": ""})
	r := recs[2]["reason"].(string)
	if len(r) > maxAuditText+len("…") || !strings.HasSuffix(r, "…") || !strings.HasPrefix(r, "éé") {
		t.Fatalf("long reason not clipped on a rune boundary: %d bytes %q", len(r), r[:10])
	}
}

func TestRESTRefusalRecord(t *testing.T) {
	r := httptest.NewRequest("POST", "/api/v1/accounts/w-1/sign?api_key=leaked-in-query", strings.NewReader(`{"message":"secret body"}`))
	c := auth.Caller{IP: netip.MustParseAddr("203.0.113.7"), Peer: netip.MustParseAddr("10.0.0.1"), Who: auth.WhoInvalidKey}
	var buf bytes.Buffer
	lc := loggedCoordinator(&buf)
	lc.audit(r.Context(), auditRefused, restRefusal(r, c, 401, "unauthorized", 4)...)
	recs := records(t, &buf)
	wantFields(t, recs[0], map[string]any{"event": "request.refused", "via": "rest", "who": "api-key:invalid",
		"ip": "203.0.113.7", "peer": "10.0.0.1", "op": "sign", "method": "POST", "path": "/api/v1/accounts/w-1/sign",
		"status": float64(401), "reason": "unauthorized", "suppressed": float64(4)})
	if s := buf.String(); strings.Contains(s, "leaked-in-query") || strings.Contains(s, "secret body") {
		t.Fatalf("record carries the query or the body: %s", s)
	}

	// Direct client: no peer attribute; unknown address spelled out.
	buf.Reset()
	lc.audit(r.Context(), auditRefused, restRefusal(httptest.NewRequest("GET", "/api/v1/accounts/x", nil), auth.Caller{}, 403, "forbidden_ip", 0)...)
	recs = records(t, &buf)
	wantFields(t, recs[0], map[string]any{"who": "anonymous", "ip": "unknown", "op": "get_account"})
	for _, k := range []string{"peer", "suppressed"} {
		if _, ok := recs[0][k]; ok {
			t.Fatalf("%s set: %v", k, recs[0])
		}
	}
	for _, tt := range []struct{ method, path, op string }{
		{"POST", "/api/v1/accounts", "keygen"},
		{"POST", "/api/v1/accounts/abc/sign", "sign"},
		{"GET", "/api/v1/accounts/abc", "get_account"},
		{"GET", "/api/v1/accounts", "other"},
		{"DELETE", "/api/v1/accounts/abc", "other"},
		{"GET", "/nope", "other"},
	} {
		if got := restOp(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.op {
			t.Errorf("%s %s: op %q, want %q", tt.method, tt.path, got, tt.op)
		}
	}
}

func TestGRPCRefusalRecord(t *testing.T) {
	var buf bytes.Buffer
	c := loggedCoordinator(&buf)
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: tcpAddr("[::ffff:192.0.2.4]:5555")})
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.secret.token"))
	ctx = auth.NewContext(ctx, &auth.Claims{Kind: auth.KindParty, Subject: "server-1", Session: "s"})
	c.auditGRPCRefused(ctx, "keygen", status.Error(codes.PermissionDenied, "this call takes an admin token: user bob"))
	c.auditGRPCRefused(context.Background(), "sign", status.Error(codes.InvalidArgument, "digest must be 32 bytes"))
	recs := records(t, &buf)
	wantFields(t, recs[0], map[string]any{"event": "request.refused", "via": "grpc", "who": "party:server-1", "ip": "192.0.2.4",
		"op": "keygen", "grpc_code": "PermissionDenied", "reason": "forbidden"})
	wantFields(t, recs[1], map[string]any{"who": "anonymous", "ip": "unknown", "op": "sign", "reason": "invalid_argument"})
	if s := buf.String(); strings.Contains(s, "secret.token") || strings.Contains(s, "user bob") || strings.Contains(s, "32 bytes") {
		t.Fatalf("record carries a token or an error message: %s", s)
	}
}

type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// TestRefusalLogThinning: a flood of refusals from one address is thinned to
// a burst and then one a second, and the next record says how many were
// left out; other addresses and reasons are counted apart.
func TestRefusalLogThinning(t *testing.T) {
	l := newRefusalLog()
	ip := netip.MustParseAddr("192.0.2.1")
	written := 0
	for range 100 {
		if ok, _ := l.take(ip, "forbidden_ip"); ok {
			written++
		}
	}
	if written < 10 || written > 11 {
		t.Fatalf("%d of 100 refusals written, want about the burst of 10", written)
	}
	ok, suppressed := l.take(netip.MustParseAddr("192.0.2.2"), "forbidden_ip")
	if !ok || suppressed < 89 {
		t.Fatalf("other address: %v, suppressed %d", ok, suppressed)
	}
	if ok, s := l.take(ip, "unauthorized"); !ok || s != 0 {
		t.Fatalf("other reason: %v, suppressed %d", ok, s)
	}
}

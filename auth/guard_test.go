package auth_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
)

const apiKey = "k3y-0f-the-rest-api-9f8e7d6c5b4a"

func writeJSONErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}

func TestGuard(t *testing.T) {
	allow, err := auth.ParseAllowlist("10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	g := auth.Guard(apiKey, allow, []string{"/health", "/ready"}, writeJSONErr, inner)
	gAll := auth.Guard(apiKey, nil, nil, writeJSONErr, inner)

	tests := []struct {
		name    string
		h       http.Handler
		remote  string
		path    string
		headers map[string][]string
		status  int
		code    string
	}{
		{"allowed ip, good key", g, "10.1.2.3:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey}}, 200, ""},
		{"allowed v6 ip, good key", g, "[::1]:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey}}, 200, ""},
		{"allowed mapped ip, good key", g, "[::ffff:10.0.0.5]:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey}}, 200, ""},
		{"allowed ip, bad key", g, "10.1.2.3:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey + "x"}}, 401, "unauthorized"},
		{"allowed ip, key prefix", g, "10.1.2.3:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey[:10]}}, 401, "unauthorized"},
		{"allowed ip, empty key", g, "10.1.2.3:5555", "/v1/wallets", map[string][]string{"X-API-Key": {""}}, 401, "unauthorized"},
		{"allowed ip, missing key", g, "10.1.2.3:5555", "/v1/wallets", nil, 401, "unauthorized"},
		{"allowed ip, two keys", g, "10.1.2.3:5555", "/v1/wallets", map[string][]string{"X-API-Key": {"wrong", apiKey}}, 401, "unauthorized"},
		{"key in bearer only", g, "10.1.2.3:5555", "/v1/wallets", map[string][]string{"Authorization": {"Bearer " + apiKey}}, 401, "unauthorized"},
		{"denied ip, good key", g, "192.0.2.1:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey}}, 403, "forbidden_ip"},
		{"denied ip, missing key", g, "192.0.2.1:5555", "/v1/wallets", nil, 403, "forbidden_ip"},
		{"denied ip, spoofed XFF", g, "192.0.2.1:5555", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey}, "X-Forwarded-For": {"10.0.0.1"}, "X-Real-Ip": {"10.0.0.1"}}, 403, "forbidden_ip"},
		{"unparsable remote", g, "@", "/v1/wallets", map[string][]string{"X-API-Key": {apiKey}}, 403, "forbidden_ip"},
		{"open path, denied ip, no key", g, "192.0.2.1:5555", "/health", nil, 200, ""},
		{"open path 2, bad key", g, "192.0.2.1:5555", "/ready", map[string][]string{"X-API-Key": {"nope"}}, 200, ""},
		{"open path exact only: suffix", g, "192.0.2.1:5555", "/health/x", nil, 403, "forbidden_ip"},
		{"open path exact only: trailing slash", g, "10.0.0.1:5555", "/health/", nil, 401, "unauthorized"},
		{"open path exact only: prefix", g, "10.0.0.1:5555", "/healthz", nil, 401, "unauthorized"},
		{"nil allowlist, any ip, good key", gAll, "203.0.113.7:1", "/x", map[string][]string{"X-API-Key": {apiKey}}, 200, ""},
		{"nil allowlist, unparsable remote, good key", gAll, "@", "/x", map[string][]string{"X-API-Key": {apiKey}}, 200, ""},
		{"nil allowlist, bad key", gAll, "203.0.113.7:1", "/x", map[string][]string{"X-API-Key": {"nope"}}, 401, "unauthorized"},
		{"no open paths", gAll, "203.0.113.7:1", "/health", nil, 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.path, nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tt.status, body)
			}
			if strings.Contains(body, apiKey[:10]) {
				t.Fatalf("response body contains the key: %s", body)
			}
			for k, vs := range w.Header() {
				if strings.Contains(fmt.Sprint(vs), apiKey[:10]) {
					t.Fatalf("response header %s contains the key", k)
				}
			}
			if tt.status == 200 {
				if body != "ok" {
					t.Fatalf("inner handler not reached: %s", body)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body not from writeErr: %s", body)
			}
			if got["error"] != tt.code || got["message"] == "" {
				t.Fatalf("body %v, want code %s", got, tt.code)
			}
		})
	}
}

func TestGuardPanicsWithoutKey(t *testing.T) {
	inner := http.NotFoundHandler()
	tests := []struct {
		name string
		f    func()
	}{
		{"empty key", func() { auth.Guard("", nil, nil, writeJSONErr, inner) }},
		{"nil writeErr", func() { auth.Guard(apiKey, nil, nil, nil, inner) }},
		{"nil handler", func() { auth.Guard(apiKey, nil, nil, writeJSONErr, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
}

// TestGuardOverNetwork checks Guard with a real listener, where RemoteAddr is
// filled in by net/http (127.0.0.1).
func TestGuardOverNetwork(t *testing.T) {
	loopback, _ := auth.ParseAllowlist("127.0.0.0/8, ::1")
	other, _ := auth.ParseAllowlist("10.0.0.0/8")
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, tt := range []struct {
		name   string
		allow  *auth.Allowlist
		status int
	}{
		{"loopback allowed", loopback, 200},
		{"loopback denied", other, 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(auth.Guard(apiKey, tt.allow, nil, writeJSONErr, inner))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/v1/x", nil)
			req.Header.Set("X-API-Key", apiKey)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// TestNewGuardTrustedProxies: behind a trusted proxy the allowlist checks
// the forwarded client; a malformed header from the proxy is refused, never
// taken as the proxy's own address; anyone else's header is ignored.
func TestNewGuardTrustedProxies(t *testing.T) {
	allow, _ := auth.ParseAllowlist("192.0.2.0/24, 10.0.0.5")
	proxies, _ := auth.ParseAllowlist("10.0.0.0/29")
	var seen auth.Caller
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = auth.CallerFromContext(r.Context())
		io.WriteString(w, "ok")
	})
	g := auth.NewGuard(auth.GuardConfig{APIKey: apiKey, Allow: allow, TrustedProxies: proxies, WriteError: writeJSONErr}, inner)
	tests := []struct {
		name   string
		remote string
		xff    string
		status int
		code   string
		client string
	}{
		{"proxy forwards an allowed client", "10.0.0.1:1", "192.0.2.9", 200, "", "192.0.2.9"},
		{"proxy forwards a denied client", "10.0.0.1:1", "203.0.113.9", 403, "forbidden_ip", ""},
		{"client spoofs through the proxy", "10.0.0.1:1", "192.0.2.9, 203.0.113.9", 403, "forbidden_ip", ""},
		// 10.0.0.5 is allowed, but it is also a trusted proxy: its header
		// is believed and names the client, which is not allowed.
		{"allowed proxy address forwards a denied client", "10.0.0.5:1", "203.0.113.9", 403, "forbidden_ip", ""},
		{"allowed proxy without a header is the client", "10.0.0.5:1", "", 200, "", "10.0.0.5"},
		{"malformed from the proxy", "10.0.0.1:1", "192.0.2.9:80", 400, "bad_forwarded_for", ""},
		{"empty from the proxy", "10.0.0.1:1", " ", 400, "bad_forwarded_for", ""},
		{"untrusted peer's header ignored", "192.0.2.50:1", "203.0.113.9", 200, "", "192.0.2.50"},
		{"untrusted peer claims an allowed address", "203.0.113.7:1", "192.0.2.9", 403, "forbidden_ip", ""},
		{"untrusted peer's garbage ignored", "192.0.2.50:1", "garbage", 200, "", "192.0.2.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = auth.Caller{}
			r := httptest.NewRequest("GET", "/v1/x", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-API-Key", apiKey)
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != 200 {
				var got map[string]string
				json.Unmarshal(w.Body.Bytes(), &got)
				if got["error"] != tt.code {
					t.Fatalf("code %q, want %q", got["error"], tt.code)
				}
				if strings.TrimSpace(tt.xff) != "" && strings.Contains(w.Body.String(), tt.xff) {
					t.Fatalf("body echoes the header: %s", w.Body)
				}
				return
			}
			if seen.IP.String() != tt.client || seen.Who != auth.KeyID(apiKey) {
				t.Fatalf("caller %+v, want ip %s", seen, tt.client)
			}
			if want, _ := auth.RemoteIP(r); seen.Peer != want {
				t.Fatalf("peer %v, want %v", seen.Peer, want)
			}
		})
	}
}

// TestNewGuardRateLimit: per (key, client) buckets, 429 with Retry-After,
// bad keys counted apart from the good one, open paths not counted.
func TestNewGuardRateLimit(t *testing.T) {
	clk := &clock{t: t0}
	var refused []auth.Refusal
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	proxies, _ := auth.ParseAllowlist("10.0.0.1")
	g := auth.NewGuard(auth.GuardConfig{
		APIKey: apiKey, TrustedProxies: proxies, Open: []string{"/health"},
		RateLimit: auth.RateLimit{PerSecond: 1, Burst: 2}, WriteError: writeJSONErr, Now: clk.now,
		Refused: func(r *http.Request, rf auth.Refusal) { refused = append(refused, rf) },
	}, inner)
	do := func(remote, key, xff, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = remote
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := do("192.0.2.1:1", apiKey, "", "/x"); w.Code != 200 {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
	}
	w := do("192.0.2.1:1", apiKey, "", "/x")
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	var body map[string]string
	json.Unmarshal(w.Body.Bytes(), &body)
	if body["error"] != "rate_limited" || body["message"] == "" {
		t.Fatalf("body %s", w.Body)
	}
	if rf := refused[len(refused)-1]; rf.Status != 429 || rf.Code != "rate_limited" || rf.Caller.Who != auth.KeyID(apiKey) || rf.Caller.IP.String() != "192.0.2.1" {
		t.Fatalf("refusal %+v", rf)
	}
	// Open paths are not limited; another client has its own bucket.
	if w := do("192.0.2.1:1", "", "", "/health"); w.Code != 200 {
		t.Fatalf("open path limited: %d", w.Code)
	}
	if w := do("192.0.2.2:1", apiKey, "", "/x"); w.Code != 200 {
		t.Fatalf("another client limited: %d", w.Code)
	}
	// Clients behind the trusted proxy are told apart by X-Forwarded-For.
	for i := range 2 {
		if w := do("10.0.0.1:1", apiKey, "198.51.100.1", "/x"); w.Code != 200 {
			t.Fatalf("forwarded client request %d: %d", i+1, w.Code)
		}
	}
	if w := do("10.0.0.1:1", apiKey, "198.51.100.1", "/x"); w.Code != 429 {
		t.Fatalf("forwarded client over the limit: %d", w.Code)
	}
	if w := do("10.0.0.1:1", apiKey, "198.51.100.2", "/x"); w.Code != 200 {
		t.Fatalf("second forwarded client limited: %d", w.Code)
	}
	// Bad keys from a client drain their own bucket, not the good key's.
	for i := range 2 {
		if w := do("192.0.2.3:1", "wrong-key-"+fmt.Sprint(i), "", "/x"); w.Code != 401 {
			t.Fatalf("bad key %d: %d", i, w.Code)
		}
	}
	if w := do("192.0.2.3:1", "", "", "/x"); w.Code != 429 {
		t.Fatalf("third unauthenticated request: %d, want 429", w.Code)
	}
	if rf := refused[len(refused)-1]; rf.Caller.Who != auth.WhoAnonymous {
		t.Fatalf("refusal %+v", rf)
	}
	if w := do("192.0.2.3:1", apiKey, "", "/x"); w.Code != 200 {
		t.Fatalf("good key after a bad-key flood: %d", w.Code)
	}
	// Time refills.
	clk.advance(time.Second)
	if w := do("192.0.2.1:1", apiKey, "", "/x"); w.Code != 200 {
		t.Fatalf("after a second: %d", w.Code)
	}
	for _, rf := range refused {
		if strings.Contains(fmt.Sprint(rf), apiKey) || strings.Contains(fmt.Sprint(rf), "wrong-key") {
			t.Fatalf("refusal carries a key: %+v", rf)
		}
	}
}

// TestNewGuardRefused: every refusal reaches the hook with who and where,
// before the answer; a right key from a wrong address is told apart.
func TestNewGuardRefused(t *testing.T) {
	allow, _ := auth.ParseAllowlist("10.0.0.0/8")
	var got []auth.Refusal
	g := auth.NewGuard(auth.GuardConfig{APIKey: apiKey, Allow: allow, WriteError: writeJSONErr,
		Refused: func(r *http.Request, rf auth.Refusal) { got = append(got, rf) }}, http.NotFoundHandler())
	tests := []struct {
		remote, key string
		status      int
		code, who   string
	}{
		{"192.0.2.1:1", apiKey, 403, "forbidden_ip", auth.KeyID(apiKey)},
		{"192.0.2.1:1", "nope", 403, "forbidden_ip", auth.WhoInvalidKey},
		{"192.0.2.1:1", "", 403, "forbidden_ip", auth.WhoAnonymous},
		{"10.0.0.1:1", "nope", 401, "unauthorized", auth.WhoInvalidKey},
		{"10.0.0.1:1", "", 401, "unauthorized", auth.WhoAnonymous},
		{"@", apiKey, 403, "forbidden_ip", auth.KeyID(apiKey)},
	}
	for _, tt := range tests {
		got = nil
		r := httptest.NewRequest("POST", "/v1/x", nil)
		r.RemoteAddr = tt.remote
		if tt.key != "" {
			r.Header.Set("X-API-Key", tt.key)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != tt.status || len(got) != 1 {
			t.Fatalf("%s %q: status %d, %d refusals", tt.remote, tt.key, w.Code, len(got))
		}
		rf := got[0]
		if rf.Status != tt.status || rf.Code != tt.code || rf.Caller.Who != tt.who {
			t.Fatalf("%s %q: refusal %+v", tt.remote, tt.key, rf)
		}
		if ip, ok := auth.RemoteIP(r); ok && rf.Caller.IP != ip {
			t.Fatalf("refusal ip %v, want %v", rf.Caller.IP, ip)
		}
	}
	if id := auth.KeyID(apiKey); !strings.HasPrefix(id, "api-key:") || len(id) != len("api-key:")+8 || strings.Contains(id, apiKey[:8]) {
		t.Fatalf("KeyID = %q", id)
	}
	if auth.KeyID("a") == auth.KeyID("b") {
		t.Fatal("KeyID does not tell keys apart")
	}
}

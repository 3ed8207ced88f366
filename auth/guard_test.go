package auth_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

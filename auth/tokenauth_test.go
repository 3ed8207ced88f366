package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/party/identity"
)

// TestTokenAuth: a guard with TokenAuth passes a verified token of an
// accepted kind, with its claims in the context, and refuses the API key,
// a second Authorization header, a token of another kind, a server's own
// service token and a forged one.
func TestTokenAuth(t *testing.T) {
	d := newDeployment(t)
	var seen *auth.Claims
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = auth.FromContext(r.Context())
		io.WriteString(w, "ok")
	})
	var who string
	g := auth.NewGuard(auth.GuardConfig{Authenticate: auth.TokenAuth(auth.NewVerifier(d.trust), auth.KindParty, auth.KindAdmin),
		WriteError: writeJSONErr, Refused: func(_ *http.Request, rf auth.Refusal) { who = rf.Caller.Who }}, inner)
	party, _ := d.coord.MintParty("s-1", "user-1", time.Minute)
	admin, _ := d.coord.MintAdmin("ops", time.Minute)
	user, _ := d.coord.MintUser("u", []string{auth.OpSign}, nil, time.Minute)
	service, _ := d.server.MintService("server-1", time.Minute)
	forged := party[:len(party)-4] + "AAAA"
	cases := []struct {
		name    string
		headers map[string][]string
		status  int
		who     string
	}{
		{"party token", map[string][]string{"Authorization": {"Bearer " + party}}, 200, ""},
		{"admin token", map[string][]string{"Authorization": {"Bearer " + admin}}, 200, ""},
		{"none", nil, 401, auth.WhoAnonymous},
		{"api key", map[string][]string{"X-Api-Key": {apiKey}}, 401, auth.WhoAnonymous},
		{"api key beside a token", map[string][]string{"X-Api-Key": {apiKey}, "Authorization": {"Bearer " + party}}, 401, auth.WhoInvalidToken},
		{"two tokens", map[string][]string{"Authorization": {"Bearer " + party, "Bearer " + admin}}, 401, auth.WhoInvalidToken},
		{"user token", map[string][]string{"Authorization": {"Bearer " + user}}, 401, auth.WhoInvalidToken},
		{"server's service token", map[string][]string{"Authorization": {"Bearer " + service}}, 401, auth.WhoInvalidToken},
		{"forged", map[string][]string{"Authorization": {"Bearer " + forged}}, 401, auth.WhoInvalidToken},
		{"basic", map[string][]string{"Authorization": {"Basic dXNlcjpwdw=="}}, 401, auth.WhoInvalidToken},
	}
	for _, c := range cases {
		seen, who = nil, ""
		r := httptest.NewRequest("POST", "/x", nil)
		r.RemoteAddr = "127.0.0.1:9"
		r.Header = c.headers
		if r.Header == nil {
			r.Header = http.Header{}
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != c.status || who != c.who {
			t.Errorf("%s: status %d who %q, want %d %q (%s)", c.name, w.Code, who, c.status, c.who, w.Body)
		}
		if c.status == 200 && (seen == nil || seen.SignerKind != identity.KindCoordinator) {
			t.Errorf("%s: claims in context %+v", c.name, seen)
		}
	}
}

// A request from an address the allowlist refuses is refused before its
// token is verified: no signature work for strangers.
func TestAuthenticateAfterAllowlist(t *testing.T) {
	allow, _ := auth.ParseAllowlist("10.0.0.0/8")
	calls := 0
	g := auth.NewGuard(auth.GuardConfig{Allow: allow, WriteError: writeJSONErr,
		Authenticate: func(r *http.Request) (string, *http.Request, string) { calls++; return "x", r, "" }},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for _, c := range []struct {
		remote string
		status int
		calls  int
	}{{"192.0.2.1:5", 403, 0}, {"10.1.2.3:5", 200, 1}} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = c.remote
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != c.status || calls != c.calls {
			t.Fatalf("%s: status %d after %d verifications, want %d after %d", c.remote, w.Code, calls, c.status, c.calls)
		}
	}
}

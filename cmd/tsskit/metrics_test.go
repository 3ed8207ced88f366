package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/serve"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// checkMetrics scrapes every process of a cluster that made an account
// (keygen and signings through the account API, signings through the CLI
// party) and a co-managed wallet, after a refused API key and a forged
// token: each service counted its part, and no label or value names a
// wallet, a session, a user, a key or a token (never, for one of these).
func (c *cluster) checkMetrics(t *testing.T, never []string) {
	t.Helper()
	// Two refusals to count.
	req, _ := http.NewRequest("GET", "http://"+c.api+"/api/v1/accounts/x", nil)
	req.Header.Set("X-API-Key", "not-the-key-"+strings.Repeat("x", 20))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong API key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := coordClient(t, c.coord).GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: "x"}, grpc.PerRPCCredentials(serve.Bearer("forged.token.here")))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged token: %v", err)
	}

	got := map[string]*metrics.Scrape{}
	for name, addr := range c.metrics {
		s, err := metrics.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got[name] = s
		for _, v := range never {
			if v != "" && strings.Contains(s.Text, v) {
				t.Errorf("%s's metrics contain %.16s…", name, v)
			}
		}
		if m := uuidRe.FindString(s.Text); m != "" {
			t.Errorf("%s's metrics contain an id: %s", name, m)
		}
	}
	type want struct {
		proc, name string
		labels     []string
		atLeast    float64
	}
	checks := []want{
		{"coordinator", "tsskit_sessions_started_total", []string{"kind=keygen"}, 2},
		{"coordinator", "tsskit_sessions_started_total", []string{"kind=sign"}, 3},
		{"coordinator", "tsskit_sessions_finished_total", []string{"kind=keygen", "result=completed"}, 2},
		{"coordinator", "tsskit_sessions_finished_total", []string{"kind=sign", "result=completed"}, 3},
		{"coordinator", "tsskit_session_duration_seconds", []string{"kind=sign", "result=completed"}, 3},
		{"coordinator", "tsskit_pool_parties", []string{"state=healthy"}, 3},
		{"coordinator", "tsskit_auth_failures_total", []string{"service=coordinator", "reason=malformed"}, 1},
		{"coordinator", "tsskit_auth_failures_total", []string{"service=account_api", "reason=unauthorized"}, 1},
		{"coordinator", "tsskit_grpc_requests_total", []string{"service=coordinator", "method=/tsskit.v1.CoordinatorService/CreateKeygenSession", "code=OK"}, 1},
		{"coordinator", "tsskit_grpc_requests_total", []string{"service=coordinator", "method=/tsskit.v1.PoolService/Heartbeat", "code=OK"}, 1},
		{"coordinator", "tsskit_http_requests_total", []string{"service=account_api", "route=POST /api/v1/accounts", "status=201"}, 1},
		{"coordinator", "tsskit_http_requests_total", []string{"service=account_api", "route=POST /api/v1/accounts/{id}/sign", "status=200"}, 1},
		{"coordinator", "tsskit_store_call_duration_seconds", []string{"op=create_wallet", "result=ok"}, 2},
		{"coordinator", "tsskit_sessions_finished_total", []string{"kind=reshare", "result=completed"}, 1},
		{"coordinator", "tsskit_http_requests_total", []string{"service=account_api", "route=POST /api/v1/accounts/{id}/refresh", "status=200"}, 1},
		{"coordinator", "tsskit_store_call_duration_seconds", []string{"op=activate_epoch", "result=ok"}, 1},
		{"router", "tsskit_router_envelopes_total", []string{"routing=broadcast"}, 1},
		{"router", "tsskit_router_envelopes_total", []string{"routing=direct"}, 1},
		{"router", "tsskit_router_envelope_bytes_total", nil, 10000},
		{"router", "tsskit_grpc_requests_total", []string{"service=router", "method=/tsskit.v1.RouterService/Publish", "code=OK"}, 1},
	}
	for _, ch := range checks {
		if v := got[ch.proc].Value(ch.name, ch.labels...); v < ch.atLeast {
			t.Errorf("%s %s%v = %v, want ≥ %v", ch.proc, ch.name, ch.labels, v, ch.atLeast)
		}
	}
	if ps := got["coordinator"].LabelValues("tsskit_pool_preparams_ready", "party"); strings.Join(ps, ",") != strings.Join(c.parties, ",") {
		t.Errorf("pool pre-params for %v, want %v", ps, c.parties)
	}
	// The server parties: two keygens with two server holders each, the
	// account's refresh (two server seats), and the signings (the
	// account's REST ones before and after the refresh, two CLI subsets
	// with each user share's epoch — the old one refused before any
	// signing —, the co-managed one and its two Ethereum ones:
	// 2·2 + 2·1 + 2·1 + 3 seats); every round of each timed.
	var keygens, signs, rounds1, preparams, reshares float64
	for i := 1; i <= 3; i++ {
		s := got[fmt.Sprintf("serverparty-%d", i)]
		keygens += s.Value("tsskit_party_sessions_total", "kind=keygen", "result=completed")
		signs += s.Value("tsskit_party_sessions_total", "kind=sign", "result=completed")
		reshares += s.Value("tsskit_party_sessions_total", "kind=reshare", "result=completed")
		rounds1 += s.Value("tsskit_party_round_duration_seconds", "kind=sign", "round=1")
		if len(s.LabelValues("tsskit_party_preparams_ready", "party")) != 1 {
			t.Errorf("serverparty-%d: pre-params gauge %v", i, s.LabelValues("tsskit_party_preparams_ready", "party"))
		}
		preparams += s.Value("tsskit_party_preparams_ready")
		for r := 1; r <= 3; r++ {
			if s.Value("tsskit_party_round_duration_seconds", "kind=keygen", "round="+strconv.Itoa(r)) == 0 && s.Value("tsskit_party_sessions_total", "kind=keygen") > 0 {
				t.Errorf("serverparty-%d: keygen round %d not timed", i, r)
			}
		}
	}
	t.Logf("metrics: server parties ran %v keygens and %v signings; %v pre-params ready; router carried %v envelopes, %v bytes",
		keygens, signs, preparams, got["router"].Value("tsskit_router_envelopes_total"), got["router"].Value("tsskit_router_envelope_bytes_total"))
	// Keygens: two server seats each of the account, the CLI party's
	// wallet and the wallet it recovers. Reshares: the account refresh's
	// two server seats, the CLI party's refresh (two) and its reshare to 3
	// of 4 (three), two recoveries (two each; the forged one fails).
	// Signings: one more since the CLI party's resumed refresh signs.
	if keygens != 6 || signs != 17 || rounds1 != 17 || reshares != 11 {
		t.Errorf("server parties: %v keygens, %v signings, %v sign round-1 timings, %v reshares; want 6, 17, 17, 11", keygens, signs, rounds1, reshares)
	}
}

package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) *metrics.Scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	s, err := metrics.Parse(rec.Body.String())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A nil *Metrics records nothing and never panics: components built
// without metrics call it unconditionally.
func TestNilRecordsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.SessionStarted("keygen")
	m.SessionFinished("keygen", metrics.ResultFailed, "timeout", time.Second)
	m.SessionRefused("sign", "quota")
	m.PartySession("p", "sign", metrics.ResultCompleted, time.Second)
	m.RoundTimer("sign")(3)
	m.AuthFailure("router", "expired")
	m.Envelope(true, 10)
	m.StoreCall("get_wallet", time.Millisecond, nil)
	m.RedisCall("xread", time.Millisecond, nil)
	m.ServerParty("p", func() int { return 1 }, func() int { return 0 })
	m.Coordinator(func() metrics.CoordinatorState { return metrics.CoordinatorState{} })
	h := http.NotFoundHandler()
	if got := m.HTTP("x", http.NewServeMux(), h); got == nil {
		t.Fatal("nil handler")
	}
	if _, err := m.UnaryInterceptor("x")(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/a/b"},
		func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
}

// Failure codes a party reports are recorded only from the known set: a
// party cannot grow the label set with codes of its own.
func TestFailureCodesBounded(t *testing.T) {
	m := metrics.New()
	m.SessionFinished("keygen", metrics.ResultFailed, "party_lost", 2*time.Second)
	for i := range 50 {
		m.SessionFinished("sign", metrics.ResultFailed, "made-up-"+strings.Repeat("x", i), time.Second)
	}
	m.SessionFinished("sign", metrics.ResultCompleted, "ignored", time.Second)
	s := scrape(t, m)
	if got := s.LabelValues("tsskit_sessions_finished_total", "code"); strings.Join(got, ",") != ",other,party_lost" {
		t.Fatalf("codes %q", got)
	}
	if v := s.Value("tsskit_sessions_finished_total", "kind=sign", "code=other"); v != 50 {
		t.Fatalf("other: %v", v)
	}
	if v := s.Value("tsskit_session_duration_seconds", "kind=sign", "result=completed"); v != 1 {
		t.Fatalf("completed sign durations: %v", v)
	}
}

// RoundTimer attributes the time between progress reports to the round
// that was running, once per round, whatever order reports come in.
func TestRoundTimer(t *testing.T) {
	m := metrics.New()
	r := m.RoundTimer("keygen")
	for _, round := range []int{1, 1, 2, 1, 3, 4, 4} {
		r(round)
	}
	s := scrape(t, m)
	for round, want := range map[string]float64{"1": 1, "2": 1, "3": 1, "4": 0} {
		if v := s.Value("tsskit_party_round_duration_seconds", "kind=keygen", "round="+round); v != want {
			t.Errorf("round %s: %v observations, want %v", round, v, want)
		}
	}
}

// HTTP routes are the mux's patterns: a scan of random paths lands in the
// catch-all, not in a label per path.
func TestHTTPRoutesBounded(t *testing.T) {
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	h := m.HTTP("account_api", mux, mux)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/api/v1/accounts/a", "/api/v1/accounts/b", "/nope/1", "/nope/2", "/" + strings.Repeat("z", 300)} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	s := scrape(t, m)
	if got := s.LabelValues("tsskit_http_requests_total", "route"); strings.Join(got, ",") != "GET /api/v1/accounts/{id},other" {
		t.Fatalf("routes %q", got)
	}
	if v := s.Value("tsskit_http_requests_total", "route=other", "status=404"); v != 3 {
		t.Fatalf("404s: %v", v)
	}
}

// gRPC calls are counted by method and status code; methods outside
// tsskit's services are "other".
func TestGRPCInterceptors(t *testing.T) {
	m := metrics.New()
	u := m.UnaryInterceptor("coordinator")
	call := func(method string, err error) {
		u(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) { return nil, err })
	}
	call("/tsskit.v1.CoordinatorService/GetWallet", nil)
	call("/tsskit.v1.CoordinatorService/GetWallet", status.Error(codes.NotFound, "x"))
	call("/evil.Service/"+strings.Repeat("a", 40), errors.New("plain"))
	st := m.StreamInterceptor("router")
	st(nil, nil, &grpc.StreamServerInfo{FullMethod: "/tsskit.v1.RouterService/Subscribe"}, func(any, grpc.ServerStream) error { return nil })
	s := scrape(t, m)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"method=/tsskit.v1.CoordinatorService/GetWallet", "code=OK"}, 1},
		{[]string{"method=/tsskit.v1.CoordinatorService/GetWallet", "code=NotFound"}, 1},
		{[]string{"method=other", "code=Unknown"}, 1},
		{[]string{"service=router", "method=/tsskit.v1.RouterService/Subscribe"}, 1},
	} {
		if v := s.Value("tsskit_grpc_requests_total", c.labels...); v != c.want {
			t.Errorf("%v: %v, want %v", c.labels, v, c.want)
		}
	}
}

// Coordinator state and server party gauges are read at scrape time; a
// second registration (two coordinators in one process) is ignored.
func TestGaugesAtScrape(t *testing.T) {
	m := metrics.New()
	n := 2
	m.ServerParty("server-1", func() int { return n }, func() int { return 1 })
	m.ServerParty("server-2", func() int { return 5 }, func() int { return 0 })
	m.ServerParty("server-2", func() int { return 99 }, func() int { return 99 })
	m.Coordinator(func() metrics.CoordinatorState {
		return metrics.CoordinatorState{Healthy: 3, Unhealthy: 1, PreParams: map[string]int{"server-1": 2}, Assigned: map[string]int{"server-1": 1}, Live: map[string]int{"sign": 4}}
	})
	m.Coordinator(func() metrics.CoordinatorState { return metrics.CoordinatorState{Healthy: 100} })
	n = 7
	s := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tsskit_party_preparams_ready", []string{"party=server-1"}, 7},
		{"tsskit_party_preparams_ready", []string{"party=server-2"}, 5},
		{"tsskit_party_running_sessions", []string{"party=server-1"}, 1},
		{"tsskit_pool_parties", []string{"state=healthy"}, 3},
		{"tsskit_pool_parties", []string{"state=unhealthy"}, 1},
		{"tsskit_pool_preparams_ready", []string{"party=server-1"}, 2},
		{"tsskit_pool_assigned_sessions", []string{"party=server-1"}, 1},
		{"tsskit_sessions_live", []string{"kind=sign"}, 4},
		{"tsskit_sessions_live", []string{"kind=keygen"}, 0},
	} {
		if v := s.Value(c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	cat := metrics.Catalog()
	for name := range s.Families {
		if _, ok := cat[name]; strings.HasPrefix(name, "tsskit_") && !ok {
			t.Errorf("%s is served but not in the catalog", name)
		}
	}
	if s.Families["go_goroutines"] == nil || s.Families["process_cpu_seconds_total"] == nil {
		t.Error("no runtime or process metrics")
	}
}

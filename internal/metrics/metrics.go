// Package metrics is tsskit's Prometheus instrumentation: one registry per
// process, the collectors every service records into, and the handler that
// serves them on --metrics-addr.
//
// Labels are bounded sets chosen here (session kinds, results, failure
// codes from a fixed list, gRPC methods of tsskit's own services, HTTP
// routes of its own muxes, server party ids): never a wallet, session,
// user or token, and never a value a caller picks freely. docs/operations.md
// lists every name and label.
//
// A nil *Metrics records nothing, so a component built without metrics (a
// unit test, a library user) needs no branch.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics holds one process's registry and collectors.
type Metrics struct {
	reg *prometheus.Registry

	sessionsStarted  *prometheus.CounterVec
	sessionsFinished *prometheus.CounterVec
	sessionDuration  *prometheus.HistogramVec
	sessionsRefused  *prometheus.CounterVec

	partySessions *prometheus.CounterVec
	partyDuration *prometheus.HistogramVec
	roundDuration *prometheus.HistogramVec
	workWait      *prometheus.HistogramVec

	authFailures *prometheus.CounterVec

	envelopes     *prometheus.CounterVec
	envelopeBytes *prometheus.CounterVec

	storeCalls *prometheus.HistogramVec
	redisCalls *prometheus.HistogramVec

	grpcRequests *prometheus.CounterVec
	grpcDuration *prometheus.HistogramVec
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	mu    sync.Mutex
	funcs map[string]bool // gauge funcs registered, by name and labels

	// labels: every tsskit metric's name and label names (Catalog).
	labels map[string][]string
}

// Catalog lists every metric tsskit defines with its label names (for
// checking dashboards and alert rules against them). Histograms appear
// under their base name; _bucket, _sum and _count follow from it.
func Catalog() map[string][]string {
	m := New()
	out := map[string][]string{}
	for k, v := range m.labels {
		out[k] = v
	}
	out["tsskit_pool_parties"] = []string{"state"}
	out["tsskit_pool_preparams_ready"] = []string{"party"}
	out["tsskit_pool_assigned_sessions"] = []string{"party"}
	out["tsskit_sessions_live"] = []string{"kind"}
	out["tsskit_party_preparams_ready"] = []string{"party"}
	out["tsskit_party_running_sessions"] = []string{"party"}
	out["tsskit_party_work_busy"] = []string{"party"}
	out["tsskit_party_work_queued"] = []string{"party", "class"}
	return out
}

// CoordinatorState is what a coordinator reports at scrape time.
type CoordinatorState struct {
	Healthy, Unhealthy int            // pool members by heartbeat
	Draining           int            // healthy, but shutting down: not picked
	PreParams          map[string]int // per healthy server party, as its last heartbeat said
	Assigned           map[string]int // per healthy server party: sessions this coordinator assigned it, unfinished
	Live               map[string]int // live sessions by kind
}

var (
	descPool     = prometheus.NewDesc("tsskit_pool_parties", "Server parties registered with this coordinator, by state (healthy; draining: shutting down, not picked; unhealthy: no heartbeat within the timeout).", []string{"state"}, nil)
	descPoolPre  = prometheus.NewDesc("tsskit_pool_preparams_ready", "Pre-parameter sets ready per healthy server party, as its last heartbeat to this coordinator said.", []string{"party"}, nil)
	descPoolBusy = prometheus.NewDesc("tsskit_pool_assigned_sessions", "Unfinished sessions this coordinator assigned each healthy server party (its own count, the one it picks by).", []string{"party"}, nil)
	descLive     = prometheus.NewDesc("tsskit_sessions_live", "Sessions waiting or running on this coordinator, by kind.", []string{"kind"}, nil)
)

type coordCollector struct{ f func() CoordinatorState }

func (c coordCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPool
	ch <- descPoolPre
	ch <- descPoolBusy
	ch <- descLive
}

func (c coordCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.f()
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(st.Healthy), "healthy")
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(st.Unhealthy), "unhealthy")
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(st.Draining), "draining")
	for p, n := range st.PreParams {
		ch <- prometheus.MustNewConstMetric(descPoolPre, prometheus.GaugeValue, float64(n), p)
	}
	for p, n := range st.Assigned {
		ch <- prometheus.MustNewConstMetric(descPoolBusy, prometheus.GaugeValue, float64(n), p)
	}
	for _, k := range []string{"keygen", "sign", "reshare"} {
		ch <- prometheus.MustNewConstMetric(descLive, prometheus.GaugeValue, float64(st.Live[k]), k)
	}
}

// Coordinator registers a coordinator's state, read at every scrape. A
// second coordinator in the same process (tests) is not registered again.
func (m *Metrics) Coordinator(f func() CoordinatorState) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.funcs["coordinator"] {
		return
	}
	m.funcs["coordinator"] = true
	m.reg.MustRegister(coordCollector{f})
}

// Session and round durations span a signing's ~1 s to a slow keygen's
// minutes; call latencies span a cache hit to a stuck dependency.
var (
	sessionBuckets = []float64{0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 240, 480}
	roundBuckets   = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}
	callBuckets    = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

// New makes a registry with the Go runtime and process collectors and
// every tsskit collector.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), funcs: map[string]bool{}, labels: map[string][]string{}}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		m.labels[name] = labels
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		m.labels[name] = labels
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(h)
		return h
	}
	m.sessionsStarted = counter("tsskit_sessions_started_total", "Sessions the coordinator created, by kind.", "kind")
	m.sessionsFinished = counter("tsskit_sessions_finished_total", "Sessions that ended, by kind, result (completed, failed) and failure code (\"\" when completed).", "kind", "result", "code")
	m.sessionDuration = hist("tsskit_session_duration_seconds", "Time from a session's creation to its end, by kind and result.", sessionBuckets, "kind", "result")
	m.sessionsRefused = counter("tsskit_sessions_refused_total", "Session creations refused before any server party was picked, by kind and reason (quota, unavailable, overloaded).", "kind", "reason")
	m.partySessions = counter("tsskit_party_sessions_total", "Sessions a server party took part in, by party, kind and result (completed, failed, refused).", "party", "kind", "result")
	m.partyDuration = hist("tsskit_party_session_duration_seconds", "Time a server party spent in a session, by party, kind and result.", sessionBuckets, "party", "kind", "result")
	m.roundDuration = hist("tsskit_party_round_duration_seconds", "Time a server party spent in one protocol round (round 1 includes the roster confirmation), by kind and round.", roundBuckets, "kind", "round")
	m.workWait = hist("tsskit_party_work_wait_seconds", "Time a protocol step waited for a server party's work slot, by class (sign, keygen).", callBuckets, "class")
	m.authFailures = counter("tsskit_auth_failures_total", "Refused credentials, by service and reason (a token check's code, or the API guard's).", "service", "reason")
	m.envelopes = counter("tsskit_router_envelopes_total", "Envelopes the router accepted, by routing (broadcast, direct).", "routing")
	m.envelopeBytes = counter("tsskit_router_envelope_bytes_total", "Payload bytes of the envelopes the router accepted, by routing.", "routing")
	m.storeCalls = hist("tsskit_store_call_duration_seconds", "Coordinator store calls, by operation and result (ok, error).", callBuckets, "op", "result")
	m.redisCalls = hist("tsskit_redis_call_duration_seconds", "Router Redis commands, by command and result (ok, error).", callBuckets, "command", "result")
	m.grpcRequests = counter("tsskit_grpc_requests_total", "gRPC (and gRPC-Web) calls served, by service, method and status code.", "service", "method", "code")
	m.grpcDuration = hist("tsskit_grpc_request_duration_seconds", "gRPC call duration (for a stream, its whole life), by service and method.", callBuckets, "service", "method")
	m.httpRequests = counter("tsskit_http_requests_total", "HTTP requests to the REST APIs and probes, by service, route and status.", "service", "route", "status")
	m.httpDuration = hist("tsskit_http_request_duration_seconds", "HTTP request duration, by service and route.", append(callBuckets, 10, 30, 60, 180), "service", "route")
	return m
}

// Registry is the registry the handler serves (for tests and for adding
// collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	return mux
}

// Result labels.
const (
	ResultCompleted = "completed"
	ResultFailed    = "failed"
	ResultRefused   = "refused"
)

// failureCodes are the session failure codes recorded as themselves; any
// other (a code a party reported) is "other", so a party cannot grow the
// label set.
var failureCodes = map[string]bool{
	// the coordinator's own
	"timeout": true, "party_lost": true, "unavailable": true, "stalled": true, "shutdown": true,
	"store": true, "disagreement": true, "verify": true,
	// the engine's (party.Code)
	"invalid_params": true, "protocol": true, "seal": true, "canceled": true, "transport": true,
	"identity": true, "session_mismatch": true, "policy": true,
	// a server party's refusals
	"preparams": true, "no_share": true, "share_corrupt": true, "wrong_key": true, "vault": true,
	"replay": true, "unsupported": true, "draining": true,
}

// FailureCode is code if it is one of the known codes, else "other".
func FailureCode(code string) string {
	if failureCodes[code] {
		return code
	}
	return "other"
}

// SessionStarted counts a session the coordinator created.
func (m *Metrics) SessionStarted(kind string) {
	if m == nil {
		return
	}
	m.sessionsStarted.WithLabelValues(kind).Inc()
}

// SessionFinished records a session's end: result completed or failed,
// its failure code, and how long it lived.
func (m *Metrics) SessionFinished(kind, result, code string, took time.Duration) {
	if m == nil {
		return
	}
	if result == ResultCompleted {
		code = ""
	} else {
		code = FailureCode(code)
	}
	m.sessionsFinished.WithLabelValues(kind, result, code).Inc()
	m.sessionDuration.WithLabelValues(kind, result).Observe(took.Seconds())
}

// SessionRefused counts a session creation refused before any server
// party was picked.
func (m *Metrics) SessionRefused(kind, reason string) {
	if m == nil {
		return
	}
	m.sessionsRefused.WithLabelValues(kind, reason).Inc()
}

// PartySession records a server party's part in a session.
func (m *Metrics) PartySession(party, kind, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.partySessions.WithLabelValues(party, kind, result).Inc()
	if result != ResultRefused {
		m.partyDuration.WithLabelValues(party, kind, result).Observe(took.Seconds())
	}
}

// Round records the time one protocol round took at a server party.
func (m *Metrics) Round(kind string, round int, took time.Duration) {
	if m == nil {
		return
	}
	m.roundDuration.WithLabelValues(kind, strconv.Itoa(round)).Observe(took.Seconds())
}

// RoundTimer returns a progress callback that records each round's time:
// call it with every round number the engine reports.
func (m *Metrics) RoundTimer(kind string) func(round int) {
	if m == nil {
		return func(int) {}
	}
	var mu sync.Mutex
	cur, since := 0, time.Now()
	return func(round int) {
		mu.Lock()
		defer mu.Unlock()
		if round <= cur {
			return
		}
		now := time.Now()
		// Rounds are reported as they start; the time since the previous
		// report is the previous round's (the first report closes round
		// 0, the roster confirmation, which counts toward round 1).
		if cur > 0 {
			m.Round(kind, cur, now.Sub(since))
		}
		cur, since = round, now
	}
}

// ServerParty registers a server party's gauges, read at every scrape:
// its ready pre-parameters and its running sessions.
func (m *Metrics) ServerParty(party string, preparams, running func() int) {
	m.GaugeFunc("tsskit_party_preparams_ready", "Pre-parameter sets ready in a server party's own vault.",
		prometheus.Labels{"party": party}, func() float64 { return float64(preparams()) })
	m.GaugeFunc("tsskit_party_running_sessions", "Sessions a server party is running now.",
		prometheus.Labels{"party": party}, func() float64 { return float64(running()) })
}

// WorkWait records how long a protocol step waited for a work slot.
func (m *Metrics) WorkWait(class string, wait time.Duration) {
	if m == nil {
		return
	}
	m.workWait.WithLabelValues(class).Observe(wait.Seconds())
}

// WorkGate exports a server party's work gate: slots held, and steps
// waiting by class.
func (m *Metrics) WorkGate(party string, busy, signQueued, keygenQueued func() int) {
	m.GaugeFunc("tsskit_party_work_busy", "Work slots a server party's protocol steps hold now.",
		prometheus.Labels{"party": party}, func() float64 { return float64(busy()) })
	m.GaugeFunc("tsskit_party_work_queued", "Protocol steps waiting for a server party's work slot, by class.",
		prometheus.Labels{"party": party, "class": "sign"}, func() float64 { return float64(signQueued()) })
	m.GaugeFunc("tsskit_party_work_queued", "Protocol steps waiting for a server party's work slot, by class.",
		prometheus.Labels{"party": party, "class": "keygen"}, func() float64 { return float64(keygenQueued()) })
}

// AuthFailure counts refused credentials.
func (m *Metrics) AuthFailure(service, reason string) {
	if m == nil {
		return
	}
	m.authFailures.WithLabelValues(service, reason).Inc()
}

// Envelope counts an envelope the router accepted.
func (m *Metrics) Envelope(broadcast bool, bytes int) {
	if m == nil {
		return
	}
	r := "direct"
	if broadcast {
		r = "broadcast"
	}
	m.envelopes.WithLabelValues(r).Inc()
	m.envelopeBytes.WithLabelValues(r).Add(float64(bytes))
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// StoreCall records one store call. It has the shape the store's
// instrumentation takes (store.Instrument).
func (m *Metrics) StoreCall(op string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeCalls.WithLabelValues(op, result(err)).Observe(took.Seconds())
}

// RedisCall records one Redis command.
func (m *Metrics) RedisCall(command string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.redisCalls.WithLabelValues(strings.ToLower(command), result(err)).Observe(took.Seconds())
}

// GaugeFunc registers a gauge whose value f gives at scrape time, once per
// name and constant labels (a second call with the same ones is ignored:
// in `tsskit dev` several components share the registry).
func (m *Metrics) GaugeFunc(name, help string, labels prometheus.Labels, f func() float64) {
	if m == nil {
		return
	}
	key := name
	for k, v := range labels {
		key += "," + k + "=" + v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.funcs[key] {
		return
	}
	m.funcs[key] = true
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
}

// grpcMethod is a full method name as a label: tsskit's own services'
// methods are bounded; anything else (a probe of unknown names) is
// "other".
func grpcMethod(full string) string {
	if strings.HasPrefix(full, "/tsskit.v1.") && len(full) <= 96 {
		return full
	}
	return "other"
}

// UnaryInterceptor records every unary call of service.
func (m *Metrics) UnaryInterceptor(service string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if m == nil {
			return h(ctx, req)
		}
		start := time.Now()
		resp, err := h(ctx, req)
		m.grpcDone(service, info.FullMethod, start, err)
		return resp, err
	}
}

// StreamInterceptor records every stream of service, over its whole life.
func (m *Metrics) StreamInterceptor(service string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if m == nil {
			return h(srv, ss)
		}
		start := time.Now()
		err := h(srv, ss)
		m.grpcDone(service, info.FullMethod, start, err)
		return err
	}
}

func (m *Metrics) grpcDone(service, full string, start time.Time, err error) {
	method := grpcMethod(full)
	m.grpcRequests.WithLabelValues(service, method, status.Code(err).String()).Inc()
	m.grpcDuration.WithLabelValues(service, method).Observe(time.Since(start).Seconds())
}

// HTTP wraps h, recording each request by the pattern it matches in
// routes (the ServeMux behind h's guards); a request that matches none is
// route "other", so a caller cannot grow the label set.
func (m *Metrics) HTTP(service string, routes *http.ServeMux, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, route := routes.Handler(r)
		if route == "" || len(route) > 96 {
			route = "other"
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		m.httpRequests.WithLabelValues(service, route, strconv.Itoa(rec.status)).Inc()
		m.httpDuration.WithLabelValues(service, route).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush and
// deadlines.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// RedisHook times every Redis command (and pipeline) of a client.
func RedisHook(m *Metrics) redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.m.RedisCall(redisName(cmd.Name()), time.Since(start), redisErr(err))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.m.RedisCall("pipeline", time.Since(start), redisErr(err))
		return err
	}
}

// redisErr: a nil reply (redis.Nil, e.g. an empty XREAD) is an answer,
// and so is NOSCRIPT, the EVALSHA of a script the server has not cached
// yet (after its start or a SCRIPT FLUSH), which go-redis follows with the
// EVAL that loads it: neither is a failure an operator should be paged for.
func redisErr(err error) error {
	if err == redis.Nil || redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil
	}
	return err
}

// redisName bounds the label to the commands tsskit sends.
func redisName(name string) string {
	switch n := strings.ToLower(name); n {
	case "evalsha", "eval", "xread", "xrange", "xadd", "hget", "hgetall", "hset", "get", "set", "del", "expire", "ping", "script", "exists", "publish", "subscribe", "xlen", "hello", "client":
		return n
	}
	return "other"
}

// Package stack wires tsskit services together on ports: what `tsskit dev`,
// `tsskit router|coordinator|serverparty` and the process-level tests share.
package stack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/httpx"
	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/router"
	"github.com/rwadurian/tsskit/serverparty"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// Stack is a set of running parts that stop in reverse order of start.
type Stack struct {
	log     *slog.Logger
	servers []*serve.Server
	stops   []func()
	wg      sync.WaitGroup
	errc    chan error
	cancel  context.CancelFunc
	// host: the server parties of this process share its CPUs.
	host *serverparty.Host
	// Metrics, when set before services are added, is what they record
	// into (one registry for the whole process).
	Metrics *metrics.Metrics
	// BackgroundGrace is how long Run waits for background work (a server
	// party draining its sessions) after the context ends; default
	// GraceTime.
	BackgroundGrace time.Duration
}

// grpcServer makes a service's gRPC server: metrics first (so they see
// refused calls too), then token checks that count their refusals.
func (s *Stack) grpcServer(service string, maxMsg int, v *auth.Verifier) *grpc.Server {
	m := s.Metrics
	unary, streamI := serve.AuthenticateCounted(v, func(reason string) { m.AuthFailure(service, reason) })
	return serve.NewGRPCChain(maxMsg, []grpc.UnaryServerInterceptor{m.UnaryInterceptor(service), unary},
		[]grpc.StreamServerInterceptor{m.StreamInterceptor(service), streamI})
}

// ServeMetrics serves the stack's metrics on addr (GET /metrics) with the
// service's own TLS configuration (nil: cleartext).
func (s *Stack) ServeMetrics(addr string, srv *tls.Config) (*serve.Server, error) {
	if s.Metrics == nil {
		return nil, errors.New("no metrics to serve")
	}
	return s.ListenTLS("metrics", addr, s.Metrics.Handler(), srv)
}

// New returns an empty stack.
func New(log *slog.Logger) *Stack {
	return &Stack{log: log, errc: make(chan error, 16), host: serverparty.NewHost()}
}

// TLS is a service's transport security: Server secures the ports it
// listens on, Client the connections it makes to other tsskit services
// (with a client certificate when the peers require one). Nil: cleartext.
type TLS struct {
	Server, Client *tls.Config
}

// Listen binds a port now (so a bad address fails at start) and serves it
// from run, in cleartext.
func (s *Stack) Listen(name, addr string, h http.Handler) (*serve.Server, error) {
	return s.ListenTLS(name, addr, h, nil)
}

// ListenTLS is Listen with TLS when cfg is not nil.
func (s *Stack) ListenTLS(name, addr string, h http.Handler, cfg *tls.Config) (*serve.Server, error) {
	srv, err := serve.ListenTLS(name, addr, h, s.log, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", name, addr, err)
	}
	s.servers = append(s.servers, srv)
	return srv, nil
}

func (s *Stack) OnStop(f func()) { s.stops = append(s.stops, f) }

// Run serves every port until ctx ends or one fails, then stops everything:
// services first (they fail running sessions with a reason), then ports.
func (s *Stack) Run(ctx context.Context, background ...func(context.Context)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srvCtx, stopServers := context.WithCancel(context.Background())
	defer stopServers()
	for _, srv := range s.servers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(srvCtx, GraceTime); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errc <- err
			}
		}()
	}
	var bg sync.WaitGroup
	for _, f := range background {
		bg.Add(1)
		go func() { defer bg.Done(); f(ctx) }()
	}
	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case err = <-s.errc:
		s.log.Error("a port or a claim failed; shutting down", "err", err)
	}
	cancel()
	done := make(chan struct{})
	go func() { bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(max(s.BackgroundGrace, GraceTime)):
		s.log.Warn("background work did not stop in time")
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	stopServers()
	s.wg.Wait()
	return err
}

// AddRouter starts a router with the memory bus.
func (s *Stack) AddRouter(addr string, v *auth.Verifier, origins serve.Origins) (*router.MemoryBus, error) {
	bus, err := s.AddRouterOn(addr, v, origins, "")
	if err != nil {
		return nil, err
	}
	return bus.(*router.MemoryBus), nil
}

// RedisPrefix starts every key tsskit keeps in Redis.
const RedisPrefix = "tsskit:"

// RedisReadPool is the default pool of the router's blocking-read client:
// one connection per Subscribe stream waiting at once (REDIS_URL's
// pool_size sets both pools instead).
const RedisReadPool = 1024

// AddRouterOn starts a router on the Redis bus at redisURL (shared by
// router replicas), or on the memory bus when redisURL is empty.
// The router holds no key: it verifies the coordinator's tokens with v,
// which pins only the deployment root.
func (s *Stack) AddRouterOn(addr string, v *auth.Verifier, origins serve.Origins, redisURL string) (router.Bus, error) {
	return s.AddRouterTLS(addr, v, origins, redisURL, nil)
}

// AddRouterTLS is AddRouterOn serving TLS with srv (nil: cleartext).
func (s *Stack) AddRouterTLS(addr string, v *auth.Verifier, origins serve.Origins, redisURL string, srv *tls.Config) (router.Bus, error) {
	var bus router.Bus
	var health func(context.Context) (int, map[string]any)
	if redisURL == "" {
		mem := router.NewMemoryBus()
		bus = mem
		health = func(context.Context) (int, map[string]any) {
			n, b := mem.Stats()
			return 200, map[string]any{"status": "ok", "components": map[string]any{"bus": "memory", "sessions": n, "bytes": b}}
		}
	} else {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, fmt.Errorf("router: REDIS_URL: %s", redactErr(err, redisURL))
		}
		rc := redis.NewClient(opt)
		s.OnStop(func() { rc.Close() })
		if s.Metrics != nil {
			rc.AddHook(metrics.RedisHook(s.Metrics))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = rc.Ping(ctx).Err()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("router: redis: %s", redactErr(err, redisURL))
		}
		// Subscribers wait in XREAD BLOCK, one pooled connection each:
		// they get a client of their own, with a pool as large as the
		// streams a router may serve at once, so publishes never queue
		// behind them.
		ropt := *opt
		if !strings.Contains(redisURL, "pool_size=") {
			ropt.PoolSize = max(opt.PoolSize, RedisReadPool)
		}
		readers := redis.NewClient(&ropt)
		s.OnStop(func() { readers.Close() })
		if s.Metrics != nil {
			readers.AddHook(metrics.RedisHook(s.Metrics))
		}
		bus = router.NewRedisBus(rc, RedisPrefix).WithReadClient(readers)
		health = func(ctx context.Context) (int, map[string]any) {
			if err := rc.Ping(ctx).Err(); err != nil {
				return 503, map[string]any{"status": "unavailable", "components": map[string]any{"bus": "redis", "error": redactErr(err, redisURL)}}
			}
			return 200, map[string]any{"status": "ok", "components": map[string]any{"bus": "redis"}}
		}
	}
	gs := s.grpcServer("router", router.DefaultLimits.MaxEnvelope+64<<10, v)
	svc := router.New(bus, router.DefaultLimits, s.log.With("service", "router")).WithMetrics(s.Metrics)
	svc.Register(gs)
	if _, err := s.ListenTLS("router", addr, serve.Handler(gs, origins, AdminHealth(v, health)), srv); err != nil {
		return nil, err
	}
	s.OnStop(func() { svc.Stop(); gs.Stop() })
	return bus, nil
}

// AdminHealth serves /health from f on a port anyone may reach: the status
// to anyone, the components (party ids, counts, the bus) only to a request
// with an admin token that v accepts.
func AdminHealth(v *auth.Verifier, f func(context.Context) (int, map[string]any)) http.Handler {
	return HealthHandler(func(ctx context.Context) (int, map[string]any) {
		code, body := f(ctx)
		if r, ok := ctx.Value(healthReq{}).(*http.Request); ok {
			if tok, ok := auth.BearerToken(r.Header.Get("Authorization")); ok {
				if c, err := v.Verify(tok); err == nil && c.Kind == auth.KindAdmin {
					return code, body
				}
			}
		}
		return code, map[string]any{"status": body["status"]}
	})
}

// healthReq carries the /health request to AdminHealth's function.
type healthReq struct{}

// redactErr is err's text with the password of url, if any, masked.
func redactErr(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// CoordOpts configure a coordinator.
type CoordOpts struct {
	Addr, APIAddr, RouterAddr, PartyAPI, DataDir string
	// DatabaseURL: the store on PostgreSQL (shared by replicas); empty:
	// SQLite in DataDir.
	DatabaseURL string
	// Instance and AdvertiseAddr: see coordinator.Config.
	Instance, AdvertiseAddr   string
	JoinTimeout, StallTimeout time.Duration
	// Minter: the coordinator's certified key, which signs every token it
	// hands out.
	Minter                              *auth.Minter
	APIKey                              string
	Allow                               *auth.Allowlist
	TrustedProxies                      *auth.Allowlist // X-Forwarded-For is honoured from these
	RateLimit                           *auth.RateLimit // per API key and client; nil: the default
	Origins                             serve.Origins
	HeartbeatTimeout, HeartbeatInterval time.Duration
	APITimeout                          time.Duration
	// AdmitWithin: coordinator.Config.AdmitWithin (0: its default).
	AdmitWithin time.Duration
	// Trust: the deployment roots the pool admits server parties under.
	Trust *identity.Trust
	// SessionQuota: sessions per token holder (nil: the default).
	SessionQuota *auth.RateLimit
	// Peers: the other replicas' advertised addresses (forwarding targets).
	Peers []string
	// TLS: the coordinator's and the account API's ports, and its
	// connections to the router, the server-party API and other replicas.
	TLS TLS
}

// AddCoordinator starts the coordinator (gRPC + gRPC-Web on addr) and the
// account API on apiAddr.
func (s *Stack) AddCoordinator(ctx context.Context, o CoordOpts) (*coordinator.Coordinator, error) {
	var st store.Store
	where := "postgres"
	if o.DatabaseURL != "" {
		pg, err := store.OpenPostgres(ctx, o.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("coordinator: open store: %s", redactErr(err, o.DatabaseURL))
		}
		st = pg
	} else {
		where = filepath.Join(o.DataDir, "coordinator.db")
		lite, err := store.OpenSQLite(where)
		if err != nil {
			return nil, fmt.Errorf("coordinator: open store: %w", err)
		}
		st = lite
	}
	if s.Metrics != nil {
		st = store.Instrument(st, s.Metrics.StoreCall)
	}
	rc, err := serve.DialTLS(o.RouterAddr, o.TLS.Client)
	if err != nil {
		st.Close()
		return nil, err
	}
	log := s.log.With("service", "coordinator")
	c, err := coordinator.New(ctx, coordinator.Config{
		Minter: o.Minter, Store: st, Router: coordinator.NewGRPCRouter(rc, o.Minter), Log: log, Trust: o.Trust,
		HeartbeatTimeout: o.HeartbeatTimeout, HeartbeatInterval: o.HeartbeatInterval,
		Instance: o.Instance, AdvertiseAddr: o.AdvertiseAddr, JoinTimeout: o.JoinTimeout, StallTimeout: o.StallTimeout,
		SessionQuota: o.SessionQuota, PeerTLS: o.TLS.Client, Peers: o.Peers, Metrics: s.Metrics, AdmitWithin: o.AdmitWithin,
	})
	if err != nil {
		st.Close()
		rc.Close()
		return nil, err
	}
	gs := s.grpcServer("coordinator", 4<<20, auth.NewVerifier(o.Trust))
	c.Register(gs)
	if _, err := s.ListenTLS("coordinator", o.Addr, serve.Handler(gs, o.Origins, AdminHealth(auth.NewVerifier(o.Trust), c.Health)), o.TLS.Server); err != nil {
		return nil, err
	}
	apiTimeout := o.APITimeout
	if apiTimeout == 0 {
		apiTimeout = 3 * time.Minute
	}
	partyClient := serve.HTTPClient(o.TLS.Client)
	partyClient.Timeout = apiTimeout + 10*time.Second
	api := c.AccountAPI(coordinator.AccountConfig{APIKey: o.APIKey, Allow: o.Allow, TrustedProxies: o.TrustedProxies, RateLimit: o.RateLimit,
		PartyAPIURL: o.PartyAPI, Timeout: o.APITimeout, Client: partyClient})
	if _, err := s.ListenTLS("account-api", o.APIAddr, api, o.TLS.Server); err != nil {
		return nil, err
	}
	s.OnStop(func() {
		c.Stop()
		gs.Stop()
		rc.Close()
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	})
	log.Info("coordinator ready", "store", where, "instance", c.Instance())
	return c, nil
}

// PartyOpts configure a server party.
type PartyOpts struct {
	PartyID, CoordAddr, RouterAddr, APIAddr, DataDir string
	// HealthAddr, if set, serves the party's probes (/health, /livez,
	// /readyz) on a port of their own, for a party without an API.
	HealthAddr string
	// DrainTimeout: on shutdown the party finishes its sessions for at
	// most this long before it stops (serverparty.Config.DrainTimeout).
	DrainTimeout time.Duration
	// WorkSlots: protocol steps run at once (serverparty.Config.WorkSlots;
	// 0: the CPU count).
	WorkSlots int
	// SignSlots: serverparty.Config.SignSlots (0: its default).
	SignSlots int
	// Exclusive: the party claims its vault for this process while it
	// runs (vault.Exclusive), so that tsskit settle and rotate-key refuse
	// meanwhile, and so does a second process on the same vault.
	Exclusive bool
	MasterKey *vault.MasterKey
	// RecoveryKeys: the app backends' recovery keys
	// (serverparty.Config.RecoveryKeys).
	RecoveryKeys []identity.PublicKey
	// Allow: ALLOWED_IPS of the server-party API (it takes no API key).
	Allow   *auth.Allowlist
	Pool    int
	Version string
	// DatabaseURL: shares and pre-params in PostgreSQL (encrypted as in
	// the file vault); empty: the file vault in DataDir.
	DatabaseURL string
	// Trust: the pinned deployment roots and revoked keys.
	Trust *identity.Trust
	// Chain is the party's certificate chain (tsskit identity issue). In
	// dev mode and tests, Root certifies the party's identity key at start
	// instead.
	Chain []*identity.Certificate
	Root  *identity.Key
	// The server-party API's rate limit and trusted proxies, as the
	// account API's (nil: the default limit, no proxies).
	RateLimit      *auth.RateLimit
	TrustedProxies *auth.Allowlist
	// TLS: the server-party API's port, and the party's connections to
	// the coordinator and the router.
	TLS TLS
}

// NoCertificateError is a server party that has an identity key but no
// certificate for it: the operator certifies the key with the deployment
// root, then starts the party with the certificate.
type NoCertificateError struct {
	PartyID string
	Key     identity.PublicKey
	Err     error
}

func (e *NoCertificateError) Error() string {
	return fmt.Sprintf("server party %s: %v\n  its identity key is %s\n  certify it offline with the deployment root:\n"+
		"    tsskit identity issue --root root.key --kind server --party-id %s --key %s --out %s.cert\n"+
		"  then start it with --certificate %s.cert", e.PartyID, e.Err, e.Key, e.PartyID, e.Key, e.PartyID, e.PartyID)
}

// AddServerParty starts a server party; with apiAddr it also serves the
// server-party API. It returns the party's Run.
func (s *Stack) AddServerParty(o PartyOpts) (*serverparty.Party, func(context.Context), error) {
	if o.PartyID == "" {
		id, err := StablePartyID(o.DataDir)
		if err != nil {
			return nil, nil, err
		}
		o.PartyID = id
	}
	var v *vault.Vault
	var err error
	if o.DatabaseURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err = vault.OpenPostgres(ctx, o.DatabaseURL, o.PartyID, o.MasterKey)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("serverparty: %s", redactErr(err, o.DatabaseURL))
		}
	} else if v, err = vault.Open(filepath.Join(o.DataDir, "vault"), o.MasterKey); err != nil {
		return nil, nil, fmt.Errorf("serverparty: %w", err)
	}
	if o.Exclusive {
		if err := v.Exclusive(); err != nil {
			v.Close()
			return nil, nil, fmt.Errorf("serverparty: %w", err)
		}
	}
	key, created, err := v.Identity(o.PartyID)
	if err != nil {
		v.Close()
		return nil, nil, fmt.Errorf("serverparty: identity key: %w", err)
	}
	if created {
		s.log.Info("server party identity key made", "party", o.PartyID, "identity", key.Public().String())
	}
	chain := o.Chain
	if chain == nil && o.Root != nil {
		now := time.Now()
		c, err := identity.Issue(o.Root, identity.KindServer, o.PartyID, key.Public(), now.Add(-time.Hour), now.Add(365*24*time.Hour))
		if err != nil {
			v.Close()
			return nil, nil, err
		}
		chain = []*identity.Certificate{c}
	}
	if o.Trust == nil {
		v.Close()
		return nil, nil, errors.New("serverparty: no trust root")
	}
	if err := o.Trust.Verify(chain, o.PartyID, identity.KindServer, key.Public(), time.Now()); err != nil {
		v.Close()
		return nil, nil, &NoCertificateError{PartyID: o.PartyID, Key: key.Public(), Err: err}
	}
	// One connection per coordinator replica: the party registers with
	// each of them.
	var coords []grpc.ClientConnInterface
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	// fail undoes what a failed start opened, the vault (and its
	// Exclusive claim) included.
	fail := func(err error) (*serverparty.Party, func(context.Context), error) {
		closeAll()
		v.Close()
		return nil, nil, err
	}
	for _, a := range strings.Split(o.CoordAddr, ",") {
		cc, err := serve.DialTLS(strings.TrimSpace(a), o.TLS.Client)
		if err != nil {
			return fail(err)
		}
		conns = append(conns, cc)
		coords = append(coords, cc)
	}
	rc, err := serve.DialTLS(o.RouterAddr, o.TLS.Client)
	if err != nil {
		return fail(err)
	}
	log := s.log.With("service", "serverparty")
	minter, err := auth.NewMinter(key, chain)
	if err != nil {
		rc.Close()
		return fail(err)
	}
	p, err := serverparty.New(serverparty.Config{
		PartyID: o.PartyID, Coordinators: coords, Router: rc, Minter: minter, Vault: v,
		Identity: key, Chain: chain, Trust: o.Trust,
		PoolTarget: o.Pool, Version: o.Version, Log: log, UserAPI: o.APIAddr != "", Metrics: s.Metrics,
		DrainTimeout: o.DrainTimeout, WorkSlots: o.WorkSlots, SignSlots: o.SignSlots, RecoveryKeys: o.RecoveryKeys,
		Host: s.host,
	})
	if err != nil {
		rc.Close()
		return fail(err)
	}
	if o.DrainTimeout > 0 {
		s.BackgroundGrace = max(s.BackgroundGrace, o.DrainTimeout+GraceTime)
	}
	if o.HealthAddr != "" {
		if _, err := s.ListenTLS("serverparty-health", o.HealthAddr, p.ProbeHandler(), o.TLS.Server); err != nil {
			rc.Close()
			return fail(err)
		}
	}
	if o.APIAddr != "" {
		if _, err := s.ListenTLS("serverparty-api", o.APIAddr, p.API(serverparty.APIConfig{Allow: o.Allow, RateLimit: o.RateLimit, TrustedProxies: o.TrustedProxies}), o.TLS.Server); err != nil {
			rc.Close()
			return fail(err)
		}
	}
	stopped := make(chan struct{})
	s.OnStop(func() { close(stopped); closeAll(); rc.Close() })
	if lost := v.ClaimLost(); lost != nil {
		// A party that lost its claim of the vault writes nothing more to
		// it (vault.Exclusive): it stops, and claims it anew when it is
		// started again, unless another process holds it then.
		go func() {
			select {
			case <-lost:
				select {
				case s.errc <- fmt.Errorf("serverparty %s: the database connection holding the claim of its vault ended; stopping (start it again to claim the vault anew)", o.PartyID):
				case <-stopped:
				}
			case <-stopped:
			}
		}()
	}
	log.Info("server party ready", "party", o.PartyID, "vault", v.Location(), "key_id", v.KeyID(), "preparams_ready", v.CountPreParams(),
		"identity", key.Public().String(), "certified_until", chain[0].NotAfter.UTC().Format(time.RFC3339))
	return p, func(ctx context.Context) { _ = p.Run(ctx) }, nil
}

// StablePartyID is the party id kept in dataDir/party-id, made on first use
// ("server-" and 8 random hex digits), so a restarted server party is the
// same party and finds its shares.
func StablePartyID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "party-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := "server-" + hex.EncodeToString(r[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// HealthHandler serves GET /health from f and 404s everything else.
//
// It also serves the probes: GET /livez answers 200 while the process
// serves at all; GET /readyz answers f's status code (503 while the store
// or Redis does not answer) with the status alone.
func HealthHandler(f func(ctx context.Context) (int, map[string]any)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		code, body := f(context.WithValue(r.Context(), healthReq{}, r))
		httpx.WriteJSON(w, code, body)
	})
	httpx.AddProbes(mux, func(ctx context.Context) (int, string) {
		code, body := f(ctx)
		st, _ := body["status"].(string)
		return code, st
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return mux
}

// GraceTime is how long open requests get at shutdown.
const GraceTime = 10 * time.Second

// Addr is the bound address of the last port named name ("router",
// "coordinator", "account-api", "serverparty-api"), or "".
func (s *Stack) Addr(name string) string {
	for i := len(s.servers) - 1; i >= 0; i-- {
		if s.servers[i].Name() == name {
			return s.servers[i].Addr()
		}
	}
	return ""
}

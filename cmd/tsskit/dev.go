package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/httpx"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/stack"
	"github.com/rwadurian/tsskit/internal/webstatic"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// runDev runs the whole stack in one process on embedded defaults: router,
// coordinator with its account API, server parties and the server-party
// API; SQLite in the data dir, the memory bus.
func runDev(ctx context.Context, args []string) error {
	fs := newFlags("dev", "Everything in one process, for development: router, coordinator, account API, server parties, server-party API.",
		`  MPC_API_KEY, CRYPTO_MASTER_KEY  used when set; otherwise made once and kept in <data-dir>/dev-secrets.json
  ALLOWED_IPS      REST allowlist (default: any)
  TSSKIT_ORIGINS   gRPC-Web origins (default: any)
  TSSKIT_RECOVERY_KEYS  the app backends' recovery public keys, hex, comma-separated: every dev
                   server party accepts their approvals of a recovery (default: none)`)
	dataDir := fs.String("data-dir", filepath.Join(".data", "dev"), "state: SQLite store, vaults, dev secrets")
	coordAddr := fs.String("coordinator-addr", "127.0.0.1:8081", "coordinator gRPC / gRPC-Web")
	routerAddr := fs.String("router-addr", "127.0.0.1:8082", "router gRPC / gRPC-Web")
	apiAddr := fs.String("api-addr", "127.0.0.1:4000", "account REST API")
	partyAPIAddr := fs.String("party-api-addr", "127.0.0.1:8083", "server-party API")
	parties := fs.Int("server-parties", 3, "server parties to run")
	poolSize := fs.Int("preparams-pool", 2, "pre-parameter sets each server party keeps ready (-1: none)")
	workSlots := fs.Int("work-slots", 0, "each server party's protocol steps computed at once (0: the CPU count shared among the server parties)")
	admitWithin := admitWithinFlag(fs)
	signSlots := fs.Int("sign-slots", 0, "each server party's signing steps computed at once (0: the CPU count; see docs/scaling.md)")
	webAddr := fs.String("web-addr", "127.0.0.1:8080", `serves the admin app and --web-dir to browsers (empty: off)`)
	metricsAddr := fs.String("metrics-addr", "", "serve every dev service's Prometheus metrics on this address (e.g. 127.0.0.1:9090; empty: off)")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's profiles (GET /debug/pprof/profile?seconds=N, /debug/pprof/heap, ...) on this loopback address, for load investigations (docs/load.md; empty: off)")
	webDir := fs.String("web-dir", "examples/admin-web/dist,public", "comma-separated directories served in order: the admin app, then tss.wasm & co (make wasm)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *parties < 2 || *parties > 16 {
		return configErrorf("--server-parties must be 2..16")
	}
	if *workSlots < 0 || *workSlots > 1024 {
		return configErrorf("--work-slots %d: use 1..1024, or 0 for the CPU count shared among the server parties", *workSlots)
	}
	// Dev mode is cleartext, with development tokens handed out: loopback
	// only, never another machine's reach.
	for _, f := range []struct{ name, addr string }{{"--coordinator-addr", *coordAddr}, {"--router-addr", *routerAddr},
		{"--api-addr", *apiAddr}, {"--party-api-addr", *partyAPIAddr}, {"--web-addr", *webAddr}, {"--metrics-addr", *metricsAddr}, {"--pprof-addr", *pprofAddr}} {
		if f.addr != "" && !serve.IsLoopback(f.addr) {
			return configErrorf("%s %s: dev mode listens on loopback addresses only (127.0.0.1, ::1, localhost); "+
				"run the services apart, with TLS, to serve other machines", f.name, f.addr)
		}
	}
	secrets, made, err := loadDevSecrets(*dataDir)
	if err != nil {
		return err
	}
	mk, err := vault.ParseMasterKey(secrets.MasterKey)
	if err != nil {
		return configErrorf("%v", err)
	}
	allow, err := allowlistFromEnv(true)
	if err != nil {
		return err
	}
	proxies, limit, err := proxiesAndLimitFromEnv()
	if err != nil {
		return err
	}
	origins := serve.Origins{"*"}
	if v := os.Getenv(envOrigins); v != "" {
		origins = serve.ParseOrigins(v)
	}
	// The identity ceremony, done here for development: a dev deployment
	// root in the data dir certifies every server party at start.
	root, err := loadDevRoot(*dataDir)
	if err != nil {
		return err
	}
	trust, err := trustFromEnv(root.Public())
	if err != nil {
		return err
	}
	// The coordinator's token-signing key, kept in the data dir and
	// certified by the dev root at every start.
	minter, err := devMinter(*dataDir, root)
	if err != nil {
		return err
	}

	recoveryKeys, err := recoveryKeysFromEnv()
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr)
	st, err := newStack("dev", log, *metricsAddr, stack.TLS{})
	if err != nil {
		return err
	}
	dbURL, redisURL := os.Getenv(envDatabase), os.Getenv(envRedis)
	if _, err := st.AddRouterOn(*routerAddr, auth.NewVerifier(trust), origins, redisURL); err != nil {
		return err
	}
	if _, err := st.AddCoordinator(ctx, stack.CoordOpts{
		Addr: *coordAddr, APIAddr: *apiAddr, RouterAddr: loopback(*routerAddr), PartyAPI: "http://" + loopback(*partyAPIAddr),
		DataDir: *dataDir, Minter: minter, APIKey: secrets.APIKey, Allow: allow, Origins: origins, DatabaseURL: dbURL,
		TrustedProxies: proxies, RateLimit: limit, Trust: trust, AdmitWithin: *admitWithin,
	}); err != nil {
		return err
	}
	if *webAddr != "" {
		var roots []iofs.FS
		haveWasm := false
		for _, d := range strings.Split(*webDir, ",") {
			if d = strings.TrimSpace(d); d == "" {
				continue
			}
			roots = append(roots, os.DirFS(d))
			if _, err := os.Stat(filepath.Join(d, "tss.wasm")); err == nil {
				haveWasm = true
			}
		}
		if !haveWasm {
			log.Warn("no tss.wasm in the web dirs: run 'make wasm'", "dirs", *webDir)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /config.json", devConfig(minter, *coordAddr, *routerAddr, root.Public(), len(recoveryKeys) > 0))
		mux.Handle("/", webstatic.Handler(roots...))
		if _, err := st.Listen("web", *webAddr, mux); err != nil {
			return err
		}
	}
	var runs []func(context.Context)
	for i := 1; i <= *parties; i++ {
		// The parties share this machine's CPUs: by default each gets its
		// share of work slots, so admission plans for the machine it has.
		slots := *workSlots
		if slots == 0 {
			slots = max(1, runtime.NumCPU() / *parties)
		}
		o := stack.PartyOpts{
			PartyID: fmt.Sprintf("server-%d", i), CoordAddr: loopback(*coordAddr), RouterAddr: loopback(*routerAddr),
			DataDir: filepath.Join(*dataDir, fmt.Sprintf("server-%d", i)), MasterKey: mk, Pool: *poolSize, Version: version,
			DatabaseURL: dbURL, Trust: trust, Root: root,
			WorkSlots:    slots,
			SignSlots:    *signSlots,
			RecoveryKeys: recoveryKeys,
		}
		if i == 1 {
			o.APIAddr, o.Allow = *partyAPIAddr, allow
		}
		_, run, err := st.AddServerParty(o)
		if err != nil {
			return err
		}
		runs = append(runs, run)
	}
	admin, err := minter.MintAdmin("dev-admin", 12*time.Hour)
	if err != nil {
		return err
	}
	user, err := minter.MintUser(devUser, auth.Ops, nil, 12*time.Hour)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		run, _, err := servePprof(*pprofAddr)
		if err != nil {
			return err
		}
		runs = append(runs, run)
	}
	printDevBanner(secrets, made, *dataDir, admin, user, root.Public(), *coordAddr, *routerAddr, *apiAddr, *partyAPIAddr, *webAddr, *metricsAddr)
	return st.Run(ctx, runs...)
}

// devUser is the user the dev stack's user tokens are for.
const devUser = "dev-user"

func printDevBanner(s *devSecrets, made []string, dataDir, admin, user string, root identity.PublicKey, coord, router, api, partyAPI, web, metricsAddr string) {
	var b strings.Builder
	line := strings.Repeat("=", 72)
	fmt.Fprintf(&b, "%s\n tsskit DEVELOPMENT MODE: not for real funds. Secrets are local to %s\n%s\n", line, dataDir, line)
	if len(made) > 0 {
		fmt.Fprintf(&b, " generated now (shown once, kept in %s):\n", filepath.Join(dataDir, "dev-secrets.json"))
		for _, env := range made {
			v := map[string]string{envAPIKey: s.APIKey, envMasterKey: s.MasterKey}[env]
			fmt.Fprintf(&b, "   %s=%s\n", env, v)
		}
	} else {
		fmt.Fprintf(&b, " secrets: from the environment or %s\n", filepath.Join(dataDir, "dev-secrets.json"))
	}
	fmt.Fprintf(&b, " deployment root %s\n   (dev root, in %s; clients pin it: %s=%s)\n", root, filepath.Join(dataDir, devRootFile), envTrustRoot, root)
	fmt.Fprintf(&b, " account API     http://%s  (X-API-Key: $MPC_API_KEY)\n", loopback(api))
	fmt.Fprintf(&b, " coordinator     http://%s  (gRPC, gRPC-Web)\n", loopback(coord))
	fmt.Fprintf(&b, " router          http://%s  (gRPC, gRPC-Web)\n", loopback(router))
	fmt.Fprintf(&b, " server-party API http://%s\n", loopback(partyAPI))
	if web != "" {
		fmt.Fprintf(&b, " browser files   http://%s  (tss.wasm, tss-worker.js)\n", loopback(web))
	}
	if metricsAddr != "" {
		fmt.Fprintf(&b, " metrics         http://%s/metrics  (Prometheus, every dev service)\n", loopback(metricsAddr))
	}
	fmt.Fprintf(&b, " user token (12h, %s; what the admin app and the SDK use): %s\n", devUser, user)
	fmt.Fprintf(&b, " admin token (12h, for the CLI party and operators): %s\n%s\n", admin, line)
	fmt.Fprint(os.Stderr, b.String())
}

// devConfig tells the admin app where the services are and hands it a
// development user token — only in dev mode, which listens on loopback
// only, and only to a request whose Host is a loopback name: a page of
// another site that rebinds its own name to 127.0.0.1 gets nothing. The
// services' host is the one the page was loaded from, so the app works at
// localhost and 127.0.0.1 alike.
// recoveryBackend: the server parties accept the app backend's recovery
// approvals (TSSKIT_RECOVERY_KEYS is set), so the app offers them.
func devConfig(minter *auth.Minter, coordAddr, routerAddr string, root identity.PublicKey, recoveryBackend bool) http.Handler {
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return addr
		}
		return p
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		if !serve.IsLoopback(net.JoinHostPort(host, "0")) {
			httpx.WriteError(w, http.StatusForbidden, "forbidden_host", "the dev configuration is served to loopback host names only")
			return
		}
		tok, err := minter.MintUser(devUser, auth.Ops, nil, 12*time.Hour)
		if err != nil {
			httpx.WriteError(w, 500, "internal", "mint token")
			return
		}
		httpx.WriteJSON(w, 200, map[string]any{
			"coordinatorUrl":  "http://" + net.JoinHostPort(host, port(coordAddr)),
			"routerUrl":       "http://" + net.JoinHostPort(host, port(routerAddr)),
			"wasmUrl":         "/tss.wasm",
			"token":           tok,
			"trustRoot":       root.String(),
			"dev":             true,
			"recoveryBackend": recoveryBackend,
		})
	})
}

// devRootFile is the dev deployment root's key file in the data dir.
const devRootFile = "root.key"

// loadDevRoot reads the dev deployment root from dataDir, making it on
// first start.
func loadDevRoot(dataDir string) (*identity.Key, error) {
	return loadDevKey(dataDir, devRootFile)
}

// devCoordinatorKeyFile is the dev coordinator's token-signing key.
const devCoordinatorKeyFile = "coordinator.key"

// devMinter is the dev coordinator's token minter: its key from the data
// dir (made on first start), certified by the dev root for 30 days from
// each start.
func devMinter(dataDir string, root *identity.Key) (*auth.Minter, error) {
	k, err := loadDevKey(dataDir, devCoordinatorKeyFile)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	c, err := identity.Issue(root, identity.KindCoordinator, "coordinator", k.Public(), now.Add(-5*time.Minute), now.Add(30*24*time.Hour))
	if err != nil {
		return nil, err
	}
	return auth.NewMinter(k, []*identity.Certificate{c})
}

// loadDevKey reads an Ed25519 key from the data dir, making it on first use.
func loadDevKey(dataDir, name string) (*identity.Key, error) {
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil {
		defer clear(b)
		k, err := identity.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := writeNew(path, identity.MarshalPrivateKey(k), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// loopback turns a listen address (":8081") into one to dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// servePprof listens on addr (loopback) and returns the run that serves
// Go's profiles there until its context ends: /debug/pprof/profile (CPU,
// ?seconds=N, default 30, at most 600) and /debug/pprof/NAME (heap,
// goroutine, ... ; ?debug=N), as go tool pprof reads them. Written on
// runtime/pprof rather than net/http/pprof, whose import would register
// the profiler on http.DefaultServeMux in every tsskit command.
// It also returns the address it listens on.
func servePprof(addr string) (func(context.Context), string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err != nil || secs <= 0 {
			secs = 30
		}
		secs = min(secs, 600)
		w.Header().Set("Content-Type", "application/octet-stream")
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(strings.TrimPrefix(r.URL.Path, "/debug/pprof/"))
		if p == nil {
			http.NotFound(w, r)
			return
		}
		debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		if debug == 0 {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		_ = p.WriteTo(w, debug)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return func(ctx context.Context) {
		go func() {
			<-ctx.Done()
			srv.Close()
		}()
		_ = srv.Serve(ln)
	}, ln.Addr().String(), nil
}

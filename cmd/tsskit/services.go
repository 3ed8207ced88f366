package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/router"
	"github.com/rwadurian/tsskit/serverparty"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// stack is a set of running parts that stop in reverse order of start.
type stack struct {
	log     *slog.Logger
	servers []*serve.Server
	stops   []func()
	wg      sync.WaitGroup
	errc    chan error
	cancel  context.CancelFunc
}

func newStack(log *slog.Logger) *stack { return &stack{log: log, errc: make(chan error, 16)} }

// listen binds a port now (so a bad address fails at start) and serves it
// from run.
func (s *stack) listen(name, addr string, h http.Handler) (*serve.Server, error) {
	srv, err := serve.Listen(name, addr, h, s.log)
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", name, addr, err)
	}
	s.servers = append(s.servers, srv)
	return srv, nil
}

func (s *stack) onStop(f func()) { s.stops = append(s.stops, f) }

// run serves every port until ctx ends or one fails, then stops everything:
// services first (they fail running sessions with a reason), then ports.
func (s *stack) run(ctx context.Context, background ...func(context.Context)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srvCtx, stopServers := context.WithCancel(context.Background())
	defer stopServers()
	for _, srv := range s.servers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(srvCtx, graceTime); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
		s.log.Error("a port failed; shutting down", "err", err)
	}
	cancel()
	done := make(chan struct{})
	go func() { bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(graceTime):
		s.log.Warn("background work did not stop in time")
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	stopServers()
	s.wg.Wait()
	return err
}

// addRouter starts a router with the memory bus.
func (s *stack) addRouter(addr string, signer *auth.Signer, origins serve.Origins) (*router.MemoryBus, error) {
	bus := router.NewMemoryBus()
	unary, streamI := serve.Authenticate(signer)
	gs := serve.NewGRPC(router.DefaultLimits.MaxEnvelope+64<<10, unary, streamI)
	svc := router.New(bus, router.DefaultLimits, s.log.With("service", "router"))
	svc.Register(gs)
	health := healthHandler(func(context.Context) (int, map[string]any) {
		n, b := bus.Stats()
		return 200, map[string]any{"status": "ok", "components": map[string]any{"bus": "memory", "sessions": n, "bytes": b}}
	})
	if _, err := s.listen("router", addr, serve.Handler(gs, origins, health)); err != nil {
		return nil, err
	}
	s.onStop(func() { svc.Stop(); gs.Stop() })
	return bus, nil
}

type coordOpts struct {
	addr, apiAddr, routerAddr, partyAPI, dataDir string
	signer                                       *auth.Signer
	apiKey                                       string
	allow                                        *auth.Allowlist
	origins                                      serve.Origins
	heartbeatTimeout                             time.Duration
}

// addCoordinator starts the coordinator (gRPC + gRPC-Web on addr) and the
// account API on apiAddr.
func (s *stack) addCoordinator(ctx context.Context, o coordOpts) (*coordinator.Coordinator, error) {
	dbPath := filepath.Join(o.dataDir, "coordinator.db")
	st, err := store.OpenSQLite(dbPath)
	if err != nil {
		return nil, fmt.Errorf("coordinator: open store: %w", err)
	}
	rc, err := dial(o.routerAddr)
	if err != nil {
		st.Close()
		return nil, err
	}
	log := s.log.With("service", "coordinator")
	c, err := coordinator.New(ctx, coordinator.Config{
		Signer: o.signer, Store: st, Router: coordinator.NewGRPCRouter(rc, o.signer), Log: log,
		HeartbeatTimeout: o.heartbeatTimeout,
	})
	if err != nil {
		st.Close()
		rc.Close()
		return nil, err
	}
	unary, streamI := serve.Authenticate(o.signer)
	gs := serve.NewGRPC(4<<20, unary, streamI)
	c.Register(gs)
	if _, err := s.listen("coordinator", o.addr, serve.Handler(gs, o.origins, healthHandler(c.Health))); err != nil {
		return nil, err
	}
	api := c.AccountAPI(coordinator.AccountConfig{APIKey: o.apiKey, Allow: o.allow, PartyAPIURL: o.partyAPI, PartyAPIKey: o.apiKey})
	if _, err := s.listen("account-api", o.apiAddr, api); err != nil {
		return nil, err
	}
	s.onStop(func() {
		c.Stop()
		gs.Stop()
		rc.Close()
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	})
	log.Info("coordinator ready", "store", dbPath)
	return c, nil
}

type partyOpts struct {
	partyID, coordAddr, routerAddr, apiAddr, dataDir string
	signer                                           *auth.Signer
	masterKey                                        *vault.MasterKey
	apiKey                                           string
	allow                                            *auth.Allowlist
	pool                                             int
}

// addServerParty starts a server party; with apiAddr it also serves the
// server-party API. It returns the party's Run.
func (s *stack) addServerParty(o partyOpts) (*serverparty.Party, func(context.Context), error) {
	if o.partyID == "" {
		id, err := stablePartyID(o.dataDir)
		if err != nil {
			return nil, nil, err
		}
		o.partyID = id
	}
	v, err := vault.Open(filepath.Join(o.dataDir, "vault"), o.masterKey)
	if err != nil {
		return nil, nil, fmt.Errorf("serverparty: %w", err)
	}
	cc, err := dial(o.coordAddr)
	if err != nil {
		return nil, nil, err
	}
	rc, err := dial(o.routerAddr)
	if err != nil {
		cc.Close()
		return nil, nil, err
	}
	log := s.log.With("service", "serverparty")
	p, err := serverparty.New(serverparty.Config{
		PartyID: o.partyID, Coordinator: cc, Router: rc, Signer: o.signer, Vault: v,
		PoolTarget: o.pool, Version: version, Log: log,
	})
	if err != nil {
		return nil, nil, err
	}
	if o.apiAddr != "" {
		if _, err := s.listen("serverparty-api", o.apiAddr, p.API(serverparty.APIConfig{APIKey: o.apiKey, Allow: o.allow})); err != nil {
			return nil, nil, err
		}
	}
	s.onStop(func() { cc.Close(); rc.Close() })
	log.Info("server party ready", "party", o.partyID, "vault", v.Dir(), "key_id", v.KeyID(), "preparams_ready", v.CountPreParams())
	return p, func(ctx context.Context) { _ = p.Run(ctx) }, nil
}

// stablePartyID is the party id kept in dataDir/party-id, made on first use
// ("server-" and 8 random hex digits), so a restarted server party is the
// same party and finds its shares.
func stablePartyID(dataDir string) (string, error) {
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

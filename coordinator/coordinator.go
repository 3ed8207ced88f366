// Package coordinator runs tsskit sessions and keeps wallets. It never sees
// a key share or a protocol message: it creates sessions, assigns server
// parties from the pool, hands out per-(session, party) tokens, collects
// every party's session public keys into the roster, relays progress, and
// accepts a result only when it checks out — a keygen when every party
// reports the same public key, a signature when it verifies under the
// wallet's key.
package coordinator

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/tracing"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/roster"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// RouterControl opens and closes session streams on the router.
type RouterControl interface {
	Open(ctx context.Context, session string, parties []string, expires time.Time) error
	Close(ctx context.Context, session, reason string) error
}

// Config configures a Coordinator. Zero durations take the defaults.
type Config struct {
	// Minter signs every token the coordinator hands out, with its own
	// certified identity key; no other service can mint them.
	Minter *auth.Minter
	Store  store.Store
	Router RouterControl
	Log    *slog.Logger
	// Trust: the deployment roots and revoked keys; the pool admits only
	// server parties certified under them.
	Trust *identity.Trust

	JoinTimeout time.Duration // all parties must join within this (default 2m)
	// StallTimeout: a running session in which no party reached a new
	// round for this long has stalled and fails, naming who it waits on
	// (default 3m). A slow session that keeps progressing is never failed
	// for being slow, only at RunTimeout.
	StallTimeout      time.Duration
	RunTimeout        time.Duration // hard cap on a running session (default 30m)
	HeartbeatInterval time.Duration // what server parties are told (default 5s)
	// HeartbeatTimeout: a server party silent this long is not picked, and
	// one whose registration ended and did not come back within it fails
	// the live sessions it holds a seat in (default 15s).
	HeartbeatTimeout time.Duration
	Linger           time.Duration // finished sessions stay watchable this long (default 10m)

	// Replicas. Instance names this coordinator in the sessions it owns
	// (default: AdvertiseAddr, else the host name); it must be stable
	// across restarts, so a restarted replica fails exactly its own
	// unfinished sessions. AdvertiseAddr is the gRPC address other
	// replicas reach this one at; with it set, a call for a session owned
	// by another replica is forwarded there. SweepInterval: how often
	// sessions of a replica that never came back are failed (default 1m).
	Instance      string
	AdvertiseAddr string
	SweepInterval time.Duration

	// SessionQuota bounds the sessions one token holder (an admin or a
	// user, by subject) may create: a token bucket checked before any
	// server party is picked, so a burst past it costs the server parties
	// nothing. Nil takes DefaultSessionQuota; a zero RateLimit does not
	// limit.
	SessionQuota *auth.RateLimit

	// PeerTLS is how this replica dials the others (nil: cleartext). Peers
	// are the other replicas' advertised addresses: a call for a session
	// owned elsewhere is forwarded, with the caller's token, only to one of
	// these (the store's owner address is not trusted for that).
	PeerTLS *tls.Config
	Peers   []string

	// Metrics records sessions, refusals and the pool (nil: none).
	Metrics *metrics.Metrics

	// AdmitWithin is the deadline admission control plans new sessions
	// for (admission.go; default 2m): a keygen or signing that could not
	// finish well within it on the server parties it would use is refused
	// at once, RESOURCE_EXHAUSTED with the time to retry. The account API
	// plans for its own request timeout instead. Negative: no admission
	// control.
	AdmitWithin time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.JoinTimeout, 2*time.Minute)
	def(&c.StallTimeout, 3*time.Minute)
	def(&c.AdmitWithin, 2*time.Minute)
	def(&c.RunTimeout, 30*time.Minute)
	def(&c.SweepInterval, time.Minute)
	def(&c.HeartbeatTimeout, 15*time.Second)
	// A party must beat a few times within the timeout, or it flaps.
	def(&c.HeartbeatInterval, min(5*time.Second, c.HeartbeatTimeout/3))
	def(&c.Linger, 10*time.Minute)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Instance == "" {
		c.Instance = c.AdvertiseAddr
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	if c.Instance == "" {
		c.Instance = "coordinator"
	}
}

// maxLife is the longest a session can live: joining (with its grace),
// running, and a minute for the last reports.
func (c *Config) maxLife() time.Duration {
	return c.JoinTimeout + joinGrace + c.RunTimeout + time.Minute
}

// joinGrace is how much longer than JoinTimeout a session waits for its
// last parties when every one of them is a healthy server party that said
// it waits for a work slot before it joins (it makes pre-parameters on
// the spot, behind other sessions' steps): busy, not gone.
const joinGrace = time.Minute

// Coordinator is the service state. Create it with New, register its gRPC
// services, serve its account API, and Stop it on shutdown.
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	pool  *pool

	// noRetire: wallets whose last reshare with dropped holders seated
	// failed (walletID → until when): the next ones leave them out
	// (createClientReshare).
	noRetire sync.Map

	mu       sync.Mutex
	sessions map[string]*session
	users    map[string]bool // account user ids with a keygen in flight
	stopping chan struct{}
	stopped  chan struct{} // closed when Stop has finished
	wg       sync.WaitGroup

	peers peers // connections to other replicas, for forwarding

	quota      *auth.RateLimiter // sessions created per token holder
	quotaLimit auth.RateLimit
}

// New returns a coordinator. Sessions this instance left unfinished in a
// previous run are marked failed ("coordinator restarted"): their live
// state is gone with it. Sessions of other replicas are theirs; those of a
// replica gone for longer than a session can live are failed by the sweep.
func New(ctx context.Context, cfg Config) (*Coordinator, error) {
	cfg.defaults()
	if cfg.Minter == nil || cfg.Store == nil || cfg.Router == nil || cfg.Trust == nil {
		return nil, errors.New("coordinator: Minter, Store, Router and Trust are required")
	}
	n, err := cfg.Store.FailUnfinishedOwned(ctx, cfg.Instance, "coordinator restarted", time.Now())
	if err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	if n > 0 {
		cfg.Log.Warn("sessions left unfinished by the previous run were failed", "count", n, "instance", cfg.Instance)
	}
	quota := DefaultSessionQuota
	if cfg.SessionQuota != nil {
		quota = *cfg.SessionQuota
	}
	c := &Coordinator{
		cfg: cfg, log: cfg.Log, store: cfg.Store, pool: newPool(cfg.HeartbeatTimeout),
		quota: auth.NewRateLimiter(quota, time.Now, auth.DefaultMaxBuckets), quotaLimit: quota,
		sessions: map[string]*session{}, users: map[string]bool{}, stopping: make(chan struct{}), stopped: make(chan struct{}),
		peers: peers{conns: map[string]*grpc.ClientConn{}, tls: cfg.PeerTLS},
	}
	cfg.Metrics.Coordinator(c.metricsState)
	c.sweep(ctx)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-c.stopping:
				return
			case <-t.C:
				c.sweep(context.Background())
			}
		}
	}()
	return c, nil
}

// sweep fails sessions older than any session can live that are still
// unfinished: their coordinator died and never came back.
func (c *Coordinator) sweep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := c.store.FailStale(ctx, time.Now().Add(-c.cfg.maxLife()-time.Minute), "its coordinator stopped and did not come back", time.Now())
	if err != nil {
		c.log.Warn("sweep stale sessions", "err", err)
	} else if n > 0 {
		c.log.Warn("stale sessions of a vanished coordinator were failed", "count", n)
	}
}

// Register adds the coordinator and pool services to a gRPC server.
func (c *Coordinator) Register(gs *grpc.Server) {
	tsskitv1.RegisterCoordinatorServiceServer(gs, &forwardingCoord{coordService: &coordService{c: c}})
	tsskitv1.RegisterPoolServiceServer(gs, &forwardingPool{poolService: &poolService{c: c}})
}

// Stop fails every running session ("coordinator shutting down"), ends the
// pool's streams and waits for the session records to be written. Every
// call returns only when that is done.
func (c *Coordinator) Stop() {
	c.mu.Lock()
	select {
	case <-c.stopping:
		c.mu.Unlock()
		<-c.stopped
		return
	default:
	}
	close(c.stopping)
	defer close(c.stopped)
	var live []*session
	for _, s := range c.sessions {
		if !s.state.Final() {
			live = append(live, s)
		}
	}
	c.mu.Unlock()
	for _, s := range live {
		c.fail(s, "shutdown", "coordinator shutting down", nil)
	}
	c.wg.Wait()
	c.peers.close()
}

// HealthyParties lists the server parties that can be picked now.
func (c *Coordinator) HealthyParties() []string { return c.pool.healthy() }

// traceEvent records a session event on its span.
func traceEvent(span trace.Span, ev *tsskitv1.SessionEvent) {
	if span == nil || !span.IsRecording() {
		return
	}
	switch e := ev.Event.(type) {
	case *tsskitv1.SessionEvent_Waiting_:
		span.AddEvent("waiting", trace.WithAttributes(attribute.StringSlice("joined", e.Waiting.Joined), attribute.StringSlice("missing", e.Waiting.Missing)))
	case *tsskitv1.SessionEvent_Ready_:
		span.AddEvent("ready")
	case *tsskitv1.SessionEvent_Progress_:
		span.AddEvent("progress", trace.WithAttributes(attribute.String("party", e.Progress.PartyId), attribute.Int("round", int(e.Progress.Round))))
	case *tsskitv1.SessionEvent_Completed_:
		span.AddEvent("completed")
	case *tsskitv1.SessionEvent_Failed_:
		span.AddEvent("failed", trace.WithAttributes(attribute.String("code", e.Failed.Code), attribute.StringSlice("culprits", e.Failed.Culprits)))
	}
}

// metricsState is what a scrape of the coordinator's metrics reads.
func (c *Coordinator) metricsState() metrics.CoordinatorState {
	st := c.pool.metricsState()
	st.Live = map[string]int{}
	c.mu.Lock()
	for _, s := range c.sessions {
		if !s.state.Final() {
			st.Live[string(s.kind)]++
		}
	}
	c.mu.Unlock()
	return st
}

// Instance is the name this replica records as the owner of its sessions.
func (c *Coordinator) Instance() string { return c.cfg.Instance }

// session is a live session. Fields are guarded by Coordinator.mu.
type session struct {
	id         string
	kind       store.SessionKind
	walletID   string
	name       string
	userID     string
	ownerUser  string // the user whose token created it; "" for an admin or the account API
	signers    int
	parties    []string
	kinds      map[string]store.HolderKind
	servers    []string
	loaded     []string // the parties whose load this session counts (servers, and an account keygen's user-API party)
	userParty  string   // account API keygen: the party the server-party API runs
	claimed    bool
	reserved   bool // userID is reserved in Coordinator.users until the session ends
	registered bool // in Coordinator.sessions; its end releases what it holds
	digest     []byte
	wallet     *store.Wallet     // sign sessions
	path       []uint32          // sign sessions: the derivation path (empty: the wallet key)
	signingKey []byte            // sign sessions: the key the signature must verify under (the wallet's or its child)
	chainCodes map[string][]byte // keygen: each party's reported chain code
	epoch      int               // sign sessions: the wallet's active epoch
	reshare    *identity.Reshare // reshare sessions: what is handed over
	committee  *store.Committee  // reshare sessions that change the wallet's holders or signers: the new ones
	retirees   []string          // client reshares: dropped server holders seated in the old committee only
	// retireeFailed: one of retirees reported a failure (abortReshare).
	retireeFailed bool
	// recovery: at keygen, the recovery policy a client's statement sets
	// (recoverySet once one did); at a recovery, authorization is what
	// the coordinator relays to the server holders.
	recovery      identity.Recovery
	recoverySet   bool
	authorization *recovery.Authorization
	acks          map[string][]byte // reshare sessions: each new member's stored acknowledgement
	// earlier: reshare sessions: earlier runs of the epoch whose stored
	// acknowledgements a join presented, by session (earlierRunLocked).
	earlier map[string]*earlierRun

	keys    map[string]*tsskitv1.PartyKeys
	pubkeys map[string][]byte
	sigs    map[string]*tsskitv1.Signature
	rounds  map[string]uint32
	queued  map[string]uint32 // a server party's place in its work queue, as it last said
	// joinWait: server parties that said, before the session ran, that
	// they wait for a work slot before they join (progress at round 0);
	// joinGraced: the join timeout was extended once for them.
	joinWait   map[string]bool
	joinGraced bool

	state   store.SessionState
	events  []*tsskitv1.SessionEvent
	wake    chan struct{}
	done    chan struct{}
	created time.Time
	expires time.Time
	timer   *time.Timer // join timeout, then stall timeout
	capT    *time.Timer // RunTimeout
	moved   time.Time   // the last time a party reached a new round
	watch   map[string]int

	// span is the session's root span (package tracing): one trace per
	// session, whoever takes part.
	span trace.Span

	// persist writes run in the background; pseq orders them so a late
	// "running" write never overwrites "failed".
	pseq   uint64
	pmu    sync.Mutex
	pwrote uint64
}

func (s *session) finalEvent() *tsskitv1.SessionEvent {
	if !s.state.Final() || len(s.events) == 0 {
		return nil
	}
	return s.events[len(s.events)-1]
}

func (s *session) missing() (joined, missing []string) {
	for _, p := range s.parties {
		if _, ok := s.keys[p]; ok {
			joined = append(joined, p)
		} else {
			missing = append(missing, p)
		}
	}
	return joined, missing
}

// keygenSpec is a keygen request, from gRPC or the account API.
type keygenSpec struct {
	name, userID string
	ownerUser    string // the user token's user: the wallet is theirs
	signers, n   int
	clients      []string
	withUser     bool // add a user party for the server-party API to run
	// within: the deadline admission plans for (0: Config.AdmitWithin).
	within time.Duration
}

// signSpec is a signing request.
type signSpec struct {
	walletID string
	digest   []byte
	path     []uint32 // BIP32 derivation path; empty: the wallet key
	clients  []string
	servers  []string
	// within: the deadline admission plans for (0: Config.AdmitWithin).
	within time.Duration
	// mayUse, when set, refuses a wallet the caller may not sign with
	// (checked before any server party is picked).
	mayUse func(*store.Wallet) error
}

// created is what a new session's creator gets.
type created struct {
	s      *session
	tokens map[string]string // client party -> token
}

func (c *Coordinator) createKeygen(ctx context.Context, spec keygenSpec) (*created, error) {
	if spec.n < 2 || spec.n > 16 {
		return nil, status.Error(codes.InvalidArgument, "parties must be 2..16")
	}
	if spec.signers < 2 || spec.signers > spec.n {
		return nil, status.Errorf(codes.InvalidArgument, "signers_needed must be 2..%d", spec.n)
	}
	if len(spec.name) > 200 || len(spec.userID) > 128 {
		return nil, status.Error(codes.InvalidArgument, "name or user_id too long")
	}
	if err := checkParties(spec.clients); err != nil {
		return nil, err
	}
	nServers := spec.n - len(spec.clients)
	if spec.withUser {
		nServers--
	}
	if nServers < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%d client parties for %d parties", len(spec.clients), spec.n)
	}
	if spec.userID != "" {
		if err := c.reserveUser(ctx, spec.userID); err != nil {
			return nil, err
		}
	}
	release := func() {
		if spec.userID != "" {
			c.mu.Lock()
			delete(c.users, spec.userID)
			c.mu.Unlock()
		}
	}
	// A party that runs account users' parties is never also a server
	// holder of an account: one process would see two of its shares.
	loaded, err := c.pool.pick(nServers, pickRule{notUserAPI: spec.withUser, withUser: spec.withUser, kind: store.SessionKeygen, within: c.admitWithin(spec.within)})
	if err != nil {
		c.cfg.Metrics.SessionRefused(string(store.SessionKeygen), refusalReason(err))
		release()
		return nil, err
	}
	// The holders, then (account keygens) the user-API party planned for
	// the user party.
	servers := loaded[:nServers]
	s := c.newSession(store.SessionKeygen, uuid.NewString())
	s.name, s.userID, s.signers, s.reserved, s.ownerUser = spec.name, spec.userID, spec.signers, spec.userID != "", spec.ownerUser
	for _, p := range spec.clients {
		s.add(p, store.HolderClient)
	}
	if spec.withUser {
		s.userParty = "user-" + uuid.NewString()
		s.add(s.userParty, store.HolderUser)
	}
	for _, p := range servers {
		if s.kinds[p] != "" {
			c.pool.release(loaded, store.SessionKeygen)
			release()
			return nil, status.Errorf(codes.InvalidArgument, "client party %q has the id of a server party", p)
		}
		s.add(p, store.HolderServer)
	}
	s.servers, s.loaded = servers, loaded
	cr, err := c.start(ctx, s, spec.clients)
	if err != nil && !s.registered {
		release()
	}
	return cr, err
}

// reserveUser holds userID for one keygen at a time and refuses a user id
// that already has a wallet (one account per user).
func (c *Coordinator) reserveUser(ctx context.Context, userID string) error {
	c.mu.Lock()
	if c.users[userID] {
		c.mu.Unlock()
		return status.Error(codes.AlreadyExists, "an account for this user is being created")
	}
	c.users[userID] = true
	c.mu.Unlock()
	_, err := c.store.WalletByUser(ctx, userID)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		c.mu.Lock()
		delete(c.users, userID)
		c.mu.Unlock()
		if err == nil {
			return status.Error(codes.AlreadyExists, "user already has an account")
		}
		return storeStatus(err, "account")
	}
	return nil
}

// signingKey is the key a signing of w at path must verify under: the
// wallet's own key for the empty path, else its BIP32 child.
// FailedPrecondition when the store does not know w's chain code.
func signingKey(w *store.Wallet, path hd.Path) ([]byte, error) {
	if len(path) == 0 {
		return w.PublicKey, nil
	}
	cc, err := w.ChainCodeOrLegacy()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	child, err := hd.Derive(w.PublicKey, cc, path)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return child.PublicKey, nil
}

func (c *Coordinator) createSign(ctx context.Context, spec signSpec) (*created, error) {
	if len(spec.digest) != 32 {
		return nil, status.Errorf(codes.InvalidArgument, "digest must be 32 bytes, got %d", len(spec.digest))
	}
	if err := checkParties(append(slices.Clone(spec.clients), spec.servers...)); err != nil {
		return nil, err
	}
	if err := hd.Path(spec.path).Check(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	w, err := c.store.GetWallet(ctx, spec.walletID)
	if err != nil {
		return nil, storeStatus(err, "wallet")
	}
	// Whether the caller may use the wallet comes before anything about
	// it, the derived key included, is worked out or told.
	if spec.mayUse != nil {
		if err := spec.mayUse(w); err != nil {
			return nil, err
		}
	}
	signing, err := signingKey(w, spec.path)
	if err != nil {
		return nil, err
	}
	kindOf := map[string]store.HolderKind{}
	var serverHolders []string
	for _, h := range w.Holders {
		kindOf[h.PartyID] = h.Kind
		if h.Kind == store.HolderServer {
			serverHolders = append(serverHolders, h.PartyID)
		}
	}
	clientHeld := false
	for _, h := range w.Holders {
		clientHeld = clientHeld || h.Kind == store.HolderClient
	}
	for _, p := range spec.clients {
		if k := kindOf[p]; k == "" || k == store.HolderServer {
			return nil, status.Errorf(codes.PermissionDenied, "%q holds no client share of this wallet", p)
		}
	}
	// A co-managed wallet signs only with one of its clients: server
	// parties alone never reach the threshold on the operator's word.
	if clientHeld && len(spec.clients) == 0 {
		return nil, status.Error(codes.PermissionDenied, "a co-managed wallet signs with one of its client parties")
	}
	need := w.SignersNeeded - len(spec.clients)
	if need < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "%d client parties, the wallet needs %d signers", len(spec.clients), w.SignersNeeded)
	}
	among := serverHolders
	if len(spec.servers) > 0 {
		if len(spec.servers) != need {
			return nil, status.Errorf(codes.InvalidArgument, "%d server parties named, %d needed", len(spec.servers), need)
		}
		for _, p := range spec.servers {
			if kindOf[p] != store.HolderServer {
				return nil, status.Errorf(codes.InvalidArgument, "%q is not a server holder of this wallet", p)
			}
		}
		among = spec.servers
	}
	if need > 0 && len(among) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "the wallet has no server holders to complete the signers")
	}
	servers, err := c.pool.pick(need, pickRule{among: among, restrict: true, kind: store.SessionSign, within: c.admitWithin(spec.within)})
	if err != nil {
		return nil, c.pickRefused(store.SessionSign, err, "not enough healthy server holders of this wallet")
	}
	s := c.newSession(store.SessionSign, w.ID)
	s.wallet, s.signers, s.digest, s.ownerUser, s.epoch = w, w.SignersNeeded, slices.Clone(spec.digest), w.OwnerUser, w.Epoch
	s.path, s.signingKey = slices.Clone(spec.path), signing
	for _, p := range spec.clients {
		s.add(p, kindOf[p])
	}
	for _, p := range servers {
		s.add(p, store.HolderServer)
	}
	s.servers, s.loaded = servers, servers
	return c.start(ctx, s, spec.clients)
}

// admitWithin is the deadline admission plans a session for: the
// caller's, else the configured one; 0 (no admission) when it is off.
func (c *Coordinator) admitWithin(d time.Duration) time.Duration {
	switch {
	case c.cfg.AdmitWithin < 0:
		return 0
	case d > 0:
		return d
	}
	return c.cfg.AdmitWithin
}

// refusalReason labels a refused session in the metrics.
func refusalReason(err error) string {
	if _, ok := Overloaded(err); ok {
		return "overloaded"
	}
	return "unavailable"
}

func checkParties(ids []string) error {
	seen := map[string]bool{}
	for _, p := range ids {
		if err := roster.CheckID(p); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if seen[p] {
			return status.Errorf(codes.InvalidArgument, "party %q named twice", p)
		}
		seen[p] = true
	}
	return nil
}

func (c *Coordinator) newSession(kind store.SessionKind, walletID string) *session {
	now := time.Now()
	return &session{
		id: uuid.NewString(), kind: kind, walletID: walletID, kinds: map[string]store.HolderKind{},
		keys: map[string]*tsskitv1.PartyKeys{}, pubkeys: map[string][]byte{}, sigs: map[string]*tsskitv1.Signature{},
		rounds: map[string]uint32{}, queued: map[string]uint32{}, joinWait: map[string]bool{}, state: store.StateWaiting, wake: make(chan struct{}), done: make(chan struct{}),
		created: now, expires: now.Add(c.cfg.maxLife()), watch: map[string]int{},
	}
}

func (s *session) add(p string, k store.HolderKind) {
	s.parties = append(s.parties, p)
	s.kinds[p] = k
}

// start records the session, opens its router stream, hands server parties
// their assignments and starts the join clock.
func (c *Coordinator) start(ctx context.Context, s *session, clients []string) (*created, error) {
	select {
	case <-c.stopping:
		c.pool.release(s.loaded, s.kind)
		return nil, status.Error(codes.Unavailable, "coordinator shutting down")
	default:
	}
	tokens := map[string]string{}
	for _, p := range clients {
		tok, err := c.cfg.Minter.MintParty(s.id, p, time.Until(s.expires))
		if err != nil {
			c.pool.release(s.loaded, s.kind)
			return nil, status.Error(codes.Internal, "mint token")
		}
		tokens[p] = tok
	}
	if err := c.cfg.Router.Open(ctx, s.id, s.parties, s.expires); err != nil {
		c.pool.release(s.loaded, s.kind)
		return nil, status.Errorf(codes.Unavailable, "router: %v", err)
	}
	rec := &store.Session{ID: s.id, Kind: s.kind, WalletID: s.walletID, Parties: s.parties, State: store.StateWaiting, Digest: s.digest, Path: s.path, CreatedAt: s.created,
		Owner: c.cfg.Instance, OwnerAddr: c.cfg.AdvertiseAddr, OwnerUser: s.ownerUser}
	if err := c.store.CreateSession(ctx, rec); err != nil {
		c.pool.release(s.loaded, s.kind)
		_ = c.cfg.Router.Close(context.WithoutCancel(ctx), s.id, "not started")
		return nil, storeStatus(err, "session")
	}
	c.mu.Lock()
	select {
	case <-c.stopping:
		c.mu.Unlock()
		c.pool.release(s.loaded, s.kind)
		_ = c.cfg.Router.Close(context.WithoutCancel(ctx), s.id, "coordinator shutting down")
		return nil, status.Error(codes.Unavailable, "coordinator shutting down")
	default:
	}
	c.sessions[s.id] = s
	s.registered = true
	_, s.span = tracing.StartSession(context.Background(), s.id, string(s.kind))
	s.span.SetAttributes(attribute.String("tsskit.session.id", s.id), attribute.String("tsskit.wallet.id", s.walletID),
		attribute.StringSlice("tsskit.session.parties", s.parties), attribute.Int("tsskit.session.signers_needed", s.signers),
		attribute.String("tsskit.coordinator", c.cfg.Instance))
	joined, missing := s.missing()
	c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Waiting_{Waiting: &tsskitv1.SessionEvent_Waiting{Joined: joined, Missing: missing}}})
	s.timer = time.AfterFunc(c.cfg.JoinTimeout, func() { c.joinTimeout(s) })
	c.mu.Unlock()
	c.log.Info("session created", "session", s.id, "kind", s.kind, "wallet", s.walletID, "parties", s.parties)
	c.cfg.Metrics.SessionStarted(string(s.kind))

	kind := protoKind(s.kind)
	for _, p := range s.servers {
		tok, err := c.cfg.Minter.MintParty(s.id, p, time.Until(s.expires))
		a := &tsskitv1.Assignment{SessionId: s.id, Kind: kind, PartyId: p, Token: tok, WalletId: s.walletID,
			Parties: slices.Clone(s.parties), SignersNeeded: uint32(s.signers), Digest: slices.Clone(s.digest), DerivationPath: slices.Clone(s.path),
			RecordsChainCodes: s.kind == store.SessionKeygen, Epoch: uint32(s.epoch), Reshare: participant.ReshareProto(s.reshare, s.authorization)}
		if err == nil && c.pool.send(p, a) {
			continue
		}
		c.fail(s, "unavailable", fmt.Sprintf("server party %s could not be reached", p), []string{p})
		return nil, status.Errorf(codes.Unavailable, "server party %s could not be reached", p)
	}
	return &created{s: s, tokens: tokens}, nil
}

func (c *Coordinator) emitLocked(s *session, ev *tsskitv1.SessionEvent) {
	ev.SessionId = s.id
	ev.Seq = uint64(len(s.events) + 1)
	ev.AtUnixMs = time.Now().UnixMilli()
	s.events = append(s.events, ev)
	traceEvent(s.span, ev)
	close(s.wake)
	s.wake = make(chan struct{})
}

func (c *Coordinator) joinTimeout(s *session) {
	c.mu.Lock()
	if s.state != store.StateWaiting {
		c.mu.Unlock()
		return
	}
	_, missing := s.missing()
	if c.joinGraceLocked(s, missing) {
		s.joinGraced = true
		s.timer = time.AfterFunc(joinGrace, func() { c.joinTimeout(s) })
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.failIn(s, store.StateWaiting, "timeout", fmt.Sprintf("timed out waiting for %v to join", missing), missing)
}

// joinGraceLocked says whether a session whose join timeout came waits
// joinGrace more for the missing parties: once, and only when each of
// them is a healthy server party that reported a wait for a work slot
// before joining.
func (c *Coordinator) joinGraceLocked(s *session, missing []string) bool {
	if s.joinGraced || len(missing) == 0 {
		return false
	}
	for _, p := range missing {
		if !s.joinWait[p] || !c.pool.isHealthy(p) {
			return false
		}
	}
	return true
}

// runTimeout is the hard cap on a running session.
func (c *Coordinator) runTimeout(s *session) {
	c.mu.Lock()
	if s.state != store.StateRunning {
		c.mu.Unlock()
		return
	}
	silent := s.unreportedLocked()
	c.mu.Unlock()
	c.failIn(s, store.StateRunning, "timeout", fmt.Sprintf("not finished within %s; waiting for a result from %v", c.cfg.RunTimeout, silent), silent)
}

// stallCheck runs StallTimeout after the last progress: if no party has
// moved since, the session has stalled and fails, naming the parties it
// waits on; if one has, it checks again StallTimeout after that.
func (c *Coordinator) stallCheck(s *session) {
	c.mu.Lock()
	if s.state != store.StateRunning {
		c.mu.Unlock()
		return
	}
	next := c.cfg.StallTimeout - time.Since(s.moved)
	if next <= 0 && c.waitsForSlotLocked(s) {
		// Busy, not stalled (a place is reported once, when the wait
		// begins): the session waits on, as long as RunTimeout lets it.
		next = c.cfg.StallTimeout
	}
	if next > 0 {
		s.timer = time.AfterFunc(next, func() { c.stallCheck(s) })
		c.mu.Unlock()
		return
	}
	culprits, why := c.stalledOnLocked(s)
	c.mu.Unlock()
	c.failIn(s, store.StateRunning, "stalled", fmt.Sprintf("no progress for %s; waiting on %v (%s)", c.cfg.StallTimeout, culprits, why), culprits)
}

// waitsForSlotLocked reports whether a healthy server party of s still
// waits for a work slot (progress reported with queued > 0; only server
// parties' are recorded).
func (c *Coordinator) waitsForSlotLocked(s *session) bool {
	for p, q := range s.queued {
		if q > 0 && c.pool.isHealthy(p) {
			return true
		}
	}
	return false
}

// unreportedLocked lists the parties that have not reported a result.
func (s *session) unreportedLocked() []string {
	var out []string
	for _, p := range s.parties {
		_, k := s.pubkeys[p]
		_, g := s.sigs[p]
		if !k && !g {
			out = append(out, p)
		}
	}
	return out
}

// stalledOnLocked names the parties a stalled session waits on: those
// that are gone (a server party not registered and heart-beating, a client
// party with no open watch on this coordinator), else those furthest
// behind in rounds, else every party without a result.
func (c *Coordinator) stalledOnLocked(s *session) ([]string, string) {
	pending := s.unreportedLocked()
	var gone []string
	for _, p := range pending {
		if s.kinds[p] == store.HolderServer {
			if !c.pool.isHealthy(p) {
				gone = append(gone, p)
			}
		} else if s.watch[p] == 0 {
			gone = append(gone, p)
		}
	}
	if len(gone) > 0 {
		return gone, "disconnected"
	}
	low := uint32(1 << 31)
	for _, p := range pending {
		low = min(low, s.rounds[p])
	}
	var behind []string
	for _, p := range pending {
		if s.rounds[p] == low {
			behind = append(behind, p)
		}
	}
	if len(behind) < len(pending) {
		return behind, fmt.Sprintf("behind, at round %d", low)
	}
	return pending, "no party reached a new round"
}

// partyLost fails the live sessions in which server party id holds a seat
// and has not reported, once its registration ended and it did not come
// back within the heartbeat timeout: its sessions cannot finish.
func (c *Coordinator) partyLost(id string) {
	if c.pool.isHealthy(id) {
		return
	}
	c.mu.Lock()
	var hit []*session
	for _, s := range c.sessions {
		if s.state.Final() || !slices.Contains(s.servers, id) || !slices.Contains(s.unreportedLocked(), id) {
			continue
		}
		hit = append(hit, s)
	}
	c.mu.Unlock()
	for _, s := range hit {
		c.fail(s, "party_lost", fmt.Sprintf("server party %s disconnected and did not come back within %s", id, c.cfg.HeartbeatTimeout), []string{id})
	}
}

// session returns a live (or lingering) session.
func (c *Coordinator) session(id string) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	if !ok {
		return nil, status.Error(codes.NotFound, "unknown session")
	}
	return s, nil
}

func (c *Coordinator) join(id string, k *tsskitv1.PartyKeys) error {
	if k == nil || len(k.X25519) != 32 || len(k.Ed25519) != 32 {
		return status.Error(codes.InvalidArgument, "keys: x25519 and ed25519 must be 32 bytes each")
	}
	s, err := c.session(id)
	if err != nil {
		return err
	}
	earlier := c.earlierRecords(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.kinds[k.PartyId] == "" {
		return status.Error(codes.PermissionDenied, "not a party of this session")
	}
	if err := s.checkAbandoned(k); err != nil {
		return err
	}
	if err := s.checkStored(k); err != nil {
		return err
	}
	if err := s.checkStatement(k); err != nil {
		if st, _ := status.FromError(err); st.Code() == codes.FailedPrecondition && strings.HasPrefix(st.Message(), "stale_epoch") && !s.state.Final() {
			// A holder whose share is of an older epoch cannot take part:
			// the signing fails now, naming it, rather than at the join
			// timeout.
			c.failLocked(s, "stale_epoch", fmt.Sprintf("%s: %s", k.PartyId, st.Message()), []string{k.PartyId})
		}
		return err
	}
	if old, ok := s.keys[k.PartyId]; ok {
		if bytes.Equal(old.X25519, k.X25519) && bytes.Equal(old.Ed25519, k.Ed25519) && bytes.Equal(old.Statement, k.Statement) {
			return nil // a retried join
		}
		return status.Error(codes.AlreadyExists, "already joined with other keys")
	}
	if s.state != store.StateWaiting {
		// A party that joins late (pre-parameters take a while) learns
		// why the session ended, as a watcher would.
		if f := s.finalEvent().GetFailed(); f != nil {
			return status.Errorf(codes.FailedPrecondition, "session is failed: %s", f.Reason)
		}
		return status.Errorf(codes.FailedPrecondition, "session is %s", s.state)
	}
	s.keys[k.PartyId] = proto.Clone(k).(*tsskitv1.PartyKeys)
	if len(k.Stored) > 0 {
		c.earlierRunLocked(s, k, earlier)
	}
	joined, missing := s.missing()
	if len(missing) > 0 {
		c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Waiting_{Waiting: &tsskitv1.SessionEvent_Waiting{Joined: joined, Missing: missing}}})
		return nil
	}
	if len(s.earlier) > 0 && c.completeRunLocked(s) {
		return nil // an earlier run was activated instead
	}
	ready := &tsskitv1.SessionEvent_Ready{Kind: protoKind(s.kind), WalletId: s.walletID, SignersNeeded: uint32(s.signers), Digest: s.digest, DerivationPath: s.path,
		RecordsChainCodes: s.kind == store.SessionKeygen, Reshare: participant.ReshareProto(s.reshare, s.authorization)}
	for _, p := range s.parties {
		ready.Roster = append(ready.Roster, s.keys[p])
	}
	s.state = store.StateRunning
	c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Ready_{Ready: ready}})
	s.timer.Stop()
	s.moved = time.Now()
	s.timer = time.AfterFunc(c.cfg.StallTimeout, func() { c.stallCheck(s) })
	s.capT = time.AfterFunc(c.cfg.RunTimeout, func() { c.runTimeout(s) })
	c.persist(s, nil)
	return nil
}

func (c *Coordinator) progress(id, partyID string, round, rounds, queued uint32) error {
	s, err := c.session(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.kinds[partyID] == "" {
		return status.Error(codes.PermissionDenied, "not a party of this session")
	}
	max := uint32(keygenRounds)
	switch s.kind {
	case store.SessionSign:
		max = signRounds
	case store.SessionReshare:
		max = reshareRounds
	}
	if s.kinds[partyID] != store.HolderServer {
		queued = 0 // only server parties have work queues
	}
	// Round 0 is a server party's wait before its first step, or the end
	// of that wait (queued 0 after a queued report at round 0) — also
	// before the session runs: a party making pre-parameters on the spot
	// waits for a work slot before it joins, and the session's watchers
	// see that it waits, not that it is gone.
	if (round == 0 && queued == 0 && s.queued[partyID] == 0) || round > max || rounds != max {
		return status.Errorf(codes.InvalidArgument, "round %d of %d: this session has %d rounds", round, rounds, max)
	}
	if s.state.Final() || (s.state != store.StateRunning && round != 0) || round < s.rounds[partyID] {
		return nil
	}
	if s.state == store.StateWaiting && s.kinds[partyID] == store.HolderServer {
		s.joinWait[partyID] = true // busy before it joins (joinGraceLocked)
	}
	if round == s.rounds[partyID] {
		// The same round: only a change of place in a server party's work
		// queue is news. A party that waits its turn is not stalled: the
		// stall timer restarts when it reports a wait (at most RunTimeout
		// in all), and the event shows where it is.
		if queued == s.queued[partyID] { // always, for a client party (queued 0)
			return nil
		}
		s.queued[partyID] = queued
		if queued > 0 {
			s.moved = time.Now()
		}
		c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Progress_{Progress: &tsskitv1.SessionEvent_Progress{PartyId: partyID, Round: round, Rounds: rounds, Queued: queued}}})
		return nil
	}
	s.rounds[partyID] = round
	s.queued[partyID] = queued
	s.moved = time.Now()
	c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Progress_{Progress: &tsskitv1.SessionEvent_Progress{PartyId: partyID, Round: round, Rounds: rounds, Queued: queued}}})
	return nil
}

func (c *Coordinator) claimUserParty(id, caller, userParty string) (*tsskitv1.ClaimUserPartyResponse, error) {
	if !c.pool.runsUserParties(caller) {
		return nil, status.Error(codes.PermissionDenied, "only a server party registered to run users' parties (the server-party API) claims one")
	}
	s, err := c.session(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.kinds[caller] != "" {
		return nil, status.Error(codes.PermissionDenied, "a party of this session cannot also run its user party")
	}
	if s.userParty == "" {
		return nil, status.Error(codes.FailedPrecondition, "session has no user party")
	}
	// Only the coordinator's own request for this user party (its token's
	// subject) claims it: any other party's token for the session — every
	// server party of it holds one, and the router sees them — is refused
	// before the one claim is used up.
	if userParty != s.userParty {
		return nil, status.Error(codes.PermissionDenied, "the request was not for this session's user party")
	}
	if s.claimed {
		return nil, status.Error(codes.AlreadyExists, "user party already claimed")
	}
	if s.state != store.StateWaiting {
		return nil, status.Errorf(codes.FailedPrecondition, "session is %s", s.state)
	}
	tok, err := c.cfg.Minter.MintParty(s.id, s.userParty, time.Until(s.expires))
	if err != nil {
		return nil, status.Error(codes.Internal, "mint token")
	}
	s.claimed = true
	return &tsskitv1.ClaimUserPartyResponse{PartyId: s.userParty, Token: tok, WalletId: s.walletID,
		Parties: slices.Clone(s.parties), SignersNeeded: uint32(s.signers), RecordsChainCodes: true,
		Kind: protoKind(s.kind), Reshare: participant.ReshareProto(s.reshare, s.authorization)}, nil
}

// fail ends a session as failed, once.
func (c *Coordinator) fail(s *session, code, reason string, culprits []string) {
	c.failIn(s, "", code, reason, culprits)
}

// failID fails a live session by id, if there is one.
func (c *Coordinator) failID(id, code, reason string, culprits []string) {
	if s, err := c.session(id); err == nil {
		c.fail(s, code, reason, culprits)
	}
}

// failIn fails s if it is still in state want ("" = any unfinished state):
// a timeout that lost a race with progress must not fail a session that
// moved on.
func (c *Coordinator) failIn(s *session, want store.SessionState, code, reason string, culprits []string) {
	c.mu.Lock()
	if s.state.Final() || (want != "" && s.state != want) {
		c.mu.Unlock()
		return
	}
	s.state = store.StateFailed
	c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Failed_{Failed: &tsskitv1.SessionEvent_Failed{Code: code, Reason: reason, Culprits: culprits}}})
	c.finishLocked(s)
	c.persist(s, &store.Session{Reason: reason, Culprits: culprits, Code: storableCode(code)})
	c.abortReshare(s, code, culprits)
	c.mu.Unlock()
	c.auditFinish(s.id, s.kind, s.walletID, s.userID, store.StateFailed, reason)
	c.log.Warn("session failed", "session", s.id, "kind", s.kind, "code", code, "reason", reason, "culprits", culprits)
}

// finishLocked releases what a final session holds.
func (c *Coordinator) finishLocked(s *session) {
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.capT != nil {
		s.capT.Stop()
	}
	close(s.done)
	c.pool.release(s.loaded, s.kind)
	if s.registered {
		res, code := metrics.ResultCompleted, ""
		if s.state == store.StateFailed {
			res = metrics.ResultFailed
			if f := s.finalEvent().GetFailed(); f != nil {
				code = f.Code
			}
		}
		c.cfg.Metrics.SessionFinished(string(s.kind), res, code, time.Since(s.created))
	}
	if s.span != nil {
		if f := s.finalEvent().GetFailed(); f != nil {
			tracing.Fail(s.span, f.Code, f.Reason, f.Culprits)
		}
		s.span.End()
	}
	if s.reserved {
		delete(c.users, s.userID)
	}
	time.AfterFunc(c.cfg.Linger, func() {
		c.mu.Lock()
		delete(c.sessions, s.id)
		c.mu.Unlock()
	})
}

// storableCode is a failure code as the store keeps it: "" for one it
// would refuse (codes are ours, so that is none; the event has it).
func storableCode(code string) string {
	if len(code) > store.MaxCodeLen || strings.ContainsFunc(code, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) {
		return ""
	}
	return code
}

// persist writes the session's state (and closes its router stream when it
// is final) in the background; Stop waits for these writes.
func (c *Coordinator) persist(s *session, extra *store.Session) {
	rec := &store.Session{ID: s.id, Kind: s.kind, WalletID: s.walletID, Parties: s.parties, State: s.state, Digest: s.digest, Path: s.path, CreatedAt: s.created,
		Run: s.runRecord()}
	if extra != nil {
		rec.Reason, rec.Culprits, rec.Code, rec.Signature, rec.StoredAcks = extra.Reason, extra.Culprits, extra.Code, extra.Signature, extra.StoredAcks
	}
	if rec.State.Final() {
		rec.FinishedAt = time.Now()
	}
	s.pseq++
	seq := s.pseq
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s.pmu.Lock()
		defer s.pmu.Unlock()
		if seq < s.pwrote {
			return // a later state is already written
		}
		s.pwrote = seq
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.store.UpdateSession(ctx, rec); err != nil {
			c.log.Error("store session", "session", s.id, "err", err)
		}
		if rec.State.Final() {
			if err := c.cfg.Router.Close(ctx, s.id, string(rec.State)); err != nil {
				c.log.Warn("close router session", "session", s.id, "err", err)
			}
		}
	}()
}

// wait blocks until the session is final or ctx ends and returns its final
// event.
func (c *Coordinator) wait(ctx context.Context, s *session) (*tsskitv1.SessionEvent, error) {
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.finalEvent(), nil
}

// Rounds of each protocol, as the engine counts them (party.Progress).
const (
	keygenRounds  = party.KeygenRounds
	signRounds    = party.SignRounds
	reshareRounds = party.ReshareRounds
)

func protoKind(k store.SessionKind) tsskitv1.SessionKind {
	switch k {
	case store.SessionSign:
		return tsskitv1.SessionKind_SESSION_KIND_SIGN
	case store.SessionReshare:
		return tsskitv1.SessionKind_SESSION_KIND_RESHARE
	}
	return tsskitv1.SessionKind_SESSION_KIND_KEYGEN
}

func storeStatus(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s not found", what)
	case errors.Is(err, store.ErrExists):
		return status.Errorf(codes.AlreadyExists, "%s already exists", what)
	case errors.Is(err, store.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Errorf(codes.Unavailable, "store: %v", err)
}

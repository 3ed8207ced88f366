// Package serverparty is the native server party: it registers with the
// coordinator's pool, heart-beats, runs the sessions it is assigned (keygen
// and signing, through package participant), keeps its shares encrypted at
// rest (package vault) and keeps a pool of ready pre-parameters so a keygen
// never waits for safe primes. It also serves the server-party API, which
// runs the user's party for the account API and hands its share back.
package serverparty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/tracing"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// Config configures a server party.
type Config struct {
	PartyID     string
	Coordinator grpc.ClientConnInterface
	// Coordinators: replicas of the coordinator beside Coordinator. The
	// party registers with each (every replica picks parties from its own
	// pool) and runs an assignment through the replica that sent it.
	Coordinators []grpc.ClientConnInterface
	Router       grpc.ClientConnInterface
	// Minter mints this party's service tokens with its identity key (the
	// coordinator's pool takes nothing else from it).
	Minter *auth.Minter
	Vault  *vault.Vault
	// Identity is the party's long-term identity key (from its vault),
	// Chain its certificate chain from the deployment root, Trust the
	// pinned roots and revoked keys every roster is checked against.
	Identity   *identity.Key
	Chain      []*identity.Certificate
	Trust      *identity.Trust
	PoolTarget int // pre-params kept ready (default 2; 0 keeps none: -1)
	// GenConcurrency is how many safe-prime searches a pre-params
	// generation runs at once (default 1, so a background refill leaves
	// the other cores to running sessions).
	GenConcurrency int
	// UserAPI: this party also serves the server-party API (runs account
	// users' parties); the coordinator then never makes it a server holder
	// of an account.
	UserAPI bool
	// RecoveryKeys are the app backends' recovery keys: an approval one
	// of them signs may authorize the recovery of a wallet whose policy
	// accepts its backend's approvals (package party/recovery).
	RecoveryKeys []identity.PublicKey
	Version      string
	Log          *slog.Logger
	// Metrics records this party's sessions, rounds and pre-parameters
	// (nil: none).
	Metrics *metrics.Metrics
	// DrainTimeout: when Run's context ends, the party first drains —
	// tells every coordinator it takes no new sessions, refuses new
	// assignments, and lets the sessions it runs finish — for at most
	// this long, then fails what is left. Zero: no drain, running
	// sessions fail at once.
	DrainTimeout time.Duration
	// WorkSlots: protocol steps run at once (default: the CPU count);
	// the rest wait in order, signings first (workGate).
	WorkSlots int
	// SignSlots: signing steps run at once, in their own lane (default:
	// the CPU count, or WorkSlots if more). Not split like WorkSlots
	// when parties share a host: a signing's rounds alternate between
	// its parties, so with one slot each the two of a signing leave a
	// core idle, and signings are short.
	SignSlots int
	// Host: the sessions of the parties sharing this machine's CPUs, which
	// a pool refill waits for (nil: this party's own). Give the parties
	// of one process the same one.
	Host *Host
}

// Party is a running server party.
type Party struct {
	cfg     Config
	log     *slog.Logger
	links   []*link // one per coordinator replica
	running atomic.Int32
	host    *Host
	// draining: Run's context ended and the party is finishing its
	// sessions before it stops.
	draining atomic.Bool
	refill   chan struct{}
	gate     *workGate
	wg       sync.WaitGroup
	// poolMu holds a count of the pre-params pool and the line logging
	// it together. Every change is followed by a count, so the last line
	// logged gives the level after the last change (the load program
	// trusts it); counts and lines apart could log out of order.
	poolMu sync.Mutex

	// signed remembers the signing sessions this party has taken a seat
	// in, until their sign requests have expired: a coordinator that
	// replays a session gets no second signature from it.
	signedMu sync.Mutex
	signed   map[string]time.Time
	// resharing holds the wallets this party is resharing: one reshare
	// per wallet at a time, from storing its pending share to activating
	// it, so another session's pending share of the same epoch never
	// takes its place in between.
	resharing sync.Map
}

// link is the party's registration with one coordinator replica.
type link struct {
	conn   participant.Conn
	pool   tsskitv1.PoolServiceClient
	coord  tsskitv1.CoordinatorServiceClient
	online atomic.Bool
}

// New checks cfg and returns a party; Run starts it.
func New(cfg Config) (*Party, error) {
	if err := roster.CheckID(cfg.PartyID); err != nil {
		return nil, fmt.Errorf("serverparty: party id: %w", err)
	}
	coords := cfg.Coordinators
	if cfg.Coordinator != nil {
		coords = append([]grpc.ClientConnInterface{cfg.Coordinator}, coords...)
	}
	if len(coords) == 0 || cfg.Router == nil || cfg.Minter == nil || cfg.Vault == nil {
		return nil, errors.New("serverparty: Coordinator, Router, Minter and Vault are required")
	}
	if cfg.Identity == nil || cfg.Trust == nil {
		return nil, errors.New("serverparty: an identity key and a trust root are required")
	}
	if err := cfg.Trust.Verify(cfg.Chain, cfg.PartyID, identity.KindServer, cfg.Identity.Public(), time.Now()); err != nil {
		return nil, fmt.Errorf("serverparty: certificate: %w", err)
	}
	if cfg.PoolTarget == 0 {
		cfg.PoolTarget = 2
	}
	if cfg.GenConcurrency <= 0 {
		cfg.GenConcurrency = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.WorkSlots <= 0 {
		cfg.WorkSlots = runtime.NumCPU()
	}
	if cfg.SignSlots <= 0 {
		cfg.SignSlots = max(cfg.WorkSlots, runtime.NumCPU())
	}
	if cfg.Host == nil {
		cfg.Host = NewHost()
	}
	p := &Party{cfg: cfg, log: cfg.Log.With("party", cfg.PartyID), refill: make(chan struct{}, 1), signed: map[string]time.Time{},
		host: cfg.Host, gate: newHostGate(cfg.Host, cfg.WorkSlots, cfg.SignSlots)}
	p.gate.observe = func(class int, wait time.Duration) { cfg.Metrics.WorkWait(className(class), wait) }
	cfg.Metrics.ServerParty(cfg.PartyID, p.PreParamsReady, p.Running)
	cfg.Metrics.WorkGate(cfg.PartyID, p.gate.Busy, func() int { s, _ := p.gate.Queued(); return s }, func() int { _, k := p.gate.Queued(); return k })
	for _, cc := range coords {
		p.links = append(p.links, &link{
			conn: participant.Conn{Coordinator: cc, Router: cfg.Router},
			pool: tsskitv1.NewPoolServiceClient(cc), coord: tsskitv1.NewCoordinatorServiceClient(cc),
		})
	}
	return p, nil
}

// ID is the party id.
func (p *Party) ID() string { return p.cfg.PartyID }

// Online reports whether the party is registered with a coordinator now.
func (p *Party) Online() bool {
	for _, l := range p.links {
		if l.online.Load() {
			return true
		}
	}
	return false
}

// Running is the number of sessions in progress.
func (p *Party) Running() int { return int(p.running.Load()) }

// PreParamsReady is the number of pre-params in the pool.
func (p *Party) PreParamsReady() int { return p.cfg.Vault.CountPreParams() }

func (p *Party) creds() grpc.CallOption {
	tok, err := p.cfg.Minter.MintService(p.cfg.PartyID, 10*time.Minute)
	if err != nil {
		// The signer was checked at start; a failure here is a bug.
		panic("serverparty: mint service token: " + err.Error())
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok))
}

// Run registers with every coordinator replica (again after every break),
// runs assigned sessions and refills the pre-params pool until ctx ends.
// Sessions in progress then fail with a reason and Run returns when they
// have.
//
// With a DrainTimeout, the end of ctx starts a drain instead: the party
// stays registered (its seats in running sessions depend on it), says in
// its heartbeats that it is draining so no coordinator picks it again,
// refuses assignments that still arrive, and returns once its sessions
// have finished or the timeout has passed.
func (p *Party) Run(ctx context.Context) error {
	life := ctx
	if p.cfg.DrainTimeout > 0 {
		var stop context.CancelFunc
		life, stop = context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		go func() {
			select {
			case <-ctx.Done():
				p.drain(stop)
			case <-life.Done():
			}
		}()
	}
	p.wg.Add(1 + len(p.links))
	go func() { defer p.wg.Done(); p.fillPool(ctx) }() // no new pre-parameters while draining
	for _, l := range p.links {
		go func() { defer p.wg.Done(); p.register(life, l) }()
	}
	p.wg.Wait()
	return nil
}

// Draining reports whether the party is finishing its sessions before it
// stops (it takes no new ones).
func (p *Party) Draining() bool { return p.draining.Load() }

// drain tells every coordinator the party is draining, waits for the
// running sessions to end (at most DrainTimeout) and then calls stop.
func (p *Party) drain(stop context.CancelFunc) {
	p.draining.Store(true)
	n := p.Running()
	p.log.Info("draining: no new sessions; finishing the running ones", "running", n, "at_most", p.cfg.DrainTimeout)
	for _, l := range p.links {
		if !l.online.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := l.pool.Heartbeat(ctx, p.heartbeatRequest(), p.creds()); err != nil {
			p.log.Warn("could not tell the coordinator this party is draining", "err", err)
		}
		cancel()
	}
	deadline := time.After(p.cfg.DrainTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for p.Running() > 0 {
		select {
		case <-deadline:
			p.log.Warn("drain timeout: failing the sessions still running", "running", p.Running())
			stop()
			return
		case <-tick.C:
		}
	}
	p.log.Info("drained: every session this party ran has ended")
	stop()
}

func (p *Party) heartbeatRequest() *tsskitv1.HeartbeatRequest {
	s, k := p.gate.Queued()
	return &tsskitv1.HeartbeatRequest{PartyId: p.cfg.PartyID, PreparamsReady: uint32(p.PreParamsReady()),
		RunningSessions: uint32(p.Running()), Draining: p.Draining(), WorkSlots: uint32(p.gate.slots), WorkQueued: uint32(s + k),
		SignSlots: uint32(p.gate.signSlots)}
}

// register keeps the party registered with one replica until ctx ends.
func (p *Party) register(ctx context.Context, l *link) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.serveAssignments(ctx, l)
		if l.online.Swap(false) {
			backoff = 100 * time.Millisecond // it was registered: a fresh break
		}
		if ctx.Err() != nil {
			break
		}
		p.log.Warn("coordinator stream ended; registering again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (p *Party) serveAssignments(ctx context.Context, l *link) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The coordinator's challenge, answered on the same connection: a
	// recording of this registration is worth nothing to anyone else.
	ch, err := l.pool.Challenge(sctx, &tsskitv1.ChallengeRequest{PartyId: p.cfg.PartyID}, p.creds())
	if err != nil {
		return err
	}
	proof, sig := identity.SignRegistration(p.cfg.Identity, p.cfg.PartyID, ch.Challenge)
	stream, err := l.pool.Register(sctx, &tsskitv1.RegisterRequest{PartyId: p.cfg.PartyID, Version: p.cfg.Version, RunsUserParties: p.cfg.UserAPI,
		Certificates: identity.EncodeChain(p.cfg.Chain), Proof: proof, ProofSignature: sig}, p.creds())
	if err != nil {
		return err
	}
	// The stream is open once the first heartbeat is answered.
	interval, err := p.heartbeat(sctx, l)
	if err != nil {
		return err
	}
	l.online.Store(true)
	p.log.Info("registered with the coordinator", "heartbeat", interval)
	go p.heartbeats(sctx, l, cancel, interval)
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.resumeAll(sctx, l) }()
	for {
		a, err := stream.Recv()
		if err != nil {
			return err
		}
		if p.Draining() {
			// Picked before the coordinator heard of the drain.
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.refuse(ctx, l, a, "draining", errors.New("this server party is shutting down and takes no new sessions"))
			}()
			continue
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.handle(ctx, l, a) }()
	}
}

// heartbeat sends the first heartbeat and returns the interval the
// coordinator asks for.
func (p *Party) heartbeat(ctx context.Context, l *link) (time.Duration, error) {
	var err error
	for range 50 { // the Register call may not have reached the coordinator yet
		var resp *tsskitv1.HeartbeatResponse
		resp, err = l.pool.Heartbeat(ctx, p.heartbeatRequest(), p.creds())
		if err == nil {
			return max(time.Duration(resp.IntervalMs)*time.Millisecond, 100*time.Millisecond), nil
		}
		if status.Code(err) != codes.NotFound {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return 0, err
}

func (p *Party) heartbeats(ctx context.Context, l *link, broken context.CancelFunc, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		resp, err := l.pool.Heartbeat(ctx, p.heartbeatRequest(), p.creds())
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("heartbeat failed", "err", err)
			}
			if status.Code(err) == codes.NotFound {
				broken() // the coordinator forgot us: register again
				return
			}
			continue
		}
		if ms := resp.IntervalMs; ms >= 100 {
			interval = time.Duration(ms) * time.Millisecond
		}
	}
}

func (p *Party) handle(ctx context.Context, l *link, a *tsskitv1.Assignment) {
	log := p.log.With("session", a.SessionId, "kind", a.Kind)
	job := participant.Job{SessionID: a.SessionId, PartyID: a.PartyId, Token: a.Token, Log: log,
		Identity: p.cfg.Identity, Chain: p.cfg.Chain, Kind: identity.KindServer, Trust: p.cfg.Trust,
		WalletID: a.WalletId, Parties: a.Parties, Threshold: int(a.SignersNeeded), Digest: a.Digest, Path: a.DerivationPath}
	start := time.Now()
	m, kind := p.cfg.Metrics, kindName(a.Kind)
	round := m.RoundTimer(kind)
	tr := tracing.StartParty(ctx, a.SessionId, p.cfg.PartyID, kind)
	defer tr.End()
	job.Progress = func(pr party.Progress) { round(pr.Round); tr.Round(pr.Round) }
	class := classKeygen
	if a.Kind == tsskitv1.SessionKind_SESSION_KIND_SIGN {
		class = classSign
	}
	defer p.begin(class)()
	gate := p.gate.session(class)
	defer gate.Close()
	// A signing holds keygen steps back from its assignment, not only
	// from its first step: keygen steps that start while it joins would
	// run beside its first rounds (docs/scaling.md).
	gate.Hold()
	var preTime time.Duration
	job.Gate = gate
	job.Cost = func() (time.Duration, time.Duration) { return gate.Held(), preTime }
	done := func(err error) {
		res := metrics.ResultCompleted
		if err != nil {
			res = metrics.ResultFailed
			tr.Fail(err)
		}
		m.PartySession(p.cfg.PartyID, kind, res, time.Since(start))
	}
	switch a.Kind {
	case tsskitv1.SessionKind_SESSION_KIND_KEYGEN:
		if !a.RecordsChainCodes {
			p.refuse(ctx, l, a, "coordinator_outdated", errCoordinatorOutdated)
			return
		}
		var pre *keygen.LocalPreParams
		var err error
		pre, preTime, err = p.takePreParams(ctx, gate, participant.WaitReporter(ctx, l.coord, a.SessionId, a.PartyId, a.Token, party.KeygenRounds))
		if err != nil {
			p.refuse(ctx, l, a, "preparams", err)
			return
		}
		out, err := participant.Keygen(ctx, l.conn, job, pre, p.cfg.Vault.PutShare)
		done(err)
		if err != nil {
			log.Warn("keygen failed", "err", err)
			return
		}
		log.Info("keygen done", "wallet", out.Share.WalletID, "address", out.Address, "took", time.Since(start).Round(time.Millisecond))
	case tsskitv1.SessionKind_SESSION_KIND_SIGN:
		rec := p.shareFor(ctx, l, a)
		if rec == nil {
			return
		}
		if rec.Epoch < int(a.Epoch) {
			// The coordinator activated an epoch this party's reshare of
			// the wallet may still be activating (its Completed event and
			// the client's signing race): its share once that is done.
			// Read again even if no reshare runs now: it may have ended
			// between the read above and this check.
			p.awaitReshare(ctx, a.WalletId)
			if rec = p.shareFor(ctx, l, a); rec == nil {
				return
			}
			if rec.Epoch < int(a.Epoch) {
				// Still behind: a reshare whose end this party missed
				// left its new share pending. Finish it from the
				// coordinator's record of the session, checked here.
				if err := p.resumePending(ctx, l, a.WalletId); err != nil {
					log.Warn("a pending share stays pending", "wallet", a.WalletId, "err", err)
				}
				if rec = p.shareFor(ctx, l, a); rec == nil {
					return
				}
			}
		}
		if err := p.firstSigning(a.SessionId); err != nil {
			p.refuse(ctx, l, a, "replay", err)
			return
		}
		_, err := participant.Sign(ctx, l.conn, job, rec)
		done(err)
		if err != nil {
			log.Warn("signing failed", "err", err)
			return
		}
		log.Info("signing done", "wallet", a.WalletId, "took", time.Since(start).Round(time.Millisecond))
	case tsskitv1.SessionKind_SESSION_KIND_RESHARE:
		spec := participant.ReshareFromProto(a.Reshare)
		if spec == nil || spec.Epoch < 1 {
			p.refuse(ctx, l, a, "invalid_argument", errors.New("a reshare assignment without its reshare"))
			return
		}
		// Its new share's record will name the session: an id the vault
		// cannot store is refused now, before anyone computes, not at the
		// end, when the other holders may have stored theirs.
		if err := vault.CheckSessionID(a.SessionId); err != nil {
			p.refuse(ctx, l, a, "invalid_argument", fmt.Errorf("session id: %w", err))
			return
		}
		// A seat of a session that failed may still be finishing the round
		// it was computing (a tss-lib round cannot be interrupted): a retry
		// made at once waits for it rather than fail, naming this party.
		p.awaitReshare(ctx, a.WalletId)
		if _, busy := p.resharing.LoadOrStore(a.WalletId, true); busy {
			p.refuse(ctx, l, a, "busy", errors.New("this party is already resharing the wallet"))
			return
		}
		defer p.resharing.Delete(a.WalletId)
		inOld, inNew := slices.Contains(spec.Old, a.PartyId), slices.Contains(spec.New, a.PartyId)
		var rec *share.Record
		if inOld {
			if rec = p.shareFor(ctx, l, a); rec == nil {
				return
			}
		}
		// One acknowledged run per epoch (docs/lifecycle.md): a share
		// this party holds pending from an earlier run of the epoch is
		// replaced (or, in the old committee only, outlived) only if
		// another new holder of that run abandoned it
		// (party.CheckEarlierRun, once every party joined); this
		// party's stored acknowledgement of it goes in the join, so
		// that a run every holder stored is activated late instead.
		if err := p.earlierRun(&job, a.WalletId, a.PartyId, spec.Epoch, a.SessionId); err != nil {
			code := "vault"
			if errors.Is(err, vault.ErrFrozen) {
				code = string(party.CodeRunFrozen)
			}
			p.refuse(ctx, l, a, code, err)
			return
		}
		var pre *keygen.LocalPreParams
		if inNew {
			// One acknowledged run per epoch (docs/lifecycle.md): earlier
			// runs of this epoch that never stored their share are
			// abandoned for good, and this party's join says so, signed;
			// this run is recorded before anything is computed.
			ab, err := p.cfg.Vault.JoinRun(a.WalletId, a.PartyId, spec.Epoch, a.SessionId)
			if err != nil {
				p.refuse(ctx, l, a, "vault", fmt.Errorf("record the reshare run: %w", err))
				return
			}
			for _, s := range ab {
				job.Abandoned = append(job.Abandoned, identity.SignAbandoned(job.Identity, s, a.WalletId, a.PartyId, spec.Epoch))
			}
			if pre, preTime, err = p.takePreParams(ctx, gate, participant.WaitReporter(ctx, l.coord, a.SessionId, a.PartyId, a.Token, party.ReshareRounds)); err != nil {
				p.refuse(ctx, l, a, "preparams", err)
				return
			}
		}
		job.Reshare = spec
		if b := a.Reshare.GetRecoveryAuthorization(); len(b) > 0 {
			// The party checks it itself, against its own record and
			// configuration (party.Reshare); the coordinator only relays it.
			auth, err := recovery.Decode(b)
			if err != nil {
				p.refuse(ctx, l, a, "recovery_refused", fmt.Errorf("the recovery authorization: %w", err))
				return
			}
			job.Authorization, job.BackendKeys = auth, p.cfg.RecoveryKeys
		}
		// The new share is stored pending; it signs only once the
		// coordinator has activated its epoch, which Reshare's return
		// without error says (the Completed event).
		// Its record names the session, so that a missed end is
		// finished against this session only, after a restart too
		// (resumePending).
		save := func(r *share.Record) error { return p.cfg.Vault.PutPendingShareFrom(r, a.SessionId) }
		out, err := participant.Reshare(ctx, l.conn, job, rec, pre, save)
		done(err)
		if se := (*participant.SessionError)(nil); errors.As(err, &se) && se.Code == string(party.CodeRunComplete) && job.Pending != nil {
			// The coordinator activated the earlier run instead, from
			// every holder's acknowledgement: this party's pending share
			// of it is activated once they verify here.
			if rerr := p.resumePendingHeld(ctx, l, a.WalletId); rerr != nil {
				log.Warn("the earlier run's share stays pending", "wallet", a.WalletId, "err", rerr)
			}
		}
		if err != nil {
			log.Warn("reshare failed", "err", err)
			return
		}
		if out.Share != nil {
			// Only with every new holder's signed word that it stored its
			// share: the coordinator alone cannot make this party drop
			// its old share while a holder has no new one.
			if !out.Activate {
				log.Error("the new share stays pending", "wallet", a.WalletId, "epoch", spec.Epoch, "err", out.NotActivated)
				return
			}
			if err := p.cfg.Vault.ActivateShareFrom(a.WalletId, a.PartyId, spec.Epoch, a.SessionId); err != nil {
				log.Error("activate the new share", "wallet", a.WalletId, "epoch", spec.Epoch, "err", err)
				return
			}
		} else if inOld {
			// In the old committee only: the wallet moved on without this
			// party. Its old share would keep the old epoch able to sign
			// with the other old holders', so it goes — on every new
			// holder's signed word that it stored its share, never on
			// the coordinator's alone.
			if !out.Retire {
				log.Error("the old share is kept: the new epoch's holders are not all confirmed", "wallet", a.WalletId, "epoch", spec.Epoch, "err", out.NotActivated)
				return
			}
			if err := p.cfg.Vault.RetireShare(a.WalletId, a.PartyId, spec.Epoch); err != nil {
				log.Error("delete the old share", "wallet", a.WalletId, "epoch", spec.Epoch, "err", err)
				return
			}
			log.Info("old share deleted: the wallet's new committee does not include this party", "wallet", a.WalletId, "epoch", spec.Epoch)
		}
		log.Info("reshare done", "wallet", a.WalletId, "epoch", spec.Epoch, "took", time.Since(start).Round(time.Millisecond))
	default:
		p.refuse(ctx, l, a, "unsupported", fmt.Errorf("session kind %v", a.Kind))
	}
}

// earlierRun sets j's pending share of an earlier run of walletID's
// epoch, if this party holds one (Job.Pending), and its stored
// acknowledgement of that run, signed again with the identity key that
// run's record names for this party (Job.Stored): the key of a run
// before this party's identity key changed is gone, and the run then
// cannot be found complete.
func (p *Party) earlierRun(j *participant.Job, walletID, partyID string, epoch int, sessionID string) error {
	pending, from, err := p.cfg.Vault.GetPendingShareFrom(walletID, partyID)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		// Neither checked nor replaced blindly: an operator looks.
		return fmt.Errorf("the pending share of the wallet cannot be read (an operator removes it): %w", err)
	}
	if !party.IsEarlierRun(pending, from, sessionID, walletID, partyID, epoch) {
		return nil
	}
	// A run an operator froze (tsskit settle) is on its way to being
	// dropped, and one whose drop was cut short (recorded abandoned, its
	// share still here) is to be dropped again: this party takes part in
	// no other run of the epoch until then (or a thaw), so that no
	// coordinator can find the run complete meanwhile.
	runs, err := p.cfg.Vault.Runs(walletID, partyID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(runs, func(r vault.Run) bool { return r.SessionID == from && vault.Settling(r.State) }) {
		return fmt.Errorf("%w: run %s of the epoch is frozen here, or its drop was cut short (tsskit settle); drop or thaw it first", vault.ErrFrozen, from)
	}
	j.Pending, j.PendingSession, j.Stored = pending, from, party.StoredAgain(j.Identity, pending, from)
	return nil
}

// resumePending finishes a reshare of wallet whose end this party missed
// (its event stream broke for good, it was told Failed while the others
// were told Completed, or it restarted before the end): if the
// coordinator says the wallet's active epoch was made by the very session
// its pending share's record names (the session it was stored from,
// authenticated with the share), of that share's epoch, it checks every
// new holder's stored acknowledgement in that session under the identity
// key the pending share records for that holder, and only then makes the
// pending share its share. Acknowledgements name the session, not the
// share: a coordinator that ran the same epoch twice must not pair a
// share of one run with the other's. No pending share is nil. While
// another reshare of the wallet runs here it waits for that instead.
func (p *Party) resumePending(ctx context.Context, l *link, wallet string) error {
	// No reshare of the wallet may replace the pending share meanwhile.
	if _, busy := p.resharing.LoadOrStore(wallet, true); busy {
		p.awaitReshare(ctx, wallet)
		return nil
	}
	defer p.resharing.Delete(wallet)
	return p.resumePendingHeld(ctx, l, wallet)
}

// resumePendingHeld is resumePending for a caller that holds the
// wallet's resharing flag.
func (p *Party) resumePendingHeld(ctx context.Context, l *link, wallet string) error {
	pending, stored, err := p.cfg.Vault.GetPendingShareFrom(wallet, p.cfg.PartyID)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if stored == "" {
		return fmt.Errorf("the pending share of epoch %d names no session it is from (stored by an earlier version): an operator activates or deletes it", pending.Epoch)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := l.pool.GetEpochSession(cctx, &tsskitv1.GetEpochSessionRequest{PartyId: p.cfg.PartyID, WalletId: wallet}, p.creds())
	if err != nil {
		return fmt.Errorf("ask the coordinator how the active epoch was made: %w", err)
	}
	if int(resp.Epoch) != pending.Epoch || resp.SessionId != stored {
		return fmt.Errorf("the pending share is of epoch %d, from session %s; the coordinator says epoch %d is active, made by session %s", pending.Epoch, stored, resp.Epoch, resp.SessionId)
	}
	if err := participant.VerifyStoredAcks(resp.SessionId, pending, resp.StoredAcks); err != nil {
		return fmt.Errorf("session %s: %w", resp.SessionId, err)
	}
	if err := p.cfg.Vault.ActivateShareFrom(wallet, p.cfg.PartyID, pending.Epoch, stored); err != nil {
		return err
	}
	p.log.Info("pending share activated: the reshare's end was missed, every holder's stored acknowledgement verifies", "wallet", wallet, "epoch", pending.Epoch, "session", resp.SessionId)
	return nil
}

// resumeAll runs resumePending for every pending share of this party in
// its vault, at each registration, so a party whose stream to the
// coordinator broke before a reshare's end, or that restarted, activates
// its new share (and deletes its old one) as soon as it is back.
func (p *Party) resumeAll(ctx context.Context, l *link) {
	// A record that does not parse is named in err and the others are
	// listed all the same: one bad record keeps no other share pending.
	refs, err := p.cfg.Vault.ListPendingShares()
	if err != nil {
		p.log.Warn("list the pending shares", "err", err)
	}
	for _, r := range refs {
		if r.PartyID != p.cfg.PartyID {
			continue
		}
		if err := p.resumePending(ctx, l, r.WalletID); err != nil {
			p.log.Info("a pending share stays pending", "wallet", r.WalletID, "err", err)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// awaitReshare waits, for a bounded time, until this party runs no
// reshare of wallet.
func (p *Party) awaitReshare(ctx context.Context, wallet string) {
	if _, busy := p.resharing.Load(wallet); !busy {
		return
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, busy := p.resharing.Load(wallet); !busy {
			return
		}
	}
	return
}

// shareFor reads this party's share of a's wallet, or refuses the seat
// (nil) saying only what the coordinator may know of why.
func (p *Party) shareFor(ctx context.Context, l *link, a *tsskitv1.Assignment) *share.Record {
	rec, err := p.cfg.Vault.GetShare(a.WalletId, a.PartyId)
	if err != nil {
		code, public := vaultRefusal(err)
		p.log.Warn("cannot read the share", "session", a.SessionId, "wallet", a.WalletId, "err", err)
		p.refuse(ctx, l, a, code, errors.New(public))
		return nil
	}
	return rec
}

// kindName is a session kind as a metrics label.
func kindName(k tsskitv1.SessionKind) string {
	switch k {
	case tsskitv1.SessionKind_SESSION_KIND_KEYGEN:
		return "keygen"
	case tsskitv1.SessionKind_SESSION_KIND_SIGN:
		return "sign"
	case tsskitv1.SessionKind_SESSION_KIND_RESHARE:
		return "reshare"
	}
	return "other"
}

// firstSigning records that this party takes a seat in signing session id
// and refuses a session it has already been in: its sign request would be
// used twice. The record is in memory, so a restart forgets it; what keeps
// a replayed sign request from being used is that it binds the client's
// session keys, so the signing cannot run without that client taking part
// live.
func (p *Party) firstSigning(id string) error {
	p.signedMu.Lock()
	defer p.signedMu.Unlock()
	now := time.Now()
	for s, until := range p.signed {
		if now.After(until) {
			delete(p.signed, s)
		}
	}
	if _, seen := p.signed[id]; seen {
		return fmt.Errorf("this party already took part in signing session %s", id)
	}
	p.signed[id] = now.Add(identity.MaxStatementLife + clockSkew)
	return nil
}

// clockSkew is how far another machine's clock is allowed to be from this
// one's when a statement's life is counted.
const clockSkew = 2 * time.Minute

// vaultRefusal is the code and the reason a session's other parties and
// callers see when the share cannot be read: what is wrong, never where
// (file paths, database rows) or the underlying error's text; the full
// error is logged here.
func vaultRefusal(err error) (code, reason string) {
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return "no_share", "this party holds no share of the wallet"
	case errors.Is(err, vault.ErrCorrupt):
		return "share_corrupt", "the stored share is corrupt (see the server party's log)"
	case errors.Is(err, vault.ErrWrongKey):
		return "wrong_key", "the stored share is encrypted under another master key (see the server party's log)"
	}
	return "vault", "the share could not be read (see the server party's log)"
}

// refuse tells the coordinator this party cannot take its seat, so the
// session fails now with the reason instead of timing out.
func (p *Party) refuse(ctx context.Context, l *link, a *tsskitv1.Assignment, code string, err error) {
	p.log.Warn("cannot take part", "session", a.SessionId, "code", code, "err", err)
	p.cfg.Metrics.PartySession(p.cfg.PartyID, kindName(a.Kind), metrics.ResultRefused, 0)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = l.coord.ReportResult(rctx, &tsskitv1.ReportResultRequest{
		SessionId: a.SessionId, PartyId: a.PartyId,
		Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: code, Reason: err.Error()}},
	}, grpc.PerRPCCredentials(serve.Bearer(a.Token)))
}

// TakePreParams takes ready pre-params from the pool, or makes a set now if
// the pool is empty.
func (p *Party) TakePreParams(ctx context.Context) (*keygen.LocalPreParams, error) {
	pre, _, err := p.takePreParams(ctx, p.gate.session(classKeygen), nil)
	return pre, err
}

// takePreParams is TakePreParams for a session: a set made now is that
// session's work, made when the session's turn at the gate comes, and
// how long it took is returned as the session's pre-parameter cost.
func (p *Party) takePreParams(ctx context.Context, gate *sessionGate, waiting func(queued int)) (*keygen.LocalPreParams, time.Duration, error) {
	defer p.kickRefill()
	pre, err := p.takeFromPool()
	if err == nil {
		return pre, 0, nil
	}
	if !errors.Is(err, vault.ErrEmpty) {
		return nil, 0, err
	}
	// The wait for a slot comes before the join: said as the session's
	// wait (waiting, if set), so that its watchers see where it is.
	queued := false
	var report func(int)
	if waiting != nil {
		report = func(pos int) {
			queued = true
			waiting(pos)
		}
	}
	err = p.gate.enter(ctx, gate.class, gate.ticket, report)
	if queued {
		waiting(0)
	}
	if err != nil {
		return nil, 0, err
	}
	defer p.gate.leave(gate.class)
	p.log.Info("pre-params pool empty: generating for this session")
	start := time.Now()
	pause := &signPause{host: p.host}
	pre, err = preparams.Generate(ctx, &preparams.Options{Concurrency: 0, Pause: pause.pause})
	// The pauses are the signings' time, not this session's work.
	return pre, time.Since(start) - pause.paused, err
}

// takeFromPool takes the pool's oldest sound set. An entry that fails
// authentication or validation is set aside by the vault (kept for
// inspection), logged, and the next one taken: a corrupt entry costs the
// session nothing. Each take logs the pool's level after it, as
// "pre-params ready" does after a put, so the log shows the level at
// every change.
func (p *Party) takeFromPool() (*keygen.LocalPreParams, error) {
	for {
		pre, err := p.cfg.Vault.TakePreParams()
		switch {
		case err == nil:
			p.logPoolLevel(slog.LevelInfo, "pre-params taken")
			return pre, nil
		case errors.Is(err, vault.ErrCorrupt):
			// Set aside already: each turn of the loop removes an entry.
			p.logPoolLevel(slog.LevelError, "pre-params entry corrupt, set aside", "err", err)
		case errors.Is(err, vault.ErrEmpty):
			return nil, err
		default:
			// An entry under another key is put back; an i/o error may
			// leave one claimed: the level is logged either way.
			p.logPoolLevel(slog.LevelError, "pre-params take failed", "err", err)
			return nil, err
		}
	}
}

// putInPool adds a set made by a refill and logs the pool's level after it.
func (p *Party) putInPool(pre *keygen.LocalPreParams, took time.Duration, paused int) error {
	if _, err := p.cfg.Vault.PutPreParams(pre); err != nil {
		return err
	}
	p.logPoolLevel(slog.LevelInfo, "pre-params ready", "took", took.Round(time.Millisecond), "paused", paused)
	return nil
}

// logPoolLevel logs msg with the pool's level ("pool") as of now.
func (p *Party) logPoolLevel(level slog.Level, msg string, args ...any) {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	p.log.Log(context.Background(), level, msg, append([]any{"pool", p.cfg.Vault.CountPreParams()}, args...)...)
}

func (p *Party) kickRefill() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

// fillPool keeps PoolTarget pre-params ready.
func (p *Party) fillPool(ctx context.Context) {
	if p.cfg.PoolTarget < 0 {
		return
	}
	for {
		for ctx.Err() == nil && p.cfg.Vault.CountPreParams() < p.cfg.PoolTarget {
			// Sessions first: a generation starts only while the host
			// runs no session, and pauses whenever one runs.
			if !p.host.waitIdle(ctx) {
				return
			}
			start := time.Now()
			pre, paused, err := p.generateRefill(ctx)
			if err != nil {
				if ctx.Err() == nil {
					p.log.Error("pre-params generation failed", "err", err)
				}
				break
			}
			if err := p.putInPool(pre, time.Since(start), paused); err != nil {
				p.log.Error("store pre-params", "err", err)
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.refill:
		case <-time.After(time.Minute):
		}
	}
}

// generateRefill makes one set of pre-parameters for the pool in a work
// slot of the last class (after any keygen step that waits), and pauses —
// frees the slot, keeps what it found — whenever a session runs on the
// host (any party sharing its CPUs; refillPause): a refill begun while
// the host was idle never holds the CPU against a session that came
// after it, and loses no work to it. paused counts the pauses. Under
// steady load the pool is not refilled, and keygens make their
// pre-parameters on the spot, as their work.
func (p *Party) generateRefill(ctx context.Context) (pre *keygen.LocalPreParams, paused int, err error) {
	if err := p.gate.enter(ctx, classRefill, 0, nil); err != nil {
		return nil, 0, err
	}
	pause := &refillPause{host: p.host, gate: p.gate}
	pause.held.Store(true)
	defer pause.release()
	pre, err = preparams.Generate(ctx, &preparams.Options{Concurrency: p.cfg.GenConcurrency, Pause: pause.pause})
	return pre, pause.paused, err
}

// className is a work class as a metrics label.
func className(class int) string {
	switch class {
	case classSign:
		return "sign"
	case classRefill:
		return "refill"
	}
	return "keygen"
}

// errCoordinatorOutdated refuses a keygen from a coordinator older than
// chain codes: it would record the wallet without the chain code this
// party records, and serve addresses no holder signs for.
var errCoordinatorOutdated = errors.New("the coordinator does not record chain codes (it is older than this server party): upgrade coordinators before server parties")

// userRun records a refresh's user party joining sessionID (a new holder
// of walletID's epoch) in the vault, and returns its device key for the
// run and its abandoned-run statements for the earlier runs of the epoch
// it never stored (vault.JoinUserRun, identity.RunKey).
func (p *Party) userRun(walletID, userParty string, epoch int, sessionID string) (*identity.Key, [][]byte, error) {
	if p.cfg.Identity == nil {
		return nil, nil, errors.New("this server party has no identity key to derive the user party's from")
	}
	ab, err := p.cfg.Vault.JoinUserRun(walletID, userParty, epoch, sessionID)
	if err != nil {
		return nil, nil, fmt.Errorf("record the user party's reshare run: %w", err)
	}
	var statements [][]byte
	for _, s := range ab {
		k, err := identity.RunKey(p.cfg.Identity, s, walletID, userParty, epoch)
		if err != nil {
			return nil, nil, err
		}
		statements = append(statements, identity.SignAbandoned(k, s, walletID, userParty, epoch))
		k.Destroy()
	}
	device, err := identity.RunKey(p.cfg.Identity, sessionID, walletID, userParty, epoch)
	if err != nil {
		return nil, nil, err
	}
	return device, statements, nil
}

// UserShare is a user party's result from the server-party API.
type UserShare struct {
	PartyID string
	Record  *share.Record
	Address string
}

// RunUserParty claims the user party of an account keygen session (kind
// keygen) or refresh (kind reshare: the user party is a new member only,
// with a new device identity) and runs it here; the share is returned,
// not stored. A claim of another kind than the caller's is refused, so an
// older server-party API never runs a reshare as a keygen.
func (p *Party) RunUserParty(ctx context.Context, sessionID, userParty string, kind tsskitv1.SessionKind) (*UserShare, error) {
	// Any replica serves the claim (it forwards to the session's owner);
	// the first that answers is used for the whole session.
	var claim *tsskitv1.ClaimUserPartyResponse
	var l *link
	var err error
	for _, l = range p.links {
		claim, err = l.pool.ClaimUserParty(ctx, &tsskitv1.ClaimUserPartyRequest{SessionId: sessionID, UserPartyId: userParty}, p.creds())
		if status.Code(err) != codes.Unavailable {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	// What refuse tells the coordinator, should this party not take the seat.
	seat := &tsskitv1.Assignment{SessionId: sessionID, Kind: kind, PartyId: claim.PartyId, Token: claim.Token}
	claimed := claim.Kind
	if claimed == tsskitv1.SessionKind_SESSION_KIND_UNSPECIFIED {
		claimed = tsskitv1.SessionKind_SESSION_KIND_KEYGEN // a coordinator older than reshares
	}
	var spec *identity.Reshare
	if kind == tsskitv1.SessionKind_SESSION_KIND_RESHARE {
		spec = participant.ReshareFromProto(claim.Reshare)
	}
	if claimed != kind || (kind == tsskitv1.SessionKind_SESSION_KIND_RESHARE && (spec == nil || !slices.Contains(spec.New, claim.PartyId) || slices.Contains(spec.Old, claim.PartyId))) {
		err := fmt.Errorf("the session is a %v; this call runs a %v user party as a new member", claimed, kind)
		p.refuse(ctx, l, seat, "unsupported", err)
		return nil, err
	}
	if !claim.RecordsChainCodes {
		p.refuse(ctx, l, seat, "coordinator_outdated", errCoordinatorOutdated)
		return nil, errCoordinatorOutdated
	}
	defer p.begin(classKeygen)()
	gate := p.gate.session(classKeygen)
	// (A user party's place in this host's queue is not reported: the
	// coordinator takes work queues from server parties only.)
	pre, _, err := p.takePreParams(ctx, gate, nil)
	if err != nil {
		p.refuse(ctx, l, seat, "preparams", err)
		return nil, err
	}
	// The user party gets a device identity of its own, carried in the
	// share handed back; it insists every other party is a certified server.
	var device *identity.Key
	var abandoned [][]byte
	var save func(*share.Record) error
	if spec == nil {
		if device, err = identity.GenerateKey(); err != nil {
			return nil, err
		}
	} else {
		// A refresh: one acknowledged run per epoch (docs/lifecycle.md)
		// holds for the user party too. Its run is recorded here before
		// anything is computed, earlier runs of the epoch it never stored
		// are abandoned for good, and its join says so, signed with each
		// run's device key — derived from this party's identity key and
		// the run, so this host can sign for the runs it ran.
		if device, abandoned, err = p.userRun(claim.WalletId, claim.PartyId, spec.Epoch, sessionID); err != nil {
			p.refuse(ctx, l, seat, "vault", err)
			return nil, err
		}
		save = func(*share.Record) error {
			return p.cfg.Vault.MarkUserRunStored(claim.WalletId, claim.PartyId, spec.Epoch, sessionID)
		}
	}
	defer device.Destroy()
	kinds := map[string]identity.Kind{}
	for _, id := range claim.Parties {
		kinds[id] = identity.KindServer
	}
	kinds[claim.PartyId] = identity.KindUser
	job := participant.Job{SessionID: sessionID, PartyID: claim.PartyId, Token: claim.Token, Log: p.log.With("session", sessionID, "user_party", claim.PartyId),
		Identity: device, Kind: identity.KindUser, Trust: p.cfg.Trust, WalletID: claim.WalletId, Parties: claim.Parties,
		Threshold: int(claim.SignersNeeded), Kinds: kinds, Gate: gate, Reshare: spec, Abandoned: abandoned}
	if spec != nil {
		out, err := participant.Reshare(ctx, l.conn, job, nil, pre, save)
		if err != nil {
			return nil, err
		}
		if !out.Activate {
			return nil, out.NotActivated
		}
		// Every holder's acknowledgement verified: the epoch is the
		// wallet's, and runs of it no longer matter.
		if err := p.cfg.Vault.SettleUserRuns(claim.WalletId, claim.PartyId, spec.Epoch); err != nil {
			p.log.Warn("settle the user party's reshare runs", "wallet", claim.WalletId, "err", err)
		}
		return &UserShare{PartyID: claim.PartyId, Record: out.Share, Address: out.Address}, nil
	}
	out, err := participant.Keygen(ctx, l.conn, job, pre, nil)
	if err != nil {
		return nil, err
	}
	return &UserShare{PartyID: claim.PartyId, Record: out.Share, Address: out.Address}, nil
}

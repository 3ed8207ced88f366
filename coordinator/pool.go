package coordinator

import (
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// pool is the set of registered server parties. A party is healthy while
// its Register stream is open and its last heartbeat is recent.
type pool struct {
	mu      sync.Mutex
	members map[string]*member
	timeout time.Duration
	now     func() time.Time
	// challenges: the one outstanding registration challenge per party id
	// (only a certified server's token can ask for one), used up by the
	// next registration attempt.
	challenges map[string]challenge
	// costs: the learned cost of each kind of work (admission.go).
	costs *costModel
	// loads: the sessions assigned to each party id and not finished, kept
	// across its registrations (a party that registers again is not idle
	// for it).
	loads map[string]*partyLoad
}

// partyLoad is what this coordinator assigned one party and is not
// finished: keygens and signings (and, for the party that runs account
// users' parties, their keygens).
type partyLoad struct{ keygens, signs int }

// loadOf is party id's load record, made on first use; under p.mu.
func (p *pool) loadOf(id string) *partyLoad {
	l, ok := p.loads[id]
	if !ok {
		l = &partyLoad{}
		p.loads[id] = l
	}
	return l
}

type challenge struct {
	value   []byte
	expires time.Time
}

// challengeLife is how long a registration challenge may be answered.
const challengeLife = time.Minute

type member struct {
	id        string
	userAPI   bool // runs account users' parties (RegisterRequest.runs_user_parties)
	assign    chan *tsskitv1.Assignment
	gone      chan struct{} // closed when a newer registration replaces this one
	done      chan struct{} // closed when its Register stream ends
	lastBeat  time.Time
	preparams uint32
	running   uint32 // as its heartbeat says: shown in /health, never used to pick
	draining  bool   // it said it is shutting down: never picked again
	slots     uint32 // work slots, as its heartbeat says: admission's estimate only
	signSlots uint32 // signing slots, likewise (0: slots)
	// The sessions assigned and not finished, by our count (pool.loads).
	*partyLoad
}

// assigned is the party's unfinished sessions, by our count.
func (m *member) assigned() int { return m.keygens + m.signs }

func newPool(timeout time.Duration) *pool {
	return &pool{members: map[string]*member{}, timeout: timeout, now: time.Now, challenges: map[string]challenge{}, costs: newCostModel(), loads: map[string]*partyLoad{}}
}

func (p *pool) healthyLocked(m *member) bool { return p.now().Sub(m.lastBeat) <= p.timeout }

// healthy lists healthy party ids, sorted.
func (p *pool) healthy() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, m := range p.members {
		if p.healthyLocked(m) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// preparamsReady is each healthy party's ready pre-params, as its last
// heartbeat said.
func (p *pool) preparamsReady() map[string]uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]uint32{}
	for id, m := range p.members {
		if p.healthyLocked(m) {
			out[id] = m.preparams
		}
	}
	return out
}

// metricsState counts the members by state, and each healthy one's
// pre-parameters and assigned sessions.
func (p *pool) metricsState() metrics.CoordinatorState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := metrics.CoordinatorState{PreParams: map[string]int{}, Assigned: map[string]int{}}
	for id, m := range p.members {
		if !p.healthyLocked(m) {
			st.Unhealthy++
			continue
		}
		if m.draining {
			st.Draining++
		} else {
			st.Healthy++
		}
		st.PreParams[id] = int(m.preparams)
		st.Assigned[id] = m.assigned()
	}
	return st
}

// draining lists the healthy parties that are draining, sorted.
func (p *pool) drainingParties() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, m := range p.members {
		if p.healthyLocked(m) && m.draining {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// runsUserParties reports whether id registered as the server-party API's
// party (RegisterRequest.runs_user_parties).
func (p *pool) runsUserParties(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.members[id]
	return ok && m.userAPI
}

func (p *pool) isHealthy(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.members[id]
	return ok && p.healthyLocked(m)
}

// pickRule narrows the parties pick may choose.
type pickRule struct {
	among      []string // only these (nil: any, unless restrict)
	restrict   bool     // among applies even when empty
	exclude    []string // never these
	notUserAPI bool     // skip parties that run account users' parties
	// kind is the session's; within, if set, is its deadline: a session
	// that could not finish well within it (admission.go) is refused.
	kind   store.SessionKind
	within time.Duration
	// withUser: an account keygen, whose user party a user-API party
	// runs: the least loaded healthy one is planned for it too, counted
	// and returned after the n parties picked.
	withUser bool
}

// pick chooses n healthy parties by rule, preferring the ones with the
// least work this coordinator assigned them (for a signing, the least
// signing work: signings go first at a party) and breaking ties at random
// so load spreads. With rule.within set it refuses, overloaded, when the
// session could not finish in time on the parties it would get.
func (p *pool) pick(n int, rule pickRule) ([]string, error) {
	c := p.costs.get()
	p.mu.Lock()
	defer p.mu.Unlock()
	var cands []*member
	for id, m := range p.members {
		if !p.healthyLocked(m) || m.draining || (rule.notUserAPI && m.userAPI) {
			continue
		}
		if (rule.restrict || rule.among != nil) && !slices.Contains(rule.among, id) || slices.Contains(rule.exclude, id) {
			continue
		}
		cands = append(cands, m)
	}
	if len(cands) < n {
		return nil, status.Errorf(codes.Unavailable, "need %d healthy server parties, %d available", n, len(cands))
	}
	rand.New(cryptoSource{}).Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	// By this coordinator's own count: a party's heartbeat figures are its
	// word, and one that understated them would be picked for every wallet.
	// (Admission below divides by the slots a party states: overstating
	// them gets it no more sessions than its peers, only later refusals.)
	own := func(m *member) float64 {
		if rule.kind == store.SessionSign {
			return float64(m.signs)
		}
		return float64(m.keygens)*c.keygen + float64(m.signs)*c.sign
	}
	slices.SortStableFunc(cands, func(a, b *member) int { return cmp.Compare(own(a), own(b)) })
	chosen := cands[:n:n]
	if rule.withUser {
		var u *member
		for _, m := range p.members {
			if m.userAPI && p.healthyLocked(m) && !m.draining && (u == nil || own(m) < own(u)) {
				u = m
			}
		}
		if u != nil {
			chosen = append(chosen, u)
		}
	}
	if rule.within > 0 {
		budget := rule.within.Seconds() * admitShare
		est, idle := 0.0, true
		for _, m := range chosen {
			est = math.Max(est, m.finish(rule.kind, c))
			idle = idle && m.keygens == 0 && m.signs == 0
		}
		// Parties with nothing assigned always take a session: whatever
		// the estimate says, refusing it would not make it finish sooner.
		if est > budget && !idle {
			return nil, overloaded(rule.kind, est, budget)
		}
	}
	ids := make([]string, len(chosen))
	for i, m := range chosen {
		ids[i] = m.id
		if rule.kind == store.SessionSign {
			m.signs++
		} else {
			m.keygens++
		}
	}
	return ids, nil
}

// newChallenge makes party id's registration challenge, replacing any
// earlier one.
func (p *pool) newChallenge(id string) (challenge, error) {
	c := challenge{value: make([]byte, identity.ChallengeSize), expires: p.now().Add(challengeLife)}
	if _, err := cryptorand.Read(c.value); err != nil {
		return challenge{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, old := range p.challenges {
		if p.now().After(old.expires) {
			delete(p.challenges, k)
		}
	}
	p.challenges[id] = c
	return c, nil
}

// takeChallenge returns party id's outstanding challenge and forgets it:
// each is answered once, right or wrong.
func (p *pool) takeChallenge(id string) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.challenges[id]
	delete(p.challenges, id)
	if !ok || p.now().After(c.expires) {
		return nil, false
	}
	return c.value, true
}

// cryptoSource is a math/rand source drawing from crypto/rand: who is
// picked should not be predictable from earlier picks.
type cryptoSource struct{}

func (cryptoSource) Uint64() uint64 {
	var b [8]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return binary.LittleEndian.Uint64(b[:])
}

// release undoes pick's load count for a finished session of kind.
func (p *pool) release(ids []string, kind store.SessionKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		m, ok := p.loads[id]
		switch {
		case !ok:
		case kind == store.SessionSign && m.signs > 0:
			m.signs--
		case kind != store.SessionSign && m.keygens > 0:
			m.keygens--
		}
	}
}

// send queues an assignment; false if the party is gone.
func (p *pool) send(id string, a *tsskitv1.Assignment) bool {
	p.mu.Lock()
	m, ok := p.members[id]
	p.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case m.assign <- a:
		return true
	case <-m.gone:
		return false
	case <-m.done:
		return false
	case <-time.After(5 * time.Second):
		return false
	}
}

// poolService implements tsskit.v1.PoolService.
type poolService struct {
	tsskitv1.UnimplementedPoolServiceServer
	c *Coordinator
}

func (s *poolService) Register(req *tsskitv1.RegisterRequest, stream grpc.ServerStreamingServer[tsskitv1.Assignment]) error {
	if err := s.selfClaims(stream.Context(), req.PartyId); err != nil {
		return err
	}
	if err := roster.CheckID(req.PartyId); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	// The pool takes only certified, unrevoked server identities whose
	// caller proves it holds the certified key now: it signs the challenge
	// this coordinator just gave it.
	ch, ok := s.c.pool.takeChallenge(req.PartyId)
	if !ok {
		return status.Error(codes.FailedPrecondition, "no registration challenge outstanding for this party (ask Challenge first, on the same connection, within a minute)")
	}
	key, err := s.c.admit(req, ch)
	if err != nil {
		s.c.log.Warn("server party refused", "party", req.PartyId, "err", err)
		return status.Errorf(codes.PermissionDenied, "not admitted to the pool: %v", err)
	}
	p := s.c.pool
	m := &member{id: req.PartyId, userAPI: req.RunsUserParties, assign: make(chan *tsskitv1.Assignment, 16),
		gone: make(chan struct{}), done: make(chan struct{}), lastBeat: p.now()}
	p.mu.Lock()
	if old, ok := p.members[req.PartyId]; ok {
		close(old.gone)
	}
	m.partyLoad = p.loadOf(req.PartyId)
	p.members[req.PartyId] = m
	p.mu.Unlock()
	s.c.log.Info("server party registered", "party", req.PartyId, "version", req.Version, "user_api", req.RunsUserParties, "identity", key.Short())
	defer func() {
		close(m.done)
		p.mu.Lock()
		if p.members[req.PartyId] == m {
			delete(p.members, req.PartyId)
		}
		p.mu.Unlock()
		// Assignments queued but never sent: their sessions cannot start.
		for {
			select {
			case a := <-m.assign:
				s.c.failID(a.SessionId, "unavailable", fmt.Sprintf("server party %s left before taking its seat", req.PartyId), []string{req.PartyId})
				continue
			default:
			}
			break
		}
		s.c.log.Info("server party left", "party", req.PartyId)
		// Its sessions cannot finish without it, unless it comes back.
		select {
		case <-s.c.stopping:
		case <-m.gone:
		default:
			time.AfterFunc(s.c.cfg.HeartbeatTimeout, func() { s.c.partyLost(req.PartyId) })
		}
	}()
	for {
		select {
		case a := <-m.assign:
			if err := stream.Send(a); err != nil {
				s.c.failID(a.SessionId, "unavailable", fmt.Sprintf("server party %s could not be reached", req.PartyId), []string{req.PartyId})
				return err
			}
		case <-m.gone:
			return status.Error(codes.Aborted, "replaced by a newer registration")
		case <-s.c.stopping:
			return status.Error(codes.Unavailable, "coordinator shutting down")
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// selfClaims requires a service token whose subject is the party itself:
// one server party cannot register, heart-beat or take assignments as
// another.
func (s *poolService) selfClaims(ctx context.Context, partyID string) error {
	// A server party's service token, minted with its own certified
	// identity key (auth.Verifier checked that its subject is that
	// identity's party id).
	cl, err := serve.ServiceClaims(ctx, identity.KindServer)
	if err != nil {
		return err
	}
	if cl.Subject != partyID {
		return status.Error(codes.PermissionDenied, "service token is for another party")
	}
	return nil
}

func (s *poolService) Challenge(ctx context.Context, req *tsskitv1.ChallengeRequest) (*tsskitv1.ChallengeResponse, error) {
	if err := s.selfClaims(ctx, req.PartyId); err != nil {
		return nil, err
	}
	c, err := s.c.pool.newChallenge(req.PartyId)
	if err != nil {
		return nil, status.Error(codes.Internal, "challenge")
	}
	return &tsskitv1.ChallengeResponse{Challenge: c.value, ExpiresAtUnixMs: c.expires.UnixMilli()}, nil
}

func (s *poolService) Heartbeat(ctx context.Context, req *tsskitv1.HeartbeatRequest) (*tsskitv1.HeartbeatResponse, error) {
	if err := s.selfClaims(ctx, req.PartyId); err != nil {
		return nil, err
	}
	p := s.c.pool
	p.mu.Lock()
	m, ok := p.members[req.PartyId]
	if ok {
		m.lastBeat = p.now()
		m.preparams = req.PreparamsReady
		m.running = req.RunningSessions
		m.slots = req.WorkSlots
		m.signSlots = req.SignSlots
		if req.Draining && !m.draining {
			s.c.log.Info("server party draining: no new sessions for it", "party", req.PartyId, "running", req.RunningSessions)
		}
		m.draining = m.draining || req.Draining
	}
	p.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.NotFound, "not registered")
	}
	return &tsskitv1.HeartbeatResponse{IntervalMs: uint32(s.c.cfg.HeartbeatInterval.Milliseconds())}, nil
}

// GetEpochSession answers a holder of a wallet with the session that
// made the wallet's active epoch and its stored acknowledgements, for a
// server party that missed the session's end (serverparty's resume): the
// party checks every acknowledgement itself before it activates.
func (s *poolService) GetEpochSession(ctx context.Context, req *tsskitv1.GetEpochSessionRequest) (*tsskitv1.GetEpochSessionResponse, error) {
	if err := s.selfClaims(ctx, req.PartyId); err != nil {
		return nil, err
	}
	w, err := s.c.store.GetWallet(ctx, req.WalletId)
	if err != nil {
		return nil, storeStatus(err, "wallet")
	}
	if !slices.ContainsFunc(w.Holders, func(h store.Holder) bool { return h.PartyID == req.PartyId }) {
		return nil, status.Error(codes.NotFound, "wallet not found") // not the caller's: nothing said of it
	}
	if w.Epoch == 0 || w.EpochSession == "" {
		return nil, status.Error(codes.NotFound, "no reshare made the wallet's active epoch")
	}
	rec, err := s.c.store.GetSession(ctx, w.EpochSession)
	if err != nil {
		return nil, storeStatus(err, "session")
	}
	if rec.State != store.StateCompleted || len(rec.StoredAcks) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "the session that made the active epoch has no stored acknowledgements")
	}
	return &tsskitv1.GetEpochSessionResponse{Epoch: uint32(w.Epoch), SessionId: rec.ID, StoredAcks: rec.StoredAcks}, nil
}

func (s *poolService) ClaimUserParty(ctx context.Context, req *tsskitv1.ClaimUserPartyRequest) (*tsskitv1.ClaimUserPartyResponse, error) {
	cl, err := serve.ServiceClaims(ctx, identity.KindServer)
	if err != nil {
		return nil, err
	}
	return s.c.claimUserParty(req.SessionId, cl.Subject, req.UserPartyId)
}

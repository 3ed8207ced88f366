package coordinator

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/serve"
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
}

type member struct {
	id        string
	assign    chan *tsskitv1.Assignment
	gone      chan struct{} // closed when a newer registration replaces this one
	lastBeat  time.Time
	preparams uint32
	running   uint32
	assigned  int // sessions assigned and not finished, by our count
}

func newPool(timeout time.Duration) *pool {
	return &pool{members: map[string]*member{}, timeout: timeout, now: time.Now}
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

func (p *pool) isHealthy(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.members[id]
	return ok && p.healthyLocked(m)
}

// pick chooses n healthy parties, among `among` if it is not nil, preferring
// the least busy and breaking ties at random so load spreads.
func (p *pool) pick(n int, among []string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cands []*member
	for id, m := range p.members {
		if p.healthyLocked(m) && (among == nil || slices.Contains(among, id)) {
			cands = append(cands, m)
		}
	}
	if len(cands) < n {
		return nil, status.Errorf(codes.Unavailable, "need %d healthy server parties, %d available", n, len(cands))
	}
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	slices.SortStableFunc(cands, func(a, b *member) int { return a.assigned + int(a.running) - b.assigned - int(b.running) })
	ids := make([]string, n)
	for i := range n {
		ids[i] = cands[i].id
		cands[i].assigned++
	}
	return ids, nil
}

// release undoes pick's load count for a finished session.
func (p *pool) release(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if m, ok := p.members[id]; ok && m.assigned > 0 {
			m.assigned--
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
	if _, err := serve.Claims(stream.Context(), auth.KindService); err != nil {
		return err
	}
	if err := roster.CheckID(req.PartyId); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	p := s.c.pool
	m := &member{id: req.PartyId, assign: make(chan *tsskitv1.Assignment, 16), gone: make(chan struct{}), lastBeat: p.now()}
	p.mu.Lock()
	if old, ok := p.members[req.PartyId]; ok {
		close(old.gone)
	}
	p.members[req.PartyId] = m
	p.mu.Unlock()
	s.c.log.Info("server party registered", "party", req.PartyId, "version", req.Version)
	defer func() {
		p.mu.Lock()
		if p.members[req.PartyId] == m {
			delete(p.members, req.PartyId)
		}
		p.mu.Unlock()
		s.c.log.Info("server party left", "party", req.PartyId)
	}()
	for {
		select {
		case a := <-m.assign:
			if err := stream.Send(a); err != nil {
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

func (s *poolService) Heartbeat(ctx context.Context, req *tsskitv1.HeartbeatRequest) (*tsskitv1.HeartbeatResponse, error) {
	if _, err := serve.Claims(ctx, auth.KindService); err != nil {
		return nil, err
	}
	p := s.c.pool
	p.mu.Lock()
	m, ok := p.members[req.PartyId]
	if ok {
		m.lastBeat = p.now()
		m.preparams = req.PreparamsReady
		m.running = req.RunningSessions
	}
	p.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.NotFound, "not registered")
	}
	return &tsskitv1.HeartbeatResponse{IntervalMs: uint32(s.c.cfg.HeartbeatInterval.Milliseconds())}, nil
}

func (s *poolService) ClaimUserParty(ctx context.Context, req *tsskitv1.ClaimUserPartyRequest) (*tsskitv1.ClaimUserPartyResponse, error) {
	if _, err := serve.Claims(ctx, auth.KindService); err != nil {
		return nil, err
	}
	id, tok, err := s.c.claimUserParty(req.SessionId)
	if err != nil {
		return nil, err
	}
	return &tsskitv1.ClaimUserPartyResponse{PartyId: id, Token: tok}, nil
}

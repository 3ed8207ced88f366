// Package evilcoord is a coordinator that lies, for attack tests. It stands
// in front of a real coordinator on a network port, forwards every call of
// CoordinatorService and PoolService as it is, and lets the test rewrite
// what passes: a client's session requests, and the roster or the events
// one party is shown. It holds what a compromised coordinator holds —
// tokens, the roster, the store's word — and nothing more: no identity
// key of any party and no deployment root.
package evilcoord

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// Proxy forwards to Upstream. The hooks run on the forwarded messages
// (nil: pass through); they may change them in place.
type Proxy struct {
	coord tsskitv1.CoordinatorServiceClient
	pool  tsskitv1.PoolServiceClient

	mu sync.Mutex
	// CreateKeygen and CreateSign rewrite a client's keygen or signing
	// request before it goes on.
	CreateKeygen func(req *tsskitv1.CreateKeygenSessionRequest)
	CreateSign   func(req *tsskitv1.CreateSignSessionRequest)
	// Event rewrites an event on its way to party (the token's subject).
	Event func(party string, ev *tsskitv1.SessionEvent)
	// Assignment rewrites an assignment on its way to a server party.
	Assignment func(a *tsskitv1.Assignment)
	// EpochSession rewrites the answer to a server party's
	// GetEpochSession (party: the caller).
	EpochSession func(party string, r *tsskitv1.GetEpochSessionResponse)
	// JoinReq rewrites a join on its way upstream; Report a result
	// report (a party's word to the coordinator, as a relay may change
	// what it carries: its own signed parts are the parties' to check).
	JoinReq func(r *tsskitv1.JoinRequest)
	Report  func(r *tsskitv1.ReportResultRequest)
	// Joins records every join as sent upstream, by session and party.
	joins map[string]*tsskitv1.PartyKeys
}

// New returns a proxy in front of the coordinator at upstream.
func New(upstream grpc.ClientConnInterface) *Proxy {
	return &Proxy{coord: tsskitv1.NewCoordinatorServiceClient(upstream), pool: tsskitv1.NewPoolServiceClient(upstream), joins: map[string]*tsskitv1.PartyKeys{}}
}

// Register adds the forwarding services to gs.
func (p *Proxy) Register(gs *grpc.Server) {
	tsskitv1.RegisterCoordinatorServiceServer(gs, &coordFwd{p: p})
	tsskitv1.RegisterPoolServiceServer(gs, &poolFwd{p: p})
}

// SetCreateKeygen, SetCreateSign, SetAssignment, SetEpochSession,
// SetEvent, SetJoin and SetReport change the hooks while the proxy serves.
func (p *Proxy) SetCreateKeygen(f func(*tsskitv1.CreateKeygenSessionRequest)) {
	setHook(p, &p.CreateKeygen, f)
}

func (p *Proxy) SetCreateSign(f func(*tsskitv1.CreateSignSessionRequest)) {
	setHook(p, &p.CreateSign, f)
}

func (p *Proxy) SetAssignment(f func(*tsskitv1.Assignment)) {
	setHook(p, &p.Assignment, f)
}

func (p *Proxy) SetEpochSession(f func(string, *tsskitv1.GetEpochSessionResponse)) {
	setHook(p, &p.EpochSession, f)
}

func (p *Proxy) SetEvent(f func(string, *tsskitv1.SessionEvent)) {
	setHook(p, &p.Event, f)
}

func (p *Proxy) SetJoin(f func(*tsskitv1.JoinRequest)) {
	setHook(p, &p.JoinReq, f)
}

func (p *Proxy) SetReport(f func(*tsskitv1.ReportResultRequest)) {
	setHook(p, &p.Report, f)
}

// setHook sets one hook under the proxy's lock.
func setHook[F any](p *Proxy, hook *F, f F) {
	p.mu.Lock()
	*hook = f
	p.mu.Unlock()
}

// Join returns the keys party published when it joined session, as the
// proxy saw them go by (what a coordinator keeps).
func (p *Proxy) Join(session, party string) *tsskitv1.PartyKeys {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.joins[session+"\x00"+party]
	if k == nil {
		return nil
	}
	return proto.Clone(k).(*tsskitv1.PartyKeys)
}

// out carries the caller's authorization on.
func out(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	return metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", strings.Join(md.Get("authorization"), "")))
}

// subject is the token's subject, read without checking the token (the
// real coordinator checks it).
func subject(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := strings.TrimPrefix(strings.Join(md.Get("authorization"), ""), "Bearer ")
	parts := strings.Split(auth, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(b, &c)
	return c.Sub
}

type coordFwd struct {
	tsskitv1.UnimplementedCoordinatorServiceServer
	p *Proxy
}

func (f *coordFwd) CreateKeygenSession(ctx context.Context, r *tsskitv1.CreateKeygenSessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	f.p.mu.Lock()
	hook := f.p.CreateKeygen
	f.p.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	return f.p.coord.CreateKeygenSession(out(ctx), r)
}

func (f *coordFwd) CreateSignSession(ctx context.Context, r *tsskitv1.CreateSignSessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	f.p.mu.Lock()
	hook := f.p.CreateSign
	f.p.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	return f.p.coord.CreateSignSession(out(ctx), r)
}

func (f *coordFwd) CreateReshareSession(ctx context.Context, r *tsskitv1.CreateReshareSessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	return f.p.coord.CreateReshareSession(out(ctx), r)
}

func (f *coordFwd) CreateRecoverySession(ctx context.Context, r *tsskitv1.CreateRecoverySessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	return f.p.coord.CreateRecoverySession(out(ctx), r)
}

func (f *coordFwd) GetWallet(ctx context.Context, r *tsskitv1.GetWalletRequest) (*tsskitv1.GetWalletResponse, error) {
	return f.p.coord.GetWallet(out(ctx), r)
}

func (f *coordFwd) ListWallets(ctx context.Context, r *tsskitv1.ListWalletsRequest) (*tsskitv1.ListWalletsResponse, error) {
	return f.p.coord.ListWallets(out(ctx), r)
}

func (f *coordFwd) GetSession(ctx context.Context, r *tsskitv1.GetSessionRequest) (*tsskitv1.GetSessionResponse, error) {
	return f.p.coord.GetSession(out(ctx), r)
}

func (f *coordFwd) Join(ctx context.Context, r *tsskitv1.JoinRequest) (*tsskitv1.JoinResponse, error) {
	f.p.mu.Lock()
	hook := f.p.JoinReq
	f.p.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	if r.Keys != nil {
		f.p.mu.Lock()
		f.p.joins[r.SessionId+"\x00"+r.Keys.PartyId] = proto.Clone(r.Keys).(*tsskitv1.PartyKeys)
		f.p.mu.Unlock()
	}
	return f.p.coord.Join(out(ctx), r)
}

func (f *coordFwd) ReportProgress(ctx context.Context, r *tsskitv1.ReportProgressRequest) (*tsskitv1.ReportProgressResponse, error) {
	return f.p.coord.ReportProgress(out(ctx), r)
}

func (f *coordFwd) ReportResult(ctx context.Context, r *tsskitv1.ReportResultRequest) (*tsskitv1.ReportResultResponse, error) {
	f.p.mu.Lock()
	hook := f.p.Report
	f.p.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	return f.p.coord.ReportResult(out(ctx), r)
}

func (f *coordFwd) WatchSession(r *tsskitv1.WatchSessionRequest, stream grpc.ServerStreamingServer[tsskitv1.SessionEvent]) error {
	ctx := stream.Context()
	up, err := f.p.coord.WatchSession(out(ctx), r)
	if err != nil {
		return err
	}
	who := subject(ctx)
	for {
		ev, err := up.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f.p.mu.Lock()
		hook := f.p.Event
		f.p.mu.Unlock()
		if hook != nil {
			hook(who, ev)
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}

type poolFwd struct {
	tsskitv1.UnimplementedPoolServiceServer
	p *Proxy
}

func (f *poolFwd) Register(r *tsskitv1.RegisterRequest, stream grpc.ServerStreamingServer[tsskitv1.Assignment]) error {
	up, err := f.p.pool.Register(out(stream.Context()), r)
	if err != nil {
		return err
	}
	for {
		a, err := up.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f.p.mu.Lock()
		hook := f.p.Assignment
		f.p.mu.Unlock()
		if hook != nil {
			hook(a)
		}
		if err := stream.Send(a); err != nil {
			return err
		}
	}
}

func (f *poolFwd) Challenge(ctx context.Context, r *tsskitv1.ChallengeRequest) (*tsskitv1.ChallengeResponse, error) {
	return f.p.pool.Challenge(out(ctx), r)
}

func (f *poolFwd) Heartbeat(ctx context.Context, r *tsskitv1.HeartbeatRequest) (*tsskitv1.HeartbeatResponse, error) {
	return f.p.pool.Heartbeat(out(ctx), r)
}

func (f *poolFwd) ClaimUserParty(ctx context.Context, r *tsskitv1.ClaimUserPartyRequest) (*tsskitv1.ClaimUserPartyResponse, error) {
	return f.p.pool.ClaimUserParty(out(ctx), r)
}

func (f *poolFwd) GetEpochSession(ctx context.Context, r *tsskitv1.GetEpochSessionRequest) (*tsskitv1.GetEpochSessionResponse, error) {
	resp, err := f.p.pool.GetEpochSession(out(ctx), r)
	if err != nil {
		return nil, err
	}
	f.p.mu.Lock()
	hook := f.p.EpochSession
	f.p.mu.Unlock()
	if hook != nil {
		hook(r.PartyId, resp)
	}
	return resp, nil
}

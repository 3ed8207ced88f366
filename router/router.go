// Package router is tsskit's message router: it orders and stores each
// session's sealed envelopes and streams them to the session's parties. It
// is not trusted with secrets (payloads are sealed end to end, see
// party/seal); it is trusted only to deliver, and a party checks everything
// it receives. What the router does enforce is who may write what: every
// call carries a coordinator-minted token, and an envelope must come from
// the token's party in the token's session.
package router

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/tracing"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/seal"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// Limits bound what one session may make the router hold.
type Limits struct {
	MaxEnvelope      int           // encoded bytes of one envelope
	MaxSessionBytes  int64         // all envelopes of a session
	MaxSessionEnvs   int           // envelopes of a session
	MaxSessionLife   time.Duration // cap on a session's expiry
	SubscribeBatch   int           // envelopes read from the bus at once
	DefaultSessionTT time.Duration // expiry when OpenSession gives none
}

// DefaultLimits fit 16-party sessions: a keygen round-1 broadcast is ~130 KB
// and a 16-party keygen is ~16·(1 + 15 + 15 + 1) envelopes.
var DefaultLimits = Limits{
	MaxEnvelope:      seal.MaxEnvelope,
	MaxSessionBytes:  256 << 20,
	MaxSessionEnvs:   16 * 1024,
	MaxSessionLife:   24 * time.Hour,
	SubscribeBatch:   64,
	DefaultSessionTT: 30 * time.Minute,
}

// Service implements tsskit.v1.RouterService over a Bus.
type Service struct {
	tsskitv1.UnimplementedRouterServiceServer
	bus    Bus
	limits Limits
	log    *slog.Logger
	stop   chan struct{}
	m      *metrics.Metrics
}

// WithMetrics makes the service count the envelopes it accepts.
func (s *Service) WithMetrics(m *metrics.Metrics) *Service {
	s.m = m
	return s
}

// New returns a router service.
func New(bus Bus, limits Limits, log *slog.Logger) *Service {
	return &Service{bus: bus, limits: limits, log: log, stop: make(chan struct{})}
}

// Register adds the service to a gRPC server.
func (s *Service) Register(gs *grpc.Server) { tsskitv1.RegisterRouterServiceServer(gs, s) }

// Stop ends every open Subscribe stream (Unavailable, so clients resume
// elsewhere or after a restart).
func (s *Service) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
}

func (s *Service) OpenSession(ctx context.Context, req *tsskitv1.OpenSessionRequest) (*tsskitv1.OpenSessionResponse, error) {
	if _, err := serve.ServiceClaims(ctx, identity.KindCoordinator); err != nil {
		return nil, err
	}
	if err := checkID("session_id", req.SessionId); err != nil {
		return nil, err
	}
	if len(req.Parties) < 2 || len(req.Parties) > 16 {
		return nil, status.Error(codes.InvalidArgument, "a session has 2..16 parties")
	}
	for _, p := range req.Parties {
		if err := checkID("party id", p); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	exp := time.UnixMilli(req.ExpiresAtUnixMs)
	if req.ExpiresAtUnixMs == 0 {
		exp = now.Add(s.limits.DefaultSessionTT)
	}
	if !exp.After(now) {
		return nil, status.Error(codes.InvalidArgument, "expires_at is in the past")
	}
	if exp.After(now.Add(s.limits.MaxSessionLife)) {
		exp = now.Add(s.limits.MaxSessionLife)
	}
	err := s.bus.Open(ctx, SessionInfo{
		ID: req.SessionId, Parties: req.Parties, Expires: exp,
		MaxBytes: s.limits.MaxSessionBytes, MaxEnvelopes: s.limits.MaxSessionEnvs,
	})
	if err != nil {
		return nil, s.busStatus(err)
	}
	s.log.Info("session opened", "session", req.SessionId, "parties", len(req.Parties))
	return &tsskitv1.OpenSessionResponse{}, nil
}

func (s *Service) CloseSession(ctx context.Context, req *tsskitv1.CloseSessionRequest) (*tsskitv1.CloseSessionResponse, error) {
	if _, err := serve.ServiceClaims(ctx, identity.KindCoordinator); err != nil {
		return nil, err
	}
	if err := s.bus.Close(ctx, req.SessionId, req.Reason); err != nil {
		return nil, s.busStatus(err)
	}
	s.log.Info("session closed", "session", req.SessionId, "reason", req.Reason)
	return &tsskitv1.CloseSessionResponse{}, nil
}

func (s *Service) Publish(ctx context.Context, req *tsskitv1.PublishRequest) (*tsskitv1.PublishResponse, error) {
	env := req.GetEnvelope()
	if env == nil {
		return nil, status.Error(codes.InvalidArgument, "no envelope")
	}
	if _, err := serve.PartyClaims(ctx, env.SessionId, env.From); err != nil {
		return nil, err
	}
	if n := proto.Size(env); n > s.limits.MaxEnvelope {
		return nil, status.Errorf(codes.ResourceExhausted, "envelope is %d bytes, the limit is %d", n, s.limits.MaxEnvelope)
	}
	if env.SenderSeq == 0 {
		return nil, status.Error(codes.InvalidArgument, "sender_seq starts at 1")
	}
	info, err := s.bus.Info(ctx, env.SessionId)
	if err != nil {
		return nil, s.busStatus(err)
	}
	if !info.HasParty(env.From) {
		return nil, status.Error(codes.PermissionDenied, "sender is not a party of this session")
	}
	if env.To != "" && (!info.HasParty(env.To) || env.To == env.From) {
		return nil, status.Error(codes.InvalidArgument, "recipient is not another party of this session")
	}
	// A span in the session's trace (package tracing), only for an
	// envelope that passed every check: its sender and recipient are
	// parties of the session, so nothing a caller picks freely goes in.
	ctx, span := tracing.Tracer().Start(tracing.SessionContext(ctx, env.SessionId), "tsskit.router.publish",
		trace.WithAttributes(attribute.String("tsskit.session.id", env.SessionId), attribute.String("tsskit.party", env.From),
			attribute.String("tsskit.envelope.to", env.To), attribute.Int("tsskit.envelope.round", int(env.Round)),
			attribute.Int("tsskit.envelope.bytes", len(env.Payload))))
	defer span.End()
	stored := proto.Clone(env).(*tsskitv1.Envelope)
	stored.Seq = 0
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(stored)
	if err != nil {
		return nil, status.Error(codes.Internal, "encode envelope")
	}
	seq, err := s.bus.Append(ctx, env.SessionId, Entry{From: env.From, To: env.To, SenderSeq: env.SenderSeq, Data: data})
	if err != nil {
		return nil, s.busStatus(err)
	}
	s.m.Envelope(env.To == "", len(env.Payload))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.Int64("tsskit.envelope.seq", int64(seq)))
	}
	return &tsskitv1.PublishResponse{Seq: seq}, nil
}

func (s *Service) Subscribe(req *tsskitv1.SubscribeRequest, stream grpc.ServerStreamingServer[tsskitv1.Envelope]) error {
	ctx := stream.Context()
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.PartyId); err != nil {
		return err
	}
	info, err := s.bus.Info(ctx, req.SessionId)
	if err != nil {
		return s.busStatus(err)
	}
	if !info.HasParty(req.PartyId) {
		return status.Error(codes.PermissionDenied, "not a party of this session")
	}
	// Headers now, before any envelope: the client learns the stream is up
	// (and resets its retry clock) even when nothing is published for a while.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	after := req.AfterSeq
	for {
		entries, err := s.bus.Read(ctx, req.SessionId, after, s.limits.SubscribeBatch)
		if err != nil {
			select {
			case <-s.stop:
				return status.Error(codes.Unavailable, "router shutting down")
			default:
			}
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return s.busStatus(err)
		}
		for _, e := range entries {
			after = e.Seq
			if e.From == req.PartyId || (e.To != "" && e.To != req.PartyId) {
				continue
			}
			env := new(tsskitv1.Envelope)
			if err := proto.Unmarshal(e.Data, env); err != nil {
				return status.Error(codes.DataLoss, "stored envelope does not decode")
			}
			env.Seq = e.Seq
			if err := stream.Send(env); err != nil {
				return err
			}
		}
	}
}

func checkID(what, id string) error {
	if id == "" || len(id) > seal.MaxIDLen {
		return status.Errorf(codes.InvalidArgument, "%s must be 1..%d bytes", what, seal.MaxIDLen)
	}
	return nil
}

// busStatus maps bus errors to gRPC codes; anything else is the bus failing
// (Redis unreachable): Unavailable, which clients retry, its cause logged
// here rather than sent to them.
func (s *Service) busStatus(err error) error {
	var closed *ClosedError
	switch {
	case errors.As(err, &closed):
		return status.Error(codes.FailedPrecondition, closed.Error())
	case errors.Is(err, ErrUnknownSession):
		return status.Error(codes.NotFound, "unknown session")
	case errors.Is(err, ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, ErrSessionFull), errors.Is(err, ErrBusFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	s.log.Warn("bus unavailable", "err", err)
	return status.Error(codes.Unavailable, "router storage unavailable")
}

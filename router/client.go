package router

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party/seal"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// ToProto converts an engine envelope to the wire message.
func ToProto(e *seal.Envelope) *tsskitv1.Envelope {
	return &tsskitv1.Envelope{
		SessionId: e.SessionID, From: e.From, To: e.To, Round: e.Round,
		SenderSeq: e.SenderSeq, Payload: e.Payload, Signature: e.Signature, Seq: e.Seq,
	}
}

// FromProto converts a wire message to an engine envelope.
func FromProto(e *tsskitv1.Envelope) *seal.Envelope {
	return &seal.Envelope{
		SessionID: e.SessionId, From: e.From, To: e.To, Round: e.Round,
		SenderSeq: e.SenderSeq, Payload: e.Payload, Signature: e.Signature, Seq: e.Seq,
	}
}

// Transport is a party.Transport over the router: Send publishes (retrying
// while the router is unavailable; Publish is idempotent), Incoming is fed by
// a Subscribe stream that resumes from the last seq it delivered whenever the
// stream breaks, so a cut stream or a router restart loses nothing and
// duplicates nothing.
type Transport struct {
	rc      tsskitv1.RouterServiceClient
	session string
	party   string
	creds   grpc.CallOption
	in      chan *seal.Envelope
	cancel  context.CancelFunc
	done    chan struct{}

	lastSeq    atomic.Uint64
	resumes    atomic.Int64
	mu         sync.Mutex
	err        error
	RetryLimit time.Duration // how long Send and the subscription retry an unavailable router
}

// NewTransport subscribes party to session and returns the transport. Close
// it when the session is over.
func NewTransport(ctx context.Context, cc grpc.ClientConnInterface, session, party, token string) *Transport {
	ctx, cancel := context.WithCancel(ctx)
	t := &Transport{
		rc: tsskitv1.NewRouterServiceClient(cc), session: session, party: party,
		creds: grpc.PerRPCCredentials(serve.Bearer(token)),
		in:    make(chan *seal.Envelope, 64), cancel: cancel, done: make(chan struct{}),
		RetryLimit: time.Minute,
	}
	go t.subscribe(ctx)
	return t
}

// Send publishes env.
func (t *Transport) Send(ctx context.Context, env *seal.Envelope) error {
	req := &tsskitv1.PublishRequest{Envelope: ToProto(env)}
	return retry(ctx, t.RetryLimit, func() error {
		_, err := t.rc.Publish(ctx, req, t.creds)
		return err
	})
}

// Incoming delivers the session's envelopes for this party.
func (t *Transport) Incoming() <-chan *seal.Envelope { return t.in }

// Resumes counts how often the subscription was re-established.
func (t *Transport) Resumes() int64 { return t.resumes.Load() }

// Err is why Incoming closed, if it closed on an error.
func (t *Transport) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close ends the subscription.
func (t *Transport) Close() {
	t.cancel()
	<-t.done
}

func (t *Transport) subscribe(ctx context.Context) {
	defer close(t.done)
	defer close(t.in)
	failingSince := time.Time{}
	backoff := 50 * time.Millisecond
	for first := true; ; first = false {
		if !first {
			t.resumes.Add(1)
		}
		err := t.stream(ctx, &failingSince, &backoff)
		if ctx.Err() != nil {
			return
		}
		if !Retryable(err) {
			t.setErr(err)
			return
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > t.RetryLimit {
			t.setErr(err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// stream runs one Subscribe call until it breaks.
func (t *Transport) stream(ctx context.Context, failingSince *time.Time, backoff *time.Duration) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := t.rc.Subscribe(sctx, &tsskitv1.SubscribeRequest{
		SessionId: t.session, PartyId: t.party, AfterSeq: t.lastSeq.Load(),
	}, t.creds)
	if err != nil {
		return err
	}
	// The router sends headers as soon as the subscription is accepted.
	if _, err := st.Header(); err != nil {
		return err
	}
	*failingSince = time.Time{}
	*backoff = 50 * time.Millisecond
	for {
		env, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return status.Error(codes.Unavailable, "stream ended")
			}
			return err
		}
		*failingSince = time.Time{}
		*backoff = 50 * time.Millisecond
		if env.Seq <= t.lastSeq.Load() {
			continue // already delivered
		}
		select {
		case t.in <- FromProto(env):
			t.lastSeq.Store(env.Seq)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (t *Transport) setErr(err error) {
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
}

// Retryable reports whether a gRPC error means the service or the network
// is away for a moment (worth another try); anything else (refused,
// unknown session, closed) is final.
func Retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Unknown, codes.Internal, codes.Aborted:
		return true
	}
	return false
}

// retry runs f until it succeeds, fails for good, or limit passes.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	start := time.Now()
	backoff := 50 * time.Millisecond
	for {
		err := f()
		if err == nil || !Retryable(err) || time.Since(start) > limit || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

package router_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party/identity"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// rig is a router on a loopback port, reached over real gRPC.
type rig struct {
	t      testing.TB
	signer *testDeployment
	bus    *router.MemoryBus
	svc    *router.Service
	addr   string
	cc     *grpc.ClientConn
	rc     tsskitv1.RouterServiceClient
	stop   context.CancelFunc
	done   chan struct{}
}

func newRig(t testing.TB, limits router.Limits, streamHook grpc.StreamServerInterceptor) *rig {
	t.Helper()
	signer := newSigner(t)
	r := &rig{t: t, signer: signer, bus: router.NewMemoryBus()}
	r.start(limits, streamHook, "127.0.0.1:0")
	t.Cleanup(r.close)
	return r
}

func (r *rig) start(limits router.Limits, streamHook grpc.StreamServerInterceptor, addr string) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	unary, stream := serve.Authenticate(r.signer.verifier)
	var gs *grpc.Server
	if streamHook != nil {
		gs = grpc.NewServer(grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream, streamHook))
	} else {
		gs = serve.NewGRPC(limits.MaxEnvelope+4096, unary, stream)
	}
	r.svc = router.New(r.bus, limits, log)
	r.svc.Register(gs)
	srv, err := serve.Listen("router", addr, serve.Handler(gs, serve.Origins{"http://app.test"}, http.NotFoundHandler()), log)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = srv.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); srv.Serve(ctx, time.Second) }()
	if r.cc == nil {
		cc, err := grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			r.t.Fatal(err)
		}
		r.cc, r.rc = cc, tsskitv1.NewRouterServiceClient(cc)
	}
}

// restart stops the server and starts a new one on the same port with the
// same bus, as a router process restart with a bus that outlives it.
func (r *rig) restart(limits router.Limits) {
	r.svc.Stop()
	r.stop()
	<-r.done
	r.start(limits, nil, r.addr)
}

func (r *rig) close() {
	r.svc.Stop()
	r.stop()
	<-r.done
	r.cc.Close()
}

func (r *rig) token(kind, session, party string, ttl time.Duration) grpc.CallOption {
	var tok string
	var err error
	switch kind {
	case auth.KindParty:
		tok, err = r.signer.MintParty(session, party, ttl)
	case auth.KindService:
		tok, err = r.signer.MintService("coordinator", ttl)
	case auth.KindAdmin:
		tok, err = r.signer.MintAdmin("admin", ttl)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok))
}

func (r *rig) open(session string, parties ...string) {
	_, err := r.rc.OpenSession(context.Background(), &tsskitv1.OpenSessionRequest{SessionId: session, Parties: parties},
		r.token(auth.KindService, "", "", time.Minute))
	if err != nil {
		r.t.Fatal(err)
	}
}

func env(session, from, to string, seq uint64, payload string) *tsskitv1.Envelope {
	return &tsskitv1.Envelope{SessionId: session, From: from, To: to, Round: 1, SenderSeq: seq, Payload: []byte(payload), Signature: make([]byte, 64)}
}

func (r *rig) publish(e *tsskitv1.Envelope) (uint64, error) {
	resp, err := r.rc.Publish(context.Background(), &tsskitv1.PublishRequest{Envelope: e}, r.token(auth.KindParty, e.SessionId, e.From, time.Minute))
	if err != nil {
		return 0, err
	}
	return resp.Seq, nil
}

// collect reads n envelopes for party from after.
func (r *rig) collect(session, party string, after uint64, n int) []*tsskitv1.Envelope {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := r.rc.Subscribe(ctx, &tsskitv1.SubscribeRequest{SessionId: session, PartyId: party, AfterSeq: after}, r.token(auth.KindParty, session, party, time.Minute))
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*tsskitv1.Envelope
	for len(out) < n {
		e, err := st.Recv()
		if err != nil {
			r.t.Fatalf("after %d envelopes: %v", len(out), err)
		}
		out = append(out, e)
	}
	return out
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %v", err, code)
	}
}

func TestPublishSubscribeRouting(t *testing.T) {
	r := newRig(t, router.DefaultLimits, nil)
	r.open("s1", "a", "b", "c")
	for i, e := range []*tsskitv1.Envelope{
		env("s1", "a", "", 1, "a-bcast"),
		env("s1", "a", "b", 2, "a-to-b"),
		env("s1", "b", "", 1, "b-bcast"),
		env("s1", "c", "a", 1, "c-to-a"),
	} {
		seq, err := r.publish(e)
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	got := r.collect("s1", "b", 0, 2)
	if string(got[0].Payload) != "a-bcast" || string(got[1].Payload) != "a-to-b" || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("b got %q(%d) %q(%d)", got[0].Payload, got[0].Seq, got[1].Payload, got[1].Seq)
	}
	got = r.collect("s1", "a", 0, 2) // own broadcast and c->b... excluded
	if string(got[0].Payload) != "b-bcast" || string(got[1].Payload) != "c-to-a" {
		t.Fatalf("a got %q %q", got[0].Payload, got[1].Payload)
	}
	// Resume after seq 3 gives only what follows.
	got = r.collect("s1", "a", 3, 1)
	if got[0].Seq != 4 {
		t.Fatalf("resume: got seq %d", got[0].Seq)
	}
	// A live subscriber gets what is published after it subscribed.
	done := make(chan []*tsskitv1.Envelope)
	go func() { done <- r.collect("s1", "c", 4, 1) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := r.publish(env("s1", "b", "c", 2, "late")); err != nil {
		t.Fatal(err)
	}
	if late := <-done; string(late[0].Payload) != "late" || late[0].Seq != 5 {
		t.Fatalf("live: %q %d", late[0].Payload, late[0].Seq)
	}
}

func TestPublishIsIdempotentAndRefusesEquivocation(t *testing.T) {
	r := newRig(t, router.DefaultLimits, nil)
	r.open("s1", "a", "b")
	s1, err := r.publish(env("s1", "a", "", 1, "x"))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.publish(env("s1", "a", "", 1, "x"))
	if err != nil || s2 != s1 {
		t.Fatalf("retry: seq %d err %v, want %d", s2, err, s1)
	}
	_, err = r.publish(env("s1", "a", "", 1, "y"))
	wantCode(t, err, codes.AlreadyExists)
}

func TestRefusals(t *testing.T) {
	limits := router.DefaultLimits
	limits.MaxEnvelope = 2048
	limits.MaxSessionEnvs = 3
	r := newRig(t, limits, nil)
	r.open("s1", "a", "b")
	ctx := context.Background()
	pub := func(e *tsskitv1.Envelope, opt grpc.CallOption) error {
		_, err := r.rc.Publish(ctx, &tsskitv1.PublishRequest{Envelope: e}, opt)
		return err
	}
	forgedTok, _ := newSigner(t).MintParty("s1", "a", time.Minute) // another deployment's coordinator
	// A server party's own certified key mints only service tokens for
	// itself; the router accepts none of what it could make.
	serverKey := r.signer.minter(t, identity.KindServer, "a")
	serverParty, _ := serverKey.MintParty("s1", "a", time.Minute)
	past := *r.signer.Minter
	past.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	expiredTok, _ := past.MintParty("s1", "a", time.Minute)
	expired := grpc.PerRPCCredentials(serve.Bearer(expiredTok))

	cases := []struct {
		name string
		env  *tsskitv1.Envelope
		opt  grpc.CallOption
		code codes.Code
	}{
		{"no token", env("s1", "a", "", 1, "x"), grpc.EmptyCallOption{}, codes.Unauthenticated},
		{"forged token", env("s1", "a", "", 1, "x"), grpc.PerRPCCredentials(serve.Bearer(forgedTok)), codes.Unauthenticated},
		{"party token minted by a server party", env("s1", "a", "", 1, "x"), grpc.PerRPCCredentials(serve.Bearer(serverParty)), codes.Unauthenticated},
		{"expired token", env("s1", "a", "", 1, "x"), expired, codes.Unauthenticated},
		{"wrong sender", env("s1", "b", "", 1, "x"), r.token(auth.KindParty, "s1", "a", time.Minute), codes.PermissionDenied},
		{"wrong session", env("s2", "a", "", 1, "x"), r.token(auth.KindParty, "s1", "a", time.Minute), codes.PermissionDenied},
		{"admin token", env("s1", "a", "", 1, "x"), r.token(auth.KindAdmin, "", "", time.Minute), codes.PermissionDenied},
		{"unknown session", env("s9", "a", "", 1, "x"), r.token(auth.KindParty, "s9", "a", time.Minute), codes.NotFound},
		{"outsider", env("s1", "z", "", 1, "x"), r.token(auth.KindParty, "s1", "z", time.Minute), codes.PermissionDenied},
		{"unknown recipient", env("s1", "a", "z", 1, "x"), r.token(auth.KindParty, "s1", "a", time.Minute), codes.InvalidArgument},
		{"oversized", env("s1", "a", "", 1, string(make([]byte, 4096))), r.token(auth.KindParty, "s1", "a", time.Minute), codes.ResourceExhausted},
		{"sender_seq 0", env("s1", "a", "", 0, "x"), r.token(auth.KindParty, "s1", "a", time.Minute), codes.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantCode(t, pub(c.env, c.opt), c.code) })
	}
	if n, _ := r.bus.Stats(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
	// Nothing refused was stored: the first accepted envelope gets seq 1.
	if seq, err := r.publish(env("s1", "a", "", 1, "ok")); err != nil || seq != 1 {
		t.Fatalf("seq %d err %v", seq, err)
	}
	// Per-session envelope limit.
	r.publish(env("s1", "a", "", 2, "ok"))
	r.publish(env("s1", "a", "", 3, "ok"))
	_, err := r.publish(env("s1", "a", "", 4, "ok"))
	wantCode(t, err, codes.ResourceExhausted)

	// Subscribe refusals.
	sub := func(session, party string, opt grpc.CallOption) error {
		st, err := r.rc.Subscribe(ctx, &tsskitv1.SubscribeRequest{SessionId: session, PartyId: party}, opt)
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	wantCode(t, sub("s1", "b", r.token(auth.KindParty, "s1", "a", time.Minute)), codes.PermissionDenied)
	wantCode(t, sub("s9", "a", r.token(auth.KindParty, "s9", "a", time.Minute)), codes.NotFound)
	wantCode(t, sub("s1", "a", grpc.EmptyCallOption{}), codes.Unauthenticated)
	// Session control takes a service token.
	_, err = r.rc.OpenSession(ctx, &tsskitv1.OpenSessionRequest{SessionId: "s3", Parties: []string{"a", "b"}}, r.token(auth.KindParty, "s1", "a", time.Minute))
	wantCode(t, err, codes.PermissionDenied)
}

func TestCloseEndsSubscriptions(t *testing.T) {
	r := newRig(t, router.DefaultLimits, nil)
	r.open("s1", "a", "b")
	st, err := r.rc.Subscribe(context.Background(), &tsskitv1.SubscribeRequest{SessionId: "s1", PartyId: "a"}, r.token(auth.KindParty, "s1", "a", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := r.rc.CloseSession(context.Background(), &tsskitv1.CloseSessionRequest{SessionId: "s1", Reason: "completed"}, r.token(auth.KindService, "", "", time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	_, err = r.publish(env("s1", "a", "", 1, "x"))
	wantCode(t, err, codes.FailedPrecondition)
}

func TestMemoryBusExpiry(t *testing.T) {
	b := router.NewMemoryBus()
	ctx := context.Background()
	if err := b.Open(ctx, router.SessionInfo{ID: "s", Parties: []string{"a", "b"}, Expires: time.Now().Add(30 * time.Millisecond), MaxBytes: 1 << 20, MaxEnvelopes: 10}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := b.Read(ctx, "s", 0, 10)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("read on an expiring session: %v after %v", err, time.Since(start))
	}
	if _, err := b.Append(ctx, "s", router.Entry{From: "a", SenderSeq: 1, Data: []byte("x")}); err == nil {
		t.Fatal("append to an expired session")
	}
}

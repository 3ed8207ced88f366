package router_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testdb"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// replica is one router process on a loopback port; replicas given buses
// over the same Redis and prefix share their sessions.
type replica struct {
	svc  *router.Service
	addr string
	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

func startReplica(t *testing.T, signer *testDeployment, bus router.Bus) *replica {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	unary, stream := serve.Authenticate(signer.verifier)
	gs := serve.NewGRPC(router.DefaultLimits.MaxEnvelope+4096, unary, stream)
	r := &replica{svc: router.New(bus, router.DefaultLimits, log), done: make(chan struct{})}
	r.svc.Register(gs)
	srv, err := serve.Listen("router", "127.0.0.1:0", serve.Handler(gs, serve.Origins{}, http.NotFoundHandler()), log)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = srv.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { defer close(r.done); srv.Serve(ctx, time.Second) }()
	t.Cleanup(r.kill)
	return r
}

// kill stops the replica as a process shutdown does: streams end with
// Unavailable, then the listener closes.
func (r *replica) kill() {
	r.once.Do(func() {
		r.svc.Stop()
		r.stop()
		<-r.done
	})
}

// sharedRedis returns two buses with their own Redis clients over one
// prefix, as two router processes configured alike.
func sharedRedis(t *testing.T) (*router.RedisBus, *router.RedisBus) {
	c, prefix := testdb.Redis(t)
	c2 := redis.NewClient(c.Options())
	t.Cleanup(func() { c2.Close() })
	return router.NewRedisBus(c, prefix), router.NewRedisBus(c2, prefix)
}

func dial(t *testing.T, target string) tsskitv1.RouterServiceClient {
	t.Helper()
	cc, err := serve.Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return tsskitv1.NewRouterServiceClient(cc)
}

func partyCreds(t *testing.T, s *testDeployment, session, party string) grpc.CallOption {
	tok, err := s.MintParty(session, party, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok))
}

func serviceCreds(t *testing.T, s *testDeployment) grpc.CallOption {
	tok, err := s.MintService("coordinator", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok))
}

type sent struct {
	from string
	seq  uint64 // sender_seq
}

// TestReplicasShareRedis: two router replicas on one Redis. Parties p1 and
// p2 publish to A and subscribe on B, p3 and p4 the other way round, all at
// once; a retry of each party's first envelope goes to the other replica.
// Everyone gets every envelope meant for them exactly once, with the seq
// its Publish returned, in seq order: the same order for all.
func TestReplicasShareRedis(t *testing.T) {
	signer := newSigner(t)
	busA, busB := sharedRedis(t)
	a, b := startReplica(t, signer, busA), startReplica(t, signer, busB)
	rc := map[string]tsskitv1.RouterServiceClient{"A": dial(t, a.addr), "B": dial(t, b.addr)}
	const session, each = "replicas", 25
	parties := []string{"p1", "p2", "p3", "p4"}
	pubOn := map[string]string{"p1": "A", "p2": "A", "p3": "B", "p4": "B"}
	subOn := map[string]string{"p1": "B", "p2": "B", "p3": "A", "p4": "A"}
	other := map[string]string{"A": "B", "B": "A"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := rc["A"].OpenSession(ctx, &tsskitv1.OpenSessionRequest{SessionId: session, Parties: parties}, serviceCreds(t, signer)); err != nil {
		t.Fatal(err)
	}
	// What each party publishes: broadcasts, and every fourth to the next party.
	envs := map[string][]*tsskitv1.Envelope{}
	want := map[string]map[sent]bool{}
	for _, p := range parties {
		want[p] = map[sent]bool{}
	}
	for i, p := range parties {
		for j := range each {
			to := ""
			if j%4 == 3 {
				to = parties[(i+1)%len(parties)]
			}
			e := env(session, p, to, uint64(j+1), fmt.Sprintf("%s-%d", p, j+1))
			envs[p] = append(envs[p], e)
			for _, q := range parties {
				if q != p && (to == "" || to == q) {
					want[q][sent{p, e.SenderSeq}] = true
				}
			}
		}
	}

	// Subscribers first, live before anything is published.
	got := map[string][]*tsskitv1.Envelope{}
	var mu sync.Mutex
	var subs sync.WaitGroup
	subErr := make(chan error, len(parties))
	for _, p := range parties {
		st, err := rc[subOn[p]].Subscribe(ctx, &tsskitv1.SubscribeRequest{SessionId: session, PartyId: p}, partyCreds(t, signer, session, p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Header(); err != nil {
			t.Fatal(err)
		}
		subs.Add(1)
		go func() {
			defer subs.Done()
			for range len(want[p]) {
				e, err := st.Recv()
				if err != nil {
					subErr <- fmt.Errorf("%s: %v", p, err)
					return
				}
				mu.Lock()
				got[p] = append(got[p], e)
				mu.Unlock()
			}
		}()
	}

	published := map[sent]uint64{}
	var pubs sync.WaitGroup
	pubErr := make(chan error, len(parties))
	for _, p := range parties {
		creds := partyCreds(t, signer, session, p)
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for j, e := range envs[p] {
				resp, err := rc[pubOn[p]].Publish(ctx, &tsskitv1.PublishRequest{Envelope: e}, creds)
				if err != nil {
					pubErr <- fmt.Errorf("%s publish %d: %v", p, e.SenderSeq, err)
					return
				}
				if j == 0 {
					// A retry that reaches the other replica gets the same seq.
					again, err := rc[other[pubOn[p]]].Publish(ctx, &tsskitv1.PublishRequest{Envelope: e}, creds)
					if err != nil || again.Seq != resp.Seq {
						pubErr <- fmt.Errorf("%s retry on the other replica: seq %v, %v; want %d", p, again.GetSeq(), err, resp.Seq)
						return
					}
				}
				mu.Lock()
				published[sent{p, e.SenderSeq}] = resp.Seq
				mu.Unlock()
			}
		}()
	}
	pubs.Wait()
	subs.Wait()
	close(pubErr)
	close(subErr)
	for err := range pubErr {
		t.Fatal(err)
	}
	for err := range subErr {
		t.Fatal(err)
	}

	total := len(parties) * each
	bySeq := map[uint64]sent{}
	for s, seq := range published {
		bySeq[seq] = s
	}
	for seq := uint64(1); seq <= uint64(total); seq++ {
		if _, ok := bySeq[seq]; !ok {
			t.Fatalf("seqs of %d envelopes are not 1..%d: %d missing", total, total, seq)
		}
	}
	for _, p := range parties {
		if len(got[p]) != len(want[p]) {
			t.Fatalf("%s got %d envelopes, want %d", p, len(got[p]), len(want[p]))
		}
		seen := map[sent]bool{}
		var last uint64
		for _, e := range got[p] {
			s := sent{e.From, e.SenderSeq}
			switch {
			case !want[p][s]:
				t.Fatalf("%s got %s/%d, not meant for it", p, e.From, e.SenderSeq)
			case seen[s]:
				t.Fatalf("%s got %s/%d twice", p, e.From, e.SenderSeq)
			case e.Seq != published[s]:
				t.Fatalf("%s got %s/%d with seq %d, Publish said %d", p, e.From, e.SenderSeq, e.Seq, published[s])
			case e.Seq <= last:
				t.Fatalf("%s got seq %d after %d", p, e.Seq, last)
			case string(e.Payload) != fmt.Sprintf("%s-%d", e.From, e.SenderSeq):
				t.Fatalf("%s got payload %q for %s/%d", p, e.Payload, e.From, e.SenderSeq)
			}
			seen[s], last = true, e.Seq
		}
	}
}

// TestReplicaFailover: party b's Transport is connected to replicas A and
// B (A first) and subscribed through A; a and c publish through the same
// kind of connection. Replica A goes away mid-stream; b's subscription
// resumes on B from its last seq and the publishers' retries land on B, and
// b ends with every envelope exactly once, in order.
func TestReplicaFailover(t *testing.T) {
	signer := newSigner(t)
	busA, busB := sharedRedis(t)
	a, b := startReplica(t, signer, busA), startReplica(t, signer, busB)
	const session, fromA, fromC = "failover", 120, 40
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dial(t, b.addr).OpenSession(ctx, &tsskitv1.OpenSessionRequest{SessionId: session, Parties: []string{"a", "b", "c"}}, serviceCreds(t, signer)); err != nil {
		t.Fatal(err)
	}
	both := a.addr + "," + b.addr
	transport := func(party string) *router.Transport {
		cc, err := serve.Dial(both)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		tok, err := signer.MintParty(session, party, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tr := router.NewTransport(ctx, cc, session, party, tok)
		t.Cleanup(tr.Close)
		return tr
	}
	trB := transport("b")

	// b counts what it receives; at 30, replica A goes away.
	var received atomic.Int64
	killed := make(chan struct{})
	go func() {
		for received.Load() < 30 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
		a.kill()
		close(killed)
	}()
	pubDone := make(chan error, 2)
	for _, p := range []struct {
		from, to string
		n        int
	}{{"a", "", fromA}, {"c", "b", fromC}} {
		tr := transport(p.from)
		go func() {
			for i := range p.n {
				e := router.FromProto(env(session, p.from, p.to, uint64(i+1), fmt.Sprintf("%s-%d", p.from, i+1)))
				if err := tr.Send(ctx, e); err != nil {
					pubDone <- fmt.Errorf("%s send %d: %v", p.from, i+1, err)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			pubDone <- nil
		}()
	}

	next := map[string]uint64{"a": 1, "c": 1}
	var last uint64
	publishers := 2
	for n := 0; n < fromA+fromC; {
		select {
		case e, ok := <-trB.Incoming():
			if !ok {
				t.Fatalf("b's transport ended after %d envelopes: %v", n, trB.Err())
			}
			if e.SenderSeq != next[e.From] {
				t.Fatalf("b got %s/%d, want %s/%d (lost or repeated)", e.From, e.SenderSeq, e.From, next[e.From])
			}
			if e.Seq <= last {
				t.Fatalf("b got seq %d after %d", e.Seq, last)
			}
			next[e.From]++
			last = e.Seq
			n++
			received.Add(1)
		case err := <-pubDone:
			if err != nil {
				t.Fatal(err)
			}
			publishers--
		case <-ctx.Done():
			t.Fatalf("b has %d of %d envelopes", n, fromA+fromC)
		}
	}
	for ; publishers > 0; publishers-- {
		if err := <-pubDone; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-killed:
	case <-time.After(10 * time.Second):
		t.Fatal("replica A was never stopped")
	}
	if trB.Resumes() < 1 {
		t.Fatal("b's subscription never resumed")
	}
	// Nothing more arrives: nothing was repeated at the end either.
	select {
	case e := <-trB.Incoming():
		t.Fatalf("b got an extra %s/%d", e.From, e.SenderSeq)
	case <-time.After(200 * time.Millisecond):
	}
	t.Logf("b resumed %d time(s); last seq %d", trB.Resumes(), last)
}

// TestRedisOutageIsUnavailable: a router whose Redis is down answers
// Unavailable, which clients retry, not an error about the session.
func TestRedisOutageIsUnavailable(t *testing.T) {
	signer := newSigner(t)
	r := startReplica(t, signer, router.NewRedisBus(deadRedis(t), "tsskit:"))
	rc := dial(t, r.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := rc.OpenSession(ctx, &tsskitv1.OpenSessionRequest{SessionId: "s", Parties: []string{"a", "b"}}, serviceCreds(t, signer))
	wantCode(t, err, codes.Unavailable)
	_, err = rc.Publish(ctx, &tsskitv1.PublishRequest{Envelope: env("s", "a", "", 1, "x")}, partyCreds(t, signer, "s", "a"))
	wantCode(t, err, codes.Unavailable)
	st, err := rc.Subscribe(ctx, &tsskitv1.SubscribeRequest{SessionId: "s", PartyId: "a"}, partyCreds(t, signer, "s", "a"))
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.Unavailable)
	if !router.Retryable(err) {
		t.Fatal("a Redis outage is not retryable")
	}
	_, err = rc.CloseSession(ctx, &tsskitv1.CloseSessionRequest{SessionId: "s", Reason: "x"}, serviceCreds(t, signer))
	wantCode(t, err, codes.Unavailable)
}

// deadRedis is a client of a port nobody listens on, trying once.
func deadRedis(t *testing.T) *redis.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: dead, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

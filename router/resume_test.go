package router_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/router"
)

// cutter ends each party's first Subscribe stream after `after` envelopes,
// the way a proxy or a flaky network would.
type cutter struct {
	after int
	mu    sync.Mutex
	cut   map[string]bool
	n     atomic.Int64
}

type cutStream struct {
	grpc.ServerStream
	c     *cutter
	party string
	sent  int
}

func (s *cutStream) SendMsg(m any) error {
	if s.c.after >= 0 && s.sent == s.c.after {
		s.c.mu.Lock()
		first := !s.c.cut[s.party]
		s.c.cut[s.party] = true
		s.c.mu.Unlock()
		if first {
			s.c.n.Add(1)
			return status.Error(codes.Unavailable, "stream cut by the test")
		}
	}
	s.sent++
	return s.ServerStream.SendMsg(m)
}

func (c *cutter) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if info.FullMethod != "/tsskit.v1.RouterService/Subscribe" {
		return h(srv, ss)
	}
	cl, _ := auth.FromContext(ss.Context())
	return h(srv, &cutStream{ServerStream: ss, c: c, party: cl.Subject})
}

// runKeygen runs a 2-of-3 keygen whose parties talk through the router rig.
func runKeygen(t *testing.T, r *rig, session string, during func()) []*router.Transport {
	t.Helper()
	ids := []string{"p1", "p2", "p3"}
	r.open(session, ids...)
	d, err := memnet.NewIdentities(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	const walletID = "7d2b7d0e-58c1-4a4e-9f57-0a7e1c1c2f10"
	keys, roster, err := d.Roster(memnet.Spec{Kind: identity.SessionKeygen, ID: session, WalletID: walletID, Threshold: 2, Parties: ids})
	if err != nil {
		t.Fatal(err)
	}
	pps, err := testkit.PreParamsSet(3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	trs := make([]*router.Transport, len(ids))
	results := make([]*party.KeygenResult, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		tok, _ := r.signer.MintParty(session, id, time.Hour)
		trs[i] = router.NewTransport(ctx, r.cc, session, id, tok)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := party.Session{ID: session, Parties: ids, Self: id, SignersNeeded: 2, Keys: keys[i], Roster: roster, Trust: d.Trust}
			results[i], errs[i] = party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: walletID, PreParams: pps[i], Identity: d.Keys[id]}, trs[i])
		}()
	}
	if during != nil {
		during()
	}
	wg.Wait()
	for i := range ids {
		trs[i].Close()
		if errs[i] != nil {
			t.Fatalf("%s: %v", ids[i], errs[i])
		}
		if string(results[i].PublicKey) != string(results[0].PublicKey) {
			t.Fatal("parties disagree on the public key")
		}
	}
	return trs
}

// TestResumeAfterCutStreams: every party's stream is cut mid-keygen; each
// resubscribes from the last seq it saw and the keygen completes, which it
// cannot if a single envelope is lost or delivered twice.
func TestResumeAfterCutStreams(t *testing.T) {
	c := &cutter{after: 3, cut: map[string]bool{}}
	r := newRig(t, router.DefaultLimits, c.intercept)
	trs := runKeygen(t, r, "resume-cut", nil)
	if c.n.Load() != 3 {
		t.Fatalf("%d streams cut, want 3", c.n.Load())
	}
	for i, tr := range trs {
		if tr.Resumes() < 1 {
			t.Fatalf("party %d never resumed", i)
		}
	}
}

// TestResumeAfterRouterRestart: the router process goes away mid-keygen
// and a new one takes over the same port and bus; parties retry their
// publishes, resubscribe, and finish.
func TestResumeAfterRouterRestart(t *testing.T) {
	r := newRig(t, router.DefaultLimits, nil)
	trs := runKeygen(t, r, "resume-restart", func() {
		// Let round 1 get going, then restart.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, bytes := r.bus.Stats(); bytes > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.restart(router.DefaultLimits)
	})
	for i, tr := range trs {
		if tr.Resumes() < 1 {
			t.Fatalf("party %d never resumed", i)
		}
	}
}

// TestTransportSurvivesRepeatedOutages: two router restarts separated by a
// quiet spell longer than the retry limit; the subscription resumes after
// each, because a re-established stream resets the retry clock.
func TestTransportSurvivesRepeatedOutages(t *testing.T) {
	r := newRig(t, router.DefaultLimits, nil)
	r.open("outages", "a", "b")
	tok, _ := r.signer.MintParty("outages", "b", time.Hour)
	tr := router.NewTransport(context.Background(), r.cc, "outages", "b", tok)
	tr.RetryLimit = time.Second
	defer tr.Close()
	for i := range 2 {
		r.restart(router.DefaultLimits)
		time.Sleep(1500 * time.Millisecond)
		if _, err := r.publish(env("outages", "a", "", uint64(i+1), "after restart")); err != nil {
			t.Fatal(err)
		}
		select {
		case e, ok := <-tr.Incoming():
			if !ok {
				t.Fatalf("transport gave up after restart %d: %v", i+1, tr.Err())
			}
			if e.SenderSeq != uint64(i+1) {
				t.Fatalf("got sender_seq %d", e.SenderSeq)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("nothing after restart %d", i+1)
		}
	}
}

func TestMemoryBusTotalCap(t *testing.T) {
	b := router.NewMemoryBus()
	b.MaxBytes = 100
	ctx := context.Background()
	for _, s := range []string{"s1", "s2"} {
		if err := b.Open(ctx, router.SessionInfo{ID: s, Parties: []string{"a", "b"}, Expires: time.Now().Add(time.Minute), MaxBytes: 1 << 20, MaxEnvelopes: 10}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Append(ctx, "s1", router.Entry{From: "a", SenderSeq: 1, Data: make([]byte, 60)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "s2", router.Entry{From: "a", SenderSeq: 1, Data: make([]byte, 60)}); !errors.Is(err, router.ErrBusFull) {
		t.Fatalf("over the total cap: %v", err)
	}
	b.Close(ctx, "s1", "done")
	if _, err := b.Append(ctx, "s2", router.Entry{From: "a", SenderSeq: 1, Data: make([]byte, 60)}); err != nil {
		t.Fatalf("after closing s1: %v", err)
	}
}

package hardening_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// A seat is one party of a coordinated session that runs the real engine
// (package party) behind a proxy the test controls — a party whose engine
// was altered to send what the test wants.
//
// It joins with real session keys R. The engine gets other keys E and a
// fake roster in which every other party has loopback keys L_p that the
// seat holds. What the engine sends is sealed to loopback keys, so the seat
// opens it, hands the plaintext tss-lib message to Out, and seals what Out
// returns with R to the real parties (fresh sender_seqs, in the order it
// publishes them). What arrives sealed to R is opened and sealed again as
// its sender under L_p for the engine. So the seat can rewrite, drop,
// reorder, repeat, relabel or mis-seal any message — point-to-point ones
// included — and every envelope the honest parties see is validly signed
// by the party's real key unless the test says otherwise.
type seat struct {
	t       *testing.T
	conn    participant.Conn
	resp    *tsskitv1.CreateSessionResponse
	digest  []byte // a signing's
	trust   *identity.Trust
	session string
	self    string
	token   string
	creds   grpc.CallOption
	rc      tsskitv1.RouterServiceClient

	// Out sees each message the engine sends and returns what to send in
	// its place (nil: nothing). It runs on the engine's sender goroutine.
	Out func(s *seat, m *outMsg) []*outMsg
	// HoldIn: the first HoldIn envelopes that arrive are held and handed to
	// the engine in reverse order (later rounds before earlier ones).
	HoldIn int
	// SealRoster may change the roster used to seal outgoing envelopes
	// (e.g. give one peer a wrong HPKE key); the engine is not affected.
	SealRoster func(map[string]seal.PublicKeys)
	// Deaf: the engine gets nothing but the roster confirmations (it sends
	// its first round and waits), so a party that only has to send saves
	// the later rounds' work.
	Deaf bool

	real   *seal.Channel
	loop   map[string]*seal.Channel
	others []string
	in     chan *seal.Envelope
	// Round 0: the roster confirmation the real parties get (of the real
	// roster) and the one the engine gets from each of them (of its fake
	// roster).
	realConfirm, fakeConfirm []byte

	mu         sync.Mutex
	published  []publishedEnv
	inErrs     []error
	heldRounds []uint32 // rounds of the held envelopes, in the order handed over
}

// outMsg is a plaintext message on its way out.
type outMsg struct {
	To      string // "" broadcast
	Round   uint32
	Payload []byte // tss-lib wire bytes (a protobuf Any)
	// Post, if set, changes the sealed and signed envelope before it is
	// published.
	Post func(*seal.Envelope)
}

type publishedEnv struct {
	env *seal.Envelope
	seq uint64
}

// seatResult is how the session ended for the seat.
type seatResult struct {
	Final     *tsskitv1.SessionEvent // the coordinator's completed or failed event
	EngineErr error
	Signature *party.Signature
	Keygen    *party.KeygenResult
}

// newSeat is party self's seat in the session the coordinator created as
// resp (a signing of digest, or a keygen when digest is nil); trust is the
// deployment the real parties belong to.
func newSeat(t *testing.T, conn participant.Conn, resp *tsskitv1.CreateSessionResponse, self string, digest []byte, trust *identity.Trust) *seat {
	token := ""
	for _, tk := range resp.Tokens {
		if tk.PartyId == self {
			token = tk.Token
		}
	}
	return &seat{
		t: t, conn: conn, resp: resp, digest: digest, trust: trust, session: resp.SessionId, self: self, token: token,
		creds: bearer(token), rc: tsskitv1.NewRouterServiceClient(conn.Router),
		in: make(chan *seal.Envelope, 1024), loop: map[string]*seal.Channel{},
	}
}

// msgType is the tss-lib message type of a payload ("SignRound1Message2").
func msgType(payload []byte) string {
	var a anypb.Any
	if proto.Unmarshal(payload, &a) != nil {
		return ""
	}
	return a.TypeUrl[strings.LastIndex(a.TypeUrl, ".")+1:]
}

// rewrite decodes the tss-lib message in payload, lets f change it and
// encodes it again.
func rewrite(t *testing.T, payload []byte, f func(proto.Message)) []byte {
	var a anypb.Any
	if err := proto.Unmarshal(payload, &a); err != nil {
		t.Errorf("rewrite: %v", err)
		return payload
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Errorf("rewrite: %v", err)
		return payload
	}
	f(m)
	b, err := anypb.New(m)
	if err == nil {
		payload, err = proto.Marshal(b)
	}
	if err != nil {
		t.Errorf("rewrite: %v", err)
	}
	return payload
}

// publish sends one envelope to the router as this party.
func (s *seat) publish(ctx context.Context, e *seal.Envelope) (uint64, error) {
	resp, err := s.rc.Publish(ctx, &tsskitv1.PublishRequest{Envelope: router.ToProto(e)}, s.creds)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.published = append(s.published, publishedEnv{env: e, seq: resp.Seq})
	s.mu.Unlock()
	return resp.Seq, nil
}

// protocolSent counts the envelopes published past round 0 (the roster
// confirmation the seat sends itself).
func (s *seat) protocolSent() int {
	n := 0
	for _, p := range s.sent() {
		if p.env.Round > 0 {
			n++
		}
	}
	return n
}

func (s *seat) sent() []publishedEnv {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]publishedEnv(nil), s.published...)
}

// Send is the engine's transport: open what the engine sealed to the
// loopback keys, let Out rewrite it, seal with the real keys, publish.
func (s *seat) Send(ctx context.Context, env *seal.Envelope) error {
	to := env.To
	if to == "" {
		to = s.others[0]
	}
	pt, err := s.loop[to].Open(env)
	if err != nil {
		return fmt.Errorf("seat: open own envelope: %w", err)
	}
	msgs := []*outMsg{{To: env.To, Round: env.Round, Payload: pt}}
	if env.Round == 0 {
		// The engine confirmed its fake roster; the real parties get the
		// confirmation of the real one.
		msgs[0].Payload = s.realConfirm
	} else if s.Out != nil {
		msgs = s.Out(s, msgs[0])
	}
	for _, m := range msgs {
		e, err := s.real.Seal(m.To, m.Round, m.Payload)
		if err != nil {
			return err
		}
		if m.Post != nil {
			m.Post(e)
		}
		if _, err := s.publish(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (s *seat) Incoming() <-chan *seal.Envelope { return s.in }

// pumpIn opens what the router delivers and seals it again for the engine.
func (s *seat) pumpIn(ctx context.Context, tr *router.Transport) {
	var held []*seal.Envelope
	var timeout <-chan time.Time
	release := func() {
		for i := len(held) - 1; i >= 0; i-- {
			s.mu.Lock()
			s.heldRounds = append(s.heldRounds, held[i].Round)
			s.mu.Unlock()
			s.in <- held[i]
		}
		held, timeout = nil, nil
		s.HoldIn = 0
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-timeout:
			release()
		case env, ok := <-tr.Incoming():
			if !ok {
				return
			}
			pt, err := s.real.Open(env)
			if err != nil {
				if !seal.Benign(err) {
					s.mu.Lock()
					s.inErrs = append(s.inErrs, err)
					s.mu.Unlock()
				}
				continue
			}
			to := ""
			if !env.IsBroadcast() {
				to = s.self
			}
			if env.Round == 0 {
				pt = s.fakeConfirm
			}
			e, err := s.loop[env.From].Seal(to, env.Round, pt)
			if err != nil {
				s.t.Errorf("seat: reseal: %v", err)
				return
			}
			if s.Deaf && env.Round != 0 {
				continue // round 0 still: without it the engine never starts
			}
			if s.HoldIn == 0 {
				s.in <- e
				continue
			}
			held = append(held, e)
			if timeout == nil {
				// Only if fewer than HoldIn ever come; the reorder test
				// then fails its own check.
				timeout = time.After(30 * time.Second)
			}
			if len(held) == s.HoldIn {
				release()
			}
		}
	}
}

// run takes the seat in a keygen (pre set) or signing (rec set) session
// and returns when the coordinator says how it ended. The seat reports its
// result if the engine finishes, and never reports a failure: judging the
// session is left to the honest parties.
func (s *seat) run(ctx context.Context, pre *keygen.LocalPreParams, rec *share.Record) *seatResult {
	t := s.t
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	coord := tsskitv1.NewCoordinatorServiceClient(s.conn.Coordinator)
	var job participant.Job
	var err error
	if pre != nil {
		job, err = participant.ClientKeygenJob(s.resp, s.self, int(s.resp.SignersNeeded), len(s.resp.Parties), s.trust)
	} else {
		job, err = participant.ClientSignJob(s.resp, rec, s.digest, s.trust)
	}
	if err != nil {
		t.Fatal(err)
	}
	kind := identity.SessionKeygen
	if pre == nil {
		kind = identity.SessionSign
	}
	realKeys, published, err := participant.JoinKeys(&job, kind)
	if err != nil {
		t.Fatal(err)
	}
	watch, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: s.session}, s.creds)
	if err != nil {
		t.Fatal(err)
	}
	// A join refused because the session already failed (a server party
	// refused its seat first) is answered by the failed event below.
	_, joinErr := coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: s.session, Keys: published}, s.creds)
	if joinErr != nil && status.Code(joinErr) != codes.FailedPrecondition {
		t.Fatal(joinErr)
	}
	events := make(chan *tsskitv1.SessionEvent, 256)
	go func() {
		defer close(events)
		for {
			ev, err := watch.Recv()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	res := &seatResult{}
	var ready *tsskitv1.SessionEvent_Ready
	for ready == nil {
		ev, ok := <-events
		if !ok {
			t.Fatal("session events ended before ready")
		}
		if ev.GetFailed() != nil {
			res.Final = ev
			return res
		}
		ready = ev.GetReady()
	}

	realRoster := map[string]seal.PublicKeys{}
	realEntries := map[string]*identity.Entry{}
	var parties []string
	for _, k := range ready.Roster {
		parties = append(parties, k.PartyId)
		realRoster[k.PartyId] = seal.PublicKeys{X25519: k.X25519, Ed25519: k.Ed25519}
		realEntries[k.PartyId] = participant.EntryOf(k)
		if k.PartyId != s.self {
			s.others = append(s.others, k.PartyId)
		}
	}
	if s.realConfirm, err = party.RosterConfirmation(realEntries); err != nil {
		t.Fatal(err)
	}
	sealRoster := map[string]seal.PublicKeys{}
	for p, k := range realRoster {
		sealRoster[p] = k
	}
	if s.SealRoster != nil {
		s.SealRoster(sealRoster)
	}
	if s.real, err = seal.NewChannel(s.session, s.self, realKeys, sealRoster); err != nil {
		t.Fatal(err)
	}
	engineKeys, _ := seal.GenerateKeys()
	fake := map[string]seal.PublicKeys{s.self: engineKeys.Public()}
	loopKeys := map[string]*seal.Keys{}
	for _, p := range s.others {
		loopKeys[p], _ = seal.GenerateKeys()
		fake[p] = loopKeys[p].Public()
	}
	for _, p := range s.others {
		if s.loop[p], err = seal.NewChannel(s.session, p, loopKeys[p], fake); err != nil {
			t.Fatal(err)
		}
	}
	// The engine's world: a deployment of its own in which the seat holds
	// every other party's identity, and (signing) a copy of its record that
	// names them; its own identity stays the real one.
	world, err := memnet.NewIdentities(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.others {
		st, err := realEntries[p].Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := world.Add(p, st.Kind); err != nil {
			t.Fatal(err)
		}
	}
	world.Keys[s.self], world.Kinds[s.self] = job.Identity, job.Kind
	spec := memnet.Spec{Kind: kind, ID: s.session, WalletID: job.WalletID, Threshold: job.Threshold, Parties: parties, Digest: job.Digest}
	fakeEntries := map[string]*identity.Entry{}
	for p, k := range fake {
		if fakeEntries[p], err = world.Entry(spec, p, k); err != nil {
			t.Fatal(err)
		}
	}
	if s.fakeConfirm, err = party.RosterConfirmation(fakeEntries); err != nil {
		t.Fatal(err)
	}
	if rec != nil {
		c := *rec
		c.Holders = slices.Clone(rec.Holders)
		for i, h := range c.Holders {
			if k, ok := world.Keys[h.PartyID]; ok && h.PartyID != s.self {
				c.Holders[i].Identity = k.Public()
			}
		}
		rec = &c
	}

	engineCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	tr := router.NewTransport(engineCtx, s.conn.Router, s.session, s.self, s.token)
	defer tr.Close()
	go s.pumpIn(engineCtx, tr)
	sess := party.Session{ID: s.session, Parties: parties, Self: s.self, SignersNeeded: int(ready.SignersNeeded), Keys: engineKeys,
		Roster: fakeEntries, Trust: world.Trust}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if pre != nil {
			res.Keygen, res.EngineErr = party.Keygen(engineCtx, party.KeygenRequest{Session: sess, WalletID: ready.WalletId, PreParams: pre, Identity: job.Identity}, s)
		} else {
			sess.SignersNeeded = 0
			res.Signature, res.EngineErr = party.Sign(engineCtx, party.SignRequest{Session: sess, Share: rec, Digest: ready.Digest}, s)
		}
	}()

	final := func(ev *tsskitv1.SessionEvent) bool { return ev.GetFailed() != nil || ev.GetCompleted() != nil }
	for res.Final == nil {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("session events ended without a result")
			}
			if final(ev) {
				res.Final = ev
			}
		case <-done:
			done = nil
			if res.EngineErr != nil {
				continue // wait for the coordinator's verdict
			}
			report := &tsskitv1.ReportResultRequest{SessionId: s.session, PartyId: s.self}
			if res.Keygen != nil {
				report.Result = &tsskitv1.ReportResultRequest_PublicKey{PublicKey: res.Keygen.PublicKey}
				report.ChainCode = res.Keygen.ChainCode
			} else {
				report.Result = &tsskitv1.ReportResultRequest_Signature{Signature: participant.SignatureProto(res.Signature)}
			}
			if _, err := coord.ReportResult(ctx, report, s.creds); err != nil {
				t.Logf("seat: report result: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("no verdict from the coordinator in time")
		}
	}
	stopEngine()
	if done != nil {
		<-done
	}
	return res
}

// wantFailed checks the coordinator failed the session with code, naming
// exactly culprits.
func wantFailed(t *testing.T, res *seatResult, code string, culprits ...string) *tsskitv1.SessionEvent_Failed {
	t.Helper()
	f := res.Final.GetFailed()
	if f == nil {
		t.Fatalf("session did not fail: %v (engine: %v)", res.Final, res.EngineErr)
	}
	if f.Code != code || fmt.Sprint(f.Culprits) != fmt.Sprint(culprits) {
		t.Fatalf("failed with code %q culprits %v (%s); want %q %v", f.Code, f.Culprits, f.Reason, code, culprits)
	}
	return f
}

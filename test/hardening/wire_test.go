package hardening_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/party/seal"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// Bytes that are not a protobuf message of any type, or not of the
// request's type.
var malformedProto = map[string][]byte{
	"garbage":              {0xff, 0xff, 0xff, 0xff, 0xff},
	"truncated length":     {0x0a, 0x0a, 0x0a, 0x02}, // field 1 claims 10 bytes, 2 follow
	"truncated varint":     {0x08, 0x80, 0x80},
	"unterminated group":   {0x0b},
	"invalid utf-8 string": {0x0a, 0x03, 0x0a, 0x01, 0xff}, // field 1 { field 1: "\xff" }
}

// invokeRaw sends body as the request message of method.
func invokeRaw(ctx context.Context, cc grpc.ClientConnInterface, method string, body []byte, opts ...grpc.CallOption) error {
	var out []byte
	return cc.Invoke(ctx, method, &body, &out, append(opts, grpc.ForceCodec(rawCodec{}))...)
}

// streamRaw opens a server stream with body as its request and reads the
// first message.
func streamRaw(ctx context.Context, cc grpc.ClientConnInterface, method string, body []byte, opts ...grpc.CallOption) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, append(opts, grpc.ForceCodec(rawCodec{}))...)
	if err != nil {
		return err
	}
	if err := st.SendMsg(&body); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	var out []byte
	return st.RecvMsg(&out)
}

// tokens are forged, expired and misdirected tokens for the tests: each
// is refused with a typed code before any handler runs.
type badToken struct {
	name string
	opt  grpc.CallOption
	code codes.Code
}

func forgedTokens(t *testing.T, q *quorumtest.Quorum, session, party string) []badToken {
	t.Helper()
	good, err := q.Minter.MintParty(session, party, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	otherTok, _ := quorumtest.ForeignMinter(t).MintParty(session, party, time.Minute)
	past := *q.Minter
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _ := past.MintParty(session, party, time.Minute)
	flip := []byte(parts[2])
	if flip[10] == 'A' {
		flip[10] = 'B'
	} else {
		flip[10] = 'A'
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	admin, _ := q.Minter.MintAdmin("ops", time.Minute)
	service, _ := q.Minter.MintService("server-1", time.Minute)
	return []badToken{
		{"no token", grpc.EmptyCallOption{}, codes.Unauthenticated},
		{"expired", bearer(expired), codes.Unauthenticated},
		{"signed by another deployment's coordinator", bearer(otherTok), codes.Unauthenticated},
		{"tampered signature", bearer(parts[0] + "." + parts[1] + "." + string(flip)), codes.Unauthenticated},
		{"alg none", bearer(none), codes.Unauthenticated},
		{"not a JWT", bearer("hunter2"), codes.Unauthenticated},
		{"admin token", bearer(admin), codes.PermissionDenied},
		{"service token", bearer(service), codes.PermissionDenied},
	}
}

// TestRouterRefusesBadEnvelopes: malformed protobuf, oversized envelopes,
// forged senders, envelopes for another session, replays and bad tokens
// reach the router of a running quorum. Each is refused with its gRPC code
// and a message; the router's bus holds not one byte more; the session's
// stream then carries the next valid envelope as seq 1, and another
// session is untouched.
func TestRouterRefusesBadEnvelopes(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	rc := tsskitv1.NewRouterServiceClient(conn.Router)
	// Two sessions of client parties only: the coordinator opens their
	// router streams; nobody else publishes into them.
	open := func(a, b string) (string, map[string]string) {
		resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{
			SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{a, b},
		}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		toks := map[string]string{}
		for _, pt := range resp.Tokens {
			toks[pt.PartyId] = pt.Token
		}
		return resp.SessionId, toks
	}
	sA, tokA := open("alice", "bob")
	sB, tokB := open("carol", "dave")
	alice := bearer(tokA["alice"])
	env := func(session, from, to string, seq uint64, payload string) *tsskitv1.Envelope {
		return &tsskitv1.Envelope{SessionId: session, From: from, To: to, Round: 1, SenderSeq: seq, Payload: []byte(payload), Signature: make([]byte, 64)}
	}
	publish := func(e *tsskitv1.Envelope, opt grpc.CallOption) (uint64, error) {
		resp, err := rc.Publish(ctx, &tsskitv1.PublishRequest{Envelope: e}, opt)
		if err != nil {
			return 0, err
		}
		return resp.Seq, nil
	}
	before := routerBytes(t, q)

	t.Run("malformed protobuf", func(t *testing.T) {
		for name, body := range malformedProto {
			t.Run(name, func(t *testing.T) {
				err := invokeRaw(ctx, conn.Router, "/tsskit.v1.RouterService/Publish", body, alice)
				wantStatus(t, err, codes.Internal, "unmarshal")
				err = streamRaw(ctx, conn.Router, "/tsskit.v1.RouterService/Subscribe", body, alice)
				wantStatus(t, err, codes.Internal, "unmarshal")
			})
		}
		// Well-formed protobuf without an envelope: an empty request, and
		// field 1 sent as a varint (an unknown field to the decoder).
		for _, body := range [][]byte{nil, {0x08, 0x01}} {
			err := invokeRaw(ctx, conn.Router, "/tsskit.v1.RouterService/Publish", body, alice)
			wantStatus(t, err, codes.InvalidArgument, "no envelope")
		}
	})

	t.Run("oversized envelope", func(t *testing.T) {
		// Just over the router's envelope limit: refused by the handler.
		_, err := publish(env(sA, "alice", "", 1, strings.Repeat("x", seal.MaxEnvelope)), alice)
		wantStatus(t, err, codes.ResourceExhausted, "limit")
		// Far over it: refused by the gRPC server before decoding.
		_, err = publish(env(sA, "alice", "", 1, strings.Repeat("x", 2<<20)), alice)
		wantStatus(t, err, codes.ResourceExhausted, "")
		// An id longer than any party id can be.
		_, err = publish(env(sA, "alice", strings.Repeat("b", 200), 1, "x"), alice)
		wantStatus(t, err, codes.InvalidArgument, "")
	})

	t.Run("forged sender", func(t *testing.T) {
		_, err := publish(env(sA, "bob", "", 1, "claims to be bob"), alice)
		wantStatus(t, err, codes.PermissionDenied, "another session or party")
		outsider, _ := q.Minter.MintParty(sA, "mallory", time.Minute)
		_, err = publish(env(sA, "mallory", "", 1, "not a party"), bearer(outsider))
		wantStatus(t, err, codes.PermissionDenied, "not a party")
		_, err = publish(env(sA, "alice", "alice", 1, "to itself"), alice)
		wantStatus(t, err, codes.InvalidArgument, "recipient")
		_, err = publish(env(sA, "alice", "zed", 1, "to a stranger"), alice)
		wantStatus(t, err, codes.InvalidArgument, "recipient")
		_, err = publish(env(sA, "alice", "", 0, "sender_seq 0"), alice)
		wantStatus(t, err, codes.InvalidArgument, "sender_seq")
	})

	t.Run("envelope for another session", func(t *testing.T) {
		// alice's token is for session A only.
		_, err := publish(env(sB, "alice", "", 1, "into B"), alice)
		wantStatus(t, err, codes.PermissionDenied, "another session")
		_, err = publish(env(sB, "carol", "", 1, "as carol into B"), alice)
		wantStatus(t, err, codes.PermissionDenied, "")
		// A token for a session the router was never told about.
		ghost, _ := q.Minter.MintParty("no-such-session", "alice", time.Minute)
		_, err = publish(env("no-such-session", "alice", "", 1, "x"), bearer(ghost))
		wantStatus(t, err, codes.NotFound, "unknown session")
	})

	t.Run("bad tokens", func(t *testing.T) {
		for _, bt := range forgedTokens(t, q, sA, "alice") {
			_, err := publish(env(sA, "alice", "", 1, "x"), bt.opt)
			wantStatus(t, err, bt.code, "")
			st, err := rc.Subscribe(ctx, &tsskitv1.SubscribeRequest{SessionId: sA, PartyId: "alice"}, bt.opt)
			if err == nil {
				_, err = st.Recv()
			}
			wantStatus(t, err, bt.code, "")
		}
		// Session control takes a service token.
		_, err := rc.OpenSession(ctx, &tsskitv1.OpenSessionRequest{SessionId: "s-new", Parties: []string{"a", "b"}}, alice)
		wantStatus(t, err, codes.PermissionDenied, "")
		_, err = rc.CloseSession(ctx, &tsskitv1.CloseSessionRequest{SessionId: sA, Reason: "by alice"}, alice)
		wantStatus(t, err, codes.PermissionDenied, "")
	})

	// (b) Nothing refused was stored.
	if got := routerBytes(t, q); got != before {
		t.Fatalf("router holds %v bytes after refusals, %v before", got, before)
	}

	t.Run("replayed envelope", func(t *testing.T) {
		// (c) The first valid envelope is seq 1: nothing before it was kept.
		first := env(sA, "alice", "", 1, "round 1 broadcast")
		seq, err := publish(first, alice)
		if err != nil || seq != 1 {
			t.Fatalf("valid publish after refusals: seq %d, %v", seq, err)
		}
		size := routerBytes(t, q)
		// The same envelope again is answered with its first seq and not
		// stored twice.
		if again, err := publish(first, alice); err != nil || again != 1 {
			t.Fatalf("replay: seq %d, %v; want 1", again, err)
		}
		// A different envelope in the same (from, sender_seq) slot is
		// equivocation and never reaches anyone.
		_, err = publish(env(sA, "alice", "", 1, "another round 1 broadcast"), alice)
		wantStatus(t, err, codes.AlreadyExists, "")
		if got := routerBytes(t, q); got != size {
			t.Fatalf("replays grew the bus: %v -> %v", size, got)
		}
		if seq, err := publish(env(sA, "alice", "bob", 2, "to bob"), alice); err != nil || seq != 2 {
			t.Fatalf("next publish: seq %d, %v", seq, err)
		}
		// bob's stream holds exactly the two valid envelopes.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := rc.Subscribe(sctx, &tsskitv1.SubscribeRequest{SessionId: sA, PartyId: "bob"}, bearer(tokA["bob"]))
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"round 1 broadcast", "to bob"} {
			e, err := st.Recv()
			if err != nil || e.Seq != uint64(i+1) || string(e.Payload) != want {
				t.Fatalf("bob's envelope %d: %v %v", i+1, e, err)
			}
		}
	})

	// (c) The other session was not touched: its first envelope is seq 1.
	if seq, err := publish(env(sB, "carol", "", 1, "hello"), bearer(tokB["carol"])); err != nil || seq != 1 {
		t.Fatalf("session B: seq %d, %v", seq, err)
	}
}

// TestCoordinatorRefusesBadRequests: malformed protobuf, oversized
// requests, bad values and bad tokens reach the coordinator's gRPC API.
// Each is refused with its code and a message, no session or wallet is
// created, and the next valid request is served.
func TestCoordinatorRefusesBadRequests(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	admin := q.Admin(t)
	// A session of two client parties, for the party calls.
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{"alice", "bob"}}, admin)
	if err != nil {
		t.Fatal(err)
	}
	sid := resp.SessionId
	alice := bearer(resp.Tokens[0].Token)
	if resp.Tokens[0].PartyId != "alice" {
		alice = bearer(resp.Tokens[1].Token)
	}
	live := runningSessions(t, q)

	t.Run("malformed protobuf", func(t *testing.T) {
		calls := []struct {
			method string
			opt    grpc.CallOption
		}{
			{"/tsskit.v1.CoordinatorService/CreateKeygenSession", admin},
			{"/tsskit.v1.CoordinatorService/CreateSignSession", admin},
			{"/tsskit.v1.CoordinatorService/GetWallet", admin},
			{"/tsskit.v1.CoordinatorService/Join", alice},
			{"/tsskit.v1.CoordinatorService/ReportProgress", alice},
			{"/tsskit.v1.CoordinatorService/ReportResult", alice},
			{"/tsskit.v1.PoolService/Heartbeat", admin},
		}
		for name, body := range malformedProto {
			t.Run(name, func(t *testing.T) {
				for _, c := range calls {
					err := invokeRaw(ctx, conn.Coordinator, c.method, body, c.opt)
					wantStatus(t, err, codes.Internal, "unmarshal")
				}
				err := streamRaw(ctx, conn.Coordinator, "/tsskit.v1.CoordinatorService/WatchSession", body, alice)
				wantStatus(t, err, codes.Internal, "unmarshal")
			})
		}
		// Well-formed but empty.
		err := invokeRaw(ctx, conn.Coordinator, "/tsskit.v1.CoordinatorService/Join", nil, alice)
		wantStatus(t, err, codes.InvalidArgument, "no keys")
		err = invokeRaw(ctx, conn.Coordinator, "/tsskit.v1.CoordinatorService/CreateKeygenSession", nil, admin)
		wantStatus(t, err, codes.InvalidArgument, "")
	})

	t.Run("oversized", func(t *testing.T) {
		_, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{Name: strings.Repeat("n", 5<<20), SignersNeeded: 2, Parties: 3}, admin)
		wantStatus(t, err, codes.ResourceExhausted, "")
		_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{Name: strings.Repeat("n", 201), SignersNeeded: 2, Parties: 3}, admin)
		wantStatus(t, err, codes.InvalidArgument, "too long")
		_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{strings.Repeat("p", 129)}}, admin)
		wantStatus(t, err, codes.InvalidArgument, "")
	})

	t.Run("bad values", func(t *testing.T) {
		for _, r := range []*tsskitv1.CreateKeygenSessionRequest{
			{SignersNeeded: 2, Parties: 17},
			{SignersNeeded: 1, Parties: 3},
			{SignersNeeded: 4, Parties: 3},
			{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"a b"}},
			{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"x", "x"}},
			{SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{"x", "y", "z"}},
		} {
			_, err := coord.CreateKeygenSession(ctx, r, admin)
			wantStatus(t, err, codes.InvalidArgument, "")
		}
		_, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: "w", Digest: make([]byte, 31)}, admin)
		wantStatus(t, err, codes.InvalidArgument, "digest")
		_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: "no-such-wallet", Digest: make([]byte, 32)}, admin)
		wantStatus(t, err, codes.NotFound, "wallet")
		_, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: "no-such-wallet"}, admin)
		wantStatus(t, err, codes.NotFound, "wallet")
		_, err = coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: "no-such-session"}, admin)
		wantStatus(t, err, codes.NotFound, "session")
		_, err = coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: sid, Keys: &tsskitv1.PartyKeys{PartyId: "alice", X25519: make([]byte, 31), Ed25519: make([]byte, 32)}}, alice)
		wantStatus(t, err, codes.InvalidArgument, "32 bytes")
		_, err = coord.ReportProgress(ctx, &tsskitv1.ReportProgressRequest{SessionId: sid, PartyId: "alice", Round: 9, Rounds: 4}, alice)
		wantStatus(t, err, codes.InvalidArgument, "round")
		st, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: "no-such-session"}, admin)
		if err == nil {
			_, err = st.Recv()
		}
		wantStatus(t, err, codes.NotFound, "")
	})

	t.Run("bad tokens", func(t *testing.T) {
		join := &tsskitv1.JoinRequest{SessionId: sid, Keys: q.JoinKeys(t, resp, "alice", nil)}
		for _, bt := range forgedTokens(t, q, sid, "alice") {
			_, err := coord.Join(ctx, join, bt.opt)
			wantStatus(t, err, bt.code, "")
			if bt.code == codes.Unauthenticated {
				_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{"m1", "m2"}}, bt.opt)
				wantStatus(t, err, codes.Unauthenticated, "")
				st, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: sid}, bt.opt)
				if err == nil {
					_, err = st.Recv()
				}
				wantStatus(t, err, codes.Unauthenticated, "")
			}
		}
		// Valid tokens for the wrong purpose.
		_, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{"m1", "m2"}}, alice)
		wantStatus(t, err, codes.PermissionDenied, "admin")
		bobsKeys := &tsskitv1.JoinRequest{SessionId: sid, Keys: q.JoinKeys(t, resp, "bob", nil)}
		_, err = coord.Join(ctx, bobsKeys, alice)
		wantStatus(t, err, codes.PermissionDenied, "")
		other, _ := q.Minter.MintParty("another-session", "alice", time.Minute)
		st, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: sid}, bearer(other))
		if err == nil {
			_, err = st.Recv()
		}
		wantStatus(t, err, codes.PermissionDenied, "another session")
		_, err = coord.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: sid, PartyId: "bob",
			Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Reason: "framed"}}}, alice)
		wantStatus(t, err, codes.PermissionDenied, "")
	})

	// (b) Nothing was created or changed.
	if n := runningSessions(t, q); n != live {
		t.Fatalf("%d live sessions after refusals, %d before", n, live)
	}
	if n := walletCount(t, q); n != 0 {
		t.Fatalf("%d wallets", n)
	}
	got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: sid}, admin)
	if err != nil || got.Session.State != tsskitv1.SessionState_SESSION_STATE_WAITING {
		t.Fatalf("the session was disturbed: %v %v", got, err)
	}

	// (c) The next valid requests are served: alice joins and sees her
	// join in the session's events.
	if _, err := coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: sid, Keys: q.JoinKeys(t, resp, "alice", nil)}, alice); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := coord.WatchSession(wctx, &tsskitv1.WatchSessionRequest{SessionId: sid}, alice)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if w := ev.GetWaiting(); w != nil && len(w.Joined) == 1 && w.Joined[0] == "alice" {
			break
		}
	}
	if _, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{"c1", "c2"}}, admin); err != nil {
		t.Fatalf("valid create after refusals: %v", err)
	}
}

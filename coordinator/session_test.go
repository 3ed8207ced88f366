package coordinator_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

func wantCode(t *testing.T, err error, c codes.Code) {
	t.Helper()
	if status.Code(err) != c {
		t.Fatalf("got %v, want %v", err, c)
	}
}

// TestCoManagedWallet: a client party (as the browser or the CLI party
// will be) and two server parties make a wallet through the coordinator,
// then sign with the client and each server holder. Session events arrive
// in order and the coordinator records who holds shares.
func TestCoManagedWallet(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	const me = "browser-7f3a"
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{
		Name: "treasury", SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me},
	}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Tokens) != 1 || resp.Tokens[0].PartyId != me || len(resp.Parties) != 3 {
		t.Fatalf("create: %v", resp)
	}
	pre, err := testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var kinds []string
	job := q.KeygenJob(t, resp, me, 2, 3)
	job.Event = func(ev *tsskitv1.SessionEvent) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Event.(type) {
		case *tsskitv1.SessionEvent_Waiting_:
			kinds = append(kinds, "waiting")
		case *tsskitv1.SessionEvent_Ready_:
			kinds = append(kinds, "ready")
		case *tsskitv1.SessionEvent_Progress_:
			kinds = append(kinds, "progress")
		case *tsskitv1.SessionEvent_Completed_:
			kinds = append(kinds, "completed")
		case *tsskitv1.SessionEvent_Failed_:
			kinds = append(kinds, "failed")
		}
	}
	var saved *share.Record
	out, err := participant.Keygen(ctx, conn, job, pre, func(r *share.Record) error { saved = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if saved == nil || saved.WalletID != resp.WalletId {
		t.Fatal("share not saved before the report")
	}
	mu.Lock()
	if kinds[0] != "waiting" || kinds[len(kinds)-1] != "completed" || !contains(kinds, "ready") || !contains(kinds, "progress") {
		t.Fatalf("events %v", kinds)
	}
	mu.Unlock()

	w, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, h := range w.Wallet.Holders {
		switch h.Kind {
		case tsskitv1.HolderKind_HOLDER_KIND_CLIENT:
			if h.PartyId != me {
				t.Fatalf("client holder %s", h.PartyId)
			}
		case tsskitv1.HolderKind_HOLDER_KIND_SERVER:
			servers = append(servers, h.PartyId)
		default:
			t.Fatalf("holder kind %v", h.Kind)
		}
	}
	if len(servers) != 2 || w.Wallet.Name != "treasury" || string(w.Wallet.PublicKey) != string(out.PublicKey) {
		t.Fatalf("wallet %v", w.Wallet)
	}
	pub, err := secp256k1.ParsePubKey(out.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	// Sign with the client and each server holder in turn, then with the
	// coordinator's pick.
	for _, pick := range [][]string{{servers[0]}, {servers[1]}, nil} {
		digest := sha256.Sum256([]byte("co-managed " + time.Now().String()))
		sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{
			WalletId: resp.WalletId, Digest: digest[:], ClientPartyIds: []string{me}, ServerPartyIds: pick,
		}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		if pick != nil && !contains(sresp.Parties, pick[0]) {
			t.Fatalf("asked for %s, got %v", pick[0], sresp.Parties)
		}
		sig, err := participant.Sign(ctx, conn, q.SignJob(t, sresp, saved, digest[:]), saved)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := ecdsa.ParseDERSignature(sig.DER)
		if err != nil || !parsed.Verify(digest[:], pub) {
			t.Fatalf("signature with %v does not verify (%v)", pick, err)
		}
	}
	t.Run("refusals", func(t *testing.T) { testRefusals(t, q, resp.WalletId, me, servers, saved) })
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// testRefusals: forged and misdirected tokens, bad requests, and a forged
// signature report, each refused with its code.
func testRefusals(t *testing.T, q *quorumtest.Quorum, walletID, me string, servers []string, rec *share.Record) {
	ctx := context.Background()
	// The client's statements are signed with its own identity, so the
	// server parties accept them and the session lives until the forged
	// report below.
	ident, err := rec.IdentityKey()
	if err != nil {
		t.Fatal(err)
	}
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	admin := q.Admin(t)
	digest := sha256.Sum256([]byte("refusals"))

	_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:31], ClientPartyIds: []string{me}}, admin)
	wantCode(t, err, codes.InvalidArgument)
	_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: "nope", Digest: digest[:], ClientPartyIds: []string{me}}, admin)
	wantCode(t, err, codes.NotFound)
	_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{"stranger"}}, admin)
	wantCode(t, err, codes.PermissionDenied)
	_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{me}, ServerPartyIds: []string{"server-9"}}, admin)
	wantCode(t, err, codes.InvalidArgument)
	_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3}) // no token
	wantCode(t, err, codes.Unauthenticated)
	_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 4, Parties: 3}, admin)
	wantCode(t, err, codes.InvalidArgument)
	_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 5}, admin) // 5 servers, 3 in the pool
	wantCode(t, err, codes.Unavailable)
	// Server parties alone never sign a co-managed wallet.
	_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:]}, admin)
	wantCode(t, err, codes.PermissionDenied)
	// Nor does the account API, which signs accounts only.
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	if code, body := api.do("POST", "/api/v1/accounts/"+walletID+"/sign", q.APIKey, `{"message":"`+digestOf("x")+`"}`); code != 404 {
		t.Fatalf("account API sign of a co-managed wallet: %d %v", code, body)
	}

	sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{me}}, admin)
	if err != nil {
		t.Fatal(err)
	}
	tok := grpc.PerRPCCredentials(serve.Bearer(sresp.Tokens[0].Token))
	join := &tsskitv1.JoinRequest{SessionId: sresp.SessionId, Keys: q.JoinKeysAs(t, sresp, me, ident, digest[:])}
	pk := seal.PublicKeys{X25519: join.Keys.X25519, Ed25519: join.Keys.Ed25519}

	forged, _ := q.Minter.MintParty(sresp.SessionId, me, time.Minute)
	forged = forged[:len(forged)-4] + "AAAA"
	_, err = coord.Join(ctx, join, grpc.PerRPCCredentials(serve.Bearer(forged)))
	wantCode(t, err, codes.Unauthenticated)
	other, _ := q.Minter.MintParty("another-session", me, time.Minute)
	_, err = coord.Join(ctx, join, grpc.PerRPCCredentials(serve.Bearer(other)))
	wantCode(t, err, codes.PermissionDenied)
	asServer, _ := q.Minter.MintParty(sresp.SessionId, servers[0], time.Minute)
	_, err = coord.Join(ctx, join, grpc.PerRPCCredentials(serve.Bearer(asServer)))
	wantCode(t, err, codes.PermissionDenied)
	_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3}, tok)
	wantCode(t, err, codes.PermissionDenied)
	bad := &tsskitv1.JoinRequest{SessionId: sresp.SessionId, Keys: &tsskitv1.PartyKeys{PartyId: me, X25519: pk.X25519[:31], Ed25519: pk.Ed25519}}
	_, err = coord.Join(ctx, bad, tok)
	wantCode(t, err, codes.InvalidArgument)

	// Join for real, wait until ready, then report a forged signature: the
	// coordinator refuses it and fails the session naming the reporter.
	watch, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: sresp.SessionId}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Join(ctx, join, tok); err != nil {
		t.Fatal(err)
	}
	_, err = coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: sresp.SessionId, Keys: q.JoinKeysAs(t, sresp, me, ident, digest[:])}, tok)
	wantCode(t, err, codes.AlreadyExists)
	for {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetReady() != nil {
			break
		}
	}
	// Progress past the protocol's rounds is refused (it would only grow
	// the session's event log).
	_, err = coord.ReportProgress(ctx, &tsskitv1.ReportProgressRequest{SessionId: sresp.SessionId, PartyId: me, Round: 99, Rounds: 10}, tok)
	wantCode(t, err, codes.InvalidArgument)
	fake := &tsskitv1.Signature{R: make([]byte, 32), S: make([]byte, 32)}
	fake.R[31], fake.S[31] = 1, 1
	_, err = coord.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: sresp.SessionId, PartyId: me,
		Result: &tsskitv1.ReportResultRequest_Signature{Signature: fake}}, tok)
	wantCode(t, err, codes.InvalidArgument)
	var failed *tsskitv1.SessionEvent_Failed
	for failed == nil {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		failed = ev.GetFailed()
	}
	if failed.Code != "verify" || len(failed.Culprits) != 1 || failed.Culprits[0] != me {
		t.Fatalf("failed: %v", failed)
	}
	_, err = coord.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: sresp.SessionId, PartyId: me,
		Result: &tsskitv1.ReportResultRequest_Signature{Signature: fake}}, tok)
	wantCode(t, err, codes.FailedPrecondition)
	got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: sresp.SessionId}, admin)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Session.State != tsskitv1.SessionState_SESSION_STATE_FAILED && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got, _ = coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: sresp.SessionId}, admin)
	}
	if got.Session.State != tsskitv1.SessionState_SESSION_STATE_FAILED || got.Session.Reason == "" {
		t.Fatalf("stored session %v", got.Session)
	}
}

// TestSilentPartyNotPicked: a party registered but no longer heart-beating
// drops out of the pool and is never assigned.
func TestSilentPartyNotPicked(t *testing.T) {
	// The live parties beat ten times per timeout, so a busy machine does
	// not make them look silent too.
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2, HeartbeatTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := q.Conn(t)
	pool := tsskitv1.NewPoolServiceClient(conn.Coordinator)
	silent := q.FakeServer(t, "server-silent")
	svc := silent.Creds
	reg := silent.Registration(t, pool)

	// A service token registers only the party it names.
	otherTok, _ := q.MinterFor(t, identity.KindServer, "server-1").MintService("server-1", time.Minute)
	stolen, err := pool.Register(ctx, reg, grpc.PerRPCCredentials(serve.Bearer(otherTok)))
	if err == nil {
		_, err = stolen.Recv()
	}
	wantCode(t, err, codes.PermissionDenied)
	_, err = pool.Heartbeat(ctx, &tsskitv1.HeartbeatRequest{PartyId: "server-2"}, svc)
	wantCode(t, err, codes.PermissionDenied)

	// Only a server party's own service token may register: not an
	// admin's, nor one the coordinator minted.
	coordTok, _ := q.Minter.MintService("server-silent", time.Minute)
	for _, creds := range []grpc.CallOption{q.Admin(t), grpc.PerRPCCredentials(serve.Bearer(coordTok))} {
		s, err := pool.Register(ctx, reg, creds)
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, err, codes.PermissionDenied)
	}

	stream, err := pool.Register(ctx, reg, svc)
	if err != nil {
		t.Fatal(err)
	}
	assigned := make(chan *tsskitv1.Assignment, 4)
	go func() {
		for {
			a, err := stream.Recv()
			if err != nil {
				return
			}
			assigned <- a
		}
	}()
	q.WaitHealthy(t, 3)
	// The silent party drops out one heartbeat timeout after it registered.
	var h []string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if h = q.Coordinator.HealthyParties(); len(h) == 2 && !contains(h, "server-silent") {
			break
		}
	}
	if len(h) != 2 || contains(h, "server-silent") {
		t.Fatalf("healthy: %v", h)
	}
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3}, q.Admin(t))
	wantCode(t, err, codes.Unavailable)
	for range 5 {
		resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"c"}}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		if contains(resp.Parties, "server-silent") {
			t.Fatalf("silent party picked: %v", resp.Parties)
		}
	}
	select {
	case a := <-assigned:
		t.Fatalf("silent party got %v", a)
	default:
	}
	// A heartbeat brings it back.
	if _, err := pool.Heartbeat(ctx, &tsskitv1.HeartbeatRequest{PartyId: "server-silent"}, svc); err != nil {
		t.Fatal(err)
	}
	if !contains(q.Coordinator.HealthyParties(), "server-silent") {
		t.Fatal("heartbeat did not restore the party")
	}
}

// TestShutdownFailsSessions: stopping the coordinator fails a running
// session with a reason that watchers see and the store keeps.
func TestShutdownFailsSessions(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2})
	ctx := context.Background()
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"never-joins"}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	watch, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: resp.SessionId}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := watch.Recv(); err != nil || ev.GetWaiting() == nil {
		t.Fatalf("first event %v %v", ev, err)
	}
	go q.Coordinator.Stop()
	var failed *tsskitv1.SessionEvent_Failed
	for failed == nil {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		failed = ev.GetFailed()
	}
	if failed.Reason != "coordinator shutting down" {
		t.Fatalf("failed: %v", failed)
	}
	q.Coordinator.Stop() // returns when the records are written
	got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: resp.SessionId}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Session.State != tsskitv1.SessionState_SESSION_STATE_FAILED || got.Session.Reason != "coordinator shutting down" {
		t.Fatalf("stored: %v", got.Session)
	}
}

// TestSeatSurvivesCoordinatorStreamCut: the client party's connection to
// the coordinator is cut mid-session (its WatchSession stream breaks); the
// seat reopens the stream, skips the events it has seen, and the keygen
// completes.
func TestSeatSurvivesCoordinatorStreamCut(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	ctx := context.Background()
	proxy, cuts := quorumtest.CuttingProxy(t, q.CoordAddr, 600)
	cc, err := serve.Dial(proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	conn := participant.Conn{Coordinator: cc, Router: q.Conn(t).Router}
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	const me = "browser-cut"
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := testkit.PreParams(4)
	var mu sync.Mutex
	completed := 0
	job := q.KeygenJob(t, resp, me, 2, 3)
	job.Event = func(ev *tsskitv1.SessionEvent) {
		if ev.GetCompleted() != nil {
			mu.Lock()
			completed++
			mu.Unlock()
		}
	}
	out, err := participant.Keygen(ctx, conn, job, pre, nil)
	if err != nil {
		t.Fatalf("keygen after a cut: %v", err)
	}
	if cuts() != 1 {
		t.Fatalf("%d cuts", cuts())
	}
	if completed != 1 || len(out.PublicKey) != 33 {
		t.Fatalf("completed events %d", completed)
	}
}

package coordinator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testdb"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// TestForwardedToOwner: two coordinator replicas on one PostgreSQL store;
// sessions are created on the first (the only one with server parties), and
// a client party does everything else — watch, join, progress, results —
// through the second, which forwards to the owner. Once a session is over,
// the second answers a watch from the store alone, rebuilding the final
// event with a signature that still verifies.
func TestForwardedToOwner(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2, DatabaseURL: testdb.Postgres(t), SecondCoordinator: true})
	ctx := context.Background()
	owner := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	viaB := q.ConnVia(t, q.CoordAddrB)
	const me = "client-via-b"

	kg, err := owner.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pre, err := testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}
	var rec *share.Record
	out, err := participant.Keygen(ctx, viaB, q.KeygenJob(t, kg, me, 2, 3), pre,
		func(r *share.Record) error { rec = r; return nil })
	if err != nil {
		t.Fatalf("keygen through the second replica: %v", err)
	}
	pub, err := secp256k1.ParsePubKey(out.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	digest := sha256.Sum256([]byte("forwarded"))
	sg, err := owner.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: kg.WalletId, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := participant.Sign(ctx, viaB, q.SignJob(t, sg, rec, digest[:]), rec)
	if err != nil {
		t.Fatalf("sign through the second replica: %v", err)
	}
	if parsed, err := ecdsa.ParseDERSignature(sig.DER); err != nil || !parsed.Verify(digest[:], pub) {
		t.Fatalf("signature does not verify (%v)", err)
	}

	// The session is over: the second replica rebuilds its end from the
	// store, for a party token as for an admin.
	coordB := tsskitv1.NewCoordinatorServiceClient(viaB.Coordinator)
	// (The owner writes the final state just after the event.)
	waitStored(t, coordB, q.Admin(t), sg.SessionId, tsskitv1.SessionState_SESSION_STATE_COMPLETED)
	for _, cred := range []grpc.CallOption{grpc.PerRPCCredentials(serve.Bearer(sg.Tokens[0].Token)), q.Admin(t)} {
		w, err := coordB.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: sg.SessionId}, cred)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		done := ev.GetCompleted()
		if done == nil || ev.Seq < 1<<53-1 || !bytes.Equal(done.PublicKey, out.PublicKey) {
			t.Fatalf("final event from the store: %v", ev)
		}
		s := done.Signature
		if !bytes.Equal(s.Der, sig.DER) || s.V != uint32(sig.V) || !bytes.Equal(s.R, sig.R) || !bytes.Equal(s.S, sig.S) {
			t.Fatalf("rebuilt signature %x v=%d, want %x v=%d", s.Der, s.V, sig.DER, sig.V)
		}
	}

	// A finished session refuses changes, whichever replica is asked.
	_, err = coordB.ReportProgress(ctx, &tsskitv1.ReportProgressRequest{SessionId: sg.SessionId, PartyId: me, Round: 1, Rounds: 10},
		grpc.PerRPCCredentials(serve.Bearer(sg.Tokens[0].Token)))
	if err != nil {
		t.Fatalf("progress after the end: %v", err)
	}
	_, err = coordB.Join(ctx, &tsskitv1.JoinRequest{SessionId: sg.SessionId, Keys: q.JoinKeys(t, sg, me, digest[:])},
		grpc.PerRPCCredentials(serve.Bearer(sg.Tokens[0].Token)))
	wantCode(t, err, codes.FailedPrecondition)

	// An unknown session is unknown to every replica.
	tok, _ := q.Minter.MintParty("no-such-session", me, time.Minute)
	_, err = coordB.Join(ctx, &tsskitv1.JoinRequest{SessionId: "no-such-session", Keys: q.JoinKeys(t, sg, me, digest[:])},
		grpc.PerRPCCredentials(serve.Bearer(tok)))
	wantCode(t, err, codes.NotFound)

	// A failed session from the store keeps its failure's code (a party
	// tells stale_epoch from a transport failure by it).
	fs, err := owner.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: kg.WalletId, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	fcred := grpc.PerRPCCredentials(serve.Bearer(fs.Tokens[0].Token))
	if _, err := coordB.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: fs.SessionId, PartyId: me,
		Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: "no_share", Reason: "this device has no share"}}}, fcred); err != nil {
		t.Fatal(err)
	}
	waitStored(t, coordB, q.Admin(t), fs.SessionId, tsskitv1.SessionState_SESSION_STATE_FAILED)
	fw, err := coordB.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: fs.SessionId}, fcred)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := fw.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if f := ev.GetFailed(); f == nil || f.Code != "no_share" || !strings.Contains(f.Reason, "no share") {
		t.Fatalf("failed session from the store: %v; want code no_share", ev)
	}

	// A party's stale_epoch speaks only for its own share: reported once
	// the signing runs, naming another party, it names the reporter.
	// (The client plays the lying party here; a server party's report
	// takes the same path.)
	ss, err := owner.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: kg.WalletId, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	job := q.SignJob(t, ss, rec, digest[:])
	var other string
	for _, p := range ss.Parties {
		if p != me {
			other = p
		}
	}
	job.Event = func(ev *tsskitv1.SessionEvent) {
		if ev.GetReady() == nil {
			return
		}
		_, err := coordB.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: ss.SessionId, PartyId: me,
			Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: "stale_epoch", Reason: "your share is stale", Culprits: []string{other}}}},
			grpc.PerRPCCredentials(serve.Bearer(job.Token)))
		if err != nil {
			t.Error(err)
		}
	}
	_, err = participant.Sign(ctx, viaB, job, rec)
	var se *participant.SessionError
	if !errors.As(err, &se) || se.Code != "stale_epoch" || !slices.Equal(se.Culprits, []string{me}) {
		t.Fatalf("a party's stale_epoch naming %s: %v; want it to name the reporter %s alone", other, err, me)
	}
}

// waitStored waits until the store, read through coord, has session id
// in state.
func waitStored(t *testing.T, coord tsskitv1.CoordinatorServiceClient, admin grpc.CallOption, id string, state tsskitv1.SessionState) {
	t.Helper()
	for i := 0; ; i++ {
		got, err := coord.GetSession(context.Background(), &tsskitv1.GetSessionRequest{SessionId: id}, admin)
		if err == nil && got.Session.State == state {
			return
		}
		if i == 100 {
			t.Fatalf("session %s not stored as %v: %v %v", id, state, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAttackStoreRedirectsForwarding: whoever can write the coordinators'
// database records a live session "owned" at an address of its own. A
// replica that gets a call for that session does not dial the address (it
// would carry the caller's token there): it forwards only to the replicas
// it was configured with.
func TestAttackStoreRedirectsForwarding(t *testing.T) {
	db := testdb.Postgres(t)
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2, DatabaseURL: db})
	ctx := context.Background()
	// The attacker's listener: it records whether anything connects.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case dialed <- struct{}{}:
			default:
			}
			c.Close()
		}
	}()
	st, err := store.OpenPostgres(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateSession(ctx, &store.Session{ID: "planted", Kind: store.SessionKeygen, WalletID: "w-planted", Parties: []string{"a", "b"},
		State: store.StateWaiting, Owner: "evil", OwnerAddr: ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	w, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: "planted"}, q.Admin(t))
	if err == nil {
		_, err = w.Recv()
	}
	wantCode(t, err, codes.Unavailable)
	select {
	case <-dialed:
		t.Fatal("the coordinator dialed the address the store named, with the caller's token")
	case <-time.After(300 * time.Millisecond):
	}
}

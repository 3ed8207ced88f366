package coordinator_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// A co-managed wallet's client refreshes its shares, then shrinks the
// wallet to 2 of 2, through CreateReshareSession: the key stays, the
// coordinator's record follows the new committee only once it is active,
// every signing afterwards verifies (decred), the old share is refused
// with stale_epoch, and the server holder dropped has deleted its share.
func TestCoManagedReshare(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	const me = "browser-rs01"
	rec := q.ClientWallet(ctx, t, conn, me, 3)
	walletID := rec.WalletID
	pub, err := secp256k1.ParsePubKey(rec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(r *share.Record, what string) error {
		t.Helper()
		digest := sha256.Sum256([]byte(what))
		sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
		if err != nil {
			return err
		}
		sig, err := participant.Sign(ctx, conn, q.SignJob(t, sresp, r, digest[:]), r)
		if err != nil {
			return err
		}
		if parsed, err := ecdsa.ParseDERSignature(sig.DER); err != nil || !parsed.Verify(digest[:], pub) {
			t.Fatalf("%s: the signature does not verify under the wallet key (%v)", what, err)
		}
		return nil
	}

	t.Run("refusals", func(t *testing.T) {
		for name, c := range map[string]struct {
			req  *tsskitv1.CreateReshareSessionRequest
			code codes.Code
		}{
			"no client":          {&tsskitv1.CreateReshareSessionRequest{WalletId: walletID}, codes.InvalidArgument},
			"another client":     {&tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{"browser-other"}}, codes.InvalidArgument},
			"client alone signs": {&tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me}, SignersNeeded: 1}, codes.InvalidArgument},
			"signers > parties":  {&tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me}, SignersNeeded: 4}, codes.InvalidArgument},
			"17 parties":         {&tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me}, Parties: 17}, codes.InvalidArgument},
			"more than the pool": {&tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me}, Parties: 6}, codes.Unavailable},
			"no such wallet":     {&tsskitv1.CreateReshareSessionRequest{WalletId: "no-such-wallet", ClientPartyIds: []string{me}}, codes.NotFound},
		} {
			_, err := coord.CreateReshareSession(ctx, c.req, q.Admin(t))
			if name == "more than the pool" && err != nil && strings.Contains(err.Error(), "overloaded") {
				continue
			}
			wantCode(t, err, c.code)
		}
		// Recovery: a malformed authorization; a well-formed one for a
		// wallet whose client set no recovery policy.
		_, err := coord.CreateRecoverySession(ctx, &tsskitv1.CreateRecoverySessionRequest{WalletId: walletID, Authorization: []byte("not an authorization")}, q.Admin(t))
		wantCode(t, err, codes.InvalidArgument)
		kit, err := recovery.KitKey("legal winner thank year wave sausage worth useful legal winner thank yellow", walletID)
		if err != nil {
			t.Fatal(err)
		}
		dev, _ := identity.GenerateKey()
		a := &recovery.Authorization{Kind: recovery.KindKit, WalletID: walletID, PartyID: "browser-new", Identity: dev.Public(), Expires: time.Now().Add(time.Hour)}
		if err := recovery.Sign(kit, a); err != nil {
			t.Fatal(err)
		}
		_, err = coord.CreateRecoverySession(ctx, &tsskitv1.CreateRecoverySessionRequest{WalletId: walletID, Authorization: a.Encode()}, q.Admin(t))
		wantCode(t, err, codes.FailedPrecondition)
		_, err = coord.CreateRecoverySession(ctx, &tsskitv1.CreateRecoverySessionRequest{WalletId: "another", Authorization: a.Encode()}, q.Admin(t))
		wantCode(t, err, codes.InvalidArgument)
	})

	reshare := func(r *share.Record, signers, parties int) *share.Record {
		t.Helper()
		q.Reseed(t) // the server parties' pre-parameters for their new shares, without the wait
		rresp, err := coord.CreateReshareSession(ctx, &tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me},
			SignersNeeded: uint32(signers), Parties: uint32(parties)}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		job, err := participant.ClientReshareJob(rresp, r, signers, parties, q.Trust)
		if err != nil {
			t.Fatal(err)
		}
		// Until activation the coordinator's record is the old one.
		w, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: walletID}, q.Admin(t))
		if err != nil || int(w.Wallet.Epoch) != r.Epoch || len(w.Wallet.Holders) != len(r.Parties) {
			t.Fatalf("wallet while the reshare waits: %v, %v", w, err)
		}
		// A second reshare of the wallet meanwhile is refused.
		_, err = coord.CreateReshareSession(ctx, &tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me}}, q.Admin(t))
		wantCode(t, err, codes.AlreadyExists)
		// The client's own pre-parameters: a fixture, then a fresh set.
		pre, err := testkit.PreParams(4)
		if r.Epoch > 0 {
			pre, err = preparams.Generate(ctx, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		var pending *share.Record
		out, err := participant.Reshare(ctx, conn, job, r, pre, func(n *share.Record) error { pending = n; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if !out.Activate || out.Share != pending || out.Share.Epoch != r.Epoch+1 || !slices.Equal(out.Share.PublicKey, r.PublicKey) {
			t.Fatalf("reshare: %+v", out)
		}
		w, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: walletID}, q.Admin(t))
		if err != nil || int(w.Wallet.Epoch) != r.Epoch+1 || int(w.Wallet.SignersNeeded) != out.Share.Threshold || len(w.Wallet.Holders) != len(out.Share.Parties) {
			t.Fatalf("wallet after the reshare: %v, %v; share %d of %v", w, err, out.Share.Threshold, out.Share.Parties)
		}
		for _, h := range w.Wallet.Holders {
			if !slices.Contains(out.Share.Parties, h.PartyId) {
				t.Fatalf("the coordinator records holder %s; the new shares are %v's", h.PartyId, out.Share.Parties)
			}
		}
		// The session, read back later (by a client that missed its
		// Completed event): completed, with every new holder's stored
		// acknowledgement, each verifying under that holder's identity.
		got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: rresp.SessionId}, q.Admin(t))
		if err != nil || got.Session.State != tsskitv1.SessionState_SESSION_STATE_COMPLETED || len(got.Session.StoredAcks) != len(out.Share.Holders) {
			t.Fatalf("GetSession after the reshare: %v, %v", got, err)
		}
		for _, h := range out.Share.Holders {
			if !identity.VerifyStored(h.Identity, got.Session.StoredAcks[h.PartyID], rresp.SessionId, walletID, h.PartyID, out.Share.Epoch, out.Share.PublicKey) {
				t.Fatalf("GetSession: %s's stored acknowledgement does not verify", h.PartyID)
			}
		}
		return out.Share
	}

	// A refresh: the same holders, new shares.
	refreshed := reshare(rec, 0, 0)
	if !slices.Equal(slices.Sorted(slices.Values(refreshed.Parties)), slices.Sorted(slices.Values(rec.Parties))) || refreshed.Threshold != 2 {
		t.Fatalf("refresh changed the committee: %v %d", refreshed.Parties, refreshed.Threshold)
	}
	if err := sign(refreshed, "after refresh"); err != nil {
		t.Fatal(err)
	}
	err = sign(rec, "with the old share")
	var se *participant.SessionError
	if pe, ok := party.AsError(err); !(ok && pe.Code == party.CodeStaleEpoch) && !(errors.As(err, &se) && se.Code == string(party.CodeStaleEpoch)) && !strings.Contains(err.Error(), "stale_epoch") {
		t.Fatalf("signing with the share of epoch 0: %v; want stale_epoch", err)
	}

	// GetEpochSession: a server holder is told the session that made
	// epoch 1 and its acknowledgements, which verify against its share;
	// a server that does not hold the wallet learns nothing of it, and a
	// token answers for its own party only.
	epochSession := func(tokenFor, asked string) (*tsskitv1.GetEpochSessionResponse, error) {
		tok, err := q.MinterFor(t, identity.KindServer, tokenFor).MintService(tokenFor, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tsskitv1.NewPoolServiceClient(conn.Coordinator).GetEpochSession(ctx, &tsskitv1.GetEpochSessionRequest{PartyId: asked, WalletId: walletID},
			grpc.PerRPCCredentials(serve.Bearer(tok)))
	}
	var holder, stranger string
	for _, p := range q.Parties {
		if slices.Contains(refreshed.Parties, p.ID()) {
			holder = p.ID()
		} else {
			stranger = p.ID()
		}
	}
	es, err := epochSession(holder, holder)
	if err != nil || es.Epoch != 1 || participant.VerifyStoredAcks(es.SessionId, refreshed, es.StoredAcks) != nil {
		t.Fatalf("GetEpochSession for holder %s: %v, %v", holder, es, err)
	}
	_, err = epochSession(stranger, stranger)
	wantCode(t, err, codes.NotFound)
	_, err = epochSession(stranger, holder)
	wantCode(t, err, codes.PermissionDenied)

	// 2 of 2: one server holder drops out. It was in the old committee,
	// and deletes its share of epoch 1 once every new holder's stored
	// acknowledgement verifies: none of epoch 1 is left server-side that
	// could sign with the client's old share.
	shrunk := reshare(refreshed, 2, 2)
	if len(shrunk.Parties) != 2 || !slices.Contains(shrunk.Parties, me) {
		t.Fatalf("shrunk to %v", shrunk.Parties)
	}
	if err := sign(shrunk, "2 of 2"); err != nil {
		t.Fatal(err)
	}
	mk, err := vault.ParseMasterKey(q.MasterKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range refreshed.Parties {
		if id == me {
			continue
		}
		v, err := vault.Open(filepath.Join(q.DataDir, id, "vault"), mk)
		if err != nil {
			t.Fatal(err)
		}
		var got *share.Record
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, err = v.GetShare(walletID, id)
			if kept := slices.Contains(shrunk.Parties, id); kept && err == nil && got.Epoch == 2 || !kept && errors.Is(err, vault.ErrNotFound) || time.Now().After(deadline) {
				break
			}
		}
		switch {
		case slices.Contains(shrunk.Parties, id) && (err != nil || got.Epoch != 2):
			t.Fatalf("kept holder %s: %v (epoch %d); want its share of epoch 2", id, err, epochOf(got))
		case !slices.Contains(shrunk.Parties, id) && !errors.Is(err, vault.ErrNotFound):
			t.Fatalf("dropped holder %s still has a share (epoch %d, %v); want it deleted", id, epochOf(got), err)
		}
		if _, err := v.GetPendingShare(walletID, id); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("%s: a pending share is left: %v", id, err)
		}
	}

	// Every old member must take part, so a dropped holder could fail the
	// shrink that drops it, again and again; the wallet's next reshares
	// leave it out only after it was blamed for a failure (the rule is
	// TestNoRetireBlamesRetirees'). Another 2-of-3 wallet: its shrink to 2
	// of 2 seats the dropped holder; that session fails because the client
	// gives up, which is not the dropped holder's doing: the next shrink
	// seats it again, so that it deletes its share once the shrink is done.
	q.Reseed(t)
	const me2 = "browser-rs02"
	resp2, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me2}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pre2, err := testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}
	var rec2 *share.Record
	if _, err := participant.Keygen(ctx, conn, q.KeygenJob(t, resp2, me2, 2, 3), pre2, func(r *share.Record) error { rec2 = r; return nil }); err != nil {
		t.Fatal(err)
	}
	shrink := func() *tsskitv1.CreateSessionResponse {
		t.Helper()
		r, err := coord.CreateReshareSession(ctx, &tsskitv1.CreateReshareSessionRequest{WalletId: rec2.WalletID, ClientPartyIds: []string{me2}, SignersNeeded: 2, Parties: 2}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		var tok string
		for _, pt := range r.Tokens {
			if pt.PartyId == me2 {
				tok = pt.Token
			}
		}
		_, err = coord.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: r.SessionId, PartyId: me2,
			Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: "canceled", Reason: "the user gave up"}}},
			grpc.PerRPCCredentials(serve.Bearer(tok)))
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: r.SessionId}, q.Admin(t))
			if err == nil && got.Session.State == tsskitv1.SessionState_SESSION_STATE_FAILED {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the shrink given up did not fail: %v, %v", got, err)
			}
		}
		return r
	}
	if first := shrink(); len(first.Reshare.OldParties) != 3 {
		t.Fatalf("the first shrink's old committee %v: want the client, the kept holder and the dropped one", first.Reshare.OldParties)
	}
	if second := shrink(); len(second.Reshare.OldParties) != 3 {
		t.Fatalf("the shrink after one the client gave up: old committee %v; want the dropped holder seated again", second.Reshare.OldParties)
	}
}

// A 2-of-4 co-managed wallet (one client, three servers) whose policy
// accepts the app backend's approvals is recovered onto a new client:
// every server holder is in both committees (one in the new only would
// have no record to check the approval against), the coordinator's
// record names the new client in the lost one's place, and the new
// client signs (decred).
func TestRecoveryEveryServerHolder(t *testing.T) {
	backend, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	q := quorumtest.Start(t, quorumtest.Options{RecoveryKeys: []identity.PublicKey{backend.Public()}})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	const lost = "browser-lost"
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 4, ClientPartyIds: []string{lost}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pre, err := testkit.PreParams(3)
	if err != nil {
		t.Fatal(err)
	}
	job := q.KeygenJob(t, resp, lost, 2, 4)
	job.Recovery = identity.Recovery{Backend: true}
	if _, err := participant.Keygen(ctx, conn, job, pre, nil); err != nil {
		t.Fatal(err)
	}
	w, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, q.Admin(t))
	if err != nil || !w.Wallet.RecoveryBackend || len(w.Wallet.RecoveryKit) != 0 {
		t.Fatalf("the wallet's recorded recovery policy: %v, %v", w, err)
	}

	q.Reseed(t) // every server holder is a new member: pre-parameters without the wait
	dev, _ := identity.GenerateKey()
	a := &recovery.Authorization{Kind: recovery.KindBackend, WalletID: resp.WalletId, PartyID: "browser-found", Identity: dev.Public(), Expires: time.Now().Add(time.Hour)}
	if err := recovery.Sign(backend, a); err != nil {
		t.Fatal(err)
	}
	rresp, err := coord.CreateRecoverySession(ctx, &tsskitv1.CreateRecoverySessionRequest{WalletId: resp.WalletId, Authorization: a.Encode()}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if spec := rresp.Reshare; len(spec.OldParties) != 3 || len(spec.NewParties) != 4 || slices.Contains(spec.NewParties, lost) {
		t.Fatalf("recovery committees: old %v, new %v", spec.OldParties, spec.NewParties)
	}
	rjob, err := participant.ClientRecoveryJob(rresp, a, dev, q.Trust)
	if err != nil {
		t.Fatal(err)
	}
	pre, err = testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}
	out, err := participant.Reshare(ctx, conn, rjob, nil, pre, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Activate || out.Share.Epoch != 1 || out.Share.PartyID != "browser-found" || !out.Share.Policy.Recovery.Backend {
		t.Fatalf("recovered share: %+v", out)
	}
	w, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, q.Admin(t))
	if err != nil || w.Wallet.Epoch != 1 {
		t.Fatalf("wallet after the recovery: %v, %v", w, err)
	}
	for _, h := range w.Wallet.Holders {
		if h.PartyId == lost {
			t.Fatal("the coordinator still records the lost client")
		}
	}
	digest := sha256.Sum256([]byte("found"))
	sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: resp.WalletId, Digest: digest[:], ClientPartyIds: []string{"browser-found"}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := participant.Sign(ctx, conn, q.SignJob(t, sresp, out.Share, digest[:]), out.Share)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := secp256k1.ParsePubKey(out.PublicKey)
	if parsed, err := ecdsa.ParseDERSignature(sig.DER); err != nil || !parsed.Verify(digest[:], pub) {
		t.Fatalf("the recovered client's signature does not verify (%v)", err)
	}
}

// epochOf is r's epoch, -1 for no record.
func epochOf(r *share.Record) int {
	if r == nil {
		return -1
	}
	return r.Epoch
}

package coordinator_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// One acknowledged run per epoch (docs/lifecycle.md). A refresh run that
// every holder stored but that was never activated — the client stored
// its share and lost its connection before reporting it — is not run
// again: a later run in which the client holds that share pending and
// says nothing of it is refused by the server holders before anything is
// computed (run_not_abandoned), so is one whose abandoned-run statement
// is forged; a later run in which every holder presents its stored
// acknowledgement activates the earlier run late (run_complete): the
// coordinator records it, the server holders activate their shares of it
// after checking every acknowledgement, and the client's share of it
// signs (decred).
func TestAttackEarlierRun(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	const me = "browser-er01"
	rec := q.ClientWallet(ctx, t, conn, me)
	walletID := rec.WalletID
	refresh := func() (*tsskitv1.CreateSessionResponse, participant.Job) {
		t.Helper()
		q.Reseed(t)
		r, err := coord.CreateReshareSession(ctx, &tsskitv1.CreateReshareSessionRequest{WalletId: walletID, ClientPartyIds: []string{me}}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		job, err := participant.ClientReshareJob(r, rec, 0, 0, q.Trust)
		if err != nil {
			t.Fatal(err)
		}
		return r, job
	}
	cpre, err := testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}

	// Run S: every holder stores; the client never reports, and its
	// session fails.
	s, job := refresh()
	pendingS, servers := storedNotActivated(t, q, s, job, rec, cpre)
	serverVault := func(id string) *vault.Vault { return openVault(t, q, id) }

	wantFailed := func(label string, job participant.Job, code party.Code) {
		t.Helper()
		_, err := participant.Reshare(ctx, conn, job, rec, cpre, func(*share.Record) error { t.Fatalf("%s: stored a share", label); return nil })
		var se *participant.SessionError
		var pe *party.Error
		switch {
		case errors.As(err, &se) && se.Code == string(code), errors.As(err, &pe) && pe.Code == code:
		default:
			t.Fatalf("%s: %v; want %s", label, err, code)
		}
	}
	signer := job.Identity

	// A later run in which the client says nothing of S: the servers
	// (and the client itself) refuse, before anything is computed.
	_, job = refresh()
	wantFailed("a run saying nothing of S", job, party.CodeRunNotAbandoned)
	// A forged statement: the client's party id, another key.
	stranger, _ := identity.GenerateKey()
	_, job = refresh()
	job.Abandoned = [][]byte{identity.SignAbandoned(stranger, s.SessionId, walletID, me, 1)}
	wantFailed("a forged abandoned-run statement", job, party.CodeRunNotAbandoned)
	if w, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: walletID}, q.Admin(t)); err != nil || w.Wallet.Epoch != 0 {
		t.Fatalf("after the refused runs: %v, %v; want epoch 0", w, err)
	}

	// Every holder presents its acknowledgement of S: S is activated
	// late, this run fails with run_complete.
	_, job = refresh()
	job.Pending, job.PendingSession = pendingS, s.SessionId
	job.Stored = map[string][]byte{s.SessionId: identity.SignStored(signer, s.SessionId, walletID, me, 1, pendingS.PublicKey)}
	wantFailed("a run presenting every acknowledgement of S", job, party.CodeRunComplete)
	got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: s.SessionId}, q.Admin(t))
	if err != nil || got.Session.State != tsskitv1.SessionState_SESSION_STATE_COMPLETED {
		t.Fatalf("run S after the late activation: %v, %v", got, err)
	}
	if err := participant.VerifyStoredAcks(s.SessionId, pendingS, got.Session.StoredAcks); err != nil {
		t.Fatalf("run S's acknowledgements: %v", err)
	}
	if w, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: walletID}, q.Admin(t)); err != nil || w.Wallet.Epoch != 1 {
		t.Fatalf("after the late activation: %v, %v; want epoch 1", w, err)
	}
	for _, id := range servers {
		v := serverVault(id)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if r, err := v.GetShare(walletID, id); err == nil && r.Epoch == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not activate its share of S", id)
			}
		}
	}
	pub, err := secp256k1.ParsePubKey(rec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("after the late activation"))
	sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := participant.Sign(ctx, conn, q.SignJob(t, sresp, pendingS, digest[:]), pendingS)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := ecdsa.ParseDERSignature(sig.DER); err != nil || !parsed.Verify(digest[:], pub) {
		t.Fatalf("the signature with S's share does not verify (%v)", err)
	}
}

// openVault opens server party id's vault in quorum q.
func openVault(t *testing.T, q *quorumtest.Quorum, id string) *vault.Vault {
	t.Helper()
	mk, err := vault.ParseMasterKey(q.MasterKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(filepath.Join(q.DataDir, id, "vault"), mk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// storedNotActivated runs the client's seat job of reshare session s
// (rec its current share, nil for a recovering client) so that every
// holder stores its share and the run is not activated: the client
// stores its share and never reports it, every server holder's pending
// share of s is waited for, and the client's failure is reported for
// it (as its lost connection would end the session). The client's
// pending share and the server holders of s.
func storedNotActivated(t *testing.T, q *quorumtest.Quorum, s *tsskitv1.CreateSessionResponse, job participant.Job, rec *share.Record, pre *keygen.LocalPreParams) (*share.Record, []string) {
	t.Helper()
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	sctx, lose := context.WithCancel(ctx)
	defer lose()
	var pending *share.Record
	_, err := participant.Reshare(sctx, conn, job, rec, pre, func(n *share.Record) error { pending = n; lose(); return nil })
	if pending == nil {
		t.Fatalf("run %s: the client stored nothing: %v", s.SessionId, err)
	}
	var servers []string
	for _, h := range pending.Holders {
		if h.PartyID != job.PartyID {
			servers = append(servers, h.PartyID)
		}
	}
	for _, id := range servers {
		v := openVault(t, q, id)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if p, from, err := v.GetPendingShareFrom(s.WalletId, id); err == nil && p.Epoch == pending.Epoch && from == s.SessionId {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s: %s stored no pending share", s.SessionId, id)
			}
		}
		v.Close()
	}
	if _, err := coord.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: s.SessionId, PartyId: job.PartyID,
		Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: "transport", Reason: "the connection was lost"}}},
		grpc.PerRPCCredentials(serve.Bearer(job.Token))); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: s.SessionId}, q.Admin(t))
		if err == nil && got.Session.State == tsskitv1.SessionState_SESSION_STATE_FAILED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not fail: %v, %v", s.SessionId, got, err)
		}
	}
	return pending, servers
}

package coordinator_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/rwadurian/tsskit/serverparty"
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
	const me = "browser-er01"
	// Run S: every holder stores; the client never reports, and its
	// session fails.
	l := runInLimbo(t, me)
	ctx, q, conn, coord, rec, refresh, cpre := context.Background(), l.q, l.conn, l.coord, l.rec, l.refresh, l.pre
	walletID, s, job := rec.WalletID, l.s, l.job

	wantFailed := func(label string, job participant.Job, code party.Code) {
		t.Helper()
		reshareFails(t, conn, job, rec, cpre, label, code)
	}

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
	l.activatedLate(t, "after the late activation")
}

// activatedLate: a run in which every holder presents its
// acknowledgement of S fails with run_complete; S is recorded completed
// with every acknowledgement, the wallet is at epoch 1, the server
// holders activate their shares of S, and the client's share of S signs
// (decred).
func (l *limbo) activatedLate(t *testing.T, message string) {
	t.Helper()
	ctx, q, coord, rec, s, pendingS := context.Background(), l.q, l.coord, l.rec, l.s, l.pendingS
	walletID, me := rec.WalletID, l.job.PartyID
	_, job := l.refresh()
	job.Pending, job.PendingSession = pendingS, s.SessionId
	job.Stored = map[string][]byte{s.SessionId: identity.SignStored(l.job.Identity, s.SessionId, walletID, me, 1, pendingS.PublicKey)}
	reshareFails(t, l.conn, job, rec, l.pre, "a run presenting every acknowledgement of S", party.CodeRunComplete)
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
	for _, id := range l.servers {
		v := openVault(t, q, id)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if r, err := v.GetShare(walletID, id); err == nil && r.Epoch == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not activate its share of S", id)
			}
		}
		v.Close()
	}
	pub, err := secp256k1.ParsePubKey(rec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(message))
	sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := participant.Sign(ctx, l.conn, q.SignJob(t, sresp, pendingS, digest[:]), pendingS)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := ecdsa.ParseDERSignature(sig.DER); err != nil || !parsed.Verify(digest[:], pub) {
		t.Fatalf("the signature with S's share does not verify (%v)", err)
	}
}

// Settling a run in limbo (docs/lifecycle.md): run S was stored by every
// holder, the client's report was lost, and the client's device is then
// lost too — whoever finds it holds its pending share of S and its stored
// acknowledgement. The server holders refuse every later run of the
// epoch until the operator settles S: it freezes S at both servers (from
// then on they take part in no run of the epoch: a run in which the
// device's finder presents its acknowledgement, which would make S
// complete, is refused before it is counted), a drop is refused without
// the other server's frozen-run statement, with a forged one, or with
// both other holders named silent, and then S is dropped at both
// servers, naming the client silent; a drop cut short (S recorded
// abandoned, its share still there) keeps its party refusing runs of the
// epoch with run_frozen until it is run again. A later run goes on with the
// servers' abandoned-run statements, even one in which the device's
// acknowledgement of S is presented again: S is never activated, and the
// new run's shares sign (decred).
func TestSettleRunInLimbo(t *testing.T) {
	const me = "browser-st01"
	l := runInLimbo(t, me)
	ctx, q, conn, coord, rec, refresh, cpre := context.Background(), l.q, l.conn, l.coord, l.rec, l.refresh, l.pre
	walletID, s, pendingS, servers := rec.WalletID, l.s, l.pendingS, l.servers
	device := l.job.Identity
	ackS := map[string][]byte{s.SessionId: identity.SignStored(device, s.SessionId, walletID, me, 1, pendingS.PublicKey)}
	sessionState := func(id string) tsskitv1.SessionState {
		t.Helper()
		got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: id}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		return got.Session.State
	}

	// The operator freezes S at both servers.
	frozen := map[string][]byte{}
	for _, id := range servers {
		v := openVault(t, q, id)
		st, err := serverparty.FreezeRun(v, walletID, id, s.SessionId)
		v.Close()
		if err != nil || st.Epoch != 1 || st.Activated {
			t.Fatalf("freeze at %s: %+v, %v", id, st, err)
		}
		if f, err := identity.ParseFrozen(st.Statement); err != nil || !f.Held {
			t.Fatalf("%s's frozen-run statement: %+v, %v; want it to say it holds epoch 0", id, f, err)
		}
		frozen[id] = st.Statement
	}
	// The device's finder presents its acknowledgement of S: with the
	// servers' reported ones, S would be complete. The frozen servers
	// take part in no run of the epoch, so nothing is counted.
	// refusedFrozen: a run in which the device's finder presents its
	// acknowledgement of S fails with run_frozen, storing nothing.
	refusedFrozen := func(while string) {
		t.Helper()
		tr, job := refresh()
		job.Pending, job.PendingSession, job.Stored = pendingS, s.SessionId, ackS
		if _, err := participant.Reshare(ctx, conn, job, rec, cpre, func(*share.Record) error { t.Fatalf("stored a share %s", while); return nil }); err == nil {
			t.Fatalf("a run presenting S's last acknowledgement %s went on", while)
		}
		if got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: tr.SessionId}, q.Admin(t)); err != nil || got.Session.Code != "run_frozen" {
			t.Fatalf("a run presenting S's last acknowledgement %s: %v, %v; want failed with run_frozen", while, got, err)
		}
	}
	refusedFrozen("while S is frozen")
	if st := sessionState(s.SessionId); st != tsskitv1.SessionState_SESSION_STATE_FAILED {
		t.Fatalf("run S after a run presenting every acknowledgement while frozen: %v; want failed", st)
	}

	withVault := func(id string, f func(v *vault.Vault)) {
		t.Helper()
		v := openVault(t, q, id)
		defer v.Close()
		f(v)
	}

	// Drops the check refuses: nothing is lost.
	a, b := servers[0], servers[1]
	stranger, _ := identity.GenerateKey()
	va := openVault(t, q, a)
	for label, c := range map[string]struct {
		silent []string
		frozen [][]byte
	}{
		"no word from the other server":        {[]string{me}, nil},
		"a forged frozen-run statement":        {[]string{me}, [][]byte{identity.SignFrozen(stranger, s.SessionId, walletID, b, 1, true)}},
		"its abandoned-run statement":          {[]string{me}, [][]byte{identity.SignAbandoned(stranger, s.SessionId, walletID, b, 1)}},
		"both other holders named silent":      {[]string{me, b}, nil},
		"the client's word, the server silent": {[]string{b}, [][]byte{identity.SignFrozen(stranger, s.SessionId, walletID, me, 1, true)}},
	} {
		var pe *party.Error
		if _, err := serverparty.DropRun(va, walletID, a, s.SessionId, c.silent, c.frozen, nil); !errors.As(err, &pe) || pe.Code != party.CodeSettle {
			t.Fatalf("%s: %v; want %s", label, err, party.CodeSettle)
		}
		if _, from, err := va.GetPendingShareFrom(walletID, a); err != nil || from != s.SessionId {
			t.Fatalf("%s: %s's share of S is gone (%v)", label, a, err)
		}
	}
	va.Close()
	// The drop: each server with the other's statement, the client silent.
	// At a, the drop is cut short after it recorded S abandoned and before
	// it deleted S's share (the share's file is put back, as a crash
	// between would leave it).
	pendingFiles, err := filepath.Glob(filepath.Join(q.DataDir, a, "vault", "pending", "*"))
	if err != nil || len(pendingFiles) != 1 {
		t.Fatalf("%s's pending share files: %v, %v", a, pendingFiles, err)
	}
	pendingFile, err := os.ReadFile(pendingFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range servers {
		other := a
		if id == a {
			other = b
		}
		v := openVault(t, q, id)
		st, err := serverparty.DropRun(v, walletID, id, s.SessionId, []string{me}, [][]byte{frozen[other]}, nil)
		v.Close()
		if err != nil {
			t.Fatalf("drop at %s: %v", id, err)
		}
		if a, err := identity.ParseAbandoned(st.Statement); err != nil || a.SessionID != s.SessionId || a.PartyID != id {
			t.Fatalf("%s's abandoned-run statement after the drop: %+v, %v", id, a, err)
		}
	}
	if err := os.WriteFile(pendingFiles[0], pendingFile, 0o600); err != nil {
		t.Fatal(err)
	}
	// While S's share is still there, a takes part in no run of the
	// epoch: a run presenting the device's acknowledgement would find S
	// complete at a.
	refusedFrozen("while a drop of S is cut short")
	// The drop run again finishes, with no statement needed.
	withVault(a, func(v *vault.Vault) {
		if _, err := serverparty.DropRun(v, walletID, a, s.SessionId, nil, nil, nil); err != nil {
			t.Fatalf("the cut-short drop at %s run again: %v", a, err)
		}
		if _, from, err := v.GetPendingShareFrom(walletID, a); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("S's share at %s after the drop finished: from %q, %v", a, from, err)
		}
	})

	// A later run goes on: the client's seat holds S's share and is shown
	// the servers' abandoned-run statements; the device's acknowledgement
	// of S, presented again, activates nothing.
	t2, job := refresh()
	job.Pending, job.PendingSession, job.Stored = pendingS, s.SessionId, ackS
	var next *share.Record
	if _, err := participant.Reshare(ctx, conn, job, rec, cpre, func(n *share.Record) error { next = n; return nil }); err != nil {
		t.Fatalf("the run after the settle: %v", err)
	}
	if st := sessionState(t2.SessionId); st != tsskitv1.SessionState_SESSION_STATE_COMPLETED {
		t.Fatalf("the run after the settle: %v", st)
	}
	if st := sessionState(s.SessionId); st != tsskitv1.SessionState_SESSION_STATE_FAILED {
		t.Fatalf("run S after the settle: %v; want failed", st)
	}
	for _, id := range servers {
		v := openVault(t, q, id)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if r, err := v.GetShare(walletID, id); err == nil && r.Epoch == 1 { // S's share was dropped: this is t2's
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not activate its share of the run after the settle", id)
			}
		}
		v.Close()
	}
	pub, err := secp256k1.ParsePubKey(rec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("after the settle"))
	sresp, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: walletID, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := participant.Sign(ctx, conn, q.SignJob(t, sresp, next, digest[:]), next)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := ecdsa.ParseDERSignature(sig.DER); err != nil || !parsed.Verify(digest[:], pub) {
		t.Fatalf("the signature after the settle does not verify (%v)", err)
	}
}

// Going back from a freeze (docs/lifecycle.md): run S in limbo, frozen
// at both server holders, turns out to be wanted after all (the device
// was found). A thaw needs the pinned-run (or activated-run) statement
// of every other holder not named silent; each server pins S, after
// which it never drops S; both thaw, naming the client silent. A thawed
// run is pinned for good: frozen again, each answers with its pinned-run
// statement, not a frozen-run one, and a drop on the frozen-run
// statements given before the thaw is refused — the other server may
// activate S meanwhile. Thawed again, S is activated late by a run in
// which every holder presents its acknowledgement, and the client's
// share of S signs (decred).
func TestThawRunInLimbo(t *testing.T) {
	const me = "browser-th01"
	l := runInLimbo(t, me)
	q, walletID, s, servers := l.q, l.rec.WalletID, l.s, l.servers
	withVault := func(id string, f func(v *vault.Vault)) {
		t.Helper()
		v := openVault(t, q, id)
		defer v.Close()
		f(v)
	}
	settleRefused := func(label string, err error) {
		t.Helper()
		var pe *party.Error
		if !errors.As(err, &pe) || pe.Code != party.CodeSettle {
			t.Fatalf("%s: %v; want %s", label, err, party.CodeSettle)
		}
	}
	frozen := map[string][]byte{}
	for _, id := range servers {
		withVault(id, func(v *vault.Vault) {
			st, err := serverparty.FreezeRun(v, walletID, id, s.SessionId)
			if err != nil || st.Pinned || st.Activated {
				t.Fatalf("freeze at %s: %+v, %v", id, st, err)
			}
			frozen[id] = st.Statement
		})
	}
	pinned := map[string][]byte{}
	for _, id := range servers {
		withVault(id, func(v *vault.Vault) {
			settleRefused("a thaw at "+id+" without the other server's word", serverparty.ThawRun(v, walletID, id, s.SessionId, []string{me}, nil))
			st, err := serverparty.PinRun(v, walletID, id, s.SessionId)
			if err != nil {
				t.Fatalf("pin at %s: %v", id, err)
			}
			pinned[id] = st.Statement
			if _, err := serverparty.DropRun(v, walletID, id, s.SessionId, []string{me}, slices.Collect(maps.Values(frozen)), nil); err == nil {
				t.Fatalf("a pinned run dropped at %s", id)
			}
		})
	}
	thawAll := func() {
		t.Helper()
		for i, id := range servers {
			withVault(id, func(v *vault.Vault) {
				if err := serverparty.ThawRun(v, walletID, id, s.SessionId, []string{me}, [][]byte{pinned[servers[1-i]]}); err != nil {
					t.Fatalf("thaw at %s: %v", id, err)
				}
			})
		}
	}
	thawAll()
	for i, id := range servers {
		withVault(id, func(v *vault.Vault) {
			st, err := serverparty.FreezeRun(v, walletID, id, s.SessionId)
			if err != nil || !st.Pinned || st.Activated {
				t.Fatalf("freezing the thawed run again at %s: %+v, %v; want it pinned", id, st, err)
			}
			if p, err := identity.ParsePinned(st.Statement); err != nil || p.SessionID != s.SessionId || p.PartyID != id {
				t.Fatalf("%s's statement for the thawed run frozen again: %+v, %v; want its pinned-run statement", id, p, err)
			}
			if _, err := identity.ParseFrozen(st.Statement); err == nil {
				t.Fatalf("%s gave a frozen-run statement for a thawed run", id)
			}
			if _, err := serverparty.DropRun(v, walletID, id, s.SessionId, []string{me}, [][]byte{frozen[servers[1-i]]}, nil); err == nil {
				t.Fatalf("a thawed run dropped at %s on the other's frozen-run statement from before the thaw", id)
			}
			if _, from, err := v.GetPendingShareFrom(walletID, id); err != nil || from != s.SessionId {
				t.Fatalf("%s's share of S after the refused drop: from %q, %v", id, from, err)
			}
		})
	}
	thawAll()
	l.activatedLate(t, "after the thaw")
}

// limbo is a co-managed wallet of a client in a quorum of its own, and a
// refresh run S of it that every holder stored and that was never
// activated (storedNotActivated).
type limbo struct {
	q        *quorumtest.Quorum
	conn     participant.Conn
	coord    tsskitv1.CoordinatorServiceClient
	rec      *share.Record // the client's share of epoch 0
	refresh  func() (*tsskitv1.CreateSessionResponse, participant.Job)
	pre      *keygen.LocalPreParams // the client's
	s        *tsskitv1.CreateSessionResponse
	job      participant.Job // the client's seat in S
	pendingS *share.Record   // the client's share of S
	servers  []string        // S's server holders
}

// runInLimbo starts a quorum, makes client me's wallet and leaves a run
// of it in limbo.
func runInLimbo(t *testing.T, me string) *limbo {
	t.Helper()
	l := &limbo{q: quorumtest.Start(t, quorumtest.Options{})}
	l.conn = l.q.Conn(t)
	l.coord = tsskitv1.NewCoordinatorServiceClient(l.conn.Coordinator)
	l.rec = l.q.ClientWallet(context.Background(), t, l.conn, me, 3)
	l.refresh = refresher(t, l.q, l.rec)
	var err error
	if l.pre, err = testkit.PreParams(4); err != nil {
		t.Fatal(err)
	}
	l.s, l.job = l.refresh()
	l.pendingS, l.servers = storedNotActivated(t, l.q, l.s, l.job, l.rec, l.pre)
	return l
}

// reshareFails runs the client's seat job (rec its share) and wants it to
// fail with code, storing nothing.
func reshareFails(t *testing.T, conn participant.Conn, job participant.Job, rec *share.Record, pre *keygen.LocalPreParams, label string, code party.Code) {
	t.Helper()
	_, err := participant.Reshare(context.Background(), conn, job, rec, pre, func(*share.Record) error { t.Fatalf("%s: stored a share", label); return nil })
	var se *participant.SessionError
	var pe *party.Error
	switch {
	case errors.As(err, &se) && se.Code == string(code), errors.As(err, &pe) && pe.Code == code:
	default:
		t.Fatalf("%s: %v; want %s", label, err, code)
	}
}

// refresher asks q's coordinator, as the admin, for refreshes of the
// wallet of client share rec, and gives each one's seat for rec.
func refresher(t *testing.T, q *quorumtest.Quorum, rec *share.Record) func() (*tsskitv1.CreateSessionResponse, participant.Job) {
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	return func() (*tsskitv1.CreateSessionResponse, participant.Job) {
		t.Helper()
		q.Reseed(t)
		r, err := coord.CreateReshareSession(context.Background(), &tsskitv1.CreateReshareSessionRequest{WalletId: rec.WalletID, ClientPartyIds: []string{rec.PartyID}}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		job, err := participant.ClientReshareJob(r, rec, 0, 0, q.Trust)
		if err != nil {
			t.Fatal(err)
		}
		return r, job
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

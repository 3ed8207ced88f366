package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/evilcoord"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/seal"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// The attacks of this file are made by the coordinator, or by anyone on
// the cleartext path between it and the parties: an evilcoord proxy that
// every server party and the CLI party reach the real coordinator
// through, as separate processes over loopback. It rewrites requests and
// rosters; it holds no identity key and no deployment root. Each attack
// must fail the session before any party runs a protocol round, naming
// the party whose entry was tampered with (or, for a changed request,
// be refused by the CLI before it joins).

// startEvilCoordinator serves an evilcoord proxy of c's coordinator on a
// loopback port and returns its address.
func startEvilCoordinator(t *testing.T, c *cluster) string {
	t.Helper()
	up, err := serve.Dial(c.coord)
	if err != nil {
		t.Fatal(err)
	}
	c.evil = evilcoord.New(up)
	gs := grpc.NewServer()
	c.evil.Register(gs)
	ln, err := net.Listen("tcp", quorumtest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(func() { gs.Stop(); up.Close() })
	return ln.Addr().String()
}

// forged is an entry for the same party and session as k, but with a
// relay's own session keys, signed by a relay identity key, k's
// certificates copied in: what a relay would need to read what is sealed
// to that party.
func forged(t *testing.T, k *tsskitv1.PartyKeys) *tsskitv1.PartyKeys {
	t.Helper()
	st, err := identity.ParseStatement(k.Statement)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := seal.GenerateKeys()
	relay, _ := identity.GenerateKey()
	pub := keys.Public()
	copy(st.X25519[:], pub.X25519)
	copy(st.Ed25519[:], pub.Ed25519)
	e, err := identity.SignStatement(relay, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &tsskitv1.PartyKeys{PartyId: k.PartyId, X25519: pub.X25519, Ed25519: pub.Ed25519, Statement: e.Statement,
		StatementSignature: e.Signature, Certificates: k.Certificates}
}

// rosterFor rewrites the ready event party `to` is shown: entry of party
// `of` replaced by what repl makes of it.
func rosterFor(to, of string, repl func(*tsskitv1.PartyKeys) *tsskitv1.PartyKeys) func(string, *tsskitv1.SessionEvent) {
	return func(who string, ev *tsskitv1.SessionEvent) {
		r := ev.GetReady()
		if r == nil || who != to {
			return
		}
		for i, k := range r.Roster {
			if k.PartyId == of {
				r.Roster[i] = repl(k)
			}
		}
	}
}

// onePick remembers the first name it is offered: the one party an
// attack is aimed at, when the pool decides which servers take part.
type onePick struct {
	mu   sync.Mutex
	name string
}

// take reports whether name is the pick (the first offered, or it again).
func (p *onePick) take(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name == "" {
		p.name = name
	}
	return p.name == name
}

func (p *onePick) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// coordClient is a client of the coordinator at addr, closed when t ends.
func coordClient(t *testing.T, addr string) tsskitv1.CoordinatorServiceClient {
	t.Helper()
	cc, err := serve.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return tsskitv1.NewCoordinatorServiceClient(cc)
}

// session is the session's record at the real coordinator.
func (c *cluster) session(t *testing.T, id string) *tsskitv1.Session {
	t.Helper()
	coord := coordClient(t, c.coord)
	tok := c.run("token")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		got, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: id},
			grpc.PerRPCCredentials(serve.Bearer(strings.TrimSpace(tok))))
		if err != nil {
			t.Fatal(err)
		}
		if got.Session.State == tsskitv1.SessionState_SESSION_STATE_FAILED || got.Session.State == tsskitv1.SessionState_SESSION_STATE_COMPLETED || ctx.Err() != nil {
			return got.Session
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wallet is the coordinator's record of wallet id.
func (c *cluster) wallet(t *testing.T, id string) *tsskitv1.Wallet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := coordClient(t, c.coord).GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: id},
		grpc.PerRPCCredentials(serve.Bearer(strings.TrimSpace(c.run("token")))))
	if err != nil {
		t.Fatal(err)
	}
	return got.Wallet
}

// sessionOf is the id of the session the CLI party printed it took part in.
func sessionOf(t *testing.T, stderr string) string {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "session" {
			return strings.TrimSuffix(f[1], ":")
		}
	}
	t.Fatalf("no session in the CLI's output:\n%s", stderr)
	return ""
}

// wantRefusedBeforeRound1 checks a failed CLI run and its session: failed,
// naming culprit, and no party of it reached round 1.
func (c *cluster) wantRefusedBeforeRound1(t *testing.T, stderr string, err error, culprit, reason string) {
	t.Helper()
	if err == nil {
		t.Fatal("the CLI party went along")
	}
	if !strings.Contains(stderr, culprit) || !strings.Contains(stderr, reason) {
		t.Fatalf("the CLI's error does not name %s and %q:\n%s", culprit, reason, tail(stderr, 1500))
	}
	if strings.Contains(stderr, "round 1/") {
		t.Fatalf("a party reached round 1:\n%s", tail(stderr, 1500))
	}
	s := c.session(t, sessionOf(t, stderr))
	// Round 0 names the substituted party and the party whose list
	// differed (a relay's substitution and that party's lie look alike).
	if s.State != tsskitv1.SessionState_SESSION_STATE_FAILED || !slices.Contains(s.Culprits, culprit) || len(s.Culprits) > 2 {
		t.Fatalf("session %v %q culprits %v; want failed naming %s", s.State, s.Reason, s.Culprits, culprit)
	}
}

func TestAttackCoordinatorProcesses(t *testing.T) {
	c := startClusterWith(t, true)
	env := []string{"TSSKIT_TOKEN=" + strings.TrimSpace(c.run("token")), "TSSKIT_SHARE_PASSWORD=attack pw orbit 9x"}
	keygen := func(self string, args ...string) (string, error) {
		_, stderr, err := c.exec(env, append([]string{"party", "keygen", "--coordinator", c.via, "--router", c.router, "--party-id", self,
			"--out", filepath.Join(c.dir, self+".share")}, args...)...)
		return stderr, err
	}
	sign := func(self, msg string) (string, error) {
		_, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router,
			"--share", filepath.Join(c.dir, self+".share"), "--message", msg)
		return stderr, err
	}

	// The relay shows the CLI party its own keys as a server's: the CLI
	// refuses the entry (certified for another key), names the server.
	t.Run("keygen: a server substituted in the client's view", func(t *testing.T) {
		var victim onePick
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if who != "cli-a" || ev.GetReady() == nil {
				return
			}
			for i, k := range ev.GetReady().Roster {
				if k.PartyId != "cli-a" && victim.take(k.PartyId) {
					ev.GetReady().Roster[i] = forged(t, k)
				}
			}
		})
		defer c.evil.SetEvent(nil)
		stderr, err := keygen("cli-a")
		c.wantRefusedBeforeRound1(t, stderr, err, victim.get(), "identity")
	})

	// The relay shows one server its own keys as the client's: a client's
	// identity is its own at keygen, so that server alone cannot tell; the
	// roster confirmation of round 0 shows it to every party.
	t.Run("keygen: the client substituted in one server's view", func(t *testing.T) {
		// The pool picks the session's servers; the first of them to
		// watch it is the one lied to.
		var lied onePick
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if who != "cli-b" && ev.GetReady() != nil && lied.take(who) {
				rosterFor(who, "cli-b", func(k *tsskitv1.PartyKeys) *tsskitv1.PartyKeys { return forged(t, k) })(who, ev)
			}
		})
		defer c.evil.SetEvent(nil)
		stderr, err := keygen("cli-b")
		c.wantRefusedBeforeRound1(t, stderr, err, "cli-b", "")
	})

	// A coordinator that makes a 2-of-3 where the client asked for 3-of-3,
	// or adds a party: the CLI refuses before it joins.
	t.Run("keygen: threshold or party count changed", func(t *testing.T) {
		c.evil.SetCreateKeygen(func(r *tsskitv1.CreateKeygenSessionRequest) { r.SignersNeeded = 2 })
		stderr, err := keygen("cli-c", "--signers", "3", "--parties", "3")
		if err == nil || !strings.Contains(stderr, "session_mismatch") || !strings.Contains(stderr, "2 signers; 3 were asked for") {
			t.Fatalf("a changed threshold: %v\n%s", err, tail(stderr, 1500))
		}
		c.evil.SetCreateKeygen(func(r *tsskitv1.CreateKeygenSessionRequest) { r.Parties = 4 })
		stderr, err = keygen("cli-d", "--signers", "2", "--parties", "3")
		c.evil.SetCreateKeygen(nil)
		if err == nil || !strings.Contains(stderr, "session_mismatch") || !strings.Contains(stderr, "4 parties; 3 were asked for") {
			t.Fatalf("a party added: %v\n%s", err, tail(stderr, 1500))
		}
		for _, f := range []string{"cli-c.share", "cli-d.share"} {
			if _, err := os.Stat(filepath.Join(c.dir, f)); err == nil {
				t.Fatalf("%s written", f)
			}
		}
	})

	// A coordinator older than chain codes (its assignments do not say it
	// records them): the server parties refuse the keygen rather than
	// make a wallet whose chain code the coordinator would not know.
	t.Run("keygen: a coordinator older than chain codes", func(t *testing.T) {
		c.evil.SetAssignment(func(a *tsskitv1.Assignment) { a.RecordsChainCodes = false })
		defer c.evil.SetAssignment(nil)
		stderr, err := keygen("cli-e")
		if err == nil || !strings.Contains(stderr, "upgrade coordinators before server parties") || strings.Contains(stderr, "round 1/") {
			t.Fatalf("keygen under an outdated coordinator: %v\n%s", err, tail(stderr, 1500))
		}
		if _, err := os.Stat(filepath.Join(c.dir, "cli-e.share")); err == nil {
			t.Fatal("cli-e.share written")
		}
		// The client checks too (clients are often upgraded first): its
		// Ready does not say the coordinator records chain codes.
		c.evil.SetAssignment(nil)
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if who == "cli-f" && ev.GetReady() != nil {
				ev.GetReady().RecordsChainCodes = false
			}
		})
		defer c.evil.SetEvent(nil)
		stderr, err = keygen("cli-f")
		if err == nil || !strings.Contains(stderr, "does not record chain codes") || strings.Contains(stderr, "round 1/") {
			t.Fatalf("client keygen under an outdated coordinator: %v\n%s", err, tail(stderr, 1500))
		}
		if _, err := os.Stat(filepath.Join(c.dir, "cli-f.share")); err == nil {
			t.Fatal("cli-f.share written")
		}
	})

	// A wallet made honestly, then signings through the relay.
	if stderr, err := keygen("cli-w"); err != nil {
		t.Fatalf("honest keygen: %v\n%s", err, stderr)
	}
	t.Run("sign: the client substituted in a server's view", func(t *testing.T) {
		stderr, err := sign("cli-w", "first")
		if err != nil {
			t.Fatalf("honest signing: %v\n%s", err, stderr)
		}
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if who != "cli-w" {
				rosterFor(who, "cli-w", func(k *tsskitv1.PartyKeys) *tsskitv1.PartyKeys { return forged(t, k) })(who, ev)
			}
		})
		defer c.evil.SetEvent(nil)
		stderr, err = sign("cli-w", "substituted")
		c.wantRefusedBeforeRound1(t, stderr, err, "cli-w", "identity")
	})

	// At a refresh's end the coordinator tells the servers Completed (they
	// activate epoch 1) and the client Failed. The client keeps its new
	// share pending — a Failed event is the coordinator's word alone, and
	// deleting it would leave no full set of either epoch — and its share
	// of epoch 0 no longer signs; --resume reads the session back and
	// activates the pending share once every holder's acknowledgement
	// verifies, and the wallet signs again.
	t.Run("refresh: Completed to the servers, Failed to the client", func(t *testing.T) {
		file := filepath.Join(c.dir, "cli-w.share")
		old, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if who == "cli-w" && ev.GetCompleted() != nil {
				ev.Event = &tsskitv1.SessionEvent_Failed_{Failed: &tsskitv1.SessionEvent_Failed{Code: "timeout", Reason: "the coordinator says so"}}
			}
		})
		refresh := []string{"party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file}
		_, stderr, err := c.exec(env, refresh...)
		c.evil.SetEvent(nil)
		if err == nil || !strings.Contains(stderr, "--resume") {
			t.Fatalf("a refresh told Failed: %v\n%s", err, tail(stderr, 1500))
		}
		if now, _ := os.ReadFile(file); string(now) != string(old) {
			t.Fatal("a refresh told Failed replaced the share file")
		}
		if _, err := os.Stat(file + ".epoch-1.pending"); err != nil {
			t.Fatalf("the pending share was not kept: %v", err)
		}
		if stderr, err := sign("cli-w", "with epoch 0's share"); err == nil || !strings.Contains(stderr, "stale_epoch") {
			t.Fatalf("signing with the share of epoch 0 after the servers activated epoch 1: %v\n%s", err, tail(stderr, 1500))
		}
		out, stderr, err := c.exec(env, append(refresh, "--resume")...)
		if err != nil || out["epoch"] != float64(1) {
			t.Fatalf("--resume: %v %v\n%s", err, out, tail(stderr, 1500))
		}
		sig, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router, "--share", file, "--message", "resumed")
		if err != nil || sig["public_key"] != out["public_key"] {
			t.Fatalf("signing after --resume: %v %v\n%s", err, sig, tail(stderr, 1500))
		}
		verifyHex(t, sig["public_key"].(string), sig["digest"].(string), sig["der"].(string))
	})

	// The client's sign request of one signing, shown to the servers in
	// the next: bound to its session, it is refused.
	t.Run("sign: a replayed sign request", func(t *testing.T) {
		stderr, err := sign("cli-w", "paid once")
		if err != nil {
			t.Fatalf("honest signing: %v\n%s", err, stderr)
		}
		old := c.evil.Join(sessionOf(t, stderr), "cli-w")
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if who != "cli-w" {
				rosterFor(who, "cli-w", func(*tsskitv1.PartyKeys) *tsskitv1.PartyKeys { return old })(who, ev)
			}
		})
		defer c.evil.SetEvent(nil)
		stderr, err = sign("cli-w", "paid twice")
		c.wantRefusedBeforeRound1(t, stderr, err, "cli-w", "session")
	})

	// The client asks for a signature at m/0/5; the coordinator has the
	// servers sign at m/0/6 (an address the client never agreed to pay
	// from): the path is in every join statement, so the parties'
	// statements disagree and the signing fails before round 1.
	t.Run("sign: another derivation path", func(t *testing.T) {
		c.evil.SetCreateSign(func(r *tsskitv1.CreateSignSessionRequest) { r.DerivationPath = []uint32{0, 6} })
		defer c.evil.SetCreateSign(nil)
		_, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router,
			"--share", filepath.Join(c.dir, "cli-w.share"), "--path", "m/0/5", "--eth-message", "at m/0/5 only")
		if err == nil || !strings.Contains(stderr, "derivation path") || strings.Contains(stderr, "round 1/") {
			t.Fatalf("signing at a path the client did not ask for: %v\n%s", err, tail(stderr, 1500))
		}
		// Whichever party sees it first fails the session: the client (the
		// roster's path is not the one it joined for: no party to blame
		// but the coordinator) or a server (the client's statement).
		if s := c.session(t, sessionOf(t, stderr)); s.State != tsskitv1.SessionState_SESSION_STATE_FAILED || !strings.Contains(s.Reason, "derivation path") {
			t.Fatalf("session %v %q culprits %v; want failed over the derivation path", s.State, s.Reason, s.Culprits)
		}
	})

	// A refresh whose end one server holder misses: the coordinator tells
	// it Failed (everyone else Completed), so its new share stays pending
	// and its old one is stale. When a signing needs it, it asks the
	// coordinator how the active epoch was made (GetEpochSession) and
	// activates its pending share only if every holder's acknowledgement
	// verifies: a forged answer keeps it pending (the signing fails with
	// stale_epoch, naming it); the true one, after the server party
	// crashed and restarted, finishes the refresh, and the wallet signs
	// with it.
	t.Run("refresh: a server told Failed finishes from the record", func(t *testing.T) {
		file := filepath.Join(c.dir, "cli-w.share")
		var victim onePick
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if ev.GetCompleted() != nil && who != "cli-w" && victim.take(who) {
				ev.Event = &tsskitv1.SessionEvent_Failed_{Failed: &tsskitv1.SessionEvent_Failed{Code: "timeout", Reason: "the coordinator says so"}}
			}
		})
		out, stderr, err := c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file)
		c.evil.SetEvent(nil)
		if err != nil || victim.get() == "" {
			t.Fatalf("refresh: %v %v (victim %q)\n%s", err, out, victim.get(), tail(stderr, 1500))
		}
		signVia := func(msg string) (map[string]any, string, error) {
			return c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router, "--share", file, "--message", msg, "--server-parties", victim.get())
		}
		c.evil.SetEpochSession(func(_ string, r *tsskitv1.GetEpochSessionResponse) {
			acks := maps.Clone(r.StoredAcks)
			ack := bytes.Clone(acks["cli-w"])
			ack[0] ^= 1
			acks["cli-w"] = ack
			r.StoredAcks = acks
		})
		_, stderr, err = signVia("with a forged record")
		c.evil.SetEpochSession(nil)
		if err == nil || !strings.Contains(stderr, "stale_epoch") || !strings.Contains(stderr, victim.get()) {
			t.Fatalf("signing with %s after a forged record of the session: %v\n%s", victim.get(), err, tail(stderr, 1500))
		}
		// The victim crashes and starts again: its pending share's record
		// names the session it is from, so it finishes after a restart
		// too.
		c.restartServerHolding(t, func(v *vault.Vault) bool {
			refs, err := v.ListPendingShares()
			return err == nil && slices.ContainsFunc(refs, func(r vault.ShareRef) bool { return r.PartyID == victim.get() })
		})
		sig, stderr, err := signVia("finished from the record")
		if err != nil || sig["public_key"] != out["public_key"] {
			t.Fatalf("signing with %s after the true record: %v %v\n%s", victim.get(), err, sig, tail(stderr, 1500))
		}
		verifyHex(t, sig["public_key"].(string), sig["digest"].(string), sig["der"].(string))
	})

	// The client shrinks its wallet to 2 of 2: one server holder is
	// dropped, and sits in the old committee only, to hear of the new
	// epoch and delete its share. The coordinator shows it a Completed
	// event in which the client's stored acknowledgement is forged: it
	// keeps its share (the coordinator alone cannot make a holder delete
	// one), while the others, shown the true event, activate epoch 2, and
	// the wallet signs 2 of 2.
	t.Run("reshare: a forged acknowledgement shown to a dropped holder", func(t *testing.T) {
		var dropped onePick
		c.evil.SetAssignment(func(a *tsskitv1.Assignment) {
			if r := a.GetReshare(); r != nil && slices.Contains(r.OldParties, a.PartyId) && !slices.Contains(r.NewParties, a.PartyId) {
				dropped.take(a.PartyId)
			}
		})
		c.evil.SetEvent(func(who string, ev *tsskitv1.SessionEvent) {
			if done := ev.GetCompleted(); done != nil && who == dropped.get() {
				acks := maps.Clone(done.StoredAcks)
				ack := bytes.Clone(acks["cli-w"])
				ack[len(ack)-1] ^= 1
				acks["cli-w"] = ack
				done.StoredAcks = acks
			}
		})
		defer c.evil.SetEvent(nil)
		defer c.evil.SetAssignment(nil)
		out, stderr, err := c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router,
			"--share", filepath.Join(c.dir, "cli-w.share"), "--signers", "2", "--parties", "2")
		if err != nil || out["threshold"] != float64(2) || len(out["parties"].([]any)) != 2 {
			t.Fatalf("reshare to 2 of 2: %v %v\n%s", err, out, tail(stderr, 1500))
		}
		epoch := int(out["epoch"].(float64))
		if dropped.get() == "" {
			t.Fatal("no server holder was in the old committee only")
		}
		walletID := out["wallet_id"].(string)
		// Every server party's vault: the dropped holder's share of the
		// epoch before stays; the kept holder's is of the new epoch once it
		// has activated it.
		var kept string
		for _, p := range out["parties"].([]any) {
			if p != "cli-w" {
				kept = p.(string)
			}
		}
		epochs := func() map[string]int {
			got := map[string]int{}
			for i := 1; i <= 3; i++ {
				v := openServerVault(t, filepath.Join(c.dir, fmt.Sprintf("sp%d", i)))
				refs, err := v.ListShares()
				if err != nil {
					v.Close()
					t.Fatal(err)
				}
				for _, r := range refs {
					if rec, err := v.GetShare(r.WalletID, r.PartyID); err == nil && r.WalletID == walletID {
						got[r.PartyID] = rec.Epoch
					}
				}
				v.Close()
			}
			return got
		}
		got := epochs()
		for deadline := time.Now().Add(20 * time.Second); got[kept] != epoch && time.Now().Before(deadline); got = epochs() {
			time.Sleep(100 * time.Millisecond)
		}
		if want := map[string]int{dropped.get(): epoch - 1, kept: epoch}; !maps.Equal(got, want) {
			t.Fatalf("share epochs by server holder %v; want %v: the dropped holder keeps its share", got, want)
		}
		if stderr, err := sign("cli-w", "2 of 2"); err != nil {
			t.Fatalf("signing 2 of 2: %v\n%s", err, tail(stderr, 1500))
		}
	})

	// One acknowledged run per epoch (docs/lifecycle.md). A refresh run S
	// that every holder stored, but that the relay keeps from being
	// activated (it turns the client's report into a failure once the
	// servers have reported): the relay then runs the epoch again, with
	// no word of the client's about S in its join, and with a forged
	// abandoned-run statement in its place. The server
	// holders keep S's share and refuse each run before round 1
	// (run_not_abandoned): a second run of the epoch cannot complete
	// beside S, to be named to some holders while S is named to others.
	// Without the relay's hand, the next run's joins show S complete: the
	// coordinator activates S late (run_complete), the CLI and the
	// servers activate S's shares after checking every acknowledgement,
	// and the wallet signs with them.
	t.Run("refresh: a run every holder stored is not run again", func(t *testing.T) {
		const self = "cli-runs"
		file, walletID, runS, kg := c.runInLimbo(t, env, self)
		original, _ := os.ReadFile(file)
		refresh := func() (map[string]any, string, error) {
			return c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file)
		}
		serversPending := func() map[string]string { return c.serversPending(t, walletID) }
		held := serversPending()

		// The server holders' own check is what is attacked: the CLI's
		// pending share of S is put aside meanwhile, so that the CLI
		// makes no check of its own (holding S, it would refuse too,
		// with run_complete) and its join says nothing of S.
		pendingS := file + ".epoch-1.pending"
		if err := os.Rename(pendingS, pendingS+".aside"); err != nil {
			t.Fatal(err)
		}
		relay, _ := identity.GenerateKey()
		for name, tamper := range map[string]func(*tsskitv1.PartyKeys){
			"no acknowledgement": func(k *tsskitv1.PartyKeys) { k.Stored = nil },
			"a forged statement in its place": func(k *tsskitv1.PartyKeys) {
				k.Stored = nil
				k.Abandoned = [][]byte{identity.SignAbandoned(relay, runS, walletID, self, 1)}
			},
		} {
			c.evil.SetJoin(func(r *tsskitv1.JoinRequest) {
				if r.Keys != nil && r.Keys.PartyId == self {
					tamper(r.Keys)
				}
			})
			_, stderr, err := refresh()
			c.evil.SetJoin(nil)
			if err == nil || !strings.Contains(stderr, "run_not_abandoned") || strings.Contains(stderr, "round 1/") {
				t.Fatalf("%s: %v\n%s", name, err, tail(stderr, 1500))
			}
			s := c.session(t, sessionOf(t, stderr))
			if s.Code != "run_not_abandoned" {
				t.Fatalf("%s: session %v %q %q", name, s.State, s.Code, s.Reason)
			}
			if got := serversPending(); !maps.Equal(got, held) {
				t.Fatalf("%s: server holders' pending shares %v; want S's kept, %v", name, got, held)
			}
			if now, _ := os.ReadFile(file); !bytes.Equal(now, original) {
				t.Fatalf("%s: the share file changed", name)
			}
		}
		if w := c.wallet(t, walletID); w.Epoch != 0 {
			t.Fatalf("after the refused runs the wallet is at epoch %d", w.Epoch)
		}
		if err := os.Rename(pendingS+".aside", pendingS); err != nil {
			t.Fatal(err)
		}

		out, stderr, err := refresh()
		if err != nil || out["session_id"] != runS || out["epoch"] != float64(1) || !strings.Contains(stderr, "run_complete") && !strings.Contains(stderr, "now active") {
			t.Fatalf("the honest run: %v %v\n%s", err, out, tail(stderr, 1500))
		}
		if w := c.wallet(t, walletID); w.Epoch != 1 {
			t.Fatalf("after the late activation the wallet is at epoch %d", w.Epoch)
		}
		for deadline := time.Now().Add(30 * time.Second); len(serversPending()) > 0; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("server holders did not activate S: pending %v", serversPending())
			}
		}
		sig, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router, "--share", file, "--message", "run S, activated late")
		if err != nil || sig["public_key"] != kg["public_key"] {
			t.Fatalf("signing with S's share: %v %v\n%s", err, sig, tail(stderr, 1500))
		}
		verifyHex(t, sig["public_key"].(string), sig["digest"].(string), sig["der"].(string))
	})

	// A run in limbo settled with tsskit settle: the CLI party's report of
	// S is lost and it is taken for silent (a lost device). The operator
	// stops both server holders and freezes S at each; while S is frozen,
	// a refresh in which the CLI presents its acknowledgement of S (which
	// would complete S) is refused by the servers before anything is
	// counted. Drops without the other server's statement, or naming the
	// other server silent too, are refused and drop nothing; with each
	// other's statement, both drop S. The next refresh goes on with the
	// servers' abandoned-run statements although the CLI presents its
	// acknowledgement again: a new run makes epoch 1, S stays failed,
	// and the new share signs (verified).
	t.Run("refresh: an operator settles a run in limbo", func(t *testing.T) {
		const self = "cli-settle"
		file, walletID, runS, kg := c.runInLimbo(t, env, self)
		refresh := func() (map[string]any, string, error) {
			return c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file)
		}
		holder := holdsWallet(walletID)
		settle := func(dataDir string, args ...string) (string, error) {
			return c.settle(walletID, runS, dataDir, args...)
		}
		// While a server party runs, it holds its vault: settle refuses.
		for i := 1; i <= 3; i++ {
			dir := filepath.Join(c.dir, fmt.Sprintf("sp%d", i))
			v := openServerVault(t, dir)
			held := holder(v)
			v.Close()
			if held {
				if stderr, err := settle(dir, "freeze"); err == nil || !strings.Contains(stderr, "stop it first") {
					t.Fatalf("settle beside a running server party: %v\n%s", err, stderr)
				}
			}
		}
		statements := map[string]string{}
		if n := c.whileStopped(t, holder, func(dirs []string) {
			for _, d := range dirs {
				f := d + ".frozen"
				if stderr, err := settle(d, "freeze", "--out", f); err != nil {
					t.Fatalf("freeze at %s: %v\n%s", d, err, stderr)
				}
				statements[d] = f
			}
		}); n != 2 {
			t.Fatalf("%d server holders; want 2", n)
		}

		_, stderr, err := refresh()
		if err == nil || strings.Contains(stderr, "round 1/") {
			t.Fatalf("a refresh while S is frozen: %v\n%s", err, tail(stderr, 1500))
		}
		if s := c.session(t, sessionOf(t, stderr)); s.Code != "run_frozen" {
			t.Fatalf("a refresh while S is frozen: session %v %q %q", s.State, s.Code, s.Reason)
		}
		if s := c.session(t, runS); s.State != tsskitv1.SessionState_SESSION_STATE_FAILED {
			t.Fatalf("run S while frozen: %v", s)
		}
		if w := c.wallet(t, walletID); w.Epoch != 0 {
			t.Fatalf("while S is frozen the wallet is at epoch %d", w.Epoch)
		}

		c.whileStopped(t, holder, func(dirs []string) {
			a, b := dirs[0], dirs[1]
			bID, err := os.ReadFile(filepath.Join(b, "party-id"))
			if err != nil {
				t.Fatal(err)
			}
			for name, args := range map[string][]string{
				"no word from the other server":     {"drop", "--silent", self},
				"the other server named silent too": {"drop", "--silent", self + "," + strings.TrimSpace(string(bID))},
				"its own statement for the other's": {"drop", "--silent", self, "--frozen", statements[a]},
			} {
				if stderr, err := settle(a, args...); err == nil || !strings.Contains(stderr, "settle_refused") {
					t.Fatalf("%s: %v\n%s", name, err, stderr)
				}
			}
			for _, d := range [][2]string{{a, b}, {b, a}} {
				if stderr, err := settle(d[0], "drop", "--silent", " "+self+" ", "--frozen", statements[d[1]], "--out", d[0]+".abandoned"); err != nil {
					t.Fatalf("drop at %s: %v\n%s", d[0], err, stderr)
				}
			}
		})
		if held := c.serversPending(t, walletID); len(held) != 0 {
			t.Fatalf("after the drops the server holders hold pending %v", held)
		}

		out, stderr, err := refresh()
		if err != nil || out["session_id"] == runS || out["epoch"] != float64(1) {
			t.Fatalf("the refresh after the settle: %v %v\n%s", err, out, tail(stderr, 1500))
		}
		if s := c.session(t, runS); s.State != tsskitv1.SessionState_SESSION_STATE_FAILED {
			t.Fatalf("run S after the settle: %v", s)
		}
		if w := c.wallet(t, walletID); w.Epoch != 1 {
			t.Fatalf("after the settle and a refresh the wallet is at epoch %d", w.Epoch)
		}
		sig, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router, "--share", file, "--message", "after the settle")
		if err != nil || sig["public_key"] != kg["public_key"] {
			t.Fatalf("signing after the settle: %v %v\n%s", err, sig, tail(stderr, 1500))
		}
		verifyHex(t, sig["public_key"].(string), sig["digest"].(string), sig["der"].(string))
	})

	// A run in limbo frozen, then wanted after all. The CLI party freezes
	// S (tsskit party settle), and the operator stops both server holders
	// and freezes S at each. A thaw without the other server's word is
	// refused; each server and the CLI pin S (a server's drop of a pinned
	// run, on every other holder's frozen-run statement, is refused). One
	// server thaws on the other's pinned-run statement with
	// the CLI named silent, the other on the other's and the CLI's (with
	// neither, refused). A thawed run is pinned for good: frozen again,
	// each server answers with its pinned-run statement and fails, and a
	// drop on the others' frozen-run statements given before the thaw is
	// refused — the other server may have activated S since; each thaws
	// again. The CLI thaws on both servers' pinned-run statements, which
	// puts S's share back where a resume finds it: frozen again, it too
	// answers pinned, its drop is refused, and it thaws again. 'party
	// refresh --resume' finds S's share and refuses while the coordinator
	// records S failed (nothing changes); the CLI's next refresh completes
	// S late (epoch 1, S's own session), and S's share signs (verified).
	t.Run("refresh: an operator thaws a run in limbo; thawed, it is never dropped", func(t *testing.T) {
		const self = "cli-thaw"
		file, walletID, runS, kg := c.runInLimbo(t, env, self)
		settle := func(dataDir string, args ...string) (string, error) {
			return c.settle(walletID, runS, dataDir, args...)
		}
		cliSettle := func(args ...string) (string, error) {
			_, stderr, err := c.cliSettle(env, file, runS, args...)
			return stderr, err
		}
		cliFrozen, cliPinned := filepath.Join(c.dir, self+".frozen"), filepath.Join(c.dir, self+".pinned")
		if stderr, err := cliSettle("freeze", "--out", cliFrozen); err != nil {
			t.Fatalf("the CLI's freeze: %v\n%s", err, stderr)
		}
		if stderr, err := cliSettle("pin", "--out", cliPinned); err != nil {
			t.Fatalf("the CLI's pin: %v\n%s", err, stderr)
		}
		if _, err := os.Stat(pendingFile(file, 1)); err == nil {
			t.Fatal("S's share is where a resume finds it while S is pinned at the CLI")
		}
		pinned, frozen := map[string]string{}, map[string]string{}
		c.whileStopped(t, holdsWallet(walletID), func(dirs []string) {
			if len(dirs) != 2 {
				t.Fatalf("%d server holders; want 2", len(dirs))
			}
			for _, d := range dirs {
				frozen[d], pinned[d] = d+".frozen-th", d+".pinned-th"
				if stderr, err := settle(d, "freeze", "--out", frozen[d]); err != nil {
					t.Fatalf("freeze at %s: %v\n%s", d, err, stderr)
				}
				if stderr, err := settle(d, "thaw", "--silent", self); err == nil || !strings.Contains(stderr, noThawWord) {
					t.Fatalf("a thaw at %s without the other server's word: %v\n%s", d, err, stderr)
				}
				if stderr, err := settle(d, "pin", "--out", pinned[d]); err != nil {
					t.Fatalf("pin at %s: %v\n%s", d, err, stderr)
				}
			}
			pairs := [][2]string{{dirs[0], dirs[1]}, {dirs[1], dirs[0]}}
			// The first server names the CLI silent, the second counts the
			// CLI's pinned-run statement.
			cliWord := [][]string{{"--silent", self}, {"--pinned", cliPinned}}
			for i, d := range pairs {
				if stderr, err := settle(d[0], "drop", "--frozen", frozen[d[1]], "--frozen", cliFrozen); err == nil || !strings.Contains(stderr, "never dropped") {
					t.Fatalf("a drop of a pinned run at %s, on every other holder's frozen-run statement: %v\n%s", d[0], err, stderr)
				}
				if stderr, err := settle(d[0], "thaw", "--pinned", pinned[d[1]]); err == nil || !strings.Contains(stderr, noThawWord) || !strings.Contains(stderr, self) {
					t.Fatalf("a thaw at %s without the CLI's word, the CLI not named silent: %v\n%s", d[0], err, stderr)
				}
				if stderr, err := settle(d[0], append([]string{"thaw", "--pinned", pinned[d[1]]}, cliWord[i]...)...); err != nil {
					t.Fatalf("thaw at %s: %v\n%s", d[0], err, stderr)
				}
			}
			for i, d := range pairs {
				out := d[0] + ".again"
				if stderr, err := settle(d[0], "freeze", "--out", out); err == nil || !strings.Contains(stderr, "pinned") {
					t.Fatalf("a freeze of the thawed run at %s: %v\n%s; want it refused as pinned", d[0], err, stderr)
				}
				requirePinned(t, out, d[0])
				if stderr, err := settle(d[0], "drop", "--frozen", frozen[d[1]], "--frozen", cliFrozen); err == nil || !strings.Contains(stderr, "never dropped") {
					t.Fatalf("a drop of the thawed run at %s on the others' frozen-run statements from before the thaw: %v\n%s", d[0], err, stderr)
				}
				if stderr, err := settle(d[0], append([]string{"thaw", "--pinned", pinned[d[1]]}, cliWord[i]...)...); err != nil {
					t.Fatalf("thaw again at %s: %v\n%s", d[0], err, stderr)
				}
			}
		})
		if held := c.serversPending(t, walletID); len(held) != 2 {
			t.Fatalf("after the thaws the server holders hold pending %v; want S's at both", held)
		}

		servers := flagEach("--pinned", pinned)
		if stderr, err := cliSettle(append([]string{"thaw"}, servers[:2]...)...); err == nil || !strings.Contains(stderr, noThawWord) {
			t.Fatalf("the CLI's thaw on one server's word: %v\n%s", err, stderr)
		}
		if stderr, err := cliSettle(append([]string{"thaw"}, servers...)...); err != nil {
			t.Fatalf("the CLI's thaw: %v\n%s", err, stderr)
		}
		again := filepath.Join(c.dir, self+".again")
		if stderr, err := cliSettle("freeze", "--out", again); err == nil || !strings.Contains(stderr, "pinned") {
			t.Fatalf("the CLI's freeze of its thawed run: %v\n%s; want it refused as pinned", err, stderr)
		}
		requirePinned(t, again, "the CLI")
		serversFrozen := flagEach("--frozen", frozen)
		if stderr, err := cliSettle(append([]string{"drop"}, serversFrozen...)...); err == nil || !strings.Contains(stderr, "never dropped") {
			t.Fatalf("the CLI's drop of its thawed run on both servers' frozen-run statements: %v\n%s", err, stderr)
		}
		if stderr, err := cliSettle(append([]string{"thaw"}, servers...)...); err != nil {
			t.Fatalf("the CLI's thaw again: %v\n%s", err, stderr)
		}
		if _, err := os.Stat(heldFile(file, 1)); err == nil || runShareFrom(file, 1) != runS {
			t.Fatalf("after the CLI's thaw S's share is not where a resume finds it: held file %v", err)
		}
		original, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		pendingBefore, err := os.ReadFile(pendingFile(file, 1))
		if err != nil {
			t.Fatalf("after the CLI's thaw S's share is not where a resume finds it: %v", err)
		}
		_, stderr, err := c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file, "--resume")
		if err == nil || !strings.Contains(stderr, "records session "+runS+" as failed") {
			t.Fatalf("a resume while the coordinator records S failed: %v\n%s", err, tail(stderr, 1500))
		}
		now, _ := os.ReadFile(file)
		pendingNow, _ := os.ReadFile(pendingFile(file, 1))
		if !bytes.Equal(now, original) || !bytes.Equal(pendingNow, pendingBefore) {
			t.Fatal("a refused resume changed the share file or S's pending share")
		}
		out, stderr, err := c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file)
		if err != nil || out["session_id"] != runS || out["epoch"] != float64(1) {
			t.Fatalf("the refresh after the thaw: %v %v\n%s", err, out, tail(stderr, 1500))
		}
		for deadline := time.Now().Add(30 * time.Second); len(c.serversPending(t, walletID)) > 0; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("server holders did not activate S: pending %v", c.serversPending(t, walletID))
			}
		}
		sig, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router, "--share", file, "--message", "run S, thawed")
		if err != nil || sig["public_key"] != kg["public_key"] {
			t.Fatalf("signing with S's share: %v %v\n%s", err, sig, tail(stderr, 1500))
		}
		verifyHex(t, sig["public_key"].(string), sig["digest"].(string), sig["der"].(string))
	})

	// The same run in limbo settled with the CLI party taking part
	// instead of being named silent (tsskit party settle): the CLI
	// freezes S; while S is frozen its refresh is refused before a
	// session is asked for (run_frozen), and its share of S cannot be
	// activated; a CLI drop without the servers' statements is refused
	// and drops nothing. The servers freeze S and drop it on each
	// other's and the CLI's frozen-run statements (no one silent); the
	// CLI drops it on theirs. The next refresh goes on (its join says S
	// is abandoned), the CLI keeps its seat and signs (verified), and a
	// freeze of the run that made its share answers with its
	// activated-run statement.
	t.Run("refresh: the CLI party settles a run in limbo with the server holders", func(t *testing.T) {
		const self = "cli-settles"
		file, walletID, runS, kg := c.runInLimbo(t, env, self)
		refresh := func() (map[string]any, string, error) {
			return c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file)
		}
		cliSettle := func(run string, args ...string) (string, string, error) {
			return c.cliSettle(env, file, run, args...)
		}
		serverSettle := func(dataDir string, args ...string) (string, error) {
			return c.settle(walletID, runS, dataDir, args...)
		}
		holder := holdsWallet(walletID)
		original, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cliFrozen := filepath.Join(c.dir, self+".frozen")
		if _, stderr, err := cliSettle(runS, "freeze", "--out", cliFrozen); err != nil {
			t.Fatalf("the CLI's freeze: %v\n%s", err, stderr)
		}
		_, stderr, err := refresh()
		if err == nil || !strings.Contains(stderr, "run_frozen") || strings.Contains(stderr, "session ") {
			t.Fatalf("a refresh while the CLI froze S: %v\n%s", err, tail(stderr, 1500))
		}
		if now, _ := os.ReadFile(file); !bytes.Equal(now, original) {
			t.Fatal("the share file changed while S is frozen")
		}
		if _, stderr, err := cliSettle(runS, "drop"); err == nil || !strings.Contains(stderr, "settle_refused") {
			t.Fatalf("the CLI's drop without the servers' word: %v\n%s", err, stderr)
		}
		if _, err := os.Stat(heldFile(file, 1)); err != nil || runShareFrom(file, 1) != runS {
			t.Fatalf("a refused drop deleted S's share, kept aside by the freeze: %v", err)
		}

		statements := map[string]string{}
		c.whileStopped(t, holder, func(dirs []string) {
			if len(dirs) != 2 {
				t.Fatalf("%d server holders; want 2", len(dirs))
			}
			for _, d := range dirs {
				statements[d] = d + ".frozen-by-cli-run"
				if stderr, err := serverSettle(d, "freeze", "--out", statements[d]); err != nil {
					t.Fatalf("freeze at %s: %v\n%s", d, err, stderr)
				}
			}
			for _, d := range [][2]string{{dirs[0], dirs[1]}, {dirs[1], dirs[0]}} {
				if stderr, err := serverSettle(d[0], "drop", "--frozen", statements[d[1]], "--frozen", cliFrozen); err != nil {
					t.Fatalf("drop at %s: %v\n%s", d[0], err, stderr)
				}
			}
			if _, stderr, err := cliSettle(runS, "drop", "--frozen", statements[dirs[0]], "--frozen", statements[dirs[1]]); err != nil {
				t.Fatalf("the CLI's drop: %v\n%s", err, stderr)
			}
		})
		if held := c.serversPending(t, walletID); len(held) != 0 {
			t.Fatalf("after the drops the server holders hold pending %v", held)
		}
		if runShareFrom(file, 1) != "" {
			t.Fatal("after the CLI's drop S's share is still kept")
		}

		out, stderr, err := refresh()
		if err != nil || out["session_id"] == runS || out["epoch"] != float64(1) {
			t.Fatalf("the refresh after the settle: %v %v\n%s", err, out, tail(stderr, 1500))
		}
		if w := c.wallet(t, walletID); w.Epoch != 1 || !slices.ContainsFunc(w.Holders, func(h *tsskitv1.Holder) bool { return h.PartyId == self }) {
			t.Fatalf("after the settle and a refresh the wallet is at epoch %d with %v", w.Epoch, w.Holders)
		}
		sig, stderr, err := c.exec(env, "party", "sign", "--coordinator", c.via, "--router", c.router, "--share", file, "--message", "settled by all")
		if err != nil || sig["public_key"] != kg["public_key"] {
			t.Fatalf("signing after the settle: %v %v\n%s", err, sig, tail(stderr, 1500))
		}
		verifyHex(t, sig["public_key"].(string), sig["digest"].(string), sig["der"].(string))

		newRun := out["session_id"].(string)
		stdout, stderr, err := cliSettle(newRun, "freeze")
		if err == nil || !strings.Contains(stderr, "active share already") {
			t.Fatalf("a freeze of the run that made the CLI's share: %v\n%s", err, stderr)
		}
		st, herr := hex.DecodeString(strings.TrimSpace(stdout))
		a, perr := identity.ParseActivated(st)
		if herr != nil || perr != nil || a.SessionID != newRun || a.Epoch != 1 || a.PartyID != self {
			t.Fatalf("the activated-run statement %q: %v %v", stdout, herr, perr)
		}
	})
}

// runInLimbo makes a wallet of CLI party self (through the evil
// coordinator, which relays honestly) and a refresh run S of it that
// every holder stores and that is never activated: the relay turns the
// CLI's report into a failure once both server holders have reported
// theirs. It returns the CLI's share file, the wallet id, S's session id
// and the keygen's output, and checks that both server holders hold
// S's share pending.
func (c *cluster) runInLimbo(t *testing.T, env []string, self string) (file, walletID, runS string, kg map[string]any) {
	t.Helper()
	file = filepath.Join(c.dir, self+".share")
	kg, stderr, err := c.exec(env, "party", "keygen", "--coordinator", c.via, "--router", c.router, "--party-id", self, "--out", file)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, tail(stderr, 1500))
	}
	walletID = kg["wallet_id"].(string)
	var mu sync.Mutex
	serversReported := map[string]int{}
	c.evil.SetReport(func(r *tsskitv1.ReportResultRequest) {
		if r.GetReshared() == nil {
			return
		}
		if r.PartyId != self {
			mu.Lock()
			serversReported[r.SessionId]++
			mu.Unlock()
			return
		}
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			n := serversReported[r.SessionId]
			mu.Unlock()
			if n == 2 {
				break
			}
		}
		r.Result = &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: "transport", Reason: "the relay lost the report"}}
	})
	_, stderr, err = c.exec(env, "party", "refresh", "--coordinator", c.via, "--router", c.router, "--share", file)
	c.evil.SetReport(nil)
	if err == nil {
		t.Fatal("run S: the refresh succeeded")
	}
	sid, err := os.ReadFile(sessionFile(file, 1))
	if err != nil {
		t.Fatalf("run S kept no pending share: %v\n%s", err, tail(stderr, 1500))
	}
	runS, _, _ = strings.Cut(strings.TrimSpace(string(sid)), " ")
	if s := c.session(t, runS); s.State != tsskitv1.SessionState_SESSION_STATE_FAILED {
		t.Fatalf("run S: %v", s)
	}
	if held := c.serversPending(t, walletID); len(held) != 2 || slices.ContainsFunc(slices.Collect(maps.Values(held)), func(s string) bool { return s != runS }) {
		t.Fatalf("server holders' pending shares after run S: %v; want both from %s", held, runS)
	}
	return file, walletID, runS, kg
}

// settle runs tsskit settle at the (stopped) server party whose data
// directory is dataDir, on run runS of walletID, and returns its stderr.
func (c *cluster) settle(walletID, runS, dataDir string, args ...string) (string, error) {
	cmd := exec.Command(c.bin, append(append([]string{"settle"}, args...), "--data-dir", dataDir, "--wallet", walletID, "--run", runS)...)
	cmd.Env = append(os.Environ(), c.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// noThawWord is how a thaw refuses when a holder that is not named
// silent gave no activated-run or pinned-run statement.
const noThawWord = "no valid activated-run or pinned-run statement"

// cliSettle runs tsskit party settle on run of the CLI party's share
// file, and returns its stdout and stderr.
func (c *cluster) cliSettle(env []string, file, run string, args ...string) (string, string, error) {
	cmd := exec.Command(c.bin, append(append([]string{"party", "settle"}, args...), "--share", file, "--run", run)...)
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// requirePinned fails unless file holds a pinned-run statement (hex),
// as a freeze of a run pinned or thawed at who writes.
func requirePinned(t *testing.T, file, who string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.ParsePinned(st); err != nil {
		t.Fatalf("the statement of the thawed run frozen again at %s is not a pinned-run statement: %v", who, err)
	}
}

// holdsWallet says whether a server party's vault holds a share of
// walletID.
func holdsWallet(walletID string) func(*vault.Vault) bool {
	return func(v *vault.Vault) bool {
		refs, err := v.ListShares()
		return err == nil && slices.ContainsFunc(refs, func(r vault.ShareRef) bool { return r.WalletID == walletID })
	}
}

// serversPending is the session each server party's pending share of
// walletID is from, by party id.
func (c *cluster) serversPending(t *testing.T, walletID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 1; i <= 3; i++ {
		v := openServerVault(t, filepath.Join(c.dir, fmt.Sprintf("sp%d", i)))
		refs, _ := v.ListPendingShares()
		for _, r := range refs {
			if r.WalletID == walletID {
				if _, from, err := v.GetPendingShareFrom(walletID, r.PartyID); err == nil {
					out[r.PartyID] = from
				}
			}
		}
		v.Close()
	}
	return out
}

// openServerVault opens the vault of the server party whose data
// directory is dataDir, under the master key the tests give every server
// party (CRYPTO_MASTER_KEY); the caller closes it.
func openServerVault(t *testing.T, dataDir string) *vault.Vault {
	t.Helper()
	mk, err := vault.ParseMasterKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(filepath.Join(dataDir, "vault"), mk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// restartServerHolding kills (SIGKILL, as a crash) the server party whose
// vault satisfies holds, starts it again with the same flags and
// environment, and waits until it has registered and the pool has three
// healthy parties again.
func (c *cluster) restartServerHolding(t *testing.T, holds func(*vault.Vault) bool) {
	t.Helper()
	if n := c.whileStopped(t, holds, nil); n != 1 {
		t.Fatalf("%d running server parties' vaults hold what was looked for; want 1", n)
	}
}

// whileStopped kills (SIGKILL) every running server party whose vault
// satisfies holds, runs meanwhile (if not nil) with their data dirs,
// starts them again with the same flags and environment, waits until the
// pool has three healthy parties again, and says how many it stopped.
func (c *cluster) whileStopped(t *testing.T, holds func(*vault.Vault) bool, meanwhile func(dataDirs []string)) int {
	t.Helper()
	var stopped []*proc
	var dirs []string
	for i := 1; i <= 3; i++ {
		dir := filepath.Join(c.dir, fmt.Sprintf("sp%d", i))
		v := openServerVault(t, dir)
		held := holds(v)
		v.Close()
		if !held {
			continue
		}
		name := fmt.Sprintf("serverparty-%d", i)
		for _, q := range c.procs {
			if q.name == name && q.cmd.ProcessState == nil {
				stopped, dirs = append(stopped, q), append(dirs, dir)
			}
		}
	}
	if len(stopped) == 0 {
		t.Fatal("no running server party's vault holds what was looked for")
	}
	for _, p := range stopped {
		p.cmd.Process.Kill()
		<-p.done
	}
	if meanwhile != nil {
		meanwhile(dirs)
	}
	var started []*proc
	for _, p := range stopped {
		started = append(started, c.start(p.name, p.cmd.Args[1:]...))
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		code, body := c.rest("GET", "/api/v1/health", "")
		registered := !slices.ContainsFunc(started, func(q *proc) bool { return !strings.Contains(q.log.String(), "registered with the coordinator") })
		if registered && code == 200 && body["components"].(map[string]any)["pool"].(map[string]any)["healthy"].(float64) == 3 {
			return len(stopped)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d server parties not back in the pool: %d %v", len(stopped), code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// flagEach gives flag once for each file of files, in the order of their
// keys.
func flagEach(flag string, files map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(files)) {
		out = append(out, flag, files[k])
	}
	return out
}

package party_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// The attacks of this file are a relay (or a coordinator) between the
// parties of one process: it hands each party the roster it likes and may
// rewrite envelopes in transit, but holds no party's identity key and no
// deployment root. Every attack must end the session before any tss-lib
// round runs (nothing of round 1 or later is ever sent), with a typed error
// that names the substituted party.

var coManaged = []string{"browser-a", "server-a1", "server-a2"}

// coIdents: a client and two certified servers.
func coIdents(t *testing.T) *memnet.Identities {
	t.Helper()
	d, err := memnet.NewIdentities(coManaged, map[string]identity.Kind{"browser-a": identity.KindClient})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// relayKeys is a relay's own session keys, posing as some party.
type relayKeys struct {
	pub  seal.PublicKeys
	sign ed25519.PrivateKey
}

func newRelayKeys(t *testing.T) *relayKeys {
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &relayKeys{pub: seal.PublicKeys{X25519: x.PublicKey().Bytes(), Ed25519: pub}, sign: priv}
}

// resign makes env look sent by the relay's keys.
func (r *relayKeys) resign(env *seal.Envelope) {
	env.Signature = ed25519.Sign(r.sign, env.SignedBytes())
}

// run runs a session of spec in which party self gets the roster
// rosterFor(self, honest) and the memnet hook hook. It returns every
// party's error and whether any envelope of round 1 or later was sent.
func runAttacked(t *testing.T, d *memnet.Identities, spec memnet.Spec, rosterFor func(self string, honest map[string]*identity.Entry) map[string]*identity.Entry,
	hook memnet.Hook, shares map[string]*share.Record) (map[string]error, bool) {
	t.Helper()
	keys, honest, err := d.Roster(spec)
	if err != nil {
		t.Fatal(err)
	}
	net := memnet.NewNet(spec.Parties...)
	defer net.Close()
	var mu sync.Mutex
	protocolSent := false
	net.Hook = func(to string, env *seal.Envelope) []*seal.Envelope {
		mu.Lock()
		protocolSent = protocolSent || env.Round > 0
		mu.Unlock()
		if hook != nil {
			return hook(to, env)
		}
		return []*seal.Envelope{env}
	}
	pps, err := testkit.PreParamsSet(len(spec.Parties))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := map[string]error{}
	var wg sync.WaitGroup
	for i, id := range spec.Parties {
		s := party.Session{ID: spec.ID, Parties: spec.Parties, Self: id, SignersNeeded: spec.Threshold, Keys: keys[i], Roster: rosterFor(id, maps.Clone(honest)), Trust: d.Trust}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if spec.Kind == identity.SessionKeygen {
				_, err = party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: spec.WalletID, PreParams: pps[i], Identity: d.Keys[id]}, net.Transport(id))
			} else {
				s.SignersNeeded = 0
				_, err = party.Sign(ctx, party.SignRequest{Session: s, Share: shares[id], Digest: spec.Digest}, net.Transport(id))
			}
			if err != nil {
				// The coordinator fails the session for everyone soon
				// after; until then each party finds what it finds.
				time.AfterFunc(2*time.Second, cancel)
			}
			mu.Lock()
			errs[id] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return errs, protocolSent
}

// wantRefused checks that every party in who failed with code naming culprit.
func wantRefused(t *testing.T, errs map[string]error, who []string, code party.Code, culprit string) {
	t.Helper()
	for _, id := range who {
		e, ok := party.AsError(errs[id])
		if !ok || e.Code != code || !slices.Equal(e.Culprits, []string{culprit}) {
			t.Errorf("%s: got %v; want %s naming %s", id, errs[id], code, culprit)
		}
	}
}

// forgeEntry is an entry for id signed by a relay's own identity key, with
// the relay's session keys, and id's real certificate chain copied in.
func forgeEntry(t *testing.T, d *memnet.Identities, spec memnet.Spec, id string, rk *relayKeys, chain [][]byte) *identity.Entry {
	t.Helper()
	impostor, _ := identity.GenerateKey()
	s := &identity.Statement{SessionKind: spec.Kind, SessionID: spec.ID, PartyID: id, Kind: d.Kinds[id], WalletID: spec.WalletID,
		Threshold: spec.Threshold, Parties: slices.Sorted(slices.Values(spec.Parties)), Digest: spec.Digest, Expires: time.Now().Add(time.Minute)}
	copy(s.X25519[:], rk.pub.X25519)
	copy(s.Ed25519[:], rk.pub.Ed25519)
	e, err := identity.SignStatement(impostor, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Chain = chain
	return e
}

func TestAttackRosterSubstitution(t *testing.T) {
	kg := memnet.Spec{Kind: identity.SessionKeygen, ID: "kg-attack", WalletID: "w-attack", Threshold: 2, Parties: coManaged}

	// The relay shows the browser its own keys as server-a1's (the attack
	// that let it open every point-to-point envelope): the browser refuses
	// the entry (certificate for another key) before it sends anything.
	t.Run("keygen/server in the client's view", func(t *testing.T) {
		d := coIdents(t)
		rk := newRelayKeys(t)
		errs, sent := runAttacked(t, d, kg, func(self string, r map[string]*identity.Entry) map[string]*identity.Entry {
			if self == "browser-a" {
				r["server-a1"] = forgeEntry(t, d, kg, "server-a1", rk, r["server-a1"].Chain)
			}
			return r
		}, nil, nil)
		wantRefused(t, errs, []string{"browser-a"}, party.CodeIdentity, "server-a1")
		if sent {
			t.Error("a protocol round was sent")
		}
	})

	// The relay shows server-a1 its own keys as the browser's and rewrites
	// the browser's envelopes to server-a1 to match (a client's identity is
	// its own at keygen, so server-a1 cannot tell alone). Round 0 shows
	// the difference to everyone: all three refuse, naming the browser,
	// before tss-lib starts anywhere.
	t.Run("keygen/client in one server's view", func(t *testing.T) {
		d := coIdents(t)
		rk := newRelayKeys(t)
		forged := forgeEntry(t, d, kg, "browser-a", rk, nil)
		errs, sent := runAttacked(t, d, kg, func(self string, r map[string]*identity.Entry) map[string]*identity.Entry {
			if self == "server-a1" {
				r["browser-a"] = forged
			}
			return r
		}, func(to string, env *seal.Envelope) []*seal.Envelope {
			if env.From == "browser-a" && to == "server-a1" {
				if env.Round == 0 {
					// The browser's list, made to agree with server-a1's view.
					d := forged.Digest()
					copy(env.Payload[len("tsskit/v1 roster\x00")+1+32*rosterIndex(coManaged, "browser-a"):], d[:])
				}
				rk.resign(env)
			}
			return []*seal.Envelope{env}
		}, nil)
		// Each party names the browser, and the party whose list differs
		// from its own (it cannot tell a relay's substitution from that
		// party's lie).
		for _, id := range coManaged {
			e, ok := party.AsError(errs[id])
			if !ok || e.Code != party.CodeIdentity || !slices.Contains(e.Culprits, "browser-a") || len(e.Culprits) > 2 {
				t.Errorf("%s: got %v; want identity naming browser-a", id, errs[id])
			}
		}
		if sent {
			t.Error("a protocol round was sent")
		}
	})

	// A certified server shown a roster in which another server has no
	// certificate (an uncertified party the pool should not have taken).
	t.Run("keygen/uncertified server", func(t *testing.T) {
		d := coIdents(t)
		delete(d.Chains, "server-a2")
		errs, sent := runAttacked(t, d, kg, func(_ string, r map[string]*identity.Entry) map[string]*identity.Entry { return r }, nil, nil)
		wantRefused(t, errs, []string{"browser-a", "server-a1"}, party.CodeIdentity, "server-a2")
		if sent {
			t.Error("a protocol round was sent")
		}
	})

	// A coordinator tells one server another threshold: the statements
	// disagree, every party refuses naming the odd one.
	t.Run("keygen/threshold changed for one party", func(t *testing.T) {
		d := coIdents(t)
		odd := kg
		odd.Threshold = 3
		errs, sent := runAttacked(t, d, kg, func(self string, r map[string]*identity.Entry) map[string]*identity.Entry {
			e, err := d.Entry(odd, "server-a2", seal.PublicKeys{X25519: statementOf(t, r["server-a2"]).X25519[:], Ed25519: statementOf(t, r["server-a2"]).Ed25519[:]})
			if err != nil {
				t.Fatal(err)
			}
			r["server-a2"] = e
			return r
		}, nil, nil)
		wantRefused(t, errs, []string{"browser-a", "server-a1"}, party.CodeMismatch, "server-a2")
		if sent {
			t.Error("a protocol round was sent")
		}
	})
}

func statementOf(t *testing.T, e *identity.Entry) *identity.Statement {
	t.Helper()
	s, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rosterIndex(ids []string, id string) int {
	r, _ := roster.New(ids)
	return r.Index(id)
}

// coWallet is a co-managed 2-of-3 wallet (client browser-a, servers
// server-a1 and server-a2) and its identities.
func coWallet(t *testing.T) (*memnet.Identities, map[string]*share.Record) {
	t.Helper()
	d := coIdents(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	outs, err := testkit.RunKeygen(ctx, d, "kg-co", "w-co", coManaged, 2, nil)
	if err == nil {
		err = memnet.Err(outs)
	}
	if err != nil {
		t.Fatal(err)
	}
	shares := map[string]*share.Record{}
	for _, o := range outs {
		shares[o.ID] = o.Result.Share
		if !o.Result.Share.Policy.ClientRequired || o.Result.Share.Own().Identity != d.Keys[o.ID].Public() {
			t.Fatalf("%s: record policy %+v, holder %+v", o.ID, o.Result.Share.Policy, o.Result.Share.Own())
		}
	}
	if len(shares["browser-a"].IdentitySeed) != 32 || shares["server-a1"].IdentitySeed != nil {
		t.Fatal("the client's record must carry its identity key, a server's none")
	}
	return d, shares
}

func TestAttackSignPolicy(t *testing.T) {
	d, shares := coWallet(t)
	digest := digestOf("pay")
	sign := func(id string, parties ...string) memnet.Spec {
		return memnet.Spec{Kind: identity.SessionSign, ID: id, WalletID: "w-co", Threshold: 2, Parties: parties, Digest: digest}
	}
	honest := func(_ string, r map[string]*identity.Entry) map[string]*identity.Entry { return r }

	t.Run("client and server sign", func(t *testing.T) {
		errs, _ := runAttacked(t, d, sign("s-ok", "browser-a", "server-a1"), honest, nil, shares)
		for id, err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
	})

	// The coordinator's row flipped: it starts a signing with the two
	// servers alone. Each server's own record requires a client.
	t.Run("servers without the client", func(t *testing.T) {
		errs, sent := runAttacked(t, d, sign("s-noclient", "server-a1", "server-a2"), honest, nil, shares)
		for _, id := range []string{"server-a1", "server-a2"} {
			if !errors.Is(errs[id], party.ErrPolicy) {
				t.Errorf("%s: got %v, want a policy refusal", id, errs[id])
			}
		}
		if sent {
			t.Error("a protocol round was sent")
		}
	})

	// A relay with its own client identity poses as the browser.
	t.Run("substituted client", func(t *testing.T) {
		spec := sign("s-sub", "browser-a", "server-a1")
		rk := newRelayKeys(t)
		errs, sent := runAttacked(t, d, spec, func(self string, r map[string]*identity.Entry) map[string]*identity.Entry {
			if self == "server-a1" {
				r["browser-a"] = forgeEntry(t, d, spec, "browser-a", rk, nil)
			}
			return r
		}, nil, shares)
		wantRefused(t, errs, []string{"server-a1"}, party.CodeIdentity, "browser-a")
		if sent {
			t.Error("a protocol round was sent")
		}
	})

	// The client's sign request replayed into a new session (or made for
	// another digest): the server refuses it, naming the client.
	t.Run("replayed sign request", func(t *testing.T) {
		first := sign("s-first", "browser-a", "server-a1")
		_, old, err := d.Roster(first)
		if err != nil {
			t.Fatal(err)
		}
		errs, sent := runAttacked(t, d, sign("s-second", "browser-a", "server-a1"), func(self string, r map[string]*identity.Entry) map[string]*identity.Entry {
			if self == "server-a1" {
				r["browser-a"] = old["browser-a"]
			}
			return r
		}, nil, shares)
		wantRefused(t, errs, []string{"server-a1"}, party.CodeMismatch, "browser-a")
		if sent {
			t.Error("a protocol round was sent")
		}
	})
}

// TestLegacyWalletSigns: a wallet made before identities existed, as its
// holders stored it (the committed version 1 records of
// party/share/testdata/v1wallet), still signs: its records name no
// identities, so only the servers' certificates are checked, and the
// signature verifies under the wallet's key (decred).
func TestLegacyWalletSigns(t *testing.T) {
	dir := "share/testdata/v1wallet"
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]*share.Record{}
	var ids []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r, err := share.Decode(b)
		if err != nil || !r.Legacy() {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		recs[r.PartyID] = r
		ids = append(ids, r.PartyID)
	}
	kinds := map[string]identity.Kind{}
	for _, id := range ids {
		if strings.HasPrefix(id, "browser-") {
			kinds[id] = identity.KindClient
		}
	}
	d, err := memnet.NewIdentities(ids, kinds)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	for _, signers := range [][]string{ids[:2], ids[1:]} {
		digest := digestOf("legacy " + strings.Join(signers, ","))
		spec := memnet.Spec{Kind: identity.SessionSign, ID: "s-legacy-" + signers[0], WalletID: recs[signers[0]].WalletID, Threshold: 2, Parties: signers, Digest: digest}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		outs, err := memnet.RunSession(ctx, nil, d, spec, func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			return party.Sign(ctx, party.SignRequest{Session: s, Share: recs[signers[i]], Digest: digest}, tr)
		})
		cancel()
		if err == nil {
			err = memnet.Err(outs)
		}
		if err != nil {
			t.Fatalf("%v: %v", signers, err)
		}
		verifyIndependently(t, outs[0].Result, digest, recs[signers[0]].PublicKey)
	}
}

package party_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

var ids3 = []string{"browser-7f3a", "server-1", "server-2"}

var (
	identsOnce sync.Once
	identsAll  *memnet.Identities
)

// idents are the identities of every party these tests use: a test
// deployment root, every party certified as a server, so that any subset
// of a wallet's holders may sign (the client policy has its own tests).
func idents(t testing.TB) *memnet.Identities {
	t.Helper()
	identsOnce.Do(func() {
		var err error
		identsAll, err = memnet.NewIdentities(append(slices.Clone(ids3), "p1", "p2", "p3", "p4", "p5"), nil)
		if err != nil {
			panic(err)
		}
	})
	return identsAll
}

// signSession is party self's Session of a signing of digest by shares,
// with every signer's roster entry made by idents.
func signSession(t testing.TB, id string, shares []*share.Record, digest []byte, self int) (party.Session, []*seal.Keys) {
	t.Helper()
	var ids []string
	for _, r := range shares {
		ids = append(ids, r.PartyID)
	}
	keys, roster, err := idents(t).Roster(memnet.Spec{Kind: identity.SessionSign, ID: id, WalletID: shares[0].WalletID, Threshold: shares[0].Threshold, Parties: ids, Digest: digest})
	if err != nil {
		t.Fatal(err)
	}
	return party.Session{ID: id, Parties: ids, Self: ids[self], Keys: keys[self], Roster: roster, Trust: idents(t).Trust}, keys
}

var (
	wallet3Once sync.Once
	wallet3     []*share.Record
	wallet3Err  error
)

// wallet2of3 runs one real 2-of-3 keygen per test binary and shares it.
func wallet2of3(t *testing.T) []*share.Record {
	t.Helper()
	wallet3Once.Do(func() {
		wallet3, wallet3Err = keygenAll(t, "kg-2of3", ids3, 2, nil)
	})
	if wallet3Err != nil {
		t.Fatal(wallet3Err)
	}
	return wallet3
}

// keygenAll runs keygen and checks what every run must satisfy: no errors,
// one public key and address everywhere, address derived independently.
func keygenAll(t *testing.T, session string, ids []string, signers int, net *memnet.Net) ([]*share.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	outs, err := testkit.RunKeygen(ctx, idents(t), session, "wallet-"+session, ids, signers, net)
	if err != nil {
		return nil, err
	}
	var shares []*share.Record
	for _, o := range outs {
		if o.Err != nil {
			return nil, fmt.Errorf("%s: %w", o.ID, o.Err)
		}
		r := o.Result
		if !bytes.Equal(r.PublicKey, outs[0].Result.PublicKey) {
			return nil, fmt.Errorf("%s has public key %x, %s has %x", o.ID, r.PublicKey, outs[0].ID, outs[0].Result.PublicKey)
		}
		if want := ethAddress(t, r.PublicKey); r.Address != want {
			return nil, fmt.Errorf("%s: address %s, want %s", o.ID, r.Address, want)
		}
		if r.Share.PartyID != o.ID || r.Share.Threshold != signers || len(r.Share.Parties) != len(ids) {
			return nil, fmt.Errorf("%s: share record has the wrong identity or policy", o.ID)
		}
		shares = append(shares, r.Share)
	}
	return shares, nil
}

// ethAddress derives the Ethereum address with decred + x/crypto, not tsskit.
func ethAddress(t *testing.T, compressed []byte) string {
	pub, err := secp256k1.ParsePubKey(compressed)
	if err != nil {
		t.Fatal(err)
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:])
	return fmt.Sprintf("0x%x", h.Sum(nil)[12:])
}

// verifyIndependently checks a signature with decred's secp256k1, not tss-lib:
// (r,s) verifies, DER parses to the same values, and (r,s,v) recovers the key.
func verifyIndependently(t *testing.T, sig *party.Signature, digest, compressed []byte) {
	t.Helper()
	pub, err := secp256k1.ParsePubKey(compressed)
	if err != nil {
		t.Fatal(err)
	}
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(sig.R)
	s.SetByteSlice(sig.S)
	if !ecdsa.NewSignature(&r, &s).Verify(digest, pub) {
		t.Fatal("signature does not verify")
	}
	if s.IsOverHalfOrder() {
		t.Fatal("s is not low")
	}
	der, err := ecdsa.ParseDERSignature(sig.DER)
	if err != nil || !der.Verify(digest, pub) {
		t.Fatalf("DER signature: %v", err)
	}
	if !bytes.Equal(sig.Signature, append(append([]byte(nil), sig.R...), sig.S...)) {
		t.Fatal("signature is not r||s")
	}
	compact := append([]byte{27 + 4 + sig.V}, sig.Signature...)
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil || !rec.IsEqual(pub) {
		t.Fatalf("v=%d does not recover the key: %v", sig.V, err)
	}
}

func signAll(t *testing.T, session string, shares []*share.Record, digest []byte, net *memnet.Net) []memnet.Outcome[*party.Signature] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outs, err := testkit.RunSign(ctx, idents(t), session, shares, digest, net)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

func mustSignAll(t *testing.T, session string, shares []*share.Record, digest []byte, net *memnet.Net) {
	t.Helper()
	for _, o := range signAll(t, session, shares, digest, net) {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.ID, o.Err)
		}
		verifyIndependently(t, o.Result, digest, shares[0].PublicKey)
	}
}

func digestOf(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func TestKeygen2of3SignEverySubset(t *testing.T) {
	shares := wallet2of3(t)
	subsets := [][]int{{0, 1}, {0, 2}, {1, 2}, {0, 1, 2}}
	for _, sub := range subsets {
		var signers []*share.Record
		var names []string
		for _, i := range sub {
			signers = append(signers, shares[i])
			names = append(names, shares[i].PartyID)
		}
		t.Run(fmt.Sprint(names), func(t *testing.T) {
			mustSignAll(t, fmt.Sprint("sign-", sub), signers, digestOf(fmt.Sprint("tx ", sub)), nil)
		})
	}
}

func TestKeygen3of5Sign(t *testing.T) {
	if testing.Short() {
		t.Skip("5-party keygen in -short mode")
	}
	ids := []string{"p1", "p2", "p3", "p4", "p5"}
	shares, err := keygenAll(t, "kg-3of5", ids, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustSignAll(t, "sign-3of5-a", []*share.Record{shares[0], shares[2], shares[4]}, digestOf("a"), nil)
	mustSignAll(t, "sign-3of5-b", []*share.Record{shares[1], shares[2], shares[3], shares[4]}, digestOf("b"), nil)

	// Two signers are not enough for a 3-of-5 wallet.
	outs := signAll(t, "sign-3of5-few", shares[:2], digestOf("c"), nil)
	for _, o := range outs {
		if !errors.Is(o.Err, party.ErrInvalidParams) {
			t.Fatalf("%s: %v, want invalid params", o.ID, o.Err)
		}
	}
}

// Every envelope delivered twice and all mailboxes in random order: the
// engine drops the replays and tss-lib keeps early messages for later rounds.
func TestKeygenAndSignWithDuplicatesAndReordering(t *testing.T) {
	dupShuffled := func(ids []string) *memnet.Net {
		n := memnet.NewNet(ids...)
		n.Shuffle = true
		n.Hook = func(to string, env *seal.Envelope) []*seal.Envelope {
			cp := *env
			return []*seal.Envelope{env, &cp}
		}
		return n
	}
	net := dupShuffled(ids3)
	defer net.Close()
	shares, err := keygenAll(t, "kg-dup", ids3, 2, net)
	if err != nil {
		t.Fatal(err)
	}
	sn := dupShuffled(ids3[1:])
	defer sn.Close()
	mustSignAll(t, "sign-dup", shares[1:], digestOf("dup"), sn)
}

// expectFailure runs a signing over net and checks the victim fails with
// code, naming culprit, quickly (long before the deadline).
func expectFailure(t *testing.T, shares []*share.Record, net *memnet.Net, victim string, code *party.Error, culprit string) {
	t.Helper()
	start := time.Now()
	outs := signAll(t, "sign-fault", shares, digestOf("fault"), net)
	for _, o := range outs {
		if o.ID != victim {
			continue
		}
		e, ok := party.AsError(o.Err)
		if !ok || !errors.Is(o.Err, code) {
			t.Fatalf("%s: got %v, want %s", o.ID, o.Err, code.Code)
		}
		if !slices.Equal(e.Culprits, []string{culprit}) {
			t.Fatalf("%s: culprits %v, want [%s]", o.ID, e.Culprits, culprit)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("failure took %v: not fast", d)
		}
		return
	}
	t.Fatalf("no outcome for %s", victim)
}

func TestTamperedEnvelopeFailsFastNamingSender(t *testing.T) {
	shares := wallet2of3(t)[:2]
	from, to := shares[0].PartyID, shares[1].PartyID
	net := memnet.NewNet(from, to)
	defer net.Close()
	var once sync.Once
	net.Hook = func(dst string, env *seal.Envelope) []*seal.Envelope {
		if env.From == from && env.To == to { // a sealed point-to-point message
			once.Do(func() { env.Payload[len(env.Payload)/2] ^= 0x40 })
		}
		return []*seal.Envelope{env}
	}
	expectFailure(t, shares, net, to, party.ErrSeal, from)
}

func TestForgedEnvelopeFailsFastNamingSender(t *testing.T) {
	shares := wallet2of3(t)[:2]
	claimed, victim := shares[0].PartyID, shares[1].PartyID
	net := memnet.NewNet(claimed, victim)
	defer net.Close()
	// A forger with its own session keys, signing as `claimed`.
	forger, err := seal.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake := map[string]seal.PublicKeys{claimed: forger.Public(), victim: forger.Public()}
	fake[victim] = seal.PublicKeys{X25519: make([]byte, 32), Ed25519: make([]byte, 32)}
	fake[victim].X25519[0] = 9 // any valid X25519 point: the base point
	ch, err := seal.NewChannel("sign-fault", claimed, forger, fake)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ch.Seal("", 1, []byte("forged round 1 broadcast"))
	if err != nil {
		t.Fatal(err)
	}
	net.Inject(victim, env)
	expectFailure(t, shares, net, victim, party.ErrSeal, claimed)
}

func TestMissingPartyEndsInDeadlineNamingIt(t *testing.T) {
	shares := wallet2of3(t)
	present, absent := shares[0], shares[2]
	s, _ := signSession(t, "sign-missing", []*share.Record{present, absent}, digestOf("m"), 0)
	net := memnet.NewNet(s.Parties...)
	defer net.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := party.Sign(ctx, party.SignRequest{Session: s, Share: present, Digest: digestOf("m")}, net.Transport(present.PartyID))
	e, ok := party.AsError(err)
	if !ok || !errors.Is(err, party.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if !slices.Equal(e.Culprits, []string{absent.PartyID}) {
		t.Fatalf("culprits %v, want [%s]", e.Culprits, absent.PartyID)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("deadline not honoured")
	}
}

func TestCancel(t *testing.T) {
	shares := wallet2of3(t)
	s, _ := signSession(t, "sign-cancel", shares[:2], digestOf("c"), 0)
	net := memnet.NewNet(s.Parties...)
	defer net.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := party.Sign(ctx, party.SignRequest{Session: s, Share: shares[0], Digest: digestOf("c")}, net.Transport(s.Self))
	if !errors.Is(err, party.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want canceled", err)
	}
}

func TestProgress(t *testing.T) {
	shares := wallet2of3(t)[1:]
	var events []party.Progress // only party 0 reports; the engine calls it from one goroutine
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := memnet.Spec{Kind: identity.SessionSign, ID: "sign-progress", WalletID: shares[0].WalletID, Threshold: 2,
		Parties: []string{shares[0].PartyID, shares[1].PartyID}, Digest: digestOf("p")}
	outs, err := memnet.RunSession(ctx, nil, idents(t), spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			if i == 0 {
				s.Progress = func(p party.Progress) { events = append(events, p) }
			}
			return party.Sign(ctx, party.SignRequest{Session: s, Share: shares[i], Digest: digestOf("p")}, tr)
		})
	if err == nil {
		err = memnet.Err(outs)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 3 {
		t.Fatalf("only %d progress events", len(events))
	}
	for i, ev := range events {
		if ev.Phase != party.PhaseSign || ev.Rounds != 10 || (i > 0 && ev.Round < events[i-1].Round) {
			t.Fatalf("bad progress sequence: %+v", events)
		}
	}
	last := events[len(events)-1]
	if !last.Done || last.Round != last.Rounds || last.BytesSent == 0 || last.BytesReceived == 0 || last.MessagesRecv == 0 {
		t.Fatalf("last progress event %+v", last)
	}
}

func TestInvalidRequests(t *testing.T) {
	shares := wallet2of3(t)
	ids := []string{shares[0].PartyID, shares[1].PartyID}
	s, _ := signSession(t, "sign-bad", shares[:2], digestOf("x"), 0)
	base := party.SignRequest{Session: s, Share: shares[0], Digest: digestOf("x")}
	pp, err := testkit.PreParams(0)
	if err != nil {
		t.Fatal(err)
	}
	kgBase := party.KeygenRequest{Session: base.Session, WalletID: "w", PreParams: pp, Identity: idents(t).Keys[ids[0]]}
	kgBase.SignersNeeded = 2
	cases := map[string]func() error{
		"short digest": func() error {
			r := base
			r.Digest = r.Digest[:31]
			_, err := party.Sign(context.Background(), r, nil)
			return err
		},
		"no share": func() error { r := base; r.Share = nil; _, err := party.Sign(context.Background(), r, nil); return err },
		"someone else's share": func() error {
			r := base
			r.Share = shares[1]
			_, err := party.Sign(context.Background(), r, nil)
			return err
		},
		"signer without share": func() error {
			r := base
			r.Parties = []string{ids[0], "stranger"}
			_, err := party.Sign(context.Background(), r, nil)
			return err
		},
		"self not in session": func() error {
			r := base
			r.Self = "nobody"
			_, err := party.Sign(context.Background(), r, nil)
			return err
		},
		"missing keys": func() error { r := base; r.Keys = nil; _, err := party.Sign(context.Background(), r, nil); return err },
		"duplicate party": func() error {
			r := base
			r.Parties = []string{ids[0], ids[0]}
			_, err := party.Sign(context.Background(), r, nil)
			return err
		},
		"threshold too high": func() error {
			r := kgBase
			r.SignersNeeded = 3
			_, err := party.Keygen(context.Background(), r, nil)
			return err
		},
		"threshold too low": func() error {
			r := kgBase
			r.SignersNeeded = 1
			_, err := party.Keygen(context.Background(), r, nil)
			return err
		},
		"no pre-params": func() error {
			r := kgBase
			r.PreParams = nil
			_, err := party.Keygen(context.Background(), r, nil)
			return err
		},
		"no wallet id": func() error {
			r := kgBase
			r.WalletID = ""
			_, err := party.Keygen(context.Background(), r, nil)
			return err
		},
		"too many parties": func() error {
			r := kgBase
			r.Parties = nil
			for i := 0; i < 17; i++ {
				r.Parties = append(r.Parties, fmt.Sprint("p", i))
			}
			_, err := party.Keygen(context.Background(), r, nil)
			return err
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if err := f(); !errors.Is(err, party.ErrInvalidParams) {
				t.Fatalf("got %v, want invalid params", err)
			}
		})
	}
}

// A router that silently drops one party's messages: the session ends at
// its deadline, and the error names the party whose messages never came.
func TestDroppedMessagesEndInDeadlineNamingSender(t *testing.T) {
	shares := wallet2of3(t)[:2]
	mute, victim := shares[0].PartyID, shares[1].PartyID
	net := memnet.NewNet(mute, victim)
	defer net.Close()
	net.Hook = func(to string, env *seal.Envelope) []*seal.Envelope {
		if env.From == mute && env.Round >= 2 {
			return nil
		}
		return []*seal.Envelope{env}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	outs, err := testkit.RunSign(ctx, idents(t), "sign-drop", shares, digestOf("d"), net)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.ID != victim {
			continue
		}
		e, ok := party.AsError(o.Err)
		if !ok || !errors.Is(o.Err, party.ErrTimeout) {
			t.Fatalf("got %v, want a timeout", o.Err)
		}
		if !slices.Equal(e.Culprits, []string{mute}) || e.Round < 2 {
			t.Fatalf("culprits %v round %d, want [%s] in round ≥ 2", e.Culprits, e.Round, mute)
		}
	}
}

// A party whose round-1 data breaks tss-lib's rules (here h1 = h2, which
// would void its range proofs): the honest parties fail with a protocol
// error in which tss-lib names it.
func TestProtocolErrorNamesCulprit(t *testing.T) {
	bad := ids3[0]
	pps, err := testkit.PreParamsSet(len(ids3))
	if err != nil {
		t.Fatal(err)
	}
	pps[0].H2i = pps[0].H1i
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := memnet.Spec{Kind: identity.SessionKeygen, ID: "kg-culprit", WalletID: "w", Threshold: 2, Parties: ids3}
	outs, err := memnet.RunSession(ctx, nil, idents(t), spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.KeygenResult, error) {
			return party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: "w", PreParams: pps[i], Identity: idents(t).Keys[ids3[i]]}, tr)
		})
	if err != nil {
		t.Fatal(err)
	}
	blamed := 0
	for _, o := range outs {
		e, ok := party.AsError(o.Err)
		if !ok {
			t.Fatalf("%s: got %v, want a typed error", o.ID, o.Err)
		}
		if e.Code == party.CodeProtocol {
			if !slices.Equal(e.Culprits, []string{bad}) {
				t.Fatalf("%s: culprits %v, want [%s]", o.ID, e.Culprits, bad)
			}
			blamed++
		}
	}
	if blamed == 0 {
		t.Fatalf("no party blamed %s: %v", bad, memnet.Err(outs))
	}
}

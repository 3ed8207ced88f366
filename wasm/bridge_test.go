package main

import (
	"crypto/sha256"
	"errors"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// bus wires Runs together the way the SDK and the router do: each Run's
// outgoing protobuf envelopes are delivered to their recipients.
type bus struct {
	mu   sync.Mutex
	runs map[string]*Run
	sent int
}

func (b *bus) out(from string) func([]byte) {
	return func(data []byte) {
		env, err := seal.UnmarshalProto(data)
		if err != nil {
			panic(err)
		}
		b.mu.Lock()
		b.sent++
		var to []*Run
		for id, r := range b.runs {
			if id != from && (env.To == "" || env.To == id) {
				to = append(to, r)
			}
		}
		b.mu.Unlock()
		for _, r := range to {
			if err := r.Deliver(data); err != nil {
				panic(err)
			}
		}
	}
}

// TestBridgeKeygenSign runs a 2-of-3 keygen and a 2-party signing through
// the bridge the JS boundary uses (protobuf envelopes in and out, share
// records as bytes), with fixture pre-parameters, and verifies the
// signature with decred's ECDSA. Under GOOS=js it runs in the browser.
func TestBridgeKeygenSign(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("under GOOS=js, TestJSKeygenSign runs this keygen through the JS API")
	}
	ids := []string{"browser-1", "server-1", "server-2"}
	td := newDeployment(t, ids)
	const walletID = "0b7f1e52-8f0c-4c3c-9a56-2f1f0d7c8e11"
	// The client sets a recovery kit and backend approvals: every record
	// keeps the policy, and the kit's code comes back once.
	keyIDs, roster := td.seats(t, JoinParams{SessionID: "bridge-keygen", WalletID: walletID, SignersNeeded: 2, Parties: ids,
		Recovery: KeygenRecovery{Kit: true, Backend: true}}, nil)
	code := td.codes[walletID]
	if _, err := recovery.ParseCode(code); err != nil {
		t.Fatalf("the keygen's recovery code: %v", err)
	}
	b := &bus{runs: map[string]*Run{}}
	type out struct {
		o   *KeygenOutput
		err error
	}
	results := make(chan out, len(ids))
	var rounds sync.Map
	b.mu.Lock()
	for i, id := range ids {
		pp, err := testkit.PreParams(i)
		if err != nil {
			t.Fatal(err)
		}
		ppb, _ := preparams.Marshal(pp)
		r, err := StartKeygen(KeygenParams{
			SessionParams: SessionParams{KeysID: keyIDs[id], Roster: roster, Trust: td.trust}, PreParams: ppb,
		}, b.out(id), func(p party.Progress) { rounds.Store(id, p.Round) }, func(o *KeygenOutput, err error) { results <- out{o, err} })
		if err != nil {
			t.Fatal(err)
		}
		b.runs[id] = r
	}
	b.mu.Unlock()
	shares := map[string][]byte{}
	var pub []byte
	for range ids {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatal(r.err)
			}
			info, err := InspectShare(r.o.Share)
			if err != nil {
				t.Fatal(err)
			}
			shares[info.PartyID] = r.o.Share
			if pub == nil {
				pub = r.o.PublicKey
			} else if string(pub) != string(r.o.PublicKey) {
				t.Fatal("parties disagree on the public key")
			}
			if info.Address != r.o.Address || len(r.o.Address) != 42 {
				t.Fatalf("address %q vs %q", info.Address, r.o.Address)
			}
		case <-time.After(10 * time.Minute):
			t.Fatal("keygen did not finish")
		}
	}
	if r, _ := rounds.Load("browser-1"); r.(int) != 4 {
		t.Fatalf("browser progress ended at round %v", r)
	}

	// Sign with the browser and server-2.
	if info, _ := InspectShare(shares["browser-1"]); !info.ClientRequired || info.IdentityKey == "" || len(info.Holders) != 3 {
		t.Fatalf("the browser's share: %+v", info)
	}
	signers := []string{"browser-1", "server-2"}
	digest := sha256.Sum256([]byte("bridge"))
	skIDs, sroster := td.seats(t, JoinParams{SessionID: "bridge-sign", Parties: signers, Digest: digest[:]}, shares)
	sb := &bus{runs: map[string]*Run{}}
	type sres struct {
		s   *party.Signature
		err error
	}
	sigs := make(chan sres, 2)
	sb.mu.Lock()
	for _, id := range signers {
		r, err := StartSign(SignParams{
			SessionParams: SessionParams{KeysID: skIDs[id], Roster: sroster, Trust: td.trust},
		}, sb.out(id), nil, func(s *party.Signature, err error) { sigs <- sres{s, err} })
		if err != nil {
			t.Fatal(err)
		}
		sb.runs[id] = r
	}
	sb.mu.Unlock()
	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for range signers {
		r := <-sigs
		if r.err != nil {
			t.Fatal(r.err)
		}
		parsed, err := ecdsa.ParseDERSignature(r.s.DER)
		if err != nil || !parsed.Verify(digest[:], pk) {
			t.Fatalf("signature does not verify: %v", err)
		}
	}

	for id, b := range shares {
		rec, _ := share.Decode(b)
		kit, _ := recovery.KitKey(code, walletID)
		if !rec.Policy.Recovery.Backend || !rec.Policy.Recovery.Kit.Equal(kit.Public()) {
			t.Fatalf("%s's record: recovery policy %+v; want the code's kit and backend approvals", id, rec.Policy.Recovery)
		}
	}

	var fresh map[string][]byte
	t.Run("refresh", func(t *testing.T) { fresh = bridgeRefresh(t, td, ids, shares, pk) })
	if fresh != nil {
		t.Run("settle", func(t *testing.T) { bridgeSettle(t, td, shares, fresh, "bridge-refresh") })
		t.Run("recover", func(t *testing.T) { bridgeRecover(t, td, code, fresh, pk) })
	}
}

// bridgeRefresh refreshes the wallet of shares (epoch 0) through the
// bridge: the browser's seat from PrepareReshare (the coordinator's offer
// checked), every run a new member with its own pre-parameters, each
// result a share of epoch 1 and a stored acknowledgement that
// VerifyStoredAcks takes (and refuses when one is missing or forged);
// then the new shares sign and the signature verifies under the wallet key.
func bridgeRefresh(t *testing.T, td *deployment, ids []string, shares map[string][]byte, pk *secp256k1.PublicKey) map[string][]byte {
	rec, err := share.Decode(shares["browser-1"])
	if err != nil {
		t.Fatal(err)
	}
	spec := &identity.Reshare{Epoch: 1, OldThreshold: 2, Old: slices.Sorted(slices.Values(ids)), New: slices.Sorted(slices.Values(ids)),
		PublicKey: rec.PublicKey, ChainCode: rec.ChainCode, ClientRequired: rec.Policy.ClientRequired, Recovery: rec.Policy.Recovery}
	const sid = "bridge-refresh"
	// An offer that is not what the client asked for is refused before
	// any seat exists.
	bad := *spec
	bad.Epoch = 2
	if _, err := PrepareReshare(ReshareJoinParams{SessionID: sid, Parties: ids, Share: shares["browser-1"], Spec: &bad, SignersNeeded: 2}); toError(err).Code != "session_mismatch" {
		t.Fatalf("an offer of epoch 2: %v", err)
	}
	if _, err := PrepareReshare(ReshareJoinParams{SessionID: sid, Parties: ids, Share: shares["browser-1"], Spec: spec, SignersNeeded: 3, AskedSignersNeeded: 2}); toError(err).Code != "session_mismatch" {
		t.Fatalf("an offer of 3 signers for 2 asked: %v", err)
	}
	roster := map[string]*identity.Entry{}
	keyIDs := map[string]string{}
	for _, id := range ids {
		var j *Joined
		if id == "browser-1" {
			if j, err = PrepareReshare(ReshareJoinParams{SessionID: sid, Parties: ids, Share: shares[id], Spec: spec, SignersNeeded: 2}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { keys.release(j.KeysID) })
		} else {
			j = td.reshareSeat(t, sid, id, shares[id], spec, 2, ids)
		}
		keyIDs[id], roster[id] = j.KeysID, j.Entry
	}
	// A signing run cannot take a reshare seat.
	if _, err := StartSign(SignParams{SessionParams: SessionParams{KeysID: keyIDs["browser-1"], Roster: roster, Trust: td.trust}},
		func([]byte) {}, nil, func(*party.Signature, error) {}); toError(err).Code != "invalid_argument" {
		t.Fatalf("a reshare seat used to sign: %v", err)
	}
	b := &bus{runs: map[string]*Run{}}
	type out struct {
		id  string
		o   *ReshareOutput
		err error
	}
	results := make(chan out, len(ids))
	var phase sync.Map
	b.mu.Lock()
	for i, id := range ids {
		pp, err := testkit.PreParams((i + 3) % testkit.FixtureCount)
		if err != nil {
			t.Fatal(err)
		}
		ppb, _ := preparams.Marshal(pp)
		r, err := StartReshare(ReshareParams{SessionParams: SessionParams{KeysID: keyIDs[id], Roster: roster, Trust: td.trust}, PreParams: ppb},
			b.out(id), func(p party.Progress) { phase.Store(id, p.Phase) }, func(o *ReshareOutput, err error) { results <- out{id, o, err} })
		if err != nil {
			t.Fatal(err)
		}
		b.runs[id] = r
	}
	b.mu.Unlock()
	fresh := map[string][]byte{}
	acks := map[string][]byte{}
	for range ids {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("%s: %v", r.id, r.err)
			}
			info, err := InspectShare(r.o.Share)
			if err != nil {
				t.Fatal(err)
			}
			if info.Epoch != 1 || r.o.Epoch != 1 || info.PartyID != r.id || string(r.o.PublicKey) != string(rec.PublicKey) || r.o.Address != rec.Address() {
				t.Fatalf("%s: %+v", r.id, info)
			}
			fresh[r.id], acks[r.id] = r.o.Share, r.o.StoredAck
		case <-time.After(10 * time.Minute):
			t.Fatal("reshare did not finish")
		}
	}
	if p, _ := phase.Load("browser-1"); p != party.PhaseReshare {
		t.Fatalf("progress phase %v", p)
	}
	newRec, _ := share.Decode(fresh["browser-1"])
	if newRec.Own().Identity.IsZero() || !newRec.Own().Identity.Equal(rec.Own().Identity) {
		t.Fatal("the new share does not keep the device identity")
	}
	// The Completed event's acknowledgements, as the coordinator relays them.
	if err := VerifyStoredAcks(StoredAcksParams{SessionID: sid, Share: fresh["browser-1"], Epoch: 1, Acks: acks}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]StoredAcksParams{
		"one missing":     {SessionID: sid, Share: fresh["browser-1"], Epoch: 1, Acks: map[string][]byte{"browser-1": acks["browser-1"], "server-1": acks["server-1"]}},
		"another's":       {SessionID: sid, Share: fresh["browser-1"], Epoch: 1, Acks: map[string][]byte{"browser-1": acks["browser-1"], "server-1": acks["server-1"], "server-2": acks["server-1"]}},
		"another session": {SessionID: "other", Share: fresh["browser-1"], Epoch: 1, Acks: acks},
		"another epoch":   {SessionID: sid, Share: fresh["browser-1"], Epoch: 2, Acks: acks},
		"the old share's": {SessionID: sid, Share: shares["browser-1"], Epoch: 0, Acks: acks},
	} {
		err := VerifyStoredAcks(c)
		if e := toError(err); e.Code != "verify" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if e := toError(VerifyStoredAcks(StoredAcksParams{SessionID: sid, Share: fresh["browser-1"], Epoch: 1, Acks: map[string][]byte{"browser-1": acks["browser-1"]}})); !slices.Equal(slices.Sorted(slices.Values(e.Culprits)), []string{"server-1", "server-2"}) {
		t.Fatalf("culprits %v", e.Culprits)
	}

	// One acknowledged run per epoch: a later run of epoch 1 in which the
	// browser holds this run's share pending. Its join carries its stored
	// acknowledgement of this run, signed with the key the share records;
	// the run does not start without another holder's abandoned-run
	// statement for this run (party.CheckEarlierRun), is refused as
	// complete when the others present their acknowledgements, and
	// starts on a valid statement (up to its pre-parameters, here none).
	later := func() *Joined {
		j, err := PrepareReshare(ReshareJoinParams{SessionID: sid + "-2", Parties: ids, Share: shares["browser-1"], Spec: spec, SignersNeeded: 2,
			Earlier: Earlier{Pending: fresh["browser-1"], PendingSession: sid}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { keys.release(j.KeysID) })
		return j
	}
	lj := later()
	if !identity.VerifyStored(rec.Own().Identity, lj.Stored[sid], sid, rec.WalletID, "browser-1", 1, rec.PublicKey) || len(lj.Stored) != 1 {
		t.Fatalf("the later run's join: stored %x", lj.Stored)
	}
	laterStart := func(words map[string]party.RunWords) error {
		j := later()
		_, err := StartReshare(ReshareParams{SessionParams: SessionParams{KeysID: j.KeysID, Roster: roster, Trust: td.trust}, PreParams: []byte{1}, Words: words},
			func([]byte) {}, nil, func(*ReshareOutput, error) {})
		return err
	}
	if e := toError(laterStart(nil)); e.Code != "run_not_abandoned" {
		t.Fatalf("no word of the earlier run: %v", e)
	}
	complete := map[string]party.RunWords{"server-1": {Stored: map[string][]byte{sid: acks["server-1"]}}, "server-2": {Stored: map[string][]byte{sid: acks["server-2"]}}}
	if e := toError(laterStart(complete)); e.Code != "run_complete" {
		t.Fatalf("every holder acknowledged the earlier run: %v", e)
	}
	forged := map[string]party.RunWords{"server-1": {Abandoned: [][]byte{identity.SignAbandoned(td.key(t, "server-2"), sid, rec.WalletID, "server-1", 1)}}}
	if e := toError(laterStart(forged)); e.Code != "run_not_abandoned" {
		t.Fatalf("a statement under another holder's key: %v", e)
	}
	valid := map[string]party.RunWords{"server-1": {Abandoned: [][]byte{identity.SignAbandoned(td.key(t, "server-1"), sid, rec.WalletID, "server-1", 1)}}}
	if e := toError(laterStart(valid)); e.Code != "invalid_argument" || !strings.Contains(e.Message, "preParams") {
		t.Fatalf("a valid statement: %v; want the run to reach its pre-parameters", e)
	}

	// The new shares sign (browser and server-1 this time).
	signers := []string{"browser-1", "server-1"}
	digest := sha256.Sum256([]byte("after refresh"))
	skIDs, sroster := td.seats(t, JoinParams{SessionID: "bridge-sign-1", Parties: signers, Digest: digest[:]}, fresh)
	sb := &bus{runs: map[string]*Run{}}
	sigs := make(chan error, 2)
	sb.mu.Lock()
	for _, id := range signers {
		r, err := StartSign(SignParams{SessionParams: SessionParams{KeysID: skIDs[id], Roster: sroster, Trust: td.trust}}, sb.out(id), nil,
			func(s *party.Signature, err error) {
				if err == nil {
					if parsed, perr := ecdsa.ParseDERSignature(s.DER); perr != nil || !parsed.Verify(digest[:], pk) {
						err = errors.New("signature does not verify")
					}
				}
				sigs <- err
			})
		if err != nil {
			t.Fatal(err)
		}
		sb.runs[id] = r
	}
	sb.mu.Unlock()
	for range signers {
		if err := <-sigs; err != nil {
			t.Fatal(err)
		}
	}
	return fresh
}

func TestBridgeRejects(t *testing.T) {
	ids := []string{"browser-a", "server-b"}
	td := newDeployment(t, ids)
	const walletID = "0b7f1e52-8f0c-4c3c-9a56-2f1f0d7c8e11"
	keyIDs, roster := td.seats(t, JoinParams{SessionID: "s", WalletID: walletID, SignersNeeded: 2, Parties: ids}, nil)
	nop := func([]byte) {}
	if _, err := StartKeygen(KeygenParams{SessionParams: SessionParams{KeysID: "nope", Roster: roster, Trust: td.trust}},
		nop, nil, func(*KeygenOutput, error) {}); toError(err).Code != "invalid_argument" {
		t.Fatalf("unknown keys: %v", err)
	}
	if _, err := StartKeygen(KeygenParams{SessionParams: SessionParams{KeysID: keyIDs["browser-a"], Roster: roster, Trust: td.trust}, PreParams: []byte("{}")},
		nop, nil, func(*KeygenOutput, error) {}); toError(err).Code != "invalid_argument" {
		t.Fatalf("bad pre-params: %v", err)
	}
	if _, err := StartKeygen(KeygenParams{SessionParams: SessionParams{KeysID: keyIDs["browser-a"], Roster: roster, Trust: TrustParams{Roots: []string{"zz"}}}},
		nop, nil, func(*KeygenOutput, error) {}); toError(err).Code != "invalid_argument" {
		t.Fatalf("bad trust root: %v", err)
	}
	if _, err := PrepareSign(JoinParams{SessionID: "s", Parties: ids, Digest: make([]byte, 32), Share: []byte("{")}); toError(err).Code != "share_invalid" {
		t.Fatalf("bad share: %v", err)
	}
	if _, err := StartSign(SignParams{SessionParams: SessionParams{KeysID: keyIDs["browser-a"], Roster: roster, Trust: td.trust}},
		nop, nil, func(*party.Signature, error) {}); toError(err).Code != "invalid_argument" {
		t.Fatalf("a keygen seat used to sign: %v", err)
	}
	pp, _ := testkit.PreParams(0)
	ppb, _ := preparams.Marshal(pp)
	// A roster whose server has no certificate fails through the callback,
	// naming it, before anything is sent.
	done := make(chan error, 1)
	uncert := map[string]*identity.Entry{"browser-a": roster["browser-a"], "server-b": {Statement: roster["server-b"].Statement, Signature: roster["server-b"].Signature}}
	sent := 0
	_, err := StartKeygen(KeygenParams{SessionParams: SessionParams{KeysID: keyIDs["browser-a"], Roster: uncert, Trust: td.trust}, PreParams: ppb},
		func([]byte) { sent++ }, nil, func(_ *KeygenOutput, err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	if e := toError(<-done); e.Code != "identity" || len(e.Culprits) != 1 || e.Culprits[0] != "server-b" || sent != 0 {
		t.Fatalf("uncertified server: %v (sent %d)", e, sent)
	}
	// Cancel ends a run with "canceled".
	keyIDs, roster = td.seats(t, JoinParams{SessionID: "s2", WalletID: walletID, SignersNeeded: 2, Parties: ids}, nil)
	r, err := StartKeygen(KeygenParams{SessionParams: SessionParams{KeysID: keyIDs["browser-a"], Roster: roster, Trust: td.trust}, PreParams: ppb},
		nop, nil, func(_ *KeygenOutput, err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	r.Cancel()
	if e := toError(<-done); e.Code != "canceled" {
		t.Fatalf("cancel: %v", e)
	}
	if err := r.Deliver([]byte{0xff}); toError(err).Code != "seal_malformed" {
		t.Fatalf("malformed envelope: %v", err)
	}
	if _, err := AssemblePreParams([][]byte{{7}}); toError(err).Code != "invalid_preparams" {
		t.Fatalf("assemble: %v", err)
	}
	if err := ValidatePreParams([]byte("not json")); toError(err).Code != "invalid_argument" {
		t.Fatalf("validate: %v", err)
	}
	if e := toError(errors.New("boom")); e.Code != "internal" {
		t.Fatalf("plain error: %v", e)
	}
}

// TestSafePrimeSeeded: a seeded benchmark search does the same work for
// the same seed, every time: the same candidates and tests, and for the
// naive search the same prime (at 256 bits here, to be quick).
func TestSafePrimeSeeded(t *testing.T) {
	if testing.Short() && runtime.GOOS == "js" {
		t.Skip("seconds in wasm; the benchmarks run it")
	}
	first, err := SafePrimeSeeded(t.Context(), 3, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := SafePrimeSeeded(t.Context(), 3, false, nil)
	if err != nil || again != first || first.Tested == 0 || first.Candidates < first.Tested {
		t.Fatalf("seed 3 twice: %+v then %+v (%v)", first, again, err)
	}
	if other, err := SafePrimeSeeded(t.Context(), 4, false, nil); err != nil || other == first {
		t.Fatalf("seed 4: %+v, the same work as seed 3's (%v)", other, err)
	}
	var c1, c2 SearchCount
	p1, err := safePrimeNaive(t.Context(), 256, benchStream(1), nil, &c1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := safePrimeNaive(t.Context(), 256, benchStream(1), nil, &c2)
	if err != nil || p1.Cmp(p2) != 0 || c1 != c2 || c1.Tested == 0 {
		t.Fatalf("naive, seed 1 twice: %v %+v, %v %+v (%v)", p1, c1, p2, c2, err)
	}
	q := new(big.Int).Rsh(p1, 1)
	if p1.BitLen() != 256 || !p1.ProbablyPrime(20) || !q.ProbablyPrime(20) {
		t.Fatal("the naive search's result is not a 256-bit safe prime")
	}
	for _, bad := range []int{-1, 1 << 16} {
		if _, err := SafePrimeSeeded(t.Context(), bad, false, nil); toError(err).Code != "invalid_argument" {
			t.Fatalf("seed %d: %v", bad, err)
		}
	}
}

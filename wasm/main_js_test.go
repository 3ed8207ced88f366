//go:build js

package main

import (
	"crypto/sha256"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

var tk = api()

// await settles a Promise from Go: blocking here hands the event loop back
// to JS, which runs the Promise's callbacks.
func await(t *testing.T, p js.Value) (js.Value, js.Value) {
	t.Helper()
	type settled struct{ v, err js.Value }
	ch := make(chan settled, 1)
	var ok, fail js.Func
	ok = js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- settled{a[0], js.Undefined()}; return nil })
	fail = js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- settled{js.Undefined(), a[0]}; return nil })
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	select {
	case s := <-ch:
		return s.v, s.err
	case <-time.After(10 * time.Minute):
		t.Fatal("promise never settled")
	}
	return js.Undefined(), js.Undefined()
}

func obj(kv ...any) js.Value {
	o := js.Global().Get("Object").New()
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func goBytes(v js.Value) []byte {
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b
}

func wantErrCode(t *testing.T, v js.Value, code string) {
	t.Helper()
	e := v
	if v.Type() == js.TypeObject && !v.InstanceOf(js.Global().Get("Error")) {
		e = v.Get("error")
	}
	if e.Type() != js.TypeObject || e.Get("name").String() != "TsskitError" || e.Get("code").String() != code {
		t.Fatalf("got %v, want TsskitError %s", js.Global().Get("JSON").Call("stringify", obj("v", v)), code)
	}
}

// offer1Spec is the coordinator's offer of a refresh of rec's wallet to
// epoch 1, as prepareReshare takes it.
func offer1Spec(rec *share.Record, ids []string) js.Value {
	return obj("epoch", 1, "oldThreshold", 2, "oldParties", strArray(ids...), "newParties", strArray(ids...),
		"publicKey", bytesToJS(rec.PublicKey), "chainCode", bytesToJS(rec.ChainCode), "clientRequired", rec.Policy.ClientRequired)
}

func strArray(s ...string) js.Value {
	a := js.Global().Get("Array").New()
	for _, x := range s {
		a.Call("push", x)
	}
	return a
}

func TestJSVersionAndKeys(t *testing.T) {
	v := tk.Call("version")
	if v.Get("tssLib").Type() != js.TypeString || v.Get("go").String() == "" {
		t.Fatal("version")
	}
	k := tk.Call("prepareKeygen", obj("sessionId", "s", "self", "browser-1", "walletId", "w", "signersNeeded", 2, "parties", strArray("browser-1", "server-1")))
	j := k.Get("join")
	if k.Get("keysId").Type() != js.TypeString || j.Get("x25519").Length() != 32 || j.Get("ed25519").Length() != 32 ||
		j.Get("statement").Length() < 100 || j.Get("signature").Length() != 64 || len(k.Get("identityKey").String()) != 64 {
		t.Fatal("prepareKeygen")
	}
	if !j.Get("x25519").InstanceOf(js.Global().Get("Uint8Array")) {
		t.Fatal("keys are not Uint8Array")
	}
	// Nothing secret comes out: only an id and public fields.
	if got := js.Global().Get("Object").Call("keys", k).Call("join", ",").String(); got != "keysId,join,identityKey" {
		t.Fatalf("prepareKeygen returns %s", got)
	}
	tk.Call("releaseSessionKeys", k.Get("keysId"))
	wantErrCode(t, tk.Call("releaseSessionKeys", 7), "invalid_argument")
}

func TestJSRejectsBadInput(t *testing.T) {
	cb := obj("onEnvelope", js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	wantErrCode(t, tk.Call("keygen"), "invalid_argument")
	wantErrCode(t, tk.Call("keygen", obj("sessionId", 5), cb), "invalid_argument")
	wantErrCode(t, tk.Call("keygen", obj("keysId", "k", "roster", obj(), "trust", obj("roots", strArray()), "preParams", "not bytes"), cb), "invalid_argument")
	wantErrCode(t, tk.Call("keygen", obj("keysId", "k", "roster", obj(), "preParams", js.Global().Get("Uint8Array").New(2)), cb), "invalid_argument")
	wantErrCode(t, tk.Call("sign", obj(), obj()), "invalid_argument")
	wantErrCode(t, tk.Call("prepareKeygen", obj("sessionId", "s", "self", "x y", "walletId", "w", "signersNeeded", 2, "parties", strArray("x y", "b"))), "invalid_argument")
	wantErrCode(t, tk.Call("prepareSign", obj("sessionId", "s", "parties", strArray("a", "b"), "digest", js.Global().Get("Uint8Array").New(32), "share", js.Global().Get("Uint8Array").New(3))), "share_invalid")
	wantErrCode(t, tk.Call("inspectShare", js.Global().Get("Uint8Array").New(3)), "share_invalid")
	// Reshare: parameters are read strictly; a share is decoded first.
	spec := obj("epoch", 1, "oldThreshold", 2, "oldParties", strArray("a", "b"), "newParties", strArray("a", "b"),
		"publicKey", js.Global().Get("Uint8Array").New(33), "chainCode", js.Global().Get("Uint8Array").New(32), "clientRequired", true)
	wantErrCode(t, tk.Call("prepareReshare"), "invalid_argument")
	wantErrCode(t, tk.Call("prepareReshare", obj("sessionId", "s", "parties", strArray("a", "b"), "share", js.Global().Get("Uint8Array").New(3), "signersNeeded", 2)), "invalid_argument")
	wantErrCode(t, tk.Call("prepareReshare", obj("sessionId", "s", "parties", strArray("a", "b"), "share", js.Global().Get("Uint8Array").New(3), "signersNeeded", 2,
		"reshare", obj("epoch", "1"))), "invalid_argument")
	wantErrCode(t, tk.Call("prepareReshare", obj("sessionId", "s", "parties", strArray("a", "b"), "share", js.Global().Get("Uint8Array").New(3), "signersNeeded", 2,
		"reshare", spec, "asked", 3)), "invalid_argument")
	wantErrCode(t, tk.Call("prepareReshare", obj("sessionId", "s", "parties", strArray("a", "b"), "share", js.Global().Get("Uint8Array").New(3), "signersNeeded", 2,
		"reshare", spec)), "share_invalid")
	wantErrCode(t, tk.Call("reshare", obj(), cb), "invalid_argument")
	wantErrCode(t, tk.Call("reshare", obj("keysId", "nope", "roster", obj(), "trust", obj("roots", strArray()), "preParams", js.Global().Get("Uint8Array").New(2)), cb), "invalid_argument")
	wantErrCode(t, tk.Call("verifyStoredAcks", obj("sessionId", "s", "share", js.Global().Get("Uint8Array").New(3), "epoch", 1)), "invalid_argument")
	wantErrCode(t, tk.Call("verifyStoredAcks", obj("sessionId", "s", "share", js.Global().Get("Uint8Array").New(3), "epoch", 1, "acks", obj("a", "not bytes"))), "invalid_argument")
	wantErrCode(t, tk.Call("verifyStoredAcks", obj("sessionId", "s", "share", js.Global().Get("Uint8Array").New(3), "epoch", 1, "acks", obj())), "share_invalid")
	_, err := await(t, tk.Call("assemblePreParams", js.Global().Get("Array").New()))
	wantErrCode(t, err, "invalid_preparams")
	_, err = await(t, tk.Call("validatePreParams", js.Global().Get("Uint8Array").New(2)))
	wantErrCode(t, err, "invalid_argument")
	wantErrCode(t, tk.Call("safePrimeSeeded"), "invalid_argument")
	wantErrCode(t, tk.Call("safePrimeSeeded", obj("seed", "0")), "invalid_argument")
	_, err = await(t, tk.Call("safePrimeSeeded", obj("seed", -1)))
	wantErrCode(t, err, "invalid_argument")
	// An aborted signal cancels a safe-prime search.
	ac := js.Global().Get("AbortController").New()
	ac.Call("abort")
	_, err = await(t, tk.Call("safePrime", obj("signal", ac.Get("signal"))))
	wantErrCode(t, err, "canceled")
}

// TestJSSafePrime finds one 1024-bit safe prime in the browser: the search
// neither deadlocks nor starves the event loop.
func TestJSSafePrime(t *testing.T) {
	start := time.Now()
	v, err := await(t, tk.Call("safePrime"))
	if !err.IsUndefined() {
		t.Fatal(err)
	}
	b := goBytes(v)
	if len(b) != 128 || b[0]&0xc0 != 0xc0 {
		t.Fatalf("safe prime of %d bytes, top byte %x", len(b), b[0])
	}
	t.Logf("one safe prime in %v", time.Since(start))
}

// TestJSSafePrimeSeeded: the benchmarks' seeded search through the JS
// API does the work the Go search of the same seed does, every time.
func TestJSSafePrimeSeeded(t *testing.T) {
	want, err := SafePrimeSeeded(t.Context(), 2, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		v, jerr := await(t, tk.Call("safePrimeSeeded", obj("seed", 2)))
		if !jerr.IsUndefined() {
			t.Fatal(jerr)
		}
		if got := (SearchCount{Candidates: v.Get("candidates").Int(), Tested: v.Get("tested").Int()}); got != want {
			t.Fatalf("seed 2 through JS: %+v; the Go search: %+v", got, want)
		}
	}
}

// TestJSKeygenSign runs a 2-of-3 keygen and a signing through the JS API
// exactly as a worker does: envelopes leave through onEnvelope as
// Uint8Array and enter through deliver(); the signature is verified with
// decred's ECDSA.
func TestJSKeygenSign(t *testing.T) {
	// Three parties share this one wasm instance (a browser runs one), so
	// the keygen takes about three parties' time: on a slow, shared
	// machine more than the engine's 5 minutes.
	defer func(d time.Duration) { runTimeout = d }(runTimeout)
	runTimeout = 30 * time.Minute
	ids := []string{"browser-1", "server-1", "server-2"}
	td := newDeployment(t, ids)
	trust := obj("roots", strArray(td.trust.Roots...))
	const walletID = "0b7f1e52-8f0c-4c3c-9a56-2f1f0d7c8e11"
	runs := map[string]js.Value{}
	// The browser prepares its seat through the JS API; the servers' seats
	// are made with their certified identities. The roster carries every
	// signed join, as the coordinator's ready event does.
	roster := obj()
	keyIDs := map[string]js.Value{}
	addEntry := func(roster js.Value, id string, statement, signature []byte, certs [][]byte) {
		cs := js.Global().Get("Array").New()
		for _, c := range certs {
			cs.Call("push", bytesToJS(c))
		}
		roster.Set(id, obj("statement", bytesToJS(statement), "signature", bytesToJS(signature), "certificates", cs))
	}
	for _, id := range ids {
		if id == "browser-1" {
			k := tk.Call("prepareKeygen", obj("sessionId", "js-keygen", "self", id, "walletId", walletID, "signersNeeded", 2, "parties", strArray(ids...)))
			if !k.Get("error").IsUndefined() {
				t.Fatal(k.Get("error"))
			}
			keyIDs[id] = k.Get("keysId")
			j := k.Get("join")
			roster.Set(id, obj("statement", j.Get("statement"), "signature", j.Get("signature"), "certificates", j.Get("certificates")))
			continue
		}
		j := td.serverSeat(t, JoinParams{SessionID: "js-keygen", Self: id, WalletID: walletID, SignersNeeded: 2, Parties: ids}, nil)
		keyIDs[id] = js.ValueOf(j.KeysID)
		addEntry(roster, id, j.Entry.Statement, j.Entry.Signature, j.Entry.Chain)
	}
	// route plays the router. A run may start sending while the next ones
	// are still being created (calling into JS lets other goroutines run),
	// so envelopes wait until every run of the session exists.
	type queued struct {
		from string
		env  js.Value
	}
	var held []queued
	deliver := func(from string, e js.Value, runs map[string]js.Value) {
		env, err := seal.UnmarshalProto(goBytes(e))
		if err != nil {
			panic(err)
		}
		for id, r := range runs {
			if id != from && (env.To == "" || env.To == id) {
				r.Call("deliver", e)
			}
		}
	}
	route := func(from string, runs map[string]js.Value, want int) js.Func {
		return js.FuncOf(func(_ js.Value, a []js.Value) any {
			if len(runs) < want {
				held = append(held, queued{from, a[0]})
				return nil
			}
			deliver(from, a[0], runs)
			return nil
		})
	}
	flush := func(runs map[string]js.Value) {
		for _, q := range held {
			deliver(q.from, q.env, runs)
		}
		held = nil
	}
	lastRound := 0
	for i, id := range ids {
		pp, _ := testkit.PreParams(i)
		ppb, _ := preparams.Marshal(pp)
		cb := obj("onEnvelope", route(id, runs, len(ids)))
		if id == "browser-1" {
			cb.Set("onProgress", js.FuncOf(func(_ js.Value, a []js.Value) any { lastRound = a[0].Get("round").Int(); return nil }))
		}
		r := tk.Call("keygen", obj("keysId", keyIDs[id], "roster", roster, "trust", trust, "preParams", bytesToJS(ppb)), cb)
		if !r.Get("error").IsUndefined() {
			t.Fatal(r.Get("error"))
		}
		runs[id] = r
	}
	flush(runs)
	shares := map[string]js.Value{}
	var pub []byte
	for _, id := range ids {
		v, err := await(t, runs[id].Get("result"))
		if !err.IsUndefined() {
			t.Fatalf("%s: %v", id, err.Get("message"))
		}
		shares[id] = v.Get("share")
		pub = goBytes(v.Get("publicKey"))
	}
	if lastRound != 4 {
		t.Fatalf("progress ended at round %d", lastRound)
	}
	info := tk.Call("inspectShare", shares["browser-1"])
	if info.Get("partyId").String() != "browser-1" || info.Get("threshold").Int() != 2 || !info.Get("clientRequired").Bool() ||
		info.Get("holders").Length() != 3 || len(info.Get("identityKey").String()) != 64 {
		t.Fatal("inspectShare")
	}

	t.Run("reshare seat and stored acknowledgements", func(t *testing.T) { jsReshareChecks(t, td, ids, shares, trust) })

	digest := sha256.Sum256([]byte("js boundary"))
	signers := []string{"browser-1", "server-2"}
	sruns := map[string]js.Value{}
	sroster := obj()
	sk := map[string]js.Value{}
	k := tk.Call("prepareSign", obj("sessionId", "js-sign", "parties", strArray(signers...), "digest", bytesToJS(digest[:]), "share", shares["browser-1"]))
	if !k.Get("error").IsUndefined() {
		t.Fatal(k.Get("error"))
	}
	sk["browser-1"] = k.Get("keysId")
	sroster.Set("browser-1", obj("statement", k.Get("join").Get("statement"), "signature", k.Get("join").Get("signature")))
	j := td.serverSeat(t, JoinParams{SessionID: "js-sign", Self: "server-2", Parties: signers, Digest: digest[:]}, goBytes(shares["server-2"]))
	sk["server-2"] = js.ValueOf(j.KeysID)
	addEntry(sroster, "server-2", j.Entry.Statement, j.Entry.Signature, j.Entry.Chain)
	for _, id := range signers {
		r := tk.Call("sign", obj("keysId", sk[id], "roster", sroster, "trust", trust), obj("onEnvelope", route(id, sruns, 2)))
		if !r.Get("error").IsUndefined() {
			t.Fatal(r.Get("error"))
		}
		sruns[id] = r
	}
	flush(sruns)
	pk, _ := secp256k1.ParsePubKey(pub)
	for id, r := range sruns {
		v, err := await(t, r.Get("result"))
		if !err.IsUndefined() {
			t.Fatalf("%s: %v", id, err.Get("message"))
		}
		sig, perr := ecdsa.ParseDERSignature(goBytes(v.Get("der")))
		if perr != nil || !sig.Verify(digest[:], pk) {
			t.Fatal("signature does not verify")
		}
	}
}

// jsReshareChecks goes through the reshare half of the JS API with the
// keygen's shares, without running the protocol (TestBridgeKeygenSign runs
// a whole refresh through the same bridge natively): prepareReshare
// refuses an offer that is not what the client asked for and seats one
// that is; reshare refuses a seat of another kind; verifyStoredAcks takes
// every holder's acknowledgement and names the missing ones.
func jsReshareChecks(t *testing.T, td *deployment, ids []string, shares map[string]js.Value, trust js.Value) {
	rec, err := share.Decode(goBytes(shares["browser-1"]))
	if err != nil {
		t.Fatal(err)
	}
	offer := func(epoch, signers int, asked js.Value) js.Value {
		spec := obj("epoch", epoch, "oldThreshold", 2, "oldParties", strArray(ids...), "newParties", strArray(ids...),
			"publicKey", bytesToJS(rec.PublicKey), "chainCode", bytesToJS(rec.ChainCode), "clientRequired", rec.Policy.ClientRequired)
		p := obj("sessionId", "js-reshare", "parties", strArray(ids...), "share", shares["browser-1"], "reshare", spec, "signersNeeded", signers)
		if !asked.IsUndefined() {
			p.Set("asked", asked)
		}
		return tk.Call("prepareReshare", p)
	}
	wantErrCode(t, offer(2, 2, js.Undefined()), "session_mismatch")                        // skips an epoch
	wantErrCode(t, offer(1, 3, js.Undefined()), "session_mismatch")                        // 3 signers, none asked
	wantErrCode(t, offer(1, 2, obj("signersNeeded", 2, "parties", 4)), "session_mismatch") // 3 holders, 4 asked
	k := offer(1, 2, obj("signersNeeded", 2))
	if !k.Get("error").IsUndefined() {
		t.Fatal(k.Get("error"))
	}
	if k.Get("identityKey").String() != rec.Own().Identity.String() {
		t.Fatal("the reshare seat does not join with the share's identity key")
	}
	st, err := identity.ParseStatement(goBytes(k.Get("join").Get("statement")))
	if err != nil || st.SessionKind != identity.SessionReshare || st.Reshare == nil || st.Reshare.Epoch != 1 || st.Threshold != 2 {
		t.Fatalf("statement %+v: %v", st, err)
	}
	if ab := k.Get("join").Get("abandoned"); !ab.IsUndefined() {
		t.Fatalf("a seat with nothing to abandon carries %d abandoned-run statements", ab.Length())
	}
	cb := obj("onEnvelope", js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	wantErrCode(t, tk.Call("sign", obj("keysId", k.Get("keysId"), "roster", obj(), "trust", trust), cb), "invalid_argument")
	tk.Call("releaseSessionKeys", k.Get("keysId"))

	// Earlier runs this browser abandoned: one statement each, signed with
	// the share's identity key; this session itself, or a non-string, is
	// refused.
	abandonOffer := func(abandon js.Value) js.Value {
		spec := obj("epoch", 1, "oldThreshold", 2, "oldParties", strArray(ids...), "newParties", strArray(ids...),
			"publicKey", bytesToJS(rec.PublicKey), "chainCode", bytesToJS(rec.ChainCode), "clientRequired", rec.Policy.ClientRequired)
		return tk.Call("prepareReshare", obj("sessionId", "js-reshare", "parties", strArray(ids...), "share", shares["browser-1"], "reshare", spec,
			"signersNeeded", 2, "asked", obj("signersNeeded", 2), "abandon", abandon))
	}
	wantErrCode(t, abandonOffer(strArray("js-reshare")), "invalid_argument")
	wantErrCode(t, abandonOffer(obj()), "invalid_argument")
	ka := abandonOffer(strArray("js-run-1", "js-run-2"))
	if !ka.Get("error").IsUndefined() {
		t.Fatal(ka.Get("error"))
	}
	ab := ka.Get("join").Get("abandoned")
	if ab.IsUndefined() || ab.Length() != 2 {
		t.Fatalf("abandoned-run statements: %v", ab)
	}
	for i, want := range []string{"js-run-1", "js-run-2"} {
		a, err := identity.ParseAbandoned(goBytes(ab.Index(i)))
		if err != nil || a.SessionID != want || a.WalletID != rec.WalletID || a.PartyID != rec.PartyID || a.Epoch != 1 || !a.Verify(rec.Own().Identity) {
			t.Fatalf("statement %d: %+v, %v", i, a, err)
		}
	}
	tk.Call("releaseSessionKeys", ka.Get("keysId"))

	// A pending share and the session's words go through the bridge
	// (bridge_test.go's bridgeRefresh checks what the seat makes of
	// them): a pending share of another epoch than the offer's is none,
	// and its join carries no acknowledgement; words of the wrong shape
	// are refused; the run then goes on to its pre-parameters (here not
	// pre-parameters at all).
	kp := tk.Call("prepareReshare", obj("sessionId", "js-reshare", "parties", strArray(ids...), "share", shares["browser-1"], "reshare", offer1Spec(rec, ids),
		"signersNeeded", 2, "asked", obj("signersNeeded", 2), "pending", shares["browser-1"], "pendingSession", "js-run-0"))
	if !kp.Get("error").IsUndefined() {
		t.Fatal(kp.Get("error"))
	}
	if st := kp.Get("join").Get("stored"); !st.IsUndefined() {
		t.Fatalf("a pending share of another epoch: the join carries %v", st)
	}
	start := func(words js.Value) js.Value {
		return tk.Call("reshare", obj("keysId", kp.Get("keysId"), "roster", obj(), "trust", trust, "preParams", bytesToJS([]byte{1}), "words", words), cb)
	}
	wantErrCode(t, start(js.ValueOf("words")), "invalid_argument")
	wantErrCode(t, start(obj("server-1", obj("abandoned", js.ValueOf([]any{"not bytes"})))), "invalid_argument")
	res := start(obj("server-1", obj("abandoned", js.ValueOf([]any{bytesToJS([]byte{1})}), "stored", obj("js-run-0", bytesToJS([]byte{2})))))
	wantErrCode(t, res, "invalid_argument")
	if !strings.Contains(res.Get("error").Get("message").String(), "preParams") {
		t.Fatalf("well-formed words: %v; want the run to reach its pre-parameters", res.Get("error").Get("message"))
	}
	tk.Call("releaseSessionKeys", kp.Get("keysId"))

	// Acknowledgements over the keygen's shares (epoch 0), as holders sign them.
	acks := obj()
	for _, id := range ids {
		var key *identity.Key
		if id == "browser-1" {
			key, _ = rec.IdentityKey()
		} else {
			key = td.key(t, id)
		}
		acks.Set(id, bytesToJS(identity.SignStored(key, "js-reshare", rec.WalletID, id, 0, rec.PublicKey)))
	}
	if v := tk.Call("verifyStoredAcks", obj("sessionId", "js-reshare", "share", shares["browser-1"], "epoch", 0, "acks", acks)); !v.IsUndefined() {
		t.Fatal(v.Get("error"))
	}
	wantErrCode(t, tk.Call("verifyStoredAcks", obj("sessionId", "js-reshare", "share", shares["browser-1"], "epoch", 1, "acks", acks)), "verify")
	acks.Delete("server-2")
	v := tk.Call("verifyStoredAcks", obj("sessionId", "js-reshare", "share", shares["browser-1"], "epoch", 0, "acks", acks))
	wantErrCode(t, v, "verify")
	if c := v.Get("error").Get("culprits"); c.Length() != 1 || c.Index(0).String() != "server-2" {
		t.Fatal("culprits")
	}
}

// TestJSRecovery drives the recovery methods through the JS API: a
// keygen seat's recovery code, device keys and their seeds, a kit
// authorization and its file form, and the device's checks, each refusal
// with its code.
func TestJSRecovery(t *testing.T) {
	const walletID = "8c0e7a52-0a5f-4d9b-9f0e-2d3c4b5a6978"
	parties := strArray("browser-1", "server-1", "server-2")
	k := tk.Call("prepareKeygen", obj("sessionId", "s", "self", "browser-1", "walletId", walletID, "signersNeeded", 2, "parties", parties,
		"recovery", obj("kit", true, "backend", true)))
	code := k.Get("recoveryCode")
	if code.Type() != js.TypeString || len(strings.Fields(code.String())) != 12 {
		t.Fatal("prepareKeygen with a kit: no 12-word recovery code")
	}
	tk.Call("releaseSessionKeys", k.Get("keysId"))
	wantErrCode(t, tk.Call("prepareKeygen", obj("sessionId", "s", "self", "browser-1", "walletId", walletID, "signersNeeded", 2, "parties", parties,
		"recovery", obj("kit", "yes"))), "invalid_argument")
	wantErrCode(t, tk.Call("prepareKeygen", obj("sessionId", "s", "self", "browser-1", "walletId", walletID, "signersNeeded", 3, "parties", parties,
		"recovery", obj("backend", true))), "invalid_argument")

	d := tk.Call("newRecoveryDevice", obj("withSeed", true))
	if d.Get("seed").Length() != 32 || len(d.Get("identityKey").String()) != 64 {
		t.Fatal("newRecoveryDevice")
	}
	if tk.Call("newRecoveryDevice").Get("seed").Type() != js.TypeUndefined {
		t.Fatal("a seed nobody asked for")
	}
	o := tk.Call("openRecoveryDevice", d.Get("seed"), d.Get("identityKey"))
	if o.Get("identityKey").String() != d.Get("identityKey").String() {
		t.Fatal("openRecoveryDevice: another key")
	}
	tk.Call("releaseRecoveryDevice", o.Get("deviceId"))
	wantErrCode(t, tk.Call("openRecoveryDevice", js.Global().Get("Uint8Array").New(32), d.Get("identityKey")), "corrupt_record")

	p := obj("code", code, "deviceId", d.Get("deviceId"), "walletId", walletID, "epoch", 0, "partyId", "browser-2",
		"expiresAtMs", time.Now().Add(time.Hour).UnixMilli())
	a := tk.Call("kitAuthorization", p)
	if a.Get("kind").String() != "kit" || a.Get("identityKey").String() != d.Get("identityKey").String() || a.Get("authorization").Length() < 100 {
		t.Fatal("kitAuthorization")
	}
	f := tk.Call("parseAuthorization", a.Get("file"))
	if string(goBytes(f.Get("authorization"))) != string(goBytes(a.Get("authorization"))) {
		t.Fatal("parseAuthorization: another authorization")
	}
	wantErrCode(t, tk.Call("parseAuthorization", "{}"), "recovery_malformed")
	p.Set("code", "not a code")
	wantErrCode(t, tk.Call("kitAuthorization", p), "recovery_code")
	p.Set("code", code)
	p.Set("kit", strings.Repeat("ab", 32))
	wantErrCode(t, tk.Call("kitAuthorization", p), "recovery_wrong_code")

	c := obj("authorization", a.Get("authorization"), "walletId", walletID, "epoch", 0, "deviceId", d.Get("deviceId"), "partyId", "browser-2")
	if r := tk.Call("checkAuthorization", c); !r.IsUndefined() {
		t.Fatalf("checkAuthorization of a good one: %v", js.Global().Get("JSON").Call("stringify", r))
	}
	c.Set("epoch", 1)
	wantErrCode(t, tk.Call("checkAuthorization", c), "recovery_stale")
	c.Set("epoch", 0)
	c.Set("partyId", "browser-3")
	wantErrCode(t, tk.Call("checkAuthorization", c), "recovery_other_device")
	forged := js.Global().Get("Uint8Array").New(a.Get("authorization"))
	forged.SetIndex(forged.Length()-1, forged.Index(forged.Length()-1).Int()^1)
	c.Set("partyId", "browser-2")
	c.Set("authorization", forged)
	wantErrCode(t, tk.Call("checkAuthorization", c), "recovery_forged")
	wantErrCode(t, tk.Call("prepareRecovery", obj("sessionId", "s")), "invalid_argument")
	tk.Call("releaseRecoveryDevice", d.Get("deviceId"))
	c.Set("authorization", a.Get("authorization"))
	wantErrCode(t, tk.Call("checkAuthorization", c), "invalid_argument")
}

//go:build js

package main

import (
	"crypto/sha256"
	"syscall/js"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/seal"
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

func TestJSVersionAndKeys(t *testing.T) {
	v := tk.Call("version")
	if v.Get("tssLib").Type() != js.TypeString || v.Get("go").String() == "" {
		t.Fatal("version")
	}
	k := tk.Call("createSessionKeys")
	if k.Get("keysId").Type() != js.TypeString || k.Get("x25519").Length() != 32 || k.Get("ed25519").Length() != 32 {
		t.Fatal("createSessionKeys")
	}
	if !k.Get("x25519").InstanceOf(js.Global().Get("Uint8Array")) {
		t.Fatal("keys are not Uint8Array")
	}
	tk.Call("releaseSessionKeys", k.Get("keysId"))
	wantErrCode(t, tk.Call("releaseSessionKeys", 7), "invalid_argument")
}

func TestJSRejectsBadInput(t *testing.T) {
	cb := obj("onEnvelope", js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	wantErrCode(t, tk.Call("keygen"), "invalid_argument")
	wantErrCode(t, tk.Call("keygen", obj("sessionId", 5), cb), "invalid_argument")
	wantErrCode(t, tk.Call("keygen", obj("sessionId", "s", "self", "a", "parties", js.Global().Get("Array").New(), "keysId", "k",
		"publicKeys", obj(), "walletId", "w", "preParams", "not bytes", "signersNeeded", 2), cb), "invalid_argument")
	wantErrCode(t, tk.Call("sign", obj(), obj()), "invalid_argument")
	wantErrCode(t, tk.Call("inspectShare", js.Global().Get("Uint8Array").New(3)), "share_invalid")
	_, err := await(t, tk.Call("assemblePreParams", js.Global().Get("Array").New()))
	wantErrCode(t, err, "invalid_preparams")
	_, err = await(t, tk.Call("validatePreParams", js.Global().Get("Uint8Array").New(2)))
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

// TestJSKeygenSign runs a 2-of-3 keygen and a signing through the JS API
// exactly as a worker does: envelopes leave through onEnvelope as
// Uint8Array and enter through deliver(); the signature is verified with
// decred's ECDSA.
func TestJSKeygenSign(t *testing.T) {
	ids := []string{"browser-1", "server-1", "server-2"}
	runs := map[string]js.Value{}
	pubs := obj()
	keyIDs := map[string]js.Value{}
	for _, id := range ids {
		k := tk.Call("createSessionKeys")
		keyIDs[id] = k.Get("keysId")
		pubs.Set(id, obj("x25519", k.Get("x25519"), "ed25519", k.Get("ed25519")))
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
	parties := js.Global().Get("Array").New()
	for _, id := range ids {
		parties.Call("push", id)
	}
	lastRound := 0
	for i, id := range ids {
		pp, _ := testkit.PreParams(i)
		ppb, _ := preparams.Marshal(pp)
		cb := obj("onEnvelope", route(id, runs, len(ids)))
		if id == "browser-1" {
			cb.Set("onProgress", js.FuncOf(func(_ js.Value, a []js.Value) any { lastRound = a[0].Get("round").Int(); return nil }))
		}
		r := tk.Call("keygen", obj("sessionId", "js-keygen", "walletId", "0b7f1e52-8f0c-4c3c-9a56-2f1f0d7c8e11", "self", id,
			"parties", parties, "signersNeeded", 2, "keysId", keyIDs[id], "publicKeys", pubs, "preParams", bytesToJS(ppb)), cb)
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
	if info.Get("partyId").String() != "browser-1" || info.Get("threshold").Int() != 2 {
		t.Fatal("inspectShare")
	}

	signers := js.Global().Get("Array").New()
	signers.Call("push", "browser-1", "server-2")
	digest := sha256.Sum256([]byte("js boundary"))
	sruns := map[string]js.Value{}
	spubs := obj()
	sk := map[string]js.Value{}
	for _, id := range []string{"browser-1", "server-2"} {
		k := tk.Call("createSessionKeys")
		sk[id] = k.Get("keysId")
		spubs.Set(id, obj("x25519", k.Get("x25519"), "ed25519", k.Get("ed25519")))
	}
	for _, id := range []string{"browser-1", "server-2"} {
		r := tk.Call("sign", obj("sessionId", "js-sign", "self", id, "parties", signers, "keysId", sk[id], "publicKeys", spubs,
			"share", shares[id], "digest", bytesToJS(digest[:])), obj("onEnvelope", route(id, sruns, 2)))
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

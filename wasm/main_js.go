//go:build js

package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"syscall/js"
	"time"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
)

func main() {
	js.Global().Set("tsskit", api())
	select {} // serve calls until the worker is terminated
}

// api is the one global object; tsskit.d.ts describes it.
func api() js.Value {
	obj := js.Global().Get("Object").New()
	set := func(name string, f func(args []js.Value) any) {
		obj.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) (ret any) {
			defer func() {
				if r := recover(); r != nil {
					ret = throw(&Error{Code: "panic", Message: fmt.Sprint(r)})
				}
			}()
			return f(args)
		}))
	}
	set("version", func([]js.Value) any {
		o := js.Global().Get("Object").New()
		o.Set("version", version)
		o.Set("go", runtime.Version())
		o.Set("tssLib", tssLibVersion())
		return o
	})
	set("prepareKeygen", func(args []js.Value) any {
		p, err := joinArgs(args, false)
		if err != nil {
			return throw(err)
		}
		j, err := PrepareKeygen(p)
		if err != nil {
			return throw(toError(err))
		}
		return joinedToJS(j)
	})
	set("prepareSign", func(args []js.Value) any {
		p, err := joinArgs(args, true)
		if err != nil {
			return throw(err)
		}
		j, err := PrepareSign(p)
		if err != nil {
			return throw(toError(err))
		}
		return joinedToJS(j)
	})
	set("prepareReshare", func(args []js.Value) any {
		p, err := reshareJoinArgs(args)
		if err != nil {
			return throw(err)
		}
		j, err := PrepareReshare(p)
		if err != nil {
			return throw(toError(err))
		}
		return joinedToJS(j)
	})
	set("prepareRecovery", func(args []js.Value) any {
		p, err := recoveryJoinArgs(args)
		if err != nil {
			return throw(err)
		}
		j, err := PrepareRecovery(p)
		if err != nil {
			return throw(toError(err))
		}
		return joinedToJS(j)
	})
	set("newRecoveryDevice", func(args []js.Value) any {
		// {withSeed?: boolean}: the seed only for a caller that keeps the
		// device (encrypted) until the backend's approval comes.
		withSeed := len(args) > 0 && args[0].Type() == js.TypeObject && args[0].Get("withSeed").Truthy()
		d, err := NewDevice(withSeed)
		if err != nil {
			return throw(toError(err))
		}
		return deviceToJS(d)
	})
	set("openRecoveryDevice", func(args []js.Value) any {
		seed, err := argBytes(args, 0, "seed")
		if err != nil {
			return throw(err)
		}
		defer clear(seed)
		want := ""
		if len(args) > 1 && args[1].Type() == js.TypeString {
			want = args[1].String()
		}
		d, err := OpenDevice(seed, want)
		if err != nil {
			return throw(toError(err))
		}
		return deviceToJS(d)
	})
	set("releaseRecoveryDevice", func(args []js.Value) any {
		id, err := argString(args, 0, "deviceId")
		if err != nil {
			return throw(err)
		}
		ReleaseDevice(id)
		return js.Undefined()
	})
	set("kitAuthorization", func(args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeObject {
			return throw(argErr("kitAuthorization(params): params must be an object"))
		}
		f := &fields{v: args[0]}
		p := KitAuthParams{Code: f.str("code"), DeviceID: f.str("deviceId"), WalletID: f.str("walletId"), Epoch: f.int("epoch", false),
			PartyID: f.str("partyId"), Expires: time.UnixMilli(int64(f.int("expiresAtMs", false)))}
		if k := args[0].Get("kit"); k.Type() == js.TypeString {
			p.Kit = k.String()
		}
		if f.err != nil {
			return throw(f.err)
		}
		a, err := KitAuthorization(p)
		if err != nil {
			return throw(toError(err))
		}
		return authorizationToJS(a)
	})
	set("parseAuthorization", func(args []js.Value) any {
		file, err := argString(args, 0, "file")
		if err != nil {
			return throw(err)
		}
		a, err := ParseAuthorization([]byte(file))
		if err != nil {
			return throw(toError(err))
		}
		return authorizationToJS(a)
	})
	set("checkAuthorization", func(args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeObject {
			return throw(argErr("checkAuthorization(params): params must be an object"))
		}
		f := &fields{v: args[0]}
		p := CheckAuthParams{Authorization: f.bytes("authorization"), WalletID: f.str("walletId"), Epoch: f.int("epoch", false),
			DeviceID: f.str("deviceId"), PartyID: f.str("partyId")}
		if f.err != nil {
			return throw(f.err)
		}
		if err := CheckAuthorization(p); err != nil {
			return throw(toError(err))
		}
		return js.Undefined()
	})
	set("releaseSessionKeys", func(args []js.Value) any {
		id, err := argString(args, 0, "keysId")
		if err != nil {
			return throw(err)
		}
		keys.release(id)
		return js.Undefined()
	})
	set("keygen", func(args []js.Value) any {
		p, cb, err := keygenArgs(args)
		if err != nil {
			return throw(err)
		}
		return startRun(cb, func(out func([]byte), progress func(party.Progress), resolve func(any), reject func(error)) (*Run, error) {
			return StartKeygen(p, out, progress, func(o *KeygenOutput, err error) {
				if err != nil {
					reject(err)
					return
				}
				r := js.Global().Get("Object").New()
				r.Set("share", bytesToJS(o.Share))
				r.Set("publicKey", bytesToJS(o.PublicKey))
				r.Set("address", o.Address)
				r.Set("chainCode", bytesToJS(o.ChainCode))
				resolve(r)
			})
		})
	})
	set("sign", func(args []js.Value) any {
		p, cb, err := signArgs(args)
		if err != nil {
			return throw(err)
		}
		return startRun(cb, func(out func([]byte), progress func(party.Progress), resolve func(any), reject func(error)) (*Run, error) {
			return StartSign(p, out, progress, func(s *party.Signature, err error) {
				if err != nil {
					reject(err)
					return
				}
				r := js.Global().Get("Object").New()
				r.Set("r", bytesToJS(s.R))
				r.Set("s", bytesToJS(s.S))
				r.Set("v", int(s.V))
				r.Set("signature", bytesToJS(s.Signature))
				r.Set("der", bytesToJS(s.DER))
				resolve(r)
			})
		})
	})
	set("reshare", func(args []js.Value) any {
		p, cb, err := reshareArgs(args)
		if err != nil {
			return throw(err)
		}
		return startRun(cb, func(out func([]byte), progress func(party.Progress), resolve func(any), reject func(error)) (*Run, error) {
			return StartReshare(p, out, progress, func(o *ReshareOutput, err error) {
				if err != nil {
					reject(err)
					return
				}
				r := js.Global().Get("Object").New()
				r.Set("share", bytesToJS(o.Share))
				r.Set("publicKey", bytesToJS(o.PublicKey))
				r.Set("address", o.Address)
				r.Set("epoch", o.Epoch)
				r.Set("storedAck", bytesToJS(o.StoredAck))
				resolve(r)
			})
		})
	})
	set("verifyStoredAcks", func(args []js.Value) any {
		p, err := storedAcksArgs(args)
		if err != nil {
			return throw(err)
		}
		if err := VerifyStoredAcks(p); err != nil {
			return throw(toError(err))
		}
		return js.Undefined()
	})
	set("settle", func(args []js.Value) any {
		p, err := settleArgs(args)
		defer clear(p.Active)
		defer clear(p.Pending)
		if err != nil {
			return throw(err)
		}
		o, err := Settle(p)
		if err != nil {
			return throw(toError(err))
		}
		r := js.Global().Get("Object").New()
		if o.Statement != nil {
			r.Set("statement", bytesToJS(o.Statement))
		}
		r.Set("held", o.Held)
		return r
	})
	set("safePrime", func(args []js.Value) any {
		// An optional AbortSignal cancels the search.
		ctx, cancel := context.WithCancel(context.Background())
		if len(args) > 0 && args[0].Type() == js.TypeObject {
			if sig := args[0].Get("signal"); sig.Type() == js.TypeObject {
				if sig.Get("aborted").Bool() {
					cancel()
				}
				var onAbort js.Func
				onAbort = js.FuncOf(func(js.Value, []js.Value) any { cancel(); onAbort.Release(); return nil })
				sig.Call("addEventListener", "abort", onAbort)
			}
		}
		return promise(func() (any, error) {
			defer cancel()
			// Sleeping hands control back to the JS event loop, which
			// delivers an abort; a millisecond every few candidates costs
			// under 1% of the search.
			p, err := SafePrime(ctx, func() { time.Sleep(time.Millisecond) })
			if err != nil {
				return nil, err
			}
			return bytesToJS(p), nil
		})
	})
	// safePrimeSeeded({seed, naive}): the benchmarks' search on a public
	// candidate stream, with naive the baseline (math/big, tss-lib
	// style): {candidates, tested}; the prime is dropped.
	set("safePrimeSeeded", func(args []js.Value) any {
		if len(args) < 1 || args[0].Type() != js.TypeObject || args[0].Get("seed").Type() != js.TypeNumber {
			return throw(argErr("safePrimeSeeded({seed: number, naive?: boolean})"))
		}
		seed, naive := args[0].Get("seed").Int(), args[0].Get("naive").Truthy()
		return promise(func() (any, error) {
			c, err := SafePrimeSeeded(context.Background(), seed, naive, func() { time.Sleep(time.Millisecond) })
			if err != nil {
				return nil, err
			}
			r := js.Global().Get("Object").New()
			r.Set("candidates", c.Candidates)
			r.Set("tested", c.Tested)
			return r, nil
		})
	})
	set("assemblePreParams", func(args []js.Value) any {
		if len(args) < 1 || !isArray(args[0]) {
			return throw(argErr("assemblePreParams(primes: Uint8Array[])"))
		}
		var primes [][]byte
		for i := range args[0].Length() {
			b, err := bytesFromJS(args[0].Index(i), fmt.Sprintf("primes[%d]", i))
			if err != nil {
				return throw(err)
			}
			primes = append(primes, b)
		}
		return promise(func() (any, error) {
			b, err := AssemblePreParams(primes)
			if err != nil {
				return nil, err
			}
			return bytesToJS(b), nil
		})
	})
	set("validatePreParams", func(args []js.Value) any {
		b, err := argBytes(args, 0, "preParams")
		if err != nil {
			return throw(err)
		}
		return promise(func() (any, error) { return js.Undefined(), ValidatePreParams(b) })
	})
	set("inspectShare", func(args []js.Value) any {
		b, err := argBytes(args, 0, "share")
		if err != nil {
			return throw(err)
		}
		info, err := InspectShare(b)
		if err != nil {
			return throw(toError(err))
		}
		return shareInfoToJS(info)
	})
	return obj
}

// shareInfoToJS is a share's public part as tsskit.d.ts's ShareInfo.
func shareInfoToJS(info *ShareInfo) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("walletId", info.WalletID)
	o.Set("partyId", info.PartyID)
	o.Set("threshold", info.Threshold)
	o.Set("parties", stringsToJS(info.Parties))
	o.Set("publicKey", bytesToJS(info.PublicKey))
	o.Set("address", info.Address)
	o.Set("epoch", info.Epoch)
	o.Set("chainCode", bytesToJS(info.ChainCode))
	holders := js.Global().Get("Array").New(len(info.Holders))
	for i, h := range info.Holders {
		ho := js.Global().Get("Object").New()
		ho.Set("partyId", h.PartyID)
		ho.Set("kind", h.Kind.String())
		ho.Set("identityKey", h.Identity.String())
		holders.SetIndex(i, ho)
	}
	o.Set("holders", holders)
	o.Set("clientRequired", info.ClientRequired)
	o.Set("identityKey", info.IdentityKey)
	return o
}

// joinedToJS is a prepared seat as tsskit.d.ts's PreparedSeat.
func joinedToJS(j *Joined) js.Value {
	join := js.Global().Get("Object").New()
	join.Set("x25519", bytesToJS(j.Keys.X25519))
	join.Set("ed25519", bytesToJS(j.Keys.Ed25519))
	join.Set("statement", bytesToJS(j.Entry.Statement))
	join.Set("signature", bytesToJS(j.Entry.Signature))
	certs := js.Global().Get("Array").New(len(j.Entry.Chain))
	for i, c := range j.Entry.Chain {
		certs.SetIndex(i, bytesToJS(c))
	}
	join.Set("certificates", certs)
	if len(j.Abandoned) > 0 {
		ab := js.Global().Get("Array").New(len(j.Abandoned))
		for i, b := range j.Abandoned {
			ab.SetIndex(i, bytesToJS(b))
		}
		join.Set("abandoned", ab)
	}
	if len(j.Stored) > 0 {
		st := js.Global().Get("Object").New()
		for s, b := range j.Stored {
			st.Set(s, bytesToJS(b))
		}
		join.Set("stored", st)
	}
	o := js.Global().Get("Object").New()
	o.Set("keysId", j.KeysID)
	o.Set("join", join)
	o.Set("identityKey", j.IdentityKey.String())
	if j.RecoveryCode != "" {
		o.Set("recoveryCode", j.RecoveryCode)
	}
	return o
}

// deviceToJS is a device key as tsskit.d.ts's RecoveryDevice.
func deviceToJS(d *Device) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("deviceId", d.ID)
	o.Set("identityKey", d.Identity.String())
	if d.Seed != nil {
		o.Set("seed", bytesToJS(d.Seed))
		clear(d.Seed)
	}
	return o
}

// authorizationToJS is an authorization as tsskit.d.ts's RecoveryAuthorization.
func authorizationToJS(a *AuthorizationInfo) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("kind", a.Kind)
	o.Set("walletId", a.WalletID)
	o.Set("epoch", a.Epoch)
	o.Set("partyId", a.PartyID)
	o.Set("identityKey", a.Identity)
	o.Set("expiresAtMs", a.Expires.UnixMilli())
	o.Set("signer", a.Signer)
	o.Set("authorization", bytesToJS(a.Wire))
	o.Set("file", a.File)
	return o
}

// callbacks are the JS functions a run reports to.
type callbacks struct {
	onEnvelope js.Value
	onProgress js.Value // may be undefined
}

type starter func(out func([]byte), progress func(party.Progress), resolve func(any), reject func(error)) (*Run, error)

// startRun starts a session and returns {result: Promise, deliver, cancel}.
func startRun(cb callbacks, start starter) any {
	var run *Run
	var deliver, cancel js.Func
	var startErr error
	result := newPromise(func(resolve func(any), reject func(error)) {
		out := func(b []byte) { safeCall(cb.onEnvelope, bytesToJS(b)) }
		progress := func(p party.Progress) {
			if cb.onProgress.Type() != js.TypeFunction {
				return
			}
			o := js.Global().Get("Object").New()
			o.Set("phase", p.Phase)
			o.Set("round", p.Round)
			o.Set("rounds", p.Rounds)
			o.Set("done", p.Done)
			o.Set("messagesSent", p.MessagesSent)
			o.Set("messagesReceived", p.MessagesRecv)
			o.Set("bytesSent", p.BytesSent)
			o.Set("bytesReceived", p.BytesReceived)
			safeCall(cb.onProgress, o)
		}
		finish := func() { deliver.Release(); cancel.Release() }
		run, startErr = start(out, progress, func(v any) { resolve(v); finish() }, func(err error) { reject(err); finish() })
	})
	if startErr != nil {
		return throw(toError(startErr))
	}
	deliver = js.FuncOf(func(_ js.Value, args []js.Value) (ret any) {
		defer func() {
			if r := recover(); r != nil {
				ret = throw(&Error{Code: "panic", Message: fmt.Sprint(r)})
			}
		}()
		b, err := argBytes(args, 0, "envelope")
		if err != nil {
			return throw(err)
		}
		if err := run.Deliver(b); err != nil {
			return throw(toError(err))
		}
		return js.Undefined()
	})
	cancel = js.FuncOf(func(js.Value, []js.Value) any { run.Cancel(); return js.Undefined() })
	o := js.Global().Get("Object").New()
	o.Set("result", result)
	o.Set("deliver", deliver)
	o.Set("cancel", cancel)
	return o
}

// safeCall calls a JS callback; an exception in it must not kill the run.
func safeCall(f js.Value, args ...any) {
	defer func() { _ = recover() }()
	if f.Type() == js.TypeFunction {
		f.Invoke(args...)
	}
}

// promise runs f on a goroutine and settles a Promise with its outcome.
func promise(f func() (any, error)) js.Value {
	return newPromise(func(resolve func(any), reject func(error)) {
		go func() {
			defer func() {
				if r := recover(); r != nil {
					// The panic's value, not its stack: stack frames print
					// argument words, which can be secret scalars, and the
					// error crosses to the page.
					reject(&Error{Code: "panic", Message: fmt.Sprintf("tss.wasm panicked: %.200v", r)})
				}
			}()
			v, err := f()
			if err != nil {
				reject(err)
				return
			}
			resolve(v)
		}()
	})
}

// newPromise makes a Promise; body runs synchronously inside the executor
// and gets Go-typed resolve and reject.
func newPromise(body func(resolve func(any), reject func(error))) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, args []js.Value) any {
		res, rej := args[0], args[1]
		body(func(v any) { res.Invoke(v) }, func(err error) { rej.Invoke(jsError(toError(err))) })
		executor.Release()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

// jsError makes a JS Error carrying code and culprits.
func jsError(e *Error) js.Value {
	v := js.Global().Get("Error").New(e.Message)
	v.Set("name", "TsskitError")
	v.Set("code", e.Code)
	v.Set("culprits", stringsToJS(e.Culprits))
	return v
}

// throw is how a synchronous method fails: Go cannot raise a JS exception
// from a js.Func, so the method returns {error: TsskitError} instead of its
// value, and the worker's unwrap() throws it (see tsskit.d.ts).
func throw(err error) any {
	e := toError(err)
	o := js.Global().Get("Object").New()
	o.Set("error", jsError(e))
	return o
}

func bytesToJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

func bytesFromJS(v js.Value, what string) ([]byte, error) {
	if v.Type() != js.TypeObject || !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, argErr("%s must be a Uint8Array", what)
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, nil
}

func stringsToJS(s []string) js.Value {
	a := js.Global().Get("Array").New(len(s))
	for i, x := range s {
		a.SetIndex(i, x)
	}
	return a
}

func isArray(v js.Value) bool { return js.Global().Get("Array").Call("isArray", v).Bool() }

func argBytes(args []js.Value, i int, what string) ([]byte, error) {
	if len(args) <= i {
		return nil, argErr("missing %s", what)
	}
	return bytesFromJS(args[i], what)
}

func argString(args []js.Value, i int, what string) (string, error) {
	if len(args) <= i || args[i].Type() != js.TypeString {
		return "", argErr("%s must be a string", what)
	}
	return args[i].String(), nil
}

// field readers for parameter objects.
type fields struct {
	v   js.Value
	err error
}

func (f *fields) str(name string) string {
	x := f.v.Get(name)
	if f.err == nil && x.Type() != js.TypeString {
		f.err = argErr("%s must be a string", name)
	}
	if x.Type() != js.TypeString {
		return ""
	}
	return x.String()
}

func (f *fields) int(name string, optional bool) int {
	x := f.v.Get(name)
	if optional && x.IsUndefined() {
		return 0
	}
	if f.err == nil && (x.Type() != js.TypeNumber || x.Float() != float64(x.Int())) {
		f.err = argErr("%s must be an integer", name)
	}
	if x.Type() != js.TypeNumber {
		return 0
	}
	return x.Int()
}

func (f *fields) bytes(name string) []byte {
	b, err := bytesFromJS(f.v.Get(name), name)
	if f.err == nil && err != nil {
		f.err = err
	}
	return b
}

func (f *fields) strings(name string) []string {
	x := f.v.Get(name)
	if !isArray(x) {
		if f.err == nil {
			f.err = argErr("%s must be an array of strings", name)
		}
		return nil
	}
	out := make([]string, x.Length())
	for i := range out {
		e := x.Index(i)
		if e.Type() != js.TypeString {
			if f.err == nil {
				f.err = argErr("%s[%d] must be a string", name, i)
			}
			continue
		}
		out[i] = e.String()
	}
	return out
}

// roster reads {partyId: {statement, signature, certificates?}}.
func (f *fields) roster(name string) map[string]*identity.Entry {
	x := f.v.Get(name)
	if x.Type() != js.TypeObject {
		if f.err == nil {
			f.err = argErr("%s must be an object of {statement, signature, certificates} by party id", name)
		}
		return nil
	}
	ks := js.Global().Get("Object").Call("keys", x)
	out := map[string]*identity.Entry{}
	for i := range ks.Length() {
		id := ks.Index(i).String()
		e := &fields{v: x.Get(id)}
		if e.v.Type() != js.TypeObject {
			if f.err == nil {
				f.err = argErr("%s[%q] must be {statement, signature, certificates}", name, id)
			}
			continue
		}
		entry := &identity.Entry{Statement: e.bytes("statement"), Signature: e.bytes("signature")}
		if c := e.v.Get("certificates"); !c.IsUndefined() {
			entry.Chain = e.byteList("certificates")
		}
		if f.err == nil && e.err != nil {
			f.err = argErr("%s[%q]: %s", name, id, e.err.(*Error).Message)
		}
		out[id] = entry
	}
	return out
}

func (f *fields) byteList(name string) [][]byte {
	x := f.v.Get(name)
	if !isArray(x) {
		if f.err == nil {
			f.err = argErr("%s must be an array of Uint8Array", name)
		}
		return nil
	}
	out := make([][]byte, x.Length())
	for i := range out {
		b, err := bytesFromJS(x.Index(i), fmt.Sprintf("%s[%d]", name, i))
		if err != nil && f.err == nil {
			f.err = err
		}
		out[i] = b
	}
	return out
}

// trust reads {roots: string[], revoked?: string[]}.
func (f *fields) trust(name string) TrustParams {
	x := &fields{v: f.v.Get(name)}
	if x.v.Type() != js.TypeObject {
		if f.err == nil {
			f.err = argErr("%s must be {roots: string[], revoked?: string[]}: the deployment root(s) this party pins", name)
		}
		return TrustParams{}
	}
	t := TrustParams{Roots: x.strings("roots")}
	if !x.v.Get("revoked").IsUndefined() {
		t.Revoked = x.strings("revoked")
	}
	if f.err == nil && x.err != nil {
		f.err = argErr("%s: %s", name, x.err.(*Error).Message)
	}
	return t
}

func sessionArgs(f *fields) SessionParams {
	return SessionParams{KeysID: f.str("keysId"), Roster: f.roster("roster"), Trust: f.trust("trust")}
}

// joinArgs reads prepareKeygen's or prepareSign's parameters.
func joinArgs(args []js.Value, sign bool) (JoinParams, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return JoinParams{}, argErr("params must be an object")
	}
	f := &fields{v: args[0]}
	p := JoinParams{SessionID: f.str("sessionId"), Parties: f.strings("parties")}
	if sign {
		p.Digest, p.Share = f.bytes("digest"), f.bytes("share")
		// path: optional, "m/0/5"; absent or "m" signs with the wallet key.
		if v := args[0].Get("path"); v.Type() == js.TypeString {
			path, err := hd.ParsePath(v.String())
			if err != nil {
				return p, argErr("path: %v", err)
			}
			p.Path = path
		} else if !v.IsUndefined() && !v.IsNull() {
			return p, argErr("path: want a string such as \"m/0/5\"")
		}
	} else {
		p.Self, p.WalletID, p.SignersNeeded = f.str("self"), f.str("walletId"), f.int("signersNeeded", false)
		// recovery: optional {kit?: boolean, backend?: boolean}, the wallet's recovery policy.
		if r := args[0].Get("recovery"); r.Type() == js.TypeObject {
			for _, k := range []struct {
				name string
				to   *bool
			}{{"kit", &p.Recovery.Kit}, {"backend", &p.Recovery.Backend}} {
				switch v := r.Get(k.name); v.Type() {
				case js.TypeBoolean:
					*k.to = v.Bool()
				case js.TypeUndefined:
				default:
					return p, argErr("recovery.%s must be a boolean", k.name)
				}
			}
		} else if !r.IsUndefined() {
			return p, argErr("recovery must be {kit?: boolean, backend?: boolean}")
		}
	}
	return p, f.err
}

// reshareJoinArgs reads prepareReshare's parameters: {sessionId, parties,
// share, reshare: {epoch, oldThreshold, oldParties, newParties, publicKey,
// chainCode, clientRequired, recoveryKit?, recoveryBackend?},
// signersNeeded, asked?: {signersNeeded?, parties?}}.
func reshareJoinArgs(args []js.Value) (ReshareJoinParams, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return ReshareJoinParams{}, argErr("prepareReshare(params): params must be an object")
	}
	f := &fields{v: args[0]}
	p := ReshareJoinParams{SessionID: f.str("sessionId"), Parties: f.strings("parties"), Share: f.bytes("share"), SignersNeeded: f.int("signersNeeded", false)}
	if a := args[0].Get("abandon"); !a.IsUndefined() {
		p.Abandon = f.strings("abandon")
	}
	p.Earlier = earlierArg(f)
	spec, err := reshareSpecArg(args[0].Get("reshare"))
	if f.err == nil && err != nil {
		f.err = err
	}
	p.Spec = spec
	if a := args[0].Get("asked"); a.Type() == js.TypeObject {
		af := &fields{v: a}
		p.AskedSignersNeeded, p.AskedParties = af.int("signersNeeded", true), af.int("parties", true)
		if f.err == nil && af.err != nil {
			f.err = argErr("asked: %s", af.err.(*Error).Message)
		}
	} else if !a.IsUndefined() && f.err == nil {
		f.err = argErr("asked must be {signersNeeded?, parties?}: what the client asked for (0 or absent: unchanged)")
	}
	return p, f.err
}

// reshareSpecArg reads a coordinator's reshare offer: {epoch, oldThreshold,
// oldParties, newParties, publicKey, chainCode, clientRequired,
// recoveryKit?, recoveryBackend?}.
func reshareSpecArg(v js.Value) (*identity.Reshare, error) {
	r := &fields{v: v}
	if r.v.Type() != js.TypeObject {
		return nil, argErr("reshare must be {epoch, oldThreshold, oldParties, newParties, publicKey, chainCode, clientRequired}: the coordinator's offer")
	}
	spec := &identity.Reshare{Epoch: r.int("epoch", false), OldThreshold: r.int("oldThreshold", false), Old: r.strings("oldParties"), New: r.strings("newParties"),
		PublicKey: r.bytes("publicKey"), ChainCode: r.bytes("chainCode")}
	if cr := r.v.Get("clientRequired"); cr.Type() == js.TypeBoolean {
		spec.ClientRequired = cr.Bool()
	} else if r.err == nil {
		r.err = argErr("clientRequired must be a boolean")
	}
	// The wallet's recovery policy (optional: none): the kit's public key
	// (32 bytes, or empty for no kit) and whether the app backend may
	// approve a recovery.
	if k := r.v.Get("recoveryKit"); !k.IsUndefined() {
		if b := r.bytes("recoveryKit"); len(b) > 0 && r.err == nil {
			kit, err := identity.PublicKeyFromBytes(b)
			if err != nil {
				r.err = argErr("recoveryKit: %v", err)
			}
			spec.Recovery.Kit = kit
		}
	}
	if rb := r.v.Get("recoveryBackend"); rb.Type() == js.TypeBoolean {
		spec.Recovery.Backend = rb.Bool()
	} else if !rb.IsUndefined() && r.err == nil {
		r.err = argErr("recoveryBackend must be a boolean")
	}
	if r.err != nil {
		return spec, argErr("reshare: %s", r.err.(*Error).Message)
	}
	return spec, nil
}

// recoveryJoinArgs reads prepareRecovery's parameters: {sessionId,
// parties, reshare, signersNeeded, authorization: Uint8Array, deviceId,
// abandon?: string[]}.
func recoveryJoinArgs(args []js.Value) (RecoveryJoinParams, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return RecoveryJoinParams{}, argErr("prepareRecovery(params): params must be an object")
	}
	f := &fields{v: args[0]}
	p := RecoveryJoinParams{SessionID: f.str("sessionId"), Parties: f.strings("parties"), SignersNeeded: f.int("signersNeeded", false),
		Authorization: f.bytes("authorization"), DeviceID: f.str("deviceId")}
	if a := args[0].Get("abandon"); !a.IsUndefined() {
		p.Abandon = f.strings("abandon")
	}
	p.Earlier = earlierArg(f)
	spec, err := reshareSpecArg(args[0].Get("reshare"))
	if f.err == nil && err != nil {
		f.err = err
	}
	p.Spec = spec
	return p, f.err
}

// earlierArg reads a prepared reshare seat's optional pending share of an
// earlier run: pending (share.Encode form) and pendingSession.
func earlierArg(f *fields) Earlier {
	if v := f.v.Get("pending"); v.IsUndefined() || v.IsNull() {
		return Earlier{}
	}
	return Earlier{Pending: f.bytes("pending"), PendingSession: f.str("pendingSession")}
}

// wordsArg reads a reshare's words: {partyId: {abandoned?: Uint8Array[],
// stored?: {sessionId: Uint8Array}}}, every party's PartyKeys.abandoned
// and stored.
func wordsArg(v js.Value) (map[string]party.RunWords, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if v.Type() != js.TypeObject {
		return nil, argErr("words must be {partyId: {abandoned?, stored?}}")
	}
	out := map[string]party.RunWords{}
	ids := js.Global().Get("Object").Call("keys", v)
	for i := range ids.Length() {
		id := ids.Index(i).String()
		w, pw := v.Get(id), party.RunWords{}
		if w.Type() != js.TypeObject {
			return nil, argErr("words[%q] must be {abandoned?, stored?}", id)
		}
		if a := w.Get("abandoned"); isArray(a) {
			for j := range a.Length() {
				b, err := bytesFromJS(a.Index(j), fmt.Sprintf("words[%q].abandoned[%d]", id, j))
				if err != nil {
					return nil, err
				}
				pw.Abandoned = append(pw.Abandoned, b)
			}
		}
		if s := w.Get("stored"); s.Type() == js.TypeObject {
			pw.Stored = map[string][]byte{}
			ss := js.Global().Get("Object").Call("keys", s)
			for j := range ss.Length() {
				sid := ss.Index(j).String()
				b, err := bytesFromJS(s.Get(sid), fmt.Sprintf("words[%q].stored[%q]", id, sid))
				if err != nil {
					return nil, err
				}
				pw.Stored[sid] = b
			}
		}
		out[id] = pw
	}
	return out, nil
}

func reshareArgs(args []js.Value) (ReshareParams, callbacks, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return ReshareParams{}, callbacks{}, argErr("reshare(params, callbacks): params must be an object")
	}
	f := &fields{v: args[0]}
	p := ReshareParams{SessionParams: sessionArgs(f), PreParams: f.bytes("preParams")}
	if f.err != nil {
		return p, callbacks{}, f.err
	}
	words, err := wordsArg(args[0].Get("words"))
	if err != nil {
		return p, callbacks{}, err
	}
	p.Words = words
	cb, err := readCallbacks(args)
	return p, cb, err
}

// storedAcksArgs reads verifyStoredAcks' parameters: {sessionId, share,
// epoch, acks: {partyId: Uint8Array}}.
func storedAcksArgs(args []js.Value) (StoredAcksParams, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return StoredAcksParams{}, argErr("verifyStoredAcks(params): params must be an object")
	}
	f := &fields{v: args[0]}
	p := StoredAcksParams{SessionID: f.str("sessionId"), Share: f.bytes("share"), Epoch: f.int("epoch", false), Acks: map[string][]byte{}}
	a := args[0].Get("acks")
	if a.Type() != js.TypeObject {
		if f.err == nil {
			f.err = argErr("acks must be an object of Uint8Array by party id (the Completed event's stored_acks)")
		}
		return p, f.err
	}
	ks := js.Global().Get("Object").Call("keys", a)
	for i := range ks.Length() {
		id := ks.Index(i).String()
		b, err := bytesFromJS(a.Get(id), fmt.Sprintf("acks[%q]", id))
		if err != nil && f.err == nil {
			f.err = err
		}
		p.Acks[id] = b
	}
	return p, f.err
}

// settleArgs reads settle's parameters: {step, sessionId, epoch,
// active?, pending?, silent?, frozen?, dropped?, words?}.
func settleArgs(args []js.Value) (SettleParams, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return SettleParams{}, argErr("settle(params): params must be an object")
	}
	f := &fields{v: args[0]}
	p := SettleParams{Step: f.str("step"), SessionID: f.str("sessionId"), Epoch: f.int("epoch", false)}
	given := func(name string) bool { v := f.v.Get(name); return !v.IsUndefined() && !v.IsNull() }
	if given("active") {
		p.Active = f.bytes("active")
	}
	if given("pending") {
		p.Pending = f.bytes("pending")
	}
	if given("silent") {
		p.Silent = f.strings("silent")
	}
	for name, into := range map[string]*[][]byte{"frozen": &p.Frozen, "dropped": &p.Dropped, "words": &p.Words} {
		if given(name) {
			*into = f.byteList(name)
		}
	}
	return p, f.err
}

func readCallbacks(args []js.Value) (callbacks, error) {
	if len(args) < 2 || args[1].Type() != js.TypeObject || args[1].Get("onEnvelope").Type() != js.TypeFunction {
		return callbacks{}, argErr("second argument must be {onEnvelope(envelope: Uint8Array), onProgress?(p)}")
	}
	return callbacks{onEnvelope: args[1].Get("onEnvelope"), onProgress: args[1].Get("onProgress")}, nil
}

func keygenArgs(args []js.Value) (KeygenParams, callbacks, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return KeygenParams{}, callbacks{}, argErr("keygen(params, callbacks): params must be an object")
	}
	f := &fields{v: args[0]}
	p := KeygenParams{SessionParams: sessionArgs(f), PreParams: f.bytes("preParams")}
	if f.err != nil {
		return p, callbacks{}, f.err
	}
	cb, err := readCallbacks(args)
	return p, cb, err
}

func signArgs(args []js.Value) (SignParams, callbacks, error) {
	if len(args) < 1 || args[0].Type() != js.TypeObject {
		return SignParams{}, callbacks{}, argErr("sign(params, callbacks): params must be an object")
	}
	f := &fields{v: args[0]}
	p := SignParams{SessionParams: sessionArgs(f)}
	if f.err != nil {
		return p, callbacks{}, f.err
	}
	cb, err := readCallbacks(args)
	return p, cb, err
}

func tssLibVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/bnb-chain/tss-lib/v2" {
				return d.Version
			}
		}
	}
	return "unknown"
}

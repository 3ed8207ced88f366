// Command wasm is tss.wasm: tsskit's party engine for the browser. It is
// the syscall/js boundary and nothing else — one global object, tsskit,
// whose methods start and feed sessions, search safe primes, assemble
// pre-parameters and encode share records (see tsskit.d.ts). It never
// touches the network or storage: the SDK carries envelopes to the router
// and keeps shares in IndexedDB.
//
// This file and errors.go are plain Go, built and tested natively as well;
// main_js.go adapts them to JavaScript.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"sync"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// keyring holds session keys made in this instance; JS sees only an id and
// the public halves, so private session keys never leave Go memory.
type keyring struct {
	mu   sync.Mutex
	keys map[string]*seal.Keys
}

var keys = &keyring{keys: map[string]*seal.Keys{}}

func (k *keyring) create() (string, seal.PublicKeys, error) {
	sk, err := seal.GenerateKeys()
	if err != nil {
		return "", seal.PublicKeys{}, err
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", seal.PublicKeys{}, err
	}
	s := hex.EncodeToString(id[:])
	k.mu.Lock()
	k.keys[s] = sk
	k.mu.Unlock()
	return s, sk.Public(), nil
}

func (k *keyring) get(id string) (*seal.Keys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sk, ok := k.keys[id]
	if !ok {
		return nil, argErr("no session keys with id %q (made in this worker? released?)", id)
	}
	return sk, nil
}

func (k *keyring) release(id string) {
	k.mu.Lock()
	delete(k.keys, id)
	k.mu.Unlock()
}

// SessionParams is what keygen and sign share.
type SessionParams struct {
	SessionID     string
	Self          string
	Parties       []string
	SignersNeeded int // keygen only
	KeysID        string
	PublicKeys    map[string]seal.PublicKeys
}

func (p *SessionParams) session() (party.Session, error) {
	sk, err := keys.get(p.KeysID)
	if err != nil {
		return party.Session{}, err
	}
	return party.Session{ID: p.SessionID, Parties: p.Parties, Self: p.Self, SignersNeeded: p.SignersNeeded, Keys: sk, PublicKeys: p.PublicKeys}, nil
}

// Run is one session in progress: JS delivers envelopes to it, and it
// hands outgoing envelopes (tsskit.v1.Envelope protobuf bytes) to out.
type Run struct {
	out    func([]byte)
	in     chan *seal.Envelope
	mu     sync.Mutex
	queue  []*seal.Envelope
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
}

func newRun(out func([]byte)) *Run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Run{out: out, in: make(chan *seal.Envelope), wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	go r.pump()
	return r
}

// Send implements party.Transport.
func (r *Run) Send(_ context.Context, env *seal.Envelope) error {
	b, err := env.MarshalProto()
	if err != nil {
		return err
	}
	r.out(b)
	return nil
}

// Incoming implements party.Transport.
func (r *Run) Incoming() <-chan *seal.Envelope { return r.in }

// Deliver queues an incoming envelope (protobuf bytes). It never blocks:
// JS calls it from its event loop.
func (r *Run) Deliver(b []byte) error {
	env, err := seal.UnmarshalProto(b)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.queue = append(r.queue, env)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Cancel stops the session; its result is a canceled error.
func (r *Run) Cancel() { r.cancel() }

func (r *Run) pump() {
	for {
		r.mu.Lock()
		var next *seal.Envelope
		if len(r.queue) > 0 {
			next, r.queue = r.queue[0], r.queue[1:]
		}
		r.mu.Unlock()
		if next == nil {
			select {
			case <-r.wake:
				continue
			case <-r.ctx.Done():
				return
			}
		}
		select {
		case r.in <- next:
		case <-r.ctx.Done():
			return
		}
	}
}

// KeygenParams starts a keygen.
type KeygenParams struct {
	SessionParams
	WalletID  string
	PreParams []byte // preparams.Marshal form
}

// KeygenOutput is a finished keygen.
type KeygenOutput struct {
	Share     []byte // share.Encode form; secret
	PublicKey []byte
	Address   string
}

// StartKeygen checks p and starts the engine; done receives the outcome.
func StartKeygen(p KeygenParams, out func([]byte), progress func(party.Progress), done func(*KeygenOutput, error)) (*Run, error) {
	s, err := p.session()
	if err != nil {
		return nil, err
	}
	pre, err := preparams.Unmarshal(p.PreParams)
	if err != nil {
		return nil, argErr("preParams: %v", err)
	}
	s.Progress = progress
	r := newRun(out)
	go func() {
		defer r.cancel()
		res, err := party.Keygen(r.ctx, party.KeygenRequest{Session: s, WalletID: p.WalletID, PreParams: pre}, r)
		if err != nil {
			done(nil, err)
			return
		}
		enc, err := share.Encode(res.Share)
		if err != nil {
			done(nil, err)
			return
		}
		done(&KeygenOutput{Share: enc, PublicKey: res.PublicKey, Address: res.Address}, nil)
	}()
	return r, nil
}

// SignParams starts a signing.
type SignParams struct {
	SessionParams
	Share  []byte // share.Encode form
	Digest []byte // 32 bytes
}

// StartSign checks p and starts the engine.
func StartSign(p SignParams, out func([]byte), progress func(party.Progress), done func(*party.Signature, error)) (*Run, error) {
	s, err := p.session()
	if err != nil {
		return nil, err
	}
	rec, err := share.Decode(p.Share)
	if err != nil {
		return nil, err
	}
	s.Progress = progress
	s.SignersNeeded = 0
	r := newRun(out)
	go func() {
		defer r.cancel()
		sig, err := party.Sign(r.ctx, party.SignRequest{Session: s, Share: rec, Digest: p.Digest}, r)
		done(sig, err)
	}()
	return r, nil
}

// SafePrime finds one safe prime of preparams.SafePrimeBits bits. yield is
// called often so that the JS event loop can deliver a cancellation.
func SafePrime(ctx context.Context, yield func()) ([]byte, error) {
	p, err := preparams.SafePrime(ctx, preparams.SafePrimeBits, &preparams.Options{Concurrency: 1, Yield: yield})
	if err != nil {
		return nil, err
	}
	return p.Bytes(), nil
}

// SafePrimeNaive is the baseline the benchmarks compare SafePrime with: a
// safe prime found the plain way, as tss-lib does it — random candidates,
// trial division by the primes up to 53, then math/big's ProbablyPrime on
// q and 2q+1. It is never used to make pre-parameters.
func SafePrimeNaive(ctx context.Context, yield func()) ([]byte, error) {
	const bits = preparams.SafePrimeBits
	small := []uint64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53}
	q, p := new(big.Int), new(big.Int)
	buf := make([]byte, (bits-1+7)/8)
	for n := 0; ; n++ {
		if n%8 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if yield != nil {
				yield()
			}
		}
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		buf[0] &= 0x7f // 1023 bits at most
		q.SetBytes(buf)
		q.SetBit(q, bits-2, 1).SetBit(q, bits-3, 1).SetBit(q, 0, 1) // 1023 bits, top two set, odd
		ok := true
		for _, s := range small {
			r := new(big.Int).Mod(q, new(big.Int).SetUint64(s)).Uint64()
			if r == 0 || (2*r+1)%s == 0 { // s divides q or 2q+1
				ok = false
				break
			}
		}
		if !ok || !q.ProbablyPrime(20) {
			continue
		}
		p.Lsh(q, 1).Add(p, big.NewInt(1))
		if p.ProbablyPrime(20) {
			return p.Bytes(), nil
		}
	}
}

// AssemblePreParams builds pre-parameters from safe primes found by
// SafePrime (in any number of workers).
func AssemblePreParams(primes [][]byte) ([]byte, error) {
	ps := make([]*big.Int, len(primes))
	for i, b := range primes {
		ps[i] = new(big.Int).SetBytes(b)
	}
	pp, err := preparams.Assemble(ps, nil)
	if err != nil {
		return nil, err
	}
	return preparams.Marshal(pp)
}

// ValidatePreParams checks pre-parameters (from a pool, say) before use.
func ValidatePreParams(b []byte) error {
	pp, err := preparams.Unmarshal(b)
	if err != nil {
		return argErr("preParams: %v", err)
	}
	return preparams.Validate(pp)
}

// ShareInfo is the public part of a share record.
type ShareInfo struct {
	WalletID  string
	PartyID   string
	Threshold int
	Parties   []string
	PublicKey []byte
	Address   string
}

// InspectShare decodes and validates a share record and returns its public
// part (the secret stays in the bytes the caller already has).
func InspectShare(b []byte) (*ShareInfo, error) {
	rec, err := share.Decode(b)
	if err != nil {
		return nil, err
	}
	return &ShareInfo{WalletID: rec.WalletID, PartyID: rec.PartyID, Threshold: rec.Threshold, Parties: rec.Parties, PublicKey: rec.PublicKey, Address: rec.Address()}, nil
}

var errCanceled = errors.New("canceled")

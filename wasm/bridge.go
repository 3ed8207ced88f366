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
	"fmt"
	"io"
	"math/big"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// A seat is what a party prepared to join one session: fresh session
// keys, its identity key, the session as it joins it, and for a signing
// its share record. The seat lives in this instance; JS sees only an id
// and public data, so no private key (session, identity) and no share
// leaves Go memory through this API once it is in.
type seat struct {
	keys     *seal.Keys
	identity *identity.Key
	kind     identity.Kind
	chain    []*identity.Certificate // a server party's (tests)
	spec     identity.Statement      // the session as joined (identity and session keys filled in)
	share    *share.Record           // signing, reshare: the current share
	entry    *identity.Entry         // the signed join
	// kinds, for a client's reshare, is the kind every party must join
	// as (party.ClientReshare): the wallet's clients and certified servers.
	kinds map[string]identity.Kind
	// auth, at a recovery, is the authorization: the new client's own
	// (PrepareRecovery), or a server party's copy (tests); backendKeys
	// are a server party's configured app-backend keys (tests).
	auth        *recovery.Authorization
	backendKeys []identity.PublicKey
	// owned: the seat owns its identity key (a recovery's device key) and
	// destroys it when released.
	owned bool
	// pending, in a reshare, is this party's pending share of an earlier
	// run (pendingSession) of the same epoch: the run starts only if that
	// run can never be activated (party.CheckEarlierRun).
	pending        *share.Record
	pendingSession string
}

// keyring holds the seats made in this instance.
type keyring struct {
	mu    sync.Mutex
	seats map[string]*seat
}

var keys = &keyring{seats: map[string]*seat{}}

// add signs the seat's statement and keeps the seat under a new id.
func (k *keyring) add(st *seat) (string, error) {
	sk, err := seal.GenerateKeys()
	if err != nil {
		return "", err
	}
	st.keys = sk
	pub := sk.Public()
	copy(st.spec.X25519[:], pub.X25519)
	copy(st.spec.Ed25519[:], pub.Ed25519)
	st.spec.Kind = st.kind
	st.spec.Expires = time.Now().Add(joinLife)
	if st.entry, err = identity.SignStatement(st.identity, &st.spec, st.chain); err != nil {
		return "", argErr("%v", err)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(id[:])
	k.mu.Lock()
	k.seats[s] = st
	k.mu.Unlock()
	return s, nil
}

// joinLife is how long a join statement (a signing's sign request) is valid.
const joinLife = 10 * time.Minute

func (k *keyring) get(id string) (*seat, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.seats[id]
	if !ok {
		return nil, argErr("no seat with id %q (prepared in this worker? released?)", id)
	}
	return st, nil
}

func (k *keyring) release(id string) {
	k.mu.Lock()
	if st, ok := k.seats[id]; ok && st.identity != nil && (st.share != nil || st.owned) {
		// A signing's or reshare's identity came from its share (a
		// reshare's new record holds its own copy of the seed); a
		// keygen's stays in its result until the caller drops it.
		st.identity.Destroy()
	}
	delete(k.seats, id)
	k.mu.Unlock()
}

// Joined is what a prepared seat publishes at join.
type Joined struct {
	KeysID      string
	Keys        seal.PublicKeys
	Entry       *identity.Entry
	IdentityKey identity.PublicKey
	// RecoveryCode, from a keygen that sets a recovery kit, is the
	// wallet's recovery code: a secret, for the user's eyes only.
	RecoveryCode string
	// Abandoned, from a reshare, is the seat's abandoned-run statements
	// (identity.SignAbandoned), which its join carries.
	Abandoned [][]byte
	// Stored, from a reshare, is the seat's stored acknowledgement of an
	// earlier run of the epoch whose share it holds pending, by session
	// id (PartyKeys.stored), which its join carries.
	Stored map[string][]byte
}

func (k *keyring) joined(id string) (*Joined, error) {
	st, err := k.get(id)
	if err != nil {
		return nil, err
	}
	return &Joined{KeysID: id, Keys: st.keys.Public(), Entry: st.entry, IdentityKey: st.identity.Public()}, nil
}

// JoinParams describe a session as this party joins it.
type JoinParams struct {
	SessionID     string
	Self          string
	WalletID      string
	SignersNeeded int // keygen
	Parties       []string
	Digest        []byte  // signing
	Share         []byte  // signing: the share record (share.Encode form)
	Path          hd.Path // signing: the derivation path of the signing key (empty: the wallet key)
	// Recovery, at keygen, is the recovery policy the client sets.
	Recovery KeygenRecovery
}

// PrepareKeygen makes a client's seat in a keygen: fresh session keys and
// a new device identity key, which goes into the share record keygen
// makes. With p.Recovery the statement sets the wallet's recovery policy
// (every holder records it); a kit's recovery code comes back in
// Joined.RecoveryCode, derived for p.WalletID, and nowhere else.
func PrepareKeygen(p JoinParams) (*Joined, error) {
	if err := recoveryCheck(p.Recovery, len(p.Parties), p.SignersNeeded); err != nil {
		return nil, err
	}
	spec := statementOf(p, identity.SessionKeygen, p.SignersNeeded, p.WalletID)
	code, err := keygenRecovery(&spec, p.Recovery)
	if err != nil {
		return nil, err
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	id, err := keys.add(&seat{identity: k, kind: identity.KindClient, spec: spec})
	if err != nil {
		return nil, err
	}
	j, err := keys.joined(id)
	if err != nil {
		return nil, err
	}
	j.RecoveryCode = code
	return j, nil
}

// PrepareSign makes a seat in a signing of p.Digest with the share in
// p.Share: its statement, signed with the share's identity key, is the
// wallet's sign request for this session. A record made before identities
// existed has none; a key of the moment stands in.
func PrepareSign(p JoinParams) (*Joined, error) {
	rec, err := share.Decode(p.Share)
	if err != nil {
		return nil, err
	}
	if rec.PartyID != p.Self && p.Self != "" {
		return nil, argErr("the share is party %q's, not %q's", rec.PartyID, p.Self)
	}
	k, err := rec.IdentityKey()
	if err != nil {
		return nil, err
	}
	if k == nil {
		if k, err = identity.GenerateKey(); err != nil {
			return nil, err
		}
	}
	kind := rec.Own().Kind
	if kind == 0 {
		kind = identity.KindClient
	}
	p.Self = rec.PartyID
	if err := p.Path.Check(); err != nil {
		return nil, argErr("path: %v", err)
	}
	spec := statementOf(p, identity.SessionSign, rec.Threshold, rec.WalletID)
	spec.Epoch = rec.Epoch
	id, err := keys.add(&seat{identity: k, kind: kind, share: rec, spec: spec})
	if err != nil {
		return nil, err
	}
	return keys.joined(id)
}

// ReshareJoinParams describe a reshare a client asked for, as the
// coordinator offered it (CreateReshareSession's answer), and what the
// client asked for.
type ReshareJoinParams struct {
	SessionID string
	Parties   []string // every party of the session: both committees
	Share     []byte   // this party's current share (share.Encode form)
	Spec      *identity.Reshare
	// SignersNeeded is the offer's new threshold; AskedSignersNeeded and
	// AskedParties are what the client asked for (0: unchanged).
	SignersNeeded      int
	AskedSignersNeeded int
	AskedParties       int
	// Abandon is the earlier runs of the epoch this client joined and
	// never stored a share of, which the caller has recorded abandoned
	// for good: the seat signs an abandoned-run statement for each.
	Abandon []string
	// Earlier is this client's pending share of an earlier run of the
	// epoch, if it holds one.
	Earlier
}

// Earlier is a pending share of an earlier run of a reshare's epoch, as
// a seat is given it (one acknowledged run per epoch, docs/lifecycle.md):
// its stored acknowledgement, signed again with the identity key the
// share records for this party, goes into the join, and the run starts
// only if another new holder of that run abandoned it.
type Earlier struct {
	Pending        []byte // share.Encode form; empty: none
	PendingSession string
}

// open decodes e for a seat of sessionID and epoch: nil when there is no
// pending share, or it is of another epoch or from this very session.
func (e Earlier) open(sessionID, walletID, partyID string, epoch int) (*share.Record, map[string][]byte, error) {
	if len(e.Pending) == 0 {
		return nil, nil, nil
	}
	rec, err := share.Decode(e.Pending)
	if err != nil {
		return nil, nil, argErr("pending: %v", err)
	}
	if !party.IsEarlierRun(rec, e.PendingSession, sessionID, walletID, partyID, epoch) {
		// Another party's (a recovery's earlier attempt with another
		// device), or not of this run's epoch: nothing this seat holds
		// of an earlier run.
		return nil, nil, nil
	}
	k, err := rec.IdentityKey()
	if err != nil || k == nil {
		// No key of that run: it cannot be found complete.
		return rec, nil, nil
	}
	defer k.Destroy()
	return rec, party.StoredAgain(k, rec, e.PendingSession), nil
}

// PrepareReshare makes a client's seat in a reshare of the wallet of
// p.Share, which the client asked the coordinator for. The offer is
// checked against the share and the request first (party.ClientReshare:
// same key, chain code, policy and next epoch; this party in both
// committees; the threshold and size asked for); the seat then joins
// with the share's identity key, whose signed statement is the client's
// consent to this reshare, committees and all.
func PrepareReshare(p ReshareJoinParams) (*Joined, error) {
	rec, err := share.Decode(p.Share)
	if err != nil {
		return nil, err
	}
	if p.Spec == nil {
		return nil, argErr("reshare: the coordinator's offer has no reshare spec")
	}
	if p.AskedSignersNeeded < 0 || p.AskedParties < 0 {
		return nil, argErr("asked: signersNeeded and parties are 0 (unchanged) or more")
	}
	spec := *p.Spec
	spec.Old, spec.New = slices.Sorted(slices.Values(spec.Old)), slices.Sorted(slices.Values(spec.New))
	kinds, err := party.ClientReshare(rec, &spec, p.SignersNeeded, p.AskedSignersNeeded, p.AskedParties)
	if err != nil {
		return nil, err
	}
	k, err := rec.IdentityKey()
	if err != nil {
		return nil, err
	}
	if k == nil {
		// A record made before identities existed: a key of the moment,
		// which the new record keeps as this device's identity.
		if k, err = identity.GenerateKey(); err != nil {
			return nil, err
		}
	}
	kind := rec.Own().Kind
	if kind == 0 {
		kind = identity.KindClient
	}
	abandoned, err := signAbandoned(k, p.Abandon, p.SessionID, rec.WalletID, rec.PartyID, spec.Epoch)
	if err != nil {
		return nil, err
	}
	pending, stored, err := p.Earlier.open(p.SessionID, rec.WalletID, rec.PartyID, spec.Epoch)
	if err != nil {
		return nil, err
	}
	st := statementOf(JoinParams{SessionID: p.SessionID, Self: rec.PartyID, Parties: p.Parties}, identity.SessionReshare, p.SignersNeeded, rec.WalletID)
	st.Reshare = &spec
	id, err := keys.add(&seat{identity: k, kind: kind, share: rec, spec: st, kinds: kinds, pending: pending, pendingSession: p.PendingSession})
	if err != nil {
		return nil, err
	}
	j, err := keys.joined(id)
	if err != nil {
		return nil, err
	}
	j.Abandoned, j.Stored = abandoned, stored
	return j, nil
}

// signAbandoned signs, with the seat's identity key k, an abandoned-run
// statement (identity.SignAbandoned) for each of the earlier runs of the
// epoch in abandon, which the caller has recorded abandoned for good.
func signAbandoned(k *identity.Key, abandon []string, sessionID, walletID, partyID string, epoch int) ([][]byte, error) {
	if len(abandon) > identity.MaxAbandoned {
		return nil, argErr("abandon: %d runs; at most %d", len(abandon), identity.MaxAbandoned)
	}
	var out [][]byte
	for _, s := range abandon {
		if s == "" || len(s) > roster.MaxIDLen || s == sessionID {
			return nil, argErr("abandon: %q is not an earlier run's session id", s)
		}
		out = append(out, identity.SignAbandoned(k, s, walletID, partyID, epoch))
	}
	return out, nil
}

func statementOf(p JoinParams, kind identity.SessionKind, threshold int, walletID string) identity.Statement {
	return identity.Statement{SessionKind: kind, SessionID: p.SessionID, PartyID: p.Self, WalletID: walletID, Threshold: threshold,
		Parties: slices.Sorted(slices.Values(p.Parties)), Digest: p.Digest, Path: p.Path}
}

// TrustParams are the pinned deployment roots and revoked identity keys,
// hex, from the SDK's own configuration.
type TrustParams struct {
	Roots   []string
	Revoked []string
}

func (t TrustParams) trust() (*identity.Trust, error) {
	tr, err := identity.ParseTrust(strings.Join(t.Roots, ","), strings.Join(t.Revoked, ","))
	if err != nil {
		return nil, argErr("trust: %v", err)
	}
	return tr, nil
}

// SessionParams start a prepared seat: the roster the coordinator
// announced, checked by the engine against the seat and the trust.
type SessionParams struct {
	KeysID string
	Roster map[string]*identity.Entry
	Trust  TrustParams
}

func (p *SessionParams) session() (*seat, party.Session, error) {
	st, err := keys.get(p.KeysID)
	if err != nil {
		return nil, party.Session{}, err
	}
	tr, err := p.Trust.trust()
	if err != nil {
		return nil, party.Session{}, err
	}
	s := party.Session{ID: st.spec.SessionID, Parties: st.spec.Parties, Self: st.spec.PartyID, SignersNeeded: st.spec.Threshold,
		Keys: st.keys, Roster: p.Roster, Trust: tr}
	if st.kind != identity.KindServer && st.spec.SessionKind == identity.SessionKeygen {
		// A client asked for itself as the only client and certified
		// servers for the rest.
		s.Kinds = map[string]identity.Kind{}
		for _, id := range st.spec.Parties {
			s.Kinds[id] = identity.KindServer
		}
		s.Kinds[st.spec.PartyID] = st.kind
	}
	if st.kinds != nil {
		s.Kinds = st.kinds
	}
	return st, s, nil
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

// runTimeout bounds a run (the engine's default); tests that run every
// party of a session in one instance, on a loaded machine, raise it.
var runTimeout = party.DefaultTimeout

func newRun(out func([]byte)) *Run {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
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

// KeygenParams starts a prepared keygen seat.
type KeygenParams struct {
	SessionParams
	PreParams []byte // preparams.Marshal form
}

// KeygenOutput is a finished keygen.
type KeygenOutput struct {
	Share     []byte // share.Encode form; secret
	PublicKey []byte
	Address   string
	ChainCode []byte // the wallet's BIP32 chain code, for the keygen report
}

// StartKeygen checks p and starts the engine; done receives the outcome.
func StartKeygen(p KeygenParams, out func([]byte), progress func(party.Progress), done func(*KeygenOutput, error)) (*Run, error) {
	st, s, err := p.session()
	if err != nil {
		return nil, err
	}
	if st.spec.SessionKind != identity.SessionKeygen {
		return nil, argErr("seat %s was prepared for a %s, not a keygen", p.KeysID, st.spec.SessionKind)
	}
	pre, err := preparams.Unmarshal(p.PreParams)
	if err != nil {
		return nil, argErr("preParams: %v", err)
	}
	s.Progress = progress
	r := newRun(out)
	go func() {
		defer r.cancel()
		defer keys.release(p.KeysID)
		res, err := party.Keygen(r.ctx, party.KeygenRequest{Session: s, WalletID: st.spec.WalletID, PreParams: pre, Identity: st.identity}, r)
		if err != nil {
			done(nil, err)
			return
		}
		enc, err := share.Encode(res.Share)
		if err != nil {
			done(nil, err)
			return
		}
		done(&KeygenOutput{Share: enc, PublicKey: res.PublicKey, Address: res.Address, ChainCode: res.ChainCode}, nil)
	}()
	return r, nil
}

// SignParams starts a prepared signing seat (its share and digest).
type SignParams struct {
	SessionParams
}

// StartSign checks p and starts the engine.
func StartSign(p SignParams, out func([]byte), progress func(party.Progress), done func(*party.Signature, error)) (*Run, error) {
	st, s, err := p.session()
	if err != nil {
		return nil, err
	}
	if st.spec.SessionKind != identity.SessionSign {
		return nil, argErr("seat %s was prepared for a %s, not a signing", p.KeysID, st.spec.SessionKind)
	}
	rec := st.share
	s.Progress = progress
	s.SignersNeeded = 0
	r := newRun(out)
	go func() {
		defer r.cancel()
		defer keys.release(p.KeysID)
		sig, err := party.Sign(r.ctx, party.SignRequest{Session: s, Share: rec, Digest: st.spec.Digest, Path: st.spec.Path}, r)
		done(sig, err)
	}()
	return r, nil
}

// ReshareParams start a prepared reshare seat with this party's own
// pre-parameters (it is in the new committee).
type ReshareParams struct {
	SessionParams
	PreParams []byte // preparams.Marshal form
	// Words are what every party's join says of earlier runs of the
	// epoch (PartyKeys.abandoned and stored), by party id: what a seat
	// holding an earlier run's pending share checks before it starts.
	Words map[string]party.RunWords
}

// ReshareOutput is a finished reshare: the new share, of epoch Epoch, to
// store as pending, and the acknowledgement to report once it is stored
// (identity.SignStored, with the identity key of the seat's statement).
type ReshareOutput struct {
	Share     []byte // share.Encode form; secret
	PublicKey []byte
	Address   string
	Epoch     int
	StoredAck []byte
}

// StartReshare checks p and starts the engine; done receives the outcome.
func StartReshare(p ReshareParams, out func([]byte), progress func(party.Progress), done func(*ReshareOutput, error)) (*Run, error) {
	st, s, err := p.session()
	if err != nil {
		return nil, err
	}
	if st.spec.SessionKind != identity.SessionReshare || st.spec.Reshare == nil {
		return nil, argErr("seat %s was prepared for a %s, not a reshare", p.KeysID, st.spec.SessionKind)
	}
	spec := st.spec.Reshare
	if err := party.CheckEarlierRun(st.spec.SessionID, st.spec.PartyID, spec.Epoch, st.pending, st.pendingSession, p.Words); err != nil {
		return nil, err
	}
	s.Progress = progress
	req := party.ReshareRequest{Session: s, WalletID: st.spec.WalletID, Epoch: spec.Epoch, Old: spec.Old, OldThreshold: spec.OldThreshold,
		New: spec.New, NewThreshold: st.spec.Threshold, PublicKey: spec.PublicKey, ChainCode: spec.ChainCode, ClientRequired: spec.ClientRequired,
		RecoveryPolicy: spec.Recovery, Recovery: st.auth, BackendKeys: st.backendKeys, Identity: st.identity}
	if slices.Contains(spec.Old, st.spec.PartyID) {
		req.Share = st.share
	}
	if slices.Contains(spec.New, st.spec.PartyID) {
		if req.PreParams, err = preparams.Unmarshal(p.PreParams); err != nil {
			return nil, argErr("preParams: %v", err)
		}
	}
	r := newRun(out)
	go func() {
		defer r.cancel()
		defer keys.release(p.KeysID)
		res, err := party.Reshare(r.ctx, req, r)
		if err != nil {
			done(nil, err)
			return
		}
		if res.Share == nil {
			done(nil, &Error{Code: "internal", Message: "the reshare made no share for this party of the new committee"})
			return
		}
		enc, err := share.Encode(res.Share)
		if err != nil {
			done(nil, err)
			return
		}
		ack := identity.SignStored(st.identity, st.spec.SessionID, st.spec.WalletID, st.spec.PartyID, res.Share.Epoch, res.PublicKey)
		done(&ReshareOutput{Share: enc, PublicKey: res.PublicKey, Address: res.Address, Epoch: res.Share.Epoch, StoredAck: ack}, nil)
	}()
	return r, nil
}

// StoredAcksParams are a reshare's Completed event as a new holder checks
// it: the session, the epoch it activated and every new holder's stored
// acknowledgement by party id, against this party's new share.
type StoredAcksParams struct {
	SessionID string
	Share     []byte // the new share (share.Encode form)
	Epoch     int
	Acks      map[string][]byte
}

// VerifyStoredAcks checks a reshare's Completed event before the new share
// replaces the old one: it is for the new share's epoch, and every holder
// the new share names acknowledged storing its own, under the identity key
// the share records for it. Until then a holder may have no new share, and
// dropping the old one could leave no full set of either epoch
// (docs/lifecycle.md, two-phase activation). It fails with code "verify",
// naming the holders whose acknowledgement is missing or wrong.
func VerifyStoredAcks(p StoredAcksParams) error {
	rec, err := share.Decode(p.Share)
	if err != nil {
		return err
	}
	if p.Epoch != rec.Epoch {
		return &Error{Code: "verify", Message: fmt.Sprintf("the Completed event activates epoch %d; this share is of epoch %d", p.Epoch, rec.Epoch)}
	}
	if len(rec.Holders) == 0 {
		return &Error{Code: "verify", Message: "the share names no holders' identity keys to check acknowledgements with"}
	}
	var bad []string
	for _, h := range rec.Holders {
		if !identity.VerifyStored(h.Identity, p.Acks[h.PartyID], p.SessionID, rec.WalletID, h.PartyID, rec.Epoch, rec.PublicKey) {
			bad = append(bad, h.PartyID)
		}
	}
	if len(bad) > 0 {
		return &Error{Code: "verify", Culprits: bad,
			Message: fmt.Sprintf("no valid stored acknowledgement from %s: a holder may have no share of epoch %d", strings.Join(bad, ", "), rec.Epoch)}
	}
	return nil
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

// safePrimeNaive is the baseline the benchmarks compare SafePrime with
// (SafePrimeSeeded): a safe prime found the plain way, as tss-lib does it
// — random candidates, trial division by the primes up to 53, then
// math/big's ProbablyPrime on q and 2q+1. It is never used to make
// pre-parameters.
func safePrimeNaive(ctx context.Context, bits int, rnd io.Reader, yield func(), count *SearchCount) (*big.Int, error) {
	small := []uint64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53}
	q, p := new(big.Int), new(big.Int)
	buf := make([]byte, (bits-1+7)/8)
	top := byte(0xff) >> (8*len(buf) - (bits - 1)) // bits-1 bits at most
	for n := 0; ; n++ {
		if n%8 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if yield != nil {
				yield()
			}
		}
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, err
		}
		count.Candidates++
		buf[0] &= top
		q.SetBytes(buf)
		q.SetBit(q, bits-2, 1).SetBit(q, bits-3, 1).SetBit(q, 0, 1) // bits-1 bits, top two set, odd
		ok := true
		for _, s := range small {
			r := new(big.Int).Mod(q, new(big.Int).SetUint64(s)).Uint64()
			if r == 0 || (2*r+1)%s == 0 { // s divides q or 2q+1
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		count.Tested++
		if !q.ProbablyPrime(20) {
			continue
		}
		p.Lsh(q, 1).Add(p, big.NewInt(1))
		if p.ProbablyPrime(20) {
			return p, nil
		}
	}
}

// SearchCount is what a safe-prime search did: the candidates it drew (the
// sieved search: the odd q its sieve went past) and those it tested (a
// Fermat test of 2q+1 for the sieved search, ProbablyPrime of q for the
// naive one).
type SearchCount struct{ Candidates, Tested int }

// benchStream is the candidate stream of the seeded benchmark searches:
// ChaCha8 seeded with seed, the streams of party/preparams' seeded
// benchmarks (BenchmarkSafePrime1024Seeded), so that a browser search and
// a native one of the same seed do the same work. Not for keys: the seed
// is public.
func benchStream(seed int) *mathrand.ChaCha8 {
	return mathrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xb5, 0x5e})
}

// SafePrimeSeeded is SafePrime, or with naive safePrimeNaive, on the
// candidate stream of seed (benchStream), for benchmarks: every search of
// one seed draws the same candidates and runs the same tests, in every
// run and on every machine, so that timings differ only by the machine.
// It returns what the search did; the prime is dropped, its seed being
// public.
func SafePrimeSeeded(ctx context.Context, seed int, naive bool, yield func()) (SearchCount, error) {
	var count SearchCount
	if seed < 0 || seed > 0xffff {
		return count, argErr("seed: want 0..65535, got %d", seed)
	}
	if naive {
		_, err := safePrimeNaive(ctx, preparams.SafePrimeBits, benchStream(seed), yield, &count)
		return count, err
	}
	_, err := preparams.SafePrime(ctx, preparams.SafePrimeBits, &preparams.Options{Concurrency: 1, Yield: yield, Rand: benchStream(seed),
		Progress: func(p preparams.Progress) { count.Candidates, count.Tested = p.Candidates, p.Tested }})
	return count, err
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
	Epoch     int
	// Holders' kinds and identity keys (hex), none for a record made
	// before identities existed; the wallet's policy; this party's own
	// identity public key ("" then too).
	Holders        []share.Holder
	ClientRequired bool
	IdentityKey    string
	// ChainCode is the wallet's BIP32 chain code (the legacy rule's for a
	// record of version 1 or 2).
	ChainCode []byte
}

// InspectShare decodes and validates a share record and returns its public
// part (the secret stays in the bytes the caller already has).
func InspectShare(b []byte) (*ShareInfo, error) {
	rec, err := share.Decode(b)
	if err != nil {
		return nil, err
	}
	info := &ShareInfo{WalletID: rec.WalletID, PartyID: rec.PartyID, Threshold: rec.Threshold, Parties: rec.Parties, PublicKey: rec.PublicKey,
		Address: rec.Address(), Epoch: rec.Epoch, Holders: rec.Holders, ClientRequired: rec.Policy.ClientRequired, ChainCode: rec.ChainCode}
	if own := rec.Own(); !own.Identity.IsZero() {
		info.IdentityKey = own.Identity.String()
	}
	return info, nil
}

var errCanceled = errors.New("canceled")

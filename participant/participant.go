// Package participant runs one party of a coordinated session over the
// network: it joins with fresh session keys, waits for the roster, runs the
// engine (package party) over the router, reports progress and its result,
// and waits for the coordinator's verdict. Server parties, the server-party
// API's user party and the CLI party all run sessions through it; the
// browser does the same steps in the SDK.
package participant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// Conn reaches the coordinator and the router.
type Conn struct {
	Coordinator grpc.ClientConnInterface
	Router      grpc.ClientConnInterface
}

// Job is one party's seat in one session.
//
// The session as this party understands it — wallet, parties, threshold,
// digest — comes from its own request (a client) or its assignment (a
// server party), never from the roster: the party signs it in its join
// statement with its identity key, and the engine refuses a roster whose
// statements describe anything else.
type Job struct {
	SessionID string
	PartyID   string
	Token     string // party token for (SessionID, PartyID)

	// Identity signs this party's join statement: a server party's
	// certified key, a client's device key (a new one for a keygen, the
	// share record's for a signing).
	Identity *identity.Key
	// Chain is a server party's certificate chain.
	Chain []*identity.Certificate
	// Kind is what this party is in the wallet: server, client or user.
	Kind identity.Kind
	// Trust holds the pinned deployment roots and revoked keys.
	Trust *identity.Trust
	// WalletID, Parties and Threshold (signers needed; a signing takes the
	// share's) describe the session; Digest is what a signing signs.
	WalletID  string
	Parties   []string
	Threshold int
	Digest    []byte
	// Path, at signing, is the BIP32 derivation path of the signing key
	// (empty: the wallet key); it goes into the join statement.
	Path []uint32
	// Epoch, at signing, is the share's epoch (Sign sets it); it goes
	// into the join statement, so a signing that mixes epochs is refused
	// before its first round.
	Epoch int
	// Reshare, for a reshare, is what is handed over (Threshold is then the
	// new threshold).
	Reshare *identity.Reshare
	// Abandoned, for a reshare, is this party's abandoned-run statements
	// for earlier runs of the same epoch (identity.SignAbandoned), which
	// its join carries (PartyKeys.abandoned).
	Abandoned [][]byte
	// Pending, for a reshare, is the share this party holds pending from
	// an earlier run of the same wallet (PendingSession, the run its
	// record is from), if any: the run takes place only if that earlier
	// run can never be activated (party.CheckEarlierRun). Stored is this party's
	// stored acknowledgement of that run, by session id, which its join
	// carries (PartyKeys.stored), so that a run every holder stored is
	// found and activated late instead of run again.
	Pending        *share.Record
	PendingSession string
	Stored         map[string][]byte
	// Kinds, if set, is the kind every party must have: what a client
	// asked for (itself a client, every other party a certified server).
	Kinds map[string]identity.Kind
	// Recovery, in a client's keygen, is the recovery policy it sets for
	// the wallet (its join statement carries it to every holder).
	Recovery identity.Recovery
	// Authorization, at a recovery, is what lets the server holders hand
	// the wallet to a new client (the new client's own, or the one in a
	// server party's assignment); BackendKeys are a server party's
	// configured app-backend recovery keys.
	Authorization *recovery.Authorization
	BackendKeys   []identity.PublicKey

	// Progress, if set, sees every engine progress report.
	Progress func(party.Progress)
	// Event, if set, sees every session event (waiting, ready, progress of
	// every party, completed, failed).
	Event func(*tsskitv1.SessionEvent)
	// Log, if set, gets the seat's lines; give it the session's context
	// (the seat adds only its party id, as "seat").
	Log *slog.Logger
	// Gate, if set, bounds the engine's computation (party.Session.Gate).
	Gate party.Gate
	// Cost, if set, is what the seat reports with its result as the
	// session's cost (ReportResultRequest.compute_ms, preparams_ms).
	Cost func() (compute, preparams time.Duration)
}

// SessionError is a session that the coordinator failed (or that failed
// here before the coordinator said so).
type SessionError struct {
	Code     string
	Reason   string
	Culprits []string
}

func (e *SessionError) Error() string {
	s := "session failed: " + e.Reason
	if len(e.Culprits) > 0 {
		s += fmt.Sprintf(" (culprits: %v)", e.Culprits)
	}
	return s
}

// ReshareOutcome is a finished reshare: Share is this party's new share
// (nil for a party only in the old committee). Activate says every new
// holder's stored acknowledgement came with the coordinator's Completed
// event and verifies under the identity key the new share names: only
// then may the party make the new share its share and drop the old one.
// For a party only in the old committee, Activate says the same of the
// new committee its join statements named: only then may it delete its
// share of the old epoch (Retire), which it no longer holds a part in.
type ReshareOutcome struct {
	Share     *share.Record
	PublicKey []byte
	Address   string
	Activate  bool
	// Retire: this party is in the old committee only, and Activate
	// says its old share may be deleted.
	Retire bool
	// NotActivated says why Activate is false.
	NotActivated error
}

// Reshare runs a reshare seat of j.Reshare: rec is the party's current
// share if it is in the old committee, pre its own pre-parameters if it
// is in the new one. save is called with the new share before the result
// is reported, so a party never says it stored a share it has not; the
// caller keeps it pending until Reshare returns without error, which
// happens only once the coordinator has activated the new epoch
// (its Completed event).
func Reshare(ctx context.Context, c Conn, j Job, rec *share.Record, pre *keygen.LocalPreParams, save func(*share.Record) error) (*ReshareOutcome, error) {
	spec := j.Reshare
	if spec == nil {
		return nil, &party.Error{Code: party.CodeInvalidParams, Err: errors.New("a reshare job without its reshare")}
	}
	var out *ReshareOutcome
	var newHolders []share.Holder
	var completed *tsskitv1.SessionEvent_Completed
	event := j.Event
	j.Event = func(ev *tsskitv1.SessionEvent) {
		if c := ev.GetCompleted(); c != nil {
			completed = c
		}
		if event != nil {
			event(ev)
		}
	}
	err := run(ctx, c, j, identity.SessionReshare, func(ctx context.Context, s party.Session, ready *tsskitv1.SessionEvent_Ready, tr party.Transport) (*tsskitv1.ReportResultRequest, error) {
		if err := party.CheckEarlierRun(j.SessionID, j.PartyID, spec.Epoch, j.Pending, j.PendingSession, RunWords(ready.Roster)); err != nil {
			return nil, err
		}
		res, err := party.Reshare(ctx, party.ReshareRequest{Session: s, WalletID: j.WalletID, Epoch: spec.Epoch, Old: spec.Old, OldThreshold: spec.OldThreshold,
			New: spec.New, NewThreshold: j.Threshold, PublicKey: spec.PublicKey, ChainCode: spec.ChainCode, ClientRequired: spec.ClientRequired,
			RecoveryPolicy: spec.Recovery, Recovery: j.Authorization, BackendKeys: j.BackendKeys,
			Share: rec, PreParams: pre, Identity: j.Identity}, tr)
		if err != nil {
			return nil, err
		}
		if res.Share != nil && save != nil {
			if err := save(res.Share); err != nil {
				return nil, fmt.Errorf("store pending share: %w", err)
			}
		}
		out = &ReshareOutcome{Share: res.Share, PublicKey: res.PublicKey, Address: res.Address}
		newHolders = res.NewHolders
		r := &tsskitv1.ReportResultRequest_Reshared{PublicKey: res.PublicKey, Epoch: uint32(spec.Epoch), Stored: res.Share != nil}
		if res.Share != nil {
			r.StoredAck = identity.SignStored(j.Identity, j.SessionID, j.WalletID, j.PartyID, spec.Epoch, res.PublicKey)
		}
		return &tsskitv1.ReportResultRequest{Result: &tsskitv1.ReportResultRequest_Reshared_{Reshared: r}}, nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case out.Share != nil:
		out.NotActivated = checkStoredAcks(j.SessionID, j.WalletID, spec.Epoch, out.Share.PublicKey, out.Share.Holders, completed)
		out.Activate = out.NotActivated == nil
	case rec != nil:
		// Only in the old committee: the wallet moves on without this
		// party, whose old share would keep the old epoch able to sign
		// with the other old holders' — deleted once every new holder's
		// word that it stored its share verifies, never on the
		// coordinator's word alone.
		out.NotActivated = checkStoredAcks(j.SessionID, j.WalletID, spec.Epoch, out.PublicKey, newHolders, completed)
		out.Activate = out.NotActivated == nil
		out.Retire = out.Activate
	}
	return out, nil
}

// RunWords are what each party's reshare join says of earlier runs of
// the epoch (PartyKeys.abandoned and stored), by party id: what
// party.CheckEarlierRun reads.
func RunWords(roster []*tsskitv1.PartyKeys) map[string]party.RunWords {
	w := map[string]party.RunWords{}
	for _, k := range roster {
		w[k.PartyId] = party.RunWords{Abandoned: k.Abandoned, Stored: k.Stored}
	}
	return w
}

// checkStoredAcks checks, for every new holder, its stored
// acknowledgement in the Completed event under its identity key.
func checkStoredAcks(sessionID, walletID string, epoch int, publicKey []byte, holders []share.Holder, done *tsskitv1.SessionEvent_Completed) error {
	if done == nil || int(done.Epoch) != epoch {
		return errors.New("no Completed event for this epoch")
	}
	return verifyAcks(sessionID, walletID, epoch, publicKey, holders, done.StoredAcks)
}

// VerifyStoredAcks checks, for every holder rec (a new share of a
// reshare session) names, its acknowledgement in acks that it stored its
// share, under the identity key rec records for it: what a party checks
// before it activates a new share, at the session's Completed event or,
// having missed it, from the coordinator's record of the session
// (GetSession's stored_acks). The coordinator cannot make them.
func VerifyStoredAcks(sessionID string, rec *share.Record, acks map[string][]byte) error {
	return verifyAcks(sessionID, rec.WalletID, rec.Epoch, rec.PublicKey, rec.Holders, acks)
}

// verifyAcks checks every holder's acknowledgement in acks that it stored
// its share of walletID's epoch, of publicKey, in session sessionID.
func verifyAcks(sessionID, walletID string, epoch int, publicKey []byte, holders []share.Holder, acks map[string][]byte) error {
	if len(holders) == 0 {
		return errors.New("no new holders to check")
	}
	for _, h := range holders {
		if !identity.VerifyStored(h.Identity, acks[h.PartyID], sessionID, walletID, h.PartyID, epoch, publicKey) {
			return fmt.Errorf("no valid stored acknowledgement from %s: a holder may have no share of epoch %d", h.PartyID, epoch)
		}
	}
	return nil
}

// ReshareFromProto is a reshare spec from the wire (nil for nil, or for
// a malformed recovery kit key); its committees are sorted, and the join
// statement checks the rest.
func ReshareFromProto(p *tsskitv1.ReshareSpec) *identity.Reshare {
	if p == nil {
		return nil
	}
	r := &identity.Reshare{Epoch: int(min(p.Epoch, identity.MaxEpoch)), OldThreshold: int(p.OldThreshold), Old: slices.Sorted(slices.Values(p.OldParties)),
		New: slices.Sorted(slices.Values(p.NewParties)), PublicKey: bytes.Clone(p.PublicKey), ChainCode: bytes.Clone(p.ChainCode), ClientRequired: p.ClientRequired}
	r.Recovery.Backend = p.RecoveryBackend
	if len(p.RecoveryKit) != 0 {
		k, err := identity.PublicKeyFromBytes(p.RecoveryKit)
		if err != nil || k.IsZero() {
			return nil // malformed: no reshare any party would join
		}
		r.Recovery.Kit = k
	}
	return r
}

// ReshareProto is the wire form of a reshare spec (nil for nil), with a
// recovery's authorization (nil: none).
func ReshareProto(r *identity.Reshare, a *recovery.Authorization) *tsskitv1.ReshareSpec {
	if r == nil {
		return nil
	}
	p := &tsskitv1.ReshareSpec{Epoch: uint32(r.Epoch), OldThreshold: uint32(r.OldThreshold), OldParties: slices.Clone(r.Old), NewParties: slices.Clone(r.New),
		PublicKey: bytes.Clone(r.PublicKey), ChainCode: bytes.Clone(r.ChainCode), ClientRequired: r.ClientRequired, RecoveryBackend: r.Recovery.Backend}
	if !r.Recovery.Kit.IsZero() {
		p.RecoveryKit = bytes.Clone(r.Recovery.Kit[:])
	}
	if a != nil {
		p.RecoveryAuthorization = a.Encode()
	}
	return p
}

// KeygenOutcome is a finished keygen.
type KeygenOutcome struct {
	Share     *share.Record
	PublicKey []byte
	Address   string
}

// Keygen runs a keygen seat. save is called with the new share before the
// result is reported, so a party never claims a key it has not stored.
func Keygen(ctx context.Context, c Conn, j Job, pre *keygen.LocalPreParams, save func(*share.Record) error) (*KeygenOutcome, error) {
	var out *KeygenOutcome
	err := run(ctx, c, j, identity.SessionKeygen, func(ctx context.Context, s party.Session, ready *tsskitv1.SessionEvent_Ready, tr party.Transport) (*tsskitv1.ReportResultRequest, error) {
		res, err := party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: j.WalletID, PreParams: pre, Identity: j.Identity}, tr)
		if err != nil {
			return nil, err
		}
		if save != nil {
			if err := save(res.Share); err != nil {
				return nil, fmt.Errorf("store share: %w", err)
			}
		}
		out = &KeygenOutcome{Share: res.Share, PublicKey: res.PublicKey, Address: res.Address}
		return &tsskitv1.ReportResultRequest{Result: &tsskitv1.ReportResultRequest_PublicKey{PublicKey: res.PublicKey}, ChainCode: res.ChainCode}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sign runs a signing seat of j.Digest with the party's share. The job's
// wallet and threshold are the share's; its kind and, for a client, its
// identity key are too (a record made before identities existed has none:
// the caller gives a key of the moment).
func Sign(ctx context.Context, c Conn, j Job, rec *share.Record) (*party.Signature, error) {
	var out *party.Signature
	j.WalletID, j.Threshold, j.Epoch = rec.WalletID, rec.Threshold, rec.Epoch
	if k := rec.Own().Kind; k != 0 {
		j.Kind = k
	}
	err := run(ctx, c, j, identity.SessionSign, func(ctx context.Context, s party.Session, ready *tsskitv1.SessionEvent_Ready, tr party.Transport) (*tsskitv1.ReportResultRequest, error) {
		s.SignersNeeded = 0
		sig, err := party.Sign(ctx, party.SignRequest{Session: s, Share: rec, Digest: j.Digest, Path: j.Path}, tr)
		if err != nil {
			return nil, err
		}
		out = sig
		return &tsskitv1.ReportResultRequest{Result: &tsskitv1.ReportResultRequest_Signature{Signature: SignatureProto(sig)}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SignatureProto converts an engine signature to the wire message.
func SignatureProto(s *party.Signature) *tsskitv1.Signature {
	return &tsskitv1.Signature{R: s.R, S: s.S, V: uint32(s.V), Der: s.DER}
}

type engineFunc func(ctx context.Context, s party.Session, ready *tsskitv1.SessionEvent_Ready, tr party.Transport) (*tsskitv1.ReportResultRequest, error)

// StatementLife is how long a join statement (and so a client's sign
// request) stays valid: long enough for every party to join.
const StatementLife = 10 * time.Minute

// JoinKeys makes fresh session keys and the signed statement binding them
// to j's identity: what the party publishes when it joins.
func JoinKeys(j *Job, kind identity.SessionKind) (*seal.Keys, *tsskitv1.PartyKeys, error) {
	if j.Identity == nil || j.Trust == nil {
		return nil, nil, &party.Error{Code: party.CodeInvalidParams, Err: errors.New("a seat needs an identity key and a trust root")}
	}
	keys, err := seal.GenerateKeys()
	if err != nil {
		return nil, nil, err
	}
	pub := keys.Public()
	st := &identity.Statement{SessionKind: kind, SessionID: j.SessionID, PartyID: j.PartyID, Kind: j.Kind, WalletID: j.WalletID,
		Threshold: j.Threshold, Parties: slices.Sorted(slices.Values(j.Parties)), Digest: j.Digest, Path: j.Path, Epoch: j.Epoch, Reshare: j.Reshare, Expires: time.Now().Add(StatementLife)}
	if kind == identity.SessionKeygen {
		st.Recovery = j.Recovery
	}
	copy(st.X25519[:], pub.X25519)
	copy(st.Ed25519[:], pub.Ed25519)
	e, err := identity.SignStatement(j.Identity, st, j.Chain)
	if err != nil {
		return nil, nil, &party.Error{Code: party.CodeInvalidParams, Err: err}
	}
	return keys, &tsskitv1.PartyKeys{PartyId: j.PartyID, X25519: pub.X25519, Ed25519: pub.Ed25519,
		Statement: e.Statement, StatementSignature: e.Signature, Certificates: e.Chain, Abandoned: abandoned(j, kind), Stored: stored(j, kind)}, nil
}

// stored is what a join of kind carries of j.Stored: nothing but at a
// reshare.
func stored(j *Job, kind identity.SessionKind) map[string][]byte {
	if kind != identity.SessionReshare || len(j.Stored) == 0 {
		return nil
	}
	return maps.Clone(j.Stored)
}

// abandoned is what a join of kind carries of j.Abandoned: nothing but at
// a reshare.
func abandoned(j *Job, kind identity.SessionKind) [][]byte {
	if kind != identity.SessionReshare || len(j.Abandoned) == 0 {
		return nil
	}
	return slices.Clone(j.Abandoned)
}

// EntryOf is the roster entry a party's published keys carry.
func EntryOf(k *tsskitv1.PartyKeys) *identity.Entry {
	return &identity.Entry{Statement: k.Statement, Signature: k.StatementSignature, Chain: k.Certificates}
}

// checkReady compares the roster the coordinator announced with the
// session this party joined: the same kind, wallet, threshold, digest and
// parties, or a typed session_mismatch before anything runs. (The engine
// checks every statement against the same view; this names the
// coordinator's word as the odd one out.)
func checkReady(j *Job, kind identity.SessionKind, ready *tsskitv1.SessionEvent_Ready) error {
	mismatch := func(format string, a ...any) error {
		return &party.Error{Code: party.CodeMismatch, Err: fmt.Errorf("the coordinator's roster "+format, a...)}
	}
	var ids []string
	for _, k := range ready.Roster {
		ids = append(ids, k.PartyId)
	}
	wantKind := tsskitv1.SessionKind_SESSION_KIND_KEYGEN
	switch kind {
	case identity.SessionSign:
		wantKind = tsskitv1.SessionKind_SESSION_KIND_SIGN
	case identity.SessionReshare:
		wantKind = tsskitv1.SessionKind_SESSION_KIND_RESHARE
	}
	switch {
	case ready.Kind != wantKind:
		return mismatch("is of a %v session; this party joined a %v", ready.Kind, wantKind)
	case ready.WalletId != j.WalletID:
		return mismatch("is for wallet %s; this party joined for %s", ready.WalletId, j.WalletID)
	case kind == identity.SessionKeygen && !ready.RecordsChainCodes:
		return mismatch("is from a coordinator that does not record chain codes (older than this party): upgrade the coordinator; it would record the wallet without the chain code this party records")
	case kind == identity.SessionReshare && !ReshareFromProto(ready.Reshare).Equal(j.Reshare):
		return mismatch("describes another reshare (committees, epoch, key or policy) than the one this party joined")
	case kind != identity.SessionSign && int(ready.SignersNeeded) != j.Threshold:
		return mismatch("needs %d signers; this party joined for %d", ready.SignersNeeded, j.Threshold)
	case kind == identity.SessionSign && !bytes.Equal(ready.Digest, j.Digest):
		return mismatch("signs digest %x; this party joined to sign %x", ready.Digest, j.Digest)
	case kind == identity.SessionSign && !slices.Equal(ready.DerivationPath, j.Path):
		return mismatch("signs with derivation path %v; this party joined to sign with %v", ready.DerivationPath, j.Path)
	case !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(j.Parties))):
		return mismatch("has parties %v; this party joined with %v", ids, j.Parties)
	}
	return nil
}

func run(ctx context.Context, c Conn, j Job, kind identity.SessionKind, engine engineFunc) error {
	log := j.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	coord := tsskitv1.NewCoordinatorServiceClient(c.Coordinator)
	creds := grpc.PerRPCCredentials(serve.Bearer(j.Token))

	keys, published, err := JoinKeys(&j, kind)
	if err != nil {
		return err
	}
	// Watch before joining, so no event is missed; the stream replays from
	// the session's first event anyway.
	watch, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: j.SessionID}, creds)
	if err != nil {
		return fmt.Errorf("watch session: %w", err)
	}
	if _, err := coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: j.SessionID, Keys: published}, creds); err != nil {
		return fmt.Errorf("join session: %w", err)
	}
	log.Info("joined", "seat", j.PartyID)

	// Events are read by one goroutine for the whole seat: ready starts the
	// engine, failed cancels it, completed ends the seat.
	readyc := make(chan *tsskitv1.SessionEvent_Ready, 1)
	endc := make(chan error, 1) // nil: completed
	engineCtx, stopEngine := context.WithCancelCause(ctx)
	defer stopEngine(nil)
	go func() {
		// The stream replays the session's events from the first, so after a
		// break it is opened again and what was seen is skipped.
		var seen uint64
		var failingSince time.Time
		for {
			ev, err := watch.Recv()
			if err != nil {
				retry := errors.Is(err, io.EOF) || router.Retryable(err)
				if errors.Is(err, io.EOF) {
					err = errors.New("session event stream ended without a result")
				}
				if ctx.Err() == nil && retry && (failingSince.IsZero() || time.Since(failingSince) < time.Minute) {
					if failingSince.IsZero() {
						failingSince = time.Now()
					}
					time.Sleep(200 * time.Millisecond)
					if w, werr := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: j.SessionID}, creds); werr == nil {
						watch = w
						log.Info("session events: stream reopened")
					}
					continue
				}
				stopEngine(err)
				endc <- err
				return
			}
			failingSince = time.Time{}
			if ev.Seq <= seen {
				continue
			}
			seen = ev.Seq
			if j.Event != nil {
				j.Event(ev)
			}
			switch e := ev.Event.(type) {
			case *tsskitv1.SessionEvent_Ready_:
				readyc <- e.Ready
			case *tsskitv1.SessionEvent_Failed_:
				se := &SessionError{Code: e.Failed.Code, Reason: e.Failed.Reason, Culprits: e.Failed.Culprits}
				stopEngine(se)
				endc <- se
				return
			case *tsskitv1.SessionEvent_Completed_:
				endc <- nil
				return
			}
		}
	}()

	var ready *tsskitv1.SessionEvent_Ready
	select {
	case ready = <-readyc:
	case err := <-endc:
		if err == nil {
			err = errors.New("session completed before it was ready")
		}
		return err
	}
	s := party.Session{
		ID: j.SessionID, Self: j.PartyID, Parties: j.Parties, SignersNeeded: j.Threshold,
		Keys: keys, Roster: map[string]*identity.Entry{}, Trust: j.Trust, Kinds: j.Kinds, Gate: j.Gate,
	}
	for _, k := range ready.Roster {
		s.Roster[k.PartyId] = EntryOf(k)
	}
	s.Progress = progressReporter(engineCtx, coord, creds, j)

	var res *tsskitv1.ReportResultRequest
	runErr := checkReady(&j, kind, ready)
	if runErr == nil {
		tr := router.NewTransport(engineCtx, c.Router, j.SessionID, j.PartyID, j.Token)
		res, runErr = engine(engineCtx, s, ready, tr)
		tr.Close()
	}
	if runErr != nil {
		if pe, ok := party.AsError(runErr); ok && pe.Code == party.CodeTransport && ctx.Err() == nil {
			// The router closes a session's streams when the coordinator
			// fails it, and that close can arrive before the coordinator's
			// event saying why: wait a moment for the event, so the seat
			// reports the session's reason rather than a lost stream.
			t := time.NewTimer(transportGrace)
			select {
			case <-endc: // a failure has set the engine's cause before this
			case <-t.C:
			}
			t.Stop()
		}
		if cause := context.Cause(engineCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause // the session failed elsewhere first; that is the story
		}
		// Report even when our own context ended (a shutdown): the session
		// then fails at once, with this party's reason, instead of timing out.
		report := &tsskitv1.ReportResultRequest{Result: &tsskitv1.ReportResultRequest_Failure_{Failure: failure(runErr)}}
		report.SessionId, report.PartyId = j.SessionID, j.PartyID
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if _, err := coord.ReportResult(rctx, report, creds); err != nil && status.Code(err) != codes.FailedPrecondition {
			log.Warn("report failure", "err", err)
		}
		return runErr
	}
	res.SessionId, res.PartyId = j.SessionID, j.PartyID
	if j.Cost != nil {
		c, pp := j.Cost()
		res.ComputeMs, res.PreparamsMs = millis(c), millis(pp)
	}
	if _, err := coord.ReportResult(ctx, res, creds); err != nil {
		return fmt.Errorf("report result: %w", err)
	}
	select {
	case err := <-endc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transportGrace is how long a seat whose stream was closed waits for the
// session's failed event before reporting the closed stream as its reason.
const transportGrace = 2 * time.Second

// millis is d in whole milliseconds, within uint32.
func millis(d time.Duration) uint32 {
	return uint32(min(max(d.Milliseconds(), 0), 1<<32-1))
}

// failure describes an engine error for the coordinator.
func failure(err error) *tsskitv1.ReportResultRequest_Failure {
	f := &tsskitv1.ReportResultRequest_Failure{Code: "error", Reason: err.Error()}
	if pe, ok := party.AsError(err); ok {
		f.Code = string(pe.Code)
		f.Culprits = pe.Culprits
	}
	return f
}

// WaitReporter reports a seat's wait for a work slot before it joins
// (a server party making pre-parameters on the spot) to the coordinator,
// as round 0 of rounds with its place in line, and the wait's end as
// place 0; like the engine's progress, without ever blocking the caller
// (the latest report replaces one not sent). token is the seat's.
func WaitReporter(ctx context.Context, coord tsskitv1.CoordinatorServiceClient, sessionID, partyID, token string, rounds int) func(queued int) {
	report := progressReporter(ctx, coord, grpc.PerRPCCredentials(serve.Bearer(token)), Job{SessionID: sessionID, PartyID: partyID})
	return func(queued int) { report(party.Progress{Rounds: rounds, Queued: queued}) }
}

// progressReporter reports each new round to the coordinator without ever
// blocking the engine: reports go through a one-slot mailbox that keeps the
// latest.
func progressReporter(ctx context.Context, coord tsskitv1.CoordinatorServiceClient, creds grpc.CallOption, j Job) func(party.Progress) {
	var mu sync.Mutex
	last, lastQueued := -1, 0
	latest := make(chan party.Progress, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-latest:
				_, _ = coord.ReportProgress(ctx, &tsskitv1.ReportProgressRequest{
					SessionId: j.SessionID, PartyId: j.PartyID, Round: uint32(p.Round), Rounds: uint32(p.Rounds), Queued: uint32(p.Queued),
				}, creds)
			}
		}
	}()
	return func(p party.Progress) {
		if j.Progress != nil {
			j.Progress(p)
		}
		mu.Lock()
		defer mu.Unlock()
		// A new round, or a change of place in the work queue (the
		// coordinator shows it; the latest report replaces one not sent).
		if p.Round == last && p.Queued == lastQueued {
			return
		}
		last, lastQueued = p.Round, p.Queued
		select {
		case <-latest:
		default:
		}
		latest <- p
	}
}

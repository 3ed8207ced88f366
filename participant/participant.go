// Package participant runs one party of a coordinated session over the
// network: it joins with fresh session keys, waits for the roster, runs the
// engine (package party) over the router, reports progress and its result,
// and waits for the coordinator's verdict. Server parties, the server-party
// API's user party and the CLI party all run sessions through it; the
// browser does the same steps in the SDK.
package participant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party"
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
type Job struct {
	SessionID string
	PartyID   string
	Token     string // party token for (SessionID, PartyID)
	// Progress, if set, sees every engine progress report.
	Progress func(party.Progress)
	// Event, if set, sees every session event (waiting, ready, progress of
	// every party, completed, failed).
	Event func(*tsskitv1.SessionEvent)
	// Log, if set, gets the seat's lines; give it the session's context
	// (the seat adds only its party id, as "seat").
	Log *slog.Logger
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
	err := run(ctx, c, j, tsskitv1.SessionKind_SESSION_KIND_KEYGEN, func(ctx context.Context, s party.Session, ready *tsskitv1.SessionEvent_Ready, tr party.Transport) (*tsskitv1.ReportResultRequest, error) {
		res, err := party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: ready.WalletId, PreParams: pre}, tr)
		if err != nil {
			return nil, err
		}
		if save != nil {
			if err := save(res.Share); err != nil {
				return nil, fmt.Errorf("store share: %w", err)
			}
		}
		out = &KeygenOutcome{Share: res.Share, PublicKey: res.PublicKey, Address: res.Address}
		return &tsskitv1.ReportResultRequest{Result: &tsskitv1.ReportResultRequest_PublicKey{PublicKey: res.PublicKey}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sign runs a signing seat with the party's share. check, if set, sees the
// digest the session signs before any round runs and may refuse it.
func Sign(ctx context.Context, c Conn, j Job, rec *share.Record, check func(digest []byte) error) (*party.Signature, error) {
	var out *party.Signature
	err := run(ctx, c, j, tsskitv1.SessionKind_SESSION_KIND_SIGN, func(ctx context.Context, s party.Session, ready *tsskitv1.SessionEvent_Ready, tr party.Transport) (*tsskitv1.ReportResultRequest, error) {
		if ready.WalletId != rec.WalletID {
			return nil, &party.Error{Code: party.CodeInvalidParams, Err: fmt.Errorf("session signs with wallet %s, this share is of %s", ready.WalletId, rec.WalletID)}
		}
		if check != nil {
			if err := check(ready.Digest); err != nil {
				return nil, err
			}
		}
		s.SignersNeeded = 0
		sig, err := party.Sign(ctx, party.SignRequest{Session: s, Share: rec, Digest: ready.Digest}, tr)
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

func run(ctx context.Context, c Conn, j Job, kind tsskitv1.SessionKind, engine engineFunc) error {
	log := j.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	coord := tsskitv1.NewCoordinatorServiceClient(c.Coordinator)
	creds := grpc.PerRPCCredentials(serve.Bearer(j.Token))

	keys, err := seal.GenerateKeys()
	if err != nil {
		return err
	}
	pub := keys.Public()
	// Watch before joining, so no event is missed; the stream replays from
	// the session's first event anyway.
	watch, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: j.SessionID}, creds)
	if err != nil {
		return fmt.Errorf("watch session: %w", err)
	}
	if _, err := coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: j.SessionID, Keys: &tsskitv1.PartyKeys{
		PartyId: j.PartyID, X25519: pub.X25519, Ed25519: pub.Ed25519,
	}}, creds); err != nil {
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
	if ready.Kind != kind {
		return fmt.Errorf("session is %v, not %v", ready.Kind, kind)
	}
	s := party.Session{
		ID: j.SessionID, Self: j.PartyID, SignersNeeded: int(ready.SignersNeeded),
		Keys: keys, PublicKeys: map[string]seal.PublicKeys{},
	}
	for _, k := range ready.Roster {
		s.Parties = append(s.Parties, k.PartyId)
		s.PublicKeys[k.PartyId] = seal.PublicKeys{X25519: k.X25519, Ed25519: k.Ed25519}
	}
	s.Progress = progressReporter(engineCtx, coord, creds, j)

	tr := router.NewTransport(engineCtx, c.Router, j.SessionID, j.PartyID, j.Token)
	res, runErr := engine(engineCtx, s, ready, tr)
	tr.Close()
	if runErr != nil {
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

// failure describes an engine error for the coordinator.
func failure(err error) *tsskitv1.ReportResultRequest_Failure {
	f := &tsskitv1.ReportResultRequest_Failure{Code: "error", Reason: err.Error()}
	if pe, ok := party.AsError(err); ok {
		f.Code = string(pe.Code)
		f.Culprits = pe.Culprits
	}
	return f
}

// progressReporter reports each new round to the coordinator without ever
// blocking the engine: reports go through a one-slot mailbox that keeps the
// latest.
func progressReporter(ctx context.Context, coord tsskitv1.CoordinatorServiceClient, creds grpc.CallOption, j Job) func(party.Progress) {
	var mu sync.Mutex
	last := -1
	latest := make(chan party.Progress, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-latest:
				_, _ = coord.ReportProgress(ctx, &tsskitv1.ReportProgressRequest{
					SessionId: j.SessionID, PartyId: j.PartyID, Round: uint32(p.Round), Rounds: uint32(p.Rounds),
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
		if p.Round == last {
			return
		}
		last = p.Round
		select {
		case <-latest:
		default:
		}
		latest <- p
	}
}

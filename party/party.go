// Package party is tsskit's protocol engine: it runs tss-lib v2 ECDSA
// (secp256k1) keygen and signing for ONE local party over an abstract
// transport. The same code runs natively in server parties and in wasm in
// the browser, so it never opens a socket, a file or a database, and it
// never starts work that needs more than Go's cooperative scheduler.
//
// A session is: the session id, the roster of party ids (any order; tss-lib
// sees them sorted by SHA-256(party_id), see package roster), this party's
// id, the policy as "signers needed" (2 for 2-of-3; tss-lib's threshold is
// that minus one), this party's session keys and every party's published
// session public keys (package seal). Every message leaves sealed and
// signed, and every incoming envelope is checked before tss-lib sees it.
//
// Failures are *Error values with a Code and, where known, the culprits.
package party

import (
	"context"
	"time"

	"github.com/bnb-chain/tss-lib/v2/tss"
	golog "github.com/ipfs/go-log"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
)

func init() {
	// tss-lib logs every round at info level through go-log, including
	// message dumps at debug; keep only its errors.
	_ = golog.SetLogLevel("tss-lib", "error")
}

// Transport carries sealed envelopes. Send must not block for long (queue or
// publish); Incoming delivers envelopes for this party (broadcasts and
// messages addressed to it; anything else is ignored) and is closed when the
// stream ends for good.
type Transport interface {
	Send(ctx context.Context, env *seal.Envelope) error
	Incoming() <-chan *seal.Envelope
}

// Session is what every party of one session agrees on, plus its own keys.
//
// Roster holds every party's signed join (package identity), self
// included, exactly as the coordinator distributed them. Before anything
// is sent the engine checks every entry against this party's own view of
// the session and its Trust (identity.VerifyRoster), takes each party's
// session keys from its checked statement, and then, as round 0, every
// party broadcasts the digests of the entries it accepted: a party that
// was shown another roster than the others fails the session, naming the
// substituted party, before the first tss-lib round.
type Session struct {
	ID            string
	Parties       []string // every party of this session (for signing: the signers)
	Self          string
	SignersNeeded int        // t+1; 2 ≤ SignersNeeded ≤ len(Parties) for keygen
	Keys          *seal.Keys // this party's session keys
	// Roster: every party's signed join, self included.
	Roster map[string]*identity.Entry
	// Trust: the pinned deployment roots and revoked keys, from this
	// party's own configuration.
	Trust *identity.Trust
	// Kinds, if set, is the kind every party must have (a client asks
	// for itself as client and every other party as a server).
	Kinds map[string]identity.Kind
	// Now is the clock for expiries (default time.Now).
	Now      func() time.Time
	Progress func(Progress) // optional; called from the engine's goroutine
	// Gate, if set, bounds the computation: the engine enters it for each
	// step that computes (tss-lib starting the protocol, and checking and
	// taking one peer message, which may end a round and start the next)
	// and leaves it before it waits for the network again, so a session
	// that waits for its peers holds none of the process's capacity.
	Gate Gate
}

// Gate admits computation steps (see Session.Gate). Enter blocks until the
// step may run, or ctx ends; the step ends with leave.
type Gate interface {
	Enter(ctx context.Context) (leave func(), err error)
}

// QueueGate is a Gate that says when a step has to wait, and at which
// position: the engine reports it as Progress.Queued.
type QueueGate interface {
	Gate
	EnterQueued(ctx context.Context, queued func(position int)) (leave func(), err error)
}

// Progress reports where a session is. Round counts tss-lib rounds; the last
// round (keygen 4, signing 10) is local: it verifies and finishes.
type Progress struct {
	Phase         string // "keygen" or "sign"
	Round, Rounds int
	Done          bool
	// Queued: the next step waits for a slot of the Gate at this position
	// (1: next); 0 while computing or waiting for peers.
	Queued        int
	MessagesSent  int
	MessagesRecv  int
	BytesSent     int64 // envelope payload bytes
	BytesReceived int64
}

const (
	PhaseKeygen = "keygen"
	PhaseSign   = "sign"

	// KeygenRounds and SignRounds are the rounds Progress counts in a
	// keygen and a signing (ReshareRounds in a reshare).
	KeygenRounds = 4
	SignRounds   = 10

	// DefaultTimeout applies when the context has no deadline, so that a
	// party that never answers ends the session instead of hanging it.
	DefaultTimeout = 5 * time.Minute
)

// validate checks the session and returns its roster.
func (s *Session) validate() (*roster.Roster, error) {
	if s.ID == "" || len(s.ID) > seal.MaxIDLen {
		return nil, invalid("session id must be 1..%d bytes", seal.MaxIDLen)
	}
	r, err := roster.New(s.Parties)
	if err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: err}
	}
	if !r.Contains(s.Self) {
		return nil, invalid("own party %q is not in the session", s.Self)
	}
	if s.Keys == nil {
		return nil, invalid("no session keys")
	}
	if s.Trust == nil {
		return nil, invalid("no trust root: every party checks the others against its own pinned root")
	}
	return r, nil
}

func (s *Session) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// params builds tss-lib parameters for self in r with tss-lib threshold t.
func params(r *roster.Roster, self string, t int) *tss.Parameters {
	ids := r.PartyIDs()
	return tss.NewParameters(tss.S256(), tss.NewPeerContext(ids), r.PartyID(self), len(ids), t)
}

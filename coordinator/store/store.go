// Package store is the coordinator's persistence layer: wallets (keys that
// exist: public key, address, who holds shares) and the durable record of
// keygen and signing sessions. Live session state stays in memory; the store
// keeps what must survive a restart.
//
// Store is the interface every backend implements, with two backends:
// SQLite (OpenSQLite), the default for a single coordinator, and PostgreSQL
// (OpenPostgres, given the deployment's DATABASE_URL), for replicas sharing
// one database. Both run the same SQL (queries.go) and the same migrations;
// on PostgreSQL, processes starting at once take turns to migrate under an
// advisory lock. Package storetest is the conformance suite every backend
// must pass.
//
// Each session records its owner: the coordinator instance that runs it
// and the address other replicas reach that instance at. A restarting
// replica fails only its own unfinished sessions (FailUnfinishedOwned);
// the sessions of a replica that never comes back are failed by age
// (FailStale).
//
// A wallet has a key epoch (docs/lifecycle.md): 0 for the shares keygen
// made, one more after each reshare. A reshare is activated in two
// phases: BeginReshare claims the wallet's one pending slot for the
// reshare's session before it runs, and ActivateEpoch makes its epoch the
// wallet's once every new holder stored its share (AbortReshare gives the
// slot up when it fails). Until then the old epoch stays the one that
// signs; the slot keeps two reshares of one wallet from both making the
// same next epoch out of different shares.
//
// Encoding decisions, identical for every backend:
//   - timestamps are BIGINT unix milliseconds, read back in UTC; a value with
//     finer precision is truncated to the millisecond before it is written,
//     and the caller's struct is updated to what was stored;
//   - byte fields (public key, digest, signature) are lowercase hex in TEXT
//     columns, so the DDL is the same for SQLite and PostgreSQL (no BLOB vs
//     BYTEA) and the rows are readable from either shell;
//   - lists of party ids (parties, culprits) are JSON arrays in TEXT columns;
//     holders, which are queried and ordered, are rows of wallet_holders with
//     a position column;
//   - empty byte fields and empty lists read back as nil.
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
)

// Errors. Backends wrap them with detail; test with errors.Is.
var (
	// ErrNotFound: no such wallet or session.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a wallet or session with that id exists, or (wallets) the
	// user id already has a wallet.
	ErrExists = errors.New("store: already exists")
	// ErrInvalid: the input was refused before it reached the database.
	ErrInvalid = errors.New("store: invalid input")
	// ErrReshareConflict: the wallet is not where a reshare call needs it
	// to be: at another epoch than the one a reshare starts from, or with
	// its pending slot held by another reshare (or by none).
	ErrReshareConflict = errors.New("store: reshare conflict")
)

// HolderKind says what kind of party holds a share.
type HolderKind string

const (
	HolderServer HolderKind = "server" // a server party run by the operator
	HolderClient HolderKind = "client" // a client application's party
	HolderUser   HolderKind = "user"   // the user's browser
)

func (k HolderKind) valid() bool {
	return k == HolderServer || k == HolderClient || k == HolderUser
}

// Holder is one party holding a share of a wallet key.
type Holder struct {
	PartyID string
	Kind    HolderKind
}

// Wallet is a key that exists: its public key, who holds shares.
type Wallet struct {
	ID            string    // UUID
	Name          string    // free text; may be empty
	UserID        string    // account API user id; may be empty; at most one wallet per non-empty user id
	SignersNeeded int       // e.g. 2 for 2-of-3
	Holders       []Holder  // every party holding a share, len = n, order preserved
	PublicKey     []byte    // 33-byte compressed SEC1
	Address       string    // 0x + 40 hex
	CreatedAt     time.Time // UTC, millisecond precision; CreateWallet sets it when zero
	// OwnerUser is the user whose user token created the wallet ("" when an
	// admin or the account API did): that user's tokens see and sign it.
	OwnerUser string
	// ChainCode is the wallet's BIP32 chain code as its holders recorded
	// it (32 bytes); empty for a wallet made before chain codes, whose
	// holders use the legacy rule (see ChainCodeOrLegacy).
	ChainCode []byte
	// ChainCodeUnknown is set on a wallet read back from a row a
	// coordinator older than chain codes wrote after the store learned
	// them (a rolling upgrade): its holders may have recorded a chain code
	// the store never saw, so none may be assumed. CreateWallet ignores it.
	ChainCodeUnknown bool
	// Recovery is the recovery policy the wallet's client set at keygen
	// (zero: none), which the coordinator relays into its reshares.
	Recovery identity.Recovery

	// The fields below are the reshare state, changed only by BeginReshare,
	// ActivateEpoch and AbortReshare; CreateWallet refuses a wallet with
	// any of them set, so that a wallet cannot be recorded at an epoch its
	// holders' shares are not of.

	// Epoch is the active key epoch, the one whose shares sign: 0 for
	// keygen's shares, one more after each reshare made active.
	Epoch int
	// EpochSession is the reshare session that made Epoch active ("" for
	// epoch 0): a retried ActivateEpoch of that session is a success, of
	// any other session a conflict.
	EpochSession string
	// PendingEpoch and PendingSession are the reshare under way, if any:
	// the session holding the wallet's pending slot and the epoch it makes
	// (Epoch+1); 0 and "" when the slot is free.
	PendingEpoch   int
	PendingSession string
}

// ErrChainCodeUnknown: the store does not know the wallet's chain code
// (Wallet.ChainCodeUnknown), so it cannot derive child keys or an xpub.
var ErrChainCodeUnknown = errors.New("the wallet's chain code is unknown: it was recorded by a coordinator older than chain codes")

// ChainCodeOrLegacy is the chain code every holder of w signs with: the
// recorded one, or the legacy rule's (package party/hd); ErrChainCodeUnknown
// when the store cannot tell which.
func (w *Wallet) ChainCodeOrLegacy() ([]byte, error) {
	switch {
	case w.ChainCodeUnknown:
		return nil, ErrChainCodeUnknown
	case len(w.ChainCode) != 0:
		return w.ChainCode, nil
	}
	return hd.LegacyChainCode(w.ID, w.PublicKey), nil
}

// SessionKind is what a session does.
type SessionKind string

const (
	SessionKeygen  SessionKind = "keygen"
	SessionSign    SessionKind = "sign"
	SessionReshare SessionKind = "reshare" // a reshare or refresh of an existing wallet
)

func (k SessionKind) valid() bool {
	return k == SessionKeygen || k == SessionSign || k == SessionReshare
}

// SessionState is where a session is. Completed and failed are final.
type SessionState string

const (
	StateWaiting   SessionState = "waiting"
	StateRunning   SessionState = "running"
	StateCompleted SessionState = "completed"
	StateFailed    SessionState = "failed"
)

func (s SessionState) valid() bool {
	return s == StateWaiting || s == StateRunning || s == StateCompleted || s == StateFailed
}

// Final reports whether the state is completed or failed.
func (s SessionState) Final() bool { return s == StateCompleted || s == StateFailed }

// Session is the durable record of a session (live state is in memory).
type Session struct {
	ID         string
	Kind       SessionKind
	WalletID   string // keygen: the wallet id it will create; sign, reshare: the wallet
	Parties    []string
	State      SessionState
	Reason     string   // failed: why
	Culprits   []string // failed: the parties blamed, if known
	Code       string   // failed: the failure's code (e.g. "stale_epoch"); "" if not known
	Digest     []byte   // sign: the 32-byte digest signed
	Signature  []byte   // sign, completed: 64 bytes r||s
	CreatedAt  time.Time
	FinishedAt time.Time // zero until completed/failed
	Owner      string    // the coordinator instance running it; may be empty
	OwnerAddr  string    // the address other replicas reach Owner at; may be empty
	OwnerUser  string    // the user whose token created it ("" for an admin or the account API)
	Path       []uint32  // sign: the derivation path of the signing key; empty for the wallet key
	// StoredAcks (reshare, completed): every new holder's signed word that
	// it stored its new share, by party id, as the Completed event carried
	// them; a party that missed the event checks them before it activates
	// its share (docs/lifecycle.md, two-phase activation).
	StoredAcks map[string][]byte
	// Run (reshare sessions, from the moment every party joined) is what
	// a later run of the same epoch needs to find this one complete and
	// activate it late instead of running it again (docs/lifecycle.md):
	// the epoch it makes, its new committee, every new holder's identity
	// key and the stored acknowledgements reported so far.
	Run *ReshareRun
}

// ReshareRun is a reshare session's run as Session.Run records it.
type ReshareRun struct {
	Epoch int
	// Committee is the new holders and signers needed when the reshare
	// changes them; nil when the wallet's stay.
	Committee *Committee
	// Identities are the new holders' identity keys (32-byte Ed25519),
	// as their join statements named them, by party id.
	Identities map[string][]byte
	// Acks are the stored acknowledgements reported so far, by party id.
	Acks map[string][]byte
}

// WalletFilter selects and pages wallets, ordered by (CreatedAt, ID).
type WalletFilter struct {
	UserID    string // only this user's wallet; "" for all
	OwnerUser string // only the wallets this user's tokens made; "" for all
	Limit     int    // 0 means DefaultLimit; capped at MaxLimit; negative is invalid
	After     string // cursor: the ID of the last wallet of the previous page
}

// Page sizes for ListWallets.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store is the coordinator's persistence. Every method is safe for
// concurrent use.
type Store interface {
	// CreateWallet stores a new wallet and its holders atomically. ErrExists
	// when the id is taken, or when UserID is not empty and that user already
	// has a wallet (one account per user id). ErrInvalid for bad input.
	CreateWallet(ctx context.Context, w *Wallet) error
	// GetWallet returns the wallet or ErrNotFound.
	GetWallet(ctx context.Context, id string) (*Wallet, error)
	// WalletByUser returns the user's wallet or ErrNotFound (also for "").
	WalletByUser(ctx context.Context, userID string) (*Wallet, error)
	// ListWallets returns up to f.Limit wallets after f.After, ordered by
	// (CreatedAt, ID). An After that names no wallet is ErrNotFound.
	ListWallets(ctx context.Context, f WalletFilter) ([]*Wallet, error)

	// CreateSession stores a new session. ErrExists when the id is taken.
	// Owner and OwnerAddr are fixed at creation, like Kind and Parties.
	CreateSession(ctx context.Context, s *Session) error
	// UpdateSession writes State, Reason, Culprits, Code, Signature,
	// StoredAcks, Run and FinishedAt (set to now when the state is final and it is zero); the
	// other fields are fixed at creation. ErrNotFound when no such session.
	UpdateSession(ctx context.Context, s *Session) error
	// GetSession returns the session or ErrNotFound.
	GetSession(ctx context.Context, id string) (*Session, error)
	// FailUnfinished marks every waiting or running session failed with
	// reason and FinishedAt = at, and returns how many it changed. Called
	// on startup and shutdown: live state does not survive the process.
	FailUnfinished(ctx context.Context, reason string, at time.Time) (int, error)
	// FailUnfinishedOwned is FailUnfinished for the sessions of one owner
	// (compared exactly; "" selects the sessions created without one): a
	// restarted replica fails its own sessions, never another replica's.
	FailUnfinishedOwned(ctx context.Context, owner, reason string, at time.Time) (int, error)
	// FailStale is FailUnfinished for the sessions created before
	// createdBefore, whoever owns them: the sessions of a replica that
	// stopped for good. A session is stale when its CreatedAt as stored
	// (what GetSession returns) is before createdBefore; a zero
	// createdBefore is ErrInvalid.
	FailStale(ctx context.Context, createdBefore time.Time, reason string, at time.Time) (int, error)

	// BeginReshare claims the wallet's pending slot for the reshare
	// session sessionID, which makes epoch fromEpoch+1, at now (zero: the
	// current time). It succeeds only when the wallet is at epoch
	// fromEpoch and the slot is free: no reshare holds it, the session
	// that does is recorded failed (its coordinator restarted and failed
	// it, FailUnfinishedOwned, or the sweep did, FailStale), or its claim
	// was made before staleBefore (its coordinator is presumed gone; a
	// zero staleBefore expires no claim). A claim by the
	// session already holding the slot succeeds again and renews it, so
	// that the call can be retried. Of concurrent claims, one wins.
	// ErrNotFound when no such wallet, ErrReshareConflict when it is at
	// another epoch or another reshare holds the slot; ErrInvalid for bad
	// input, a staleBefore after now among it (a claim would be stale the
	// moment it was made).
	BeginReshare(ctx context.Context, walletID string, fromEpoch int, sessionID string, now, staleBefore time.Time) error
	// ActivateEpoch makes epoch the wallet's active epoch and frees the
	// slot, if the slot is sessionID's for that epoch: the new holders
	// have stored their shares, and the old epoch's may go. It is
	// idempotent: when sessionID already made epoch the active one, it
	// returns nil. ErrNotFound when no such wallet, ErrReshareConflict
	// otherwise (the slot is another reshare's, or free: the claim went
	// stale and was taken over, or was aborted), in which case the new
	// shares must not be used.
	//
	// With to set, the reshare changed the committee: the wallet's holders
	// and signers needed become to's in the same transaction (nil: they
	// stay). The session is recorded completed, with acks (every new
	// holder's stored acknowledgement), in that transaction too: a
	// reshare whose epoch is active is never left recorded running, for
	// a restart to fail, nor without what a party that missed its end
	// needs to activate its share.
	ActivateEpoch(ctx context.Context, walletID, sessionID string, epoch int, to *Committee, acks map[string][]byte) error
	// AbortReshare frees the slot if sessionID still holds it, and does
	// nothing otherwise: when another reshare took it over, or for a
	// wallet that does not exist (it has nothing to undo). Only bad input
	// (ErrInvalid) or a database error fails it.
	AbortReshare(ctx context.Context, walletID, sessionID string) error

	Ping(ctx context.Context) error
	Close() error
}

// Committee is a wallet's holders and signers needed after a reshare
// that changes them.
type Committee struct {
	SignersNeeded int
	Holders       []Holder
}

// Limits on input sizes.
const (
	MinHolders   = 2
	MaxHolders   = 16
	MaxIDLen     = 128  // wallet, session, party and user ids
	MaxNameLen   = 256  // wallet name
	MaxReasonLen = 4096 // session failure reason
	MaxAddrLen   = 256  // session owner address
	MaxCodeLen   = 64   // session failure code
	MaxAckLen    = 256  // one stored acknowledgement

	// MaxEpoch bounds a wallet's epoch: what the INTEGER column holds on
	// PostgreSQL, and the bound of the share records and join statements
	// (share.MaxEpoch, identity.MaxEpoch).
	MaxEpoch = 1<<31 - 1
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkID(what, id string) error {
	if id == "" {
		return invalid("%s is empty", what)
	}
	if len(id) > MaxIDLen {
		return invalid("%s is longer than %d bytes", what, MaxIDLen)
	}
	return nil
}

// validateWallet checks a wallet before CreateWallet writes it.
// checkHolders checks a wallet's holders and signers needed.
func checkHolders(walletID string, holders []Holder, signers int) error {
	n := len(holders)
	if n < MinHolders || n > MaxHolders {
		return invalid("wallet %q: %d holders, want %d to %d", walletID, n, MinHolders, MaxHolders)
	}
	seen := make(map[string]bool, n)
	for i, h := range holders {
		if err := checkID(fmt.Sprintf("wallet %q: holder %d: party id", walletID, i), h.PartyID); err != nil {
			return err
		}
		if seen[h.PartyID] {
			return invalid("wallet %q: holder %q appears twice", walletID, h.PartyID)
		}
		seen[h.PartyID] = true
		if !h.Kind.valid() {
			return invalid("wallet %q: holder %q: kind %q, want server, client or user", walletID, h.PartyID, h.Kind)
		}
	}
	if signers < 2 || signers > n {
		return invalid("wallet %q: signers needed %d, want 2 to %d (the number of holders)", walletID, signers, n)
	}
	return nil
}

func validateWallet(w *Wallet) error {
	if w == nil {
		return invalid("wallet is nil")
	}
	if err := checkID("wallet id", w.ID); err != nil {
		return err
	}
	if len(w.Name) > MaxNameLen {
		return invalid("wallet %q: name is longer than %d bytes", w.ID, MaxNameLen)
	}
	if len(w.UserID) > MaxIDLen {
		return invalid("wallet %q: user id is longer than %d bytes", w.ID, MaxIDLen)
	}
	if len(w.OwnerUser) > MaxIDLen {
		return invalid("wallet %q: owner user is longer than %d bytes", w.ID, MaxIDLen)
	}
	if err := checkHolders(w.ID, w.Holders, w.SignersNeeded); err != nil {
		return err
	}
	if len(w.PublicKey) != 33 || (w.PublicKey[0] != 0x02 && w.PublicKey[0] != 0x03) {
		return invalid("wallet %q: public key is not 33-byte compressed SEC1 (%d bytes)", w.ID, len(w.PublicKey))
	}
	if !validAddress(w.Address) {
		return invalid("wallet %q: address %q is not 0x and 40 hex digits", w.ID, w.Address)
	}
	if len(w.ChainCode) != 0 && len(w.ChainCode) != hd.ChainCodeSize {
		return invalid("wallet %q: chain code is %d bytes, want %d or none", w.ID, len(w.ChainCode), hd.ChainCodeSize)
	}
	if w.Epoch != 0 || w.EpochSession != "" || w.PendingEpoch != 0 || w.PendingSession != "" {
		return invalid("wallet %q: epoch %d (made by %q), pending %d (%q): a wallet is created at epoch 0 with no reshare under way",
			w.ID, w.Epoch, w.EpochSession, w.PendingEpoch, w.PendingSession)
	}
	return nil
}

func validAddress(a string) bool {
	if len(a) != 42 || a[0] != '0' || (a[1] != 'x' && a[1] != 'X') {
		return false
	}
	for _, c := range a[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func checkParties(what string, ids []string) error {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := checkID(what, id); err != nil {
			return err
		}
		if seen[id] {
			return invalid("%s %q appears twice", what, id)
		}
		seen[id] = true
	}
	return nil
}

// validateSession checks a session before CreateSession writes it.
func validateSession(s *Session) error {
	if s == nil {
		return invalid("session is nil")
	}
	if err := checkID("session id", s.ID); err != nil {
		return err
	}
	if !s.Kind.valid() {
		return invalid("session %q: kind %q, want keygen, sign or reshare", s.ID, s.Kind)
	}
	if err := checkID("session wallet id", s.WalletID); err != nil {
		return err
	}
	if len(s.Parties) < MinHolders || len(s.Parties) > MaxHolders {
		return invalid("session %q: %d parties, want %d to %d", s.ID, len(s.Parties), MinHolders, MaxHolders)
	}
	if err := checkParties("session party", s.Parties); err != nil {
		return err
	}
	if len(s.Owner) > MaxIDLen {
		return invalid("session %q: owner is longer than %d bytes", s.ID, MaxIDLen)
	}
	if len(s.OwnerAddr) > MaxAddrLen {
		return invalid("session %q: owner address is longer than %d bytes", s.ID, MaxAddrLen)
	}
	if len(s.OwnerUser) > MaxIDLen {
		return invalid("session %q: owner user is longer than %d bytes", s.ID, MaxIDLen)
	}
	switch s.Kind {
	case SessionSign:
		if len(s.Digest) != 32 {
			return invalid("session %q: digest is %d bytes, want 32", s.ID, len(s.Digest))
		}
		if err := hd.Path(s.Path).Check(); err != nil {
			return invalid("session %q: %v", s.ID, err)
		}
	case SessionKeygen, SessionReshare:
		if len(s.Digest) != 0 || len(s.Signature) != 0 || len(s.Path) != 0 {
			return invalid("session %q: a %s session has no digest, signature or derivation path", s.ID, s.Kind)
		}
	}
	return validateUpdate(s)
}

// validateUpdate checks the fields UpdateSession writes.
func validateUpdate(s *Session) error {
	if s == nil {
		return invalid("session is nil")
	}
	if err := checkID("session id", s.ID); err != nil {
		return err
	}
	if !s.State.valid() {
		return invalid("session %q: state %q, want waiting, running, completed or failed", s.ID, s.State)
	}
	if len(s.Reason) > MaxReasonLen {
		return invalid("session %q: reason is longer than %d bytes", s.ID, MaxReasonLen)
	}
	if len(s.Culprits) > MaxHolders {
		return invalid("session %q: %d culprits, want at most %d", s.ID, len(s.Culprits), MaxHolders)
	}
	if err := checkParties("session culprit", s.Culprits); err != nil {
		return err
	}
	if len(s.Signature) != 0 && len(s.Signature) != 64 {
		return invalid("session %q: signature is %d bytes, want 64 (r||s)", s.ID, len(s.Signature))
	}
	if len(s.Code) > MaxCodeLen || strings.ContainsFunc(s.Code, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) {
		return invalid("session %q: code %q, want at most %d of [a-z0-9_]", s.ID, s.Code, MaxCodeLen)
	}
	if len(s.StoredAcks) > MaxHolders {
		return invalid("session %q: %d stored acknowledgements, want at most %d", s.ID, len(s.StoredAcks), MaxHolders)
	}
	for p, ack := range s.StoredAcks {
		if err := checkID("stored acknowledgement's party", p); err != nil {
			return err
		}
		if len(ack) == 0 || len(ack) > MaxAckLen {
			return invalid("session %q: %s's stored acknowledgement is %d bytes, want 1..%d", s.ID, p, len(ack), MaxAckLen)
		}
	}
	return checkRun(s.ID, s.Run)
}

// checkRun checks a session's reshare run record (nil: none).
func checkRun(id string, r *ReshareRun) error {
	if r == nil {
		return nil
	}
	if r.Epoch < 1 || r.Epoch > MaxEpoch {
		return invalid("session %q: run of epoch %d, want 1 to %d", id, r.Epoch, MaxEpoch)
	}
	if r.Committee != nil {
		if err := checkHolders(id, r.Committee.Holders, r.Committee.SignersNeeded); err != nil {
			return err
		}
	}
	if len(r.Identities) == 0 || len(r.Identities) > MaxHolders || len(r.Acks) > len(r.Identities) {
		return invalid("session %q: run with %d new holders and %d acknowledgements, want 1 to %d holders, acknowledgements of some", id, len(r.Identities), len(r.Acks), MaxHolders)
	}
	for p, k := range r.Identities {
		if err := checkID("run holder", p); err != nil {
			return err
		}
		if len(k) != 32 {
			return invalid("session %q: %s's identity key is %d bytes, want 32", id, p, len(k))
		}
	}
	for p, ack := range r.Acks {
		if _, ok := r.Identities[p]; !ok || len(ack) == 0 || len(ack) > MaxAckLen {
			return invalid("session %q: run acknowledgement of %s, not a new holder, or of %d bytes", id, p, len(ack))
		}
	}
	return nil
}

// checkOwner checks the owner FailUnfinishedOwned selects.
func checkOwner(owner string) error {
	if len(owner) > MaxIDLen {
		return invalid("owner is longer than %d bytes", MaxIDLen)
	}
	return nil
}

// checkReason checks the reason of the FailUnfinished family.
func checkReason(reason string) error {
	if len(reason) > MaxReasonLen {
		return invalid("reason is longer than %d bytes", MaxReasonLen)
	}
	return nil
}

// staleCutoff is the created_at bound of FailStale: the sessions with
// created_at < the result are exactly those whose stored CreatedAt is
// before createdBefore. Stored times are whole milliseconds, so a cutoff
// inside a millisecond takes that millisecond in.
func staleCutoff(createdBefore time.Time) (int64, error) {
	if createdBefore.IsZero() {
		return 0, invalid("stale cutoff is the zero time")
	}
	return cutoffMillis(createdBefore), nil
}

// cutoffMillis is the bound on a unix ms column such that column < the
// result exactly when the stored time is before t. Stored times are whole
// milliseconds, so a t inside a millisecond takes that millisecond in.
func cutoffMillis(t time.Time) int64 {
	ms := millis(t)
	if fromMillis(ms).Before(t) {
		ms++
	}
	return ms
}

// beginReshareArgs checks BeginReshare's input and prepares qBeginReshare.
func beginReshareArgs(walletID string, fromEpoch int, sessionID string, now, staleBefore time.Time) ([]any, error) {
	if err := checkID("wallet id", walletID); err != nil {
		return nil, err
	}
	if err := checkID("reshare session id", sessionID); err != nil {
		return nil, err
	}
	if fromEpoch < 0 || fromEpoch >= MaxEpoch {
		return nil, invalid("wallet %q: reshare from epoch %d, want 0 to %d", walletID, fromEpoch, MaxEpoch-1)
	}
	if now.IsZero() {
		now = time.Now()
	}
	// A zero staleBefore expires no claim: every claim is stored at a
	// real time, after the cutoff.
	stale := int64(math.MinInt64)
	if !staleBefore.IsZero() {
		if staleBefore.After(now) {
			return nil, invalid("wallet %q: stale cutoff %v is after now (%v)", walletID, staleBefore, now)
		}
		stale = cutoffMillis(staleBefore)
	}
	return []any{walletID, fromEpoch, fromEpoch + 1, sessionID, millis(now), stale}, nil
}

// checkActivate checks ActivateEpoch's input.
func checkActivate(walletID, sessionID string, epoch int, to *Committee, acks map[string][]byte) error {
	if err := checkID("wallet id", walletID); err != nil {
		return err
	}
	if err := checkID("reshare session id", sessionID); err != nil {
		return err
	}
	if epoch < 1 || epoch > MaxEpoch {
		return invalid("wallet %q: activate epoch %d, want 1 to %d (a reshare's)", walletID, epoch, MaxEpoch)
	}
	if err := validateUpdate(&Session{ID: sessionID, State: StateCompleted, StoredAcks: acks}); err != nil {
		return err
	}
	if to == nil {
		return nil
	}
	return checkHolders(walletID, to.Holders, to.SignersNeeded)
}

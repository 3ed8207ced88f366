// Package vault is a server party's storage at rest: its key shares and a
// pool of ready pre-parameters, each encrypted with AES-256-GCM under the
// master key CRYPTO_MASTER_KEY. A vault is kept in a directory (Open) or in
// PostgreSQL (OpenPostgres). Both backends store the same records,
// encrypted the same way, and behave the same: everything below but the
// layout holds for either.
//
// # Records
//
// Every share and every pre-parameters entry is one record, a JSON object,
// the vault file (the owner's identity key is a share-kind record under
// the reserved wallet id IdentityWalletID, see Identity):
//
//	{"format":"tsskit.vault","version":1,"kind":"share",
//	 "wallet_id":"…","party_id":"…",          (kind "share" only)
//	 "session_id":"…",                         (a reshare's share, optional)
//	 "key_id":"<16 hex>","nonce":"<base64>","ciphertext":"<base64>"}
//
// A pending share (see Pending shares below) is a share-kind record too,
// kept apart from the active shares; stored by PutPendingShareFrom, it
// names the reshare session it is from, and keeps the name once active.
// The plaintext of a share record is its share.Encode record, that of a
// pre-parameters entry the preparams.Marshal encoding. The nonce is 96
// random bits, fresh for every write. The associated data is wallet_id +
// "|" + party_id for a share, active or pending (followed by
// "\x00session|" + session_id if the record names a session, so that the
// name cannot be changed, put in or taken out), and "preparams|" + id for
// a pre-parameters entry, so a record copied to another wallet, party or
// entry does not decrypt (ErrCorrupt), while a pending share becomes the active one as it
// is. A decrypted share must moreover carry the wallet and party ids it
// was read for. key_id is MasterKey.ID of
// the key the record was written under: a record under another key is
// reported as ErrWrongKey with both ids, without trying to decrypt it, and
// Rotate uses it to re-encrypt a vault under a new key, resuming after an
// interruption.
//
// # Pending shares
//
// A reshare (a key refresh included) gives a party a new share of the
// wallet, of the next epoch (share.Record.Epoch), which must not replace
// the active share before the coordinator activates the new epoch: until
// then the wallet signs with the shares of the old one. PutPendingShare
// keeps it as the pending share of its wallet and party, one at most, which
// a later PutPendingShare may replace (it never signed anything), if its
// epoch is above the active share's; ActivateShare then makes it the
// active share, in place of the old one, in one atomic step, and deletes
// the old one: a share of a superseded epoch kept anywhere would keep that
// epoch able to sign. A party that was in the old committee only has no
// new share: RetireShare deletes its active share of the superseded epoch
// (and a pending one of an earlier epoch), each record at once; a crash
// between the two leaves the old share, for a later RetireShare. GetShare,
// HasShare and ListShares see the active shares only; Rotate re-encrypts
// the pending ones with them.
//
// # Directory
//
//	dir/                      0700
//	  shares/                 0700
//	    <hex sha-256>.json    0600, one per (wallet_id, party_id)
//	  pending/                0700
//	    <hex sha-256>.json    0600, a pending share, named as its active one
//	  preparams/              0700
//	    <seq>-<id>.json       0600, one per pool entry, oldest first
//
// Share files, active or pending, are named by a SHA-256 of the wallet and
// party ids, never by the ids themselves, so no id can reach the file
// system as a path. A pre-parameters file is named by a 20-digit sequence
// number (nanoseconds since 1970, strictly increasing per process), which
// orders the pool, and the entry id (32 random hex characters).
//
// Files are written atomically: a temporary file in the same directory,
// fsynced, then renamed (or, for a new share, hard-linked, so that PutShare
// never replaces one), then the directory is fsynced. ActivateShare
// hard-links the pending file into shares/ and renames the link over the
// active file, so that a crash leaves the old active share or the new one,
// never none; the pending file is removed after that, and one left by a
// crash, of the active share's epoch, is dropped by the next
// ActivateShare.
//
// # PostgreSQL
//
// In a database, which may be the coordinator's, a vault belongs to one
// server party, its owner: it holds the owner's shares (party_id = owner)
// and the owner's pre-parameters pool, so several server parties can share
// the database, each with its own master key; Rotate rewrites the owner's
// rows only, each in a transaction of its own. The tables are created and
// migrated at open, in a transaction holding an advisory lock, so parties
// opening one database at once are safe; their versions are kept in
// vault_schema_migrations:
//
//	vault_shares             (wallet_id, party_id) primary key, record
//	vault_pending_shares     (wallet_id, party_id) primary key, record
//	vault_preparams          id primary key, owner, seq (the pool order), record
//	vault_preparams_corrupt  entries set aside by TakePreParams, with the reason
//
// record is the vault file above, byte for byte. A share row is inserted
// by PutShare, never replaced by it (a second PutShare is ErrExists); it is
// replaced only by ActivateShare, which moves the pending row's record
// into it and deletes the pending row in one transaction, and rewrapped by
// Rotate.
//
// # Concurrency
//
// A Vault is safe for concurrent use, and several processes may share a
// directory or a database (a server party claims its vault while it runs,
// Exclusive, so that commands which change it behind its back refuse;
// tools that only read it, and tests, need no claim): no pre-parameters
// entry is ever handed out twice. TakePreParams claims an entry before reading it: in a directory
// by renaming it, so that an entry claimed by a process that then crashed
// is left as a ".take-" file and never handed out; in PostgreSQL by
// deleting its row in a transaction (SELECT … FOR UPDATE SKIP LOCKED) that
// commits only once the entry has decrypted, and is handed out only after
// the commit, so that the entry of a process that crashed before it is
// back in the pool. Commits are synchronous (synchronous_commit = on,
// unless the URL sets it), as files are fsynced.
package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// Vault is a server party's encrypted key shares and pre-parameters, in a
// directory or in PostgreSQL.
type Vault struct {
	store backend
	// release ends the claims Exclusive made (at Close); lost is closed
	// when a claim is lost (ClaimLost).
	release []func()
	lost    <-chan struct{}
	// claimMu serialises Exclusive, so that two calls cannot both find
	// the vault unclaimed.
	claimMu sync.Mutex
	// owner is the party whose shares a PostgreSQL vault holds, "" for a
	// directory, which holds any party's.
	owner string

	// takeMu serialises TakePreParams and Rotate.
	takeMu sync.Mutex
	// pendingMu serialises PutPendingShare and ActivateShare.
	pendingMu sync.Mutex
	// mu guards key: Rotate holds it exclusively, everything else shared.
	mu  sync.RWMutex
	key *MasterKey
}

// backend is where a Vault keeps its records. It stores and finds vault
// files and checks that each is where its header says; it never sees a
// key or a plaintext. Errors are *Error, but for a missing share
// (fs.ErrNotExist) and errGone.
type backend interface {
	// dir is the vault's directory, "" if it is not in one.
	dir() string
	// exclusive claims the store for this process (Vault.Exclusive).
	// lost, nil for a claim that lasts as long as the process, is closed
	// when the claim ends before release.
	exclusive() (release func(), lost <-chan struct{}, err error)
	// location names the store for logs: the directory, or the database
	// without its password.
	location() string
	// putShare adds the record of the share of (walletID, partyID); if one
	// is stored already, it changes nothing and returns ErrExists.
	putShare(walletID, partyID string, rec []byte) error
	// getShare returns the record of the share of (walletID, partyID) and
	// where it is, to name it in errors; fs.ErrNotExist if there is none.
	getShare(walletID, partyID string) (rec []byte, where string, err error)
	hasShare(walletID, partyID string) bool
	// shares returns every share of the vault, parsed; one whose header
	// does not parse, or names another wallet or party than it is stored
	// under, is left out and its ErrCorrupt given to bad. A failure to
	// read the store ends the listing.
	shares(bad func(error)) ([]*stored, error)
	// putPendingShare stores rec as the pending share of (walletID,
	// partyID), in place of a pending one, provided check accepts the
	// active share (nil if there is none) as it is when rec is stored.
	putPendingShare(walletID, partyID string, rec []byte, check func(active *rawRecord) error) error
	// getRuns returns the reshare-runs record of (walletID, partyID), nil
	// if there is none; putRuns replaces it, durably.
	getRuns(walletID, partyID string) ([]byte, error)
	putRuns(walletID, partyID string, rec []byte) error
	// getPendingShare is getShare for the pending share.
	getPendingShare(walletID, partyID string) (rec []byte, where string, err error)
	// pendingShares is shares for the pending shares.
	pendingShares(bad func(error)) ([]*stored, error)
	// activateShare passes the pending and the active share of (walletID,
	// partyID), each nil if there is none, to decide, and does what it
	// says, atomically; then it returns decide's error. The pending record
	// moved is the one decide saw, even if another process replaces it
	// meanwhile.
	activateShare(walletID, partyID string, decide func(pending, active *rawRecord) (activation, error)) error
	putPreParams(id string, rec []byte) error
	// takePreParams claims the oldest entry of the pool, so that no other
	// caller or process can, and passes it to use. If use returns nil, the
	// entry is gone for good; if ErrCorrupt, it is set aside, out of the
	// pool, and the error, saying where, returned; if another error, the
	// entry goes back to the pool. An empty pool is ErrEmpty.
	takePreParams(use func(rec []byte, where, id string) error) error
	// countPreParams is the number of entries in the pool, 0 on errors.
	countPreParams() int
	// preParams returns every entry of the pool, parsed, oldest first.
	preParams() ([]*stored, error)
	// replace stores rec in place of the record r was read from, unless a
	// pre-parameters entry was taken meanwhile (errGone).
	replace(r *stored, rec []byte) error
	close() error
}

// stored is a record as a backend read it.
type stored struct {
	f       *fileV1
	pending bool   // a pending share
	where   string // names the record in errors: a path, or a table row
	id      string // a pre-parameters entry's id
	name    string // fileStore: the file name
	raw     []byte // pgStore: the record as read, compared by replace
}

// aad is the associated data of r.
func (r *stored) aad() []byte {
	if r.f.Kind == kindShare {
		return shareAAD(r.f.WalletID, r.f.PartyID, r.f.SessionID)
	}
	return preParamsAAD(r.id)
}

// rawRecord is a share's record as activateShare and putPendingShare pass
// it, unparsed, and where it is, to name it in errors.
type rawRecord struct {
	b     []byte
	where string
}

// activation is what activateShare does with the pending share.
type activation int

const (
	keepPending  activation = iota // change nothing
	dropPending                    // delete the pending share
	movePending                    // make it the active share, in place of the active one
	retireActive                   // delete the active share, and the pending one
)

// errGone is replace's report of an entry taken meanwhile.
var errGone = errors.New("vault: entry gone")

// ShareRef describes a stored share from its plaintext header.
type ShareRef struct {
	WalletID string
	PartyID  string
	// KeyID is the id of the master key the share is encrypted under.
	KeyID string
	// SessionID is the reshare session the share is from, if it was
	// stored by PutPendingShareFrom; "" for others. Read from the header,
	// not yet authenticated: GetPendingShareFrom is.
	SessionID string
}

// Open opens the vault in dir under key, creating dir and its
// subdirectories shares/ and preparams/ (mode 0700) as needed. Existing
// directories that group or others may access are restricted to 0700.
func Open(dir string, key *MasterKey) (*Vault, error) {
	if key == nil {
		return nil, newErr(ErrInvalid, "", "no master key", nil)
	}
	if dir == "" {
		return nil, newErr(ErrInvalid, "", "no directory", nil)
	}
	s, err := openFileStore(dir)
	if err != nil {
		return nil, err
	}
	return &Vault{store: s, key: key}, nil
}

// OpenPostgres opens the vault of the server party owner in the PostgreSQL
// database at url (a postgres:// URL or key=value string, as DATABASE_URL)
// under key, creating or migrating its tables. ctx bounds connecting and
// migrating; each later operation has a deadline of its own.
//
// The vault holds the shares of party owner and owner's pre-parameters
// pool; PutShare and GetShare refuse other party ids (ErrInvalid). Call
// Close to release its connections.
//
// Errors never quote the URL or its password: Location names the database
// without it.
func OpenPostgres(ctx context.Context, url, owner string, key *MasterKey) (*Vault, error) {
	if key == nil {
		return nil, newErr(ErrInvalid, "", "no master key", nil)
	}
	if err := roster.CheckID(owner); err != nil {
		return nil, newErr(ErrInvalid, "", "owner: party id", err)
	}
	s, err := openPGStore(ctx, url, owner)
	if err != nil {
		return nil, err
	}
	return &Vault{store: s, owner: owner, key: key}, nil
}

// Close ends the vault's Exclusive claim and releases the database
// connections of a PostgreSQL vault. The Vault is not used afterwards.
func (v *Vault) Close() error {
	v.mu.Lock()
	release := v.release
	v.release = nil
	v.mu.Unlock()
	for _, f := range release {
		f()
	}
	return v.store.close()
}

// Dir returns the vault's directory, "" for a vault in PostgreSQL.
func (v *Vault) Dir() string { return v.store.dir() }

// Location names the vault for logs and messages: its directory, or
// postgres://user@host:port/database for one in PostgreSQL, never with a
// password.
func (v *Vault) Location() string { return v.store.location() }

// KeyID returns the id of the master key in use.
func (v *Vault) KeyID() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.key.ID()
}

// checkIDs applies the share package's rules for wallet and party ids.
func checkIDs(walletID, partyID string) error {
	if err := checkPrintableID("wallet id", walletID, share.MaxWalletIDLen); err != nil {
		return err
	}
	if err := roster.CheckID(partyID); err != nil {
		return newErr(ErrInvalid, "", "party id", err)
	}
	return nil
}

// CheckSessionID reports whether id can name the session a pending share
// is from (PutPendingShareFrom): 1..MaxSessionIDLen printable, non-space
// characters. A server party checks it when a reshare is assigned, before
// the protocol runs.
func CheckSessionID(id string) error { return checkSessionID(id) }

func checkSessionID(id string) error { return checkPrintableID("session id", id, MaxSessionIDLen) }

// checkPrintableID checks that id, named what in errors, is 1..max bytes
// of printable, non-space characters (ErrInvalid).
func checkPrintableID(what, id string, max int) error {
	if id == "" || len(id) > max {
		return newErr(ErrInvalid, "", fmt.Sprintf("%s of %d bytes; want 1..%d", what, len(id), max), nil)
	}
	for _, c := range id {
		if c == unicode.ReplacementChar || !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return newErr(ErrInvalid, "", what+": want printable, non-space characters", nil)
		}
	}
	return nil
}

// MaxSessionIDLen bounds the session id a pending share names.
const MaxSessionIDLen = 128

// checkOwner refuses, in a PostgreSQL vault, the shares of other parties
// than its owner.
func (v *Vault) checkOwner(partyID string) error {
	if v.owner != "" && partyID != v.owner {
		return newErr(ErrInvalid, "", fmt.Sprintf("party id %q: this vault holds the shares of party %q", partyID, v.owner), nil)
	}
	return nil
}

// PutShare encrypts and stores r, which must pass r.Validate. It refuses
// (ErrExists) if a share of the same wallet and party is stored: PutShare
// never replaces a key share; only ActivateShare does, with the share of a
// later epoch.
func (v *Vault) PutShare(r *share.Record) error {
	pt, err := v.encodeShare(r)
	if err != nil {
		return err
	}
	defer clear(pt)
	v.mu.RLock()
	defer v.mu.RUnlock()
	b, err := sealFile(v.key, kindShare, r.WalletID, r.PartyID, "", pt, shareAAD(r.WalletID, r.PartyID, ""))
	if err != nil {
		return err
	}
	err = v.store.putShare(r.WalletID, r.PartyID, b)
	if e, ok := errors.AsType[*Error](err); ok && e.Kind == ErrExists {
		e.Msg = fmt.Sprintf("a share of wallet %q for party %q is already stored; key shares are never replaced by PutShare (ActivateShare replaces one with a later epoch's)", r.WalletID, r.PartyID)
	}
	return err
}

// encodeShare checks r for PutShare and PutPendingShare and returns its
// plaintext, which the caller clears.
func (v *Vault) encodeShare(r *share.Record) ([]byte, error) {
	if r == nil {
		return nil, newErr(ErrInvalid, "", "no record", nil)
	}
	if r.WalletID == IdentityWalletID {
		return nil, newErr(ErrInvalid, "", "wallet id "+IdentityWalletID+" is reserved", nil)
	}
	pt, err := share.Encode(r) // validates; its errors quote no secrets
	if err != nil {
		return nil, newErr(ErrInvalid, "", "share record", err)
	}
	if err := v.checkOwner(r.PartyID); err != nil {
		clear(pt)
		return nil, err
	}
	return pt, nil
}

// GetShare reads and decrypts the share of walletID for partyID, the
// active one: never a pending share. It returns ErrNotFound if there is
// none, ErrWrongKey if it is encrypted under another master key, and
// ErrCorrupt if it was modified or belongs to another wallet or party.
func (v *Vault) GetShare(walletID, partyID string) (*share.Record, error) {
	r, _, err := v.getShare(walletID, partyID, false)
	return r, err
}

// GetPendingShare reads and decrypts the pending share of walletID for
// partyID (see PutPendingShare), with the errors of GetShare: ErrNotFound
// if there is none.
func (v *Vault) GetPendingShare(walletID, partyID string) (*share.Record, error) {
	r, _, err := v.getShare(walletID, partyID, true)
	return r, err
}

// GetPendingShareFrom is GetPendingShare, and returns the session the
// share was stored from (PutPendingShareFrom), "" if it names none. The
// session id is authenticated with the share: a record whose session id
// was changed, added or removed is ErrCorrupt.
func (v *Vault) GetPendingShareFrom(walletID, partyID string) (*share.Record, string, error) {
	return v.getShare(walletID, partyID, true)
}

func (v *Vault) getShare(walletID, partyID string, pending bool) (*share.Record, string, error) {
	if err := checkIDs(walletID, partyID); err != nil {
		return nil, "", err
	}
	if walletID == IdentityWalletID {
		return nil, "", newErr(ErrNotFound, "", "wallet id "+IdentityWalletID+" is reserved", nil)
	}
	if err := v.checkOwner(partyID); err != nil {
		return nil, "", err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	get, what := v.store.getShare, "share"
	if pending {
		get, what = v.store.getPendingShare, "pending share"
	}
	b, where, err := get(walletID, partyID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", newErr(ErrNotFound, "", fmt.Sprintf("no %s of wallet %q for party %q", what, walletID, partyID), nil)
	}
	if err != nil {
		return nil, "", err
	}
	return v.openShareFrom(&rawRecord{b, where}, walletID, partyID, pending)
}

// openShare parses, decrypts and decodes rec, read as the share of
// (walletID, partyID), pending or not. The caller holds v.mu.
func (v *Vault) openShare(rec *rawRecord, walletID, partyID string, pending bool) (*share.Record, error) {
	r, _, err := v.openShareFrom(rec, walletID, partyID, pending)
	return r, err
}

// openShareFrom is openShare, and returns the session the record names
// too ("" if none), authenticated with the share.
func (v *Vault) openShareFrom(rec *rawRecord, walletID, partyID string, pending bool) (*share.Record, string, error) {
	where := rec.where
	f, err := parseRecord(where, kindShare, rec.b)
	if err != nil {
		return nil, "", err
	}
	if f.WalletID != walletID || f.PartyID != partyID {
		return nil, "", corrupt(where, fmt.Sprintf("holds the share of wallet %q for party %q, not of wallet %q for party %q", f.WalletID, f.PartyID, walletID, partyID))
	}
	pt, err := f.open(where, v.key, shareAAD(walletID, partyID, f.SessionID))
	if err != nil {
		return nil, "", err
	}
	defer clear(pt)
	r, err := share.Decode(pt) // its errors quote no secrets
	if err != nil {
		return nil, "", newErr(ErrCorrupt, where, "the decrypted share record does not decode", err)
	}
	if r.WalletID != walletID || r.PartyID != partyID {
		return nil, "", corrupt(where, "the decrypted record belongs to another wallet or party")
	}
	// Active and pending shares are encrypted alike: a keygen's share
	// (epoch 0) found pending was put there by hand.
	if pending && r.Epoch < 1 {
		return nil, "", corrupt(where, "a pending share of epoch 0; a reshare's is 1 or more")
	}
	return r, f.SessionID, nil
}

// PutPendingShare encrypts and stores r, the share a reshare gave its
// party, as the pending share of its wallet and party: GetShare goes on
// returning the active share until ActivateShare(r.WalletID, r.PartyID,
// r.Epoch) makes r the active one. r must pass r.Validate, as for
// PutShare, and have an epoch of 1 or more (ErrInvalid). It replaces a
// pending share stored before, of whatever epoch: a pending share never
// signed anything. A party that joins the wallet in the reshare has no
// active share; its pending share is stored all the same.
//
// It refuses r (ErrStaleEpoch) if the active share has r's epoch or a
// later one, and (ErrInvalid) if the active share is of another wallet
// key: a reshare keeps the key. Checking means decrypting the active
// share, whose errors (ErrWrongKey, ErrCorrupt) refuse r too.
//
// r is encrypted as the active share of its wallet and party is (the same
// associated data), so that ActivateShare moves the record as it is.
func (v *Vault) PutPendingShare(r *share.Record) error { return v.PutPendingShareFrom(r, "") }

// PutPendingShareFrom is PutPendingShare for a share that reshare session
// sessionID gave, which the record names, bound to the ciphertext: after
// a restart, GetPendingShareFrom and ListPendingShares tell which session
// a pending share is from, so that its party can finish that session's
// end without trusting anyone else's word for which share it made. The
// record keeps the session id when it becomes the active share.
// sessionID "" names none.
func (v *Vault) PutPendingShareFrom(r *share.Record, sessionID string) error {
	if sessionID != "" {
		if err := checkSessionID(sessionID); err != nil {
			return err
		}
	}
	pt, err := v.encodeShare(r)
	if err != nil {
		return err
	}
	defer clear(pt)
	if r.Epoch < 1 {
		return newErr(ErrInvalid, "", "a pending share is a reshare's, of epoch 1 or more; epoch 0 is keygen's (PutShare)", nil)
	}
	v.pendingMu.Lock()
	defer v.pendingMu.Unlock()
	if sessionID != "" {
		if err := v.markStoredLocked(r.WalletID, r.PartyID, r.Epoch, sessionID); err != nil {
			return err
		}
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	b, err := sealFile(v.key, kindShare, r.WalletID, r.PartyID, sessionID, pt, shareAAD(r.WalletID, r.PartyID, sessionID))
	if err != nil {
		return err
	}
	return v.store.putPendingShare(r.WalletID, r.PartyID, b, func(active *rawRecord) error {
		if active == nil {
			return nil
		}
		a, err := v.openShare(active, r.WalletID, r.PartyID, false)
		if err != nil {
			return err
		}
		if a.Epoch >= r.Epoch {
			return newErr(ErrStaleEpoch, "", fmt.Sprintf("the pending share of wallet %q for party %q is of epoch %d, and the active share of epoch %d", r.WalletID, r.PartyID, r.Epoch, a.Epoch), nil)
		}
		if !bytes.Equal(a.PublicKey, r.PublicKey) {
			return newErr(ErrInvalid, "", fmt.Sprintf("the pending share of wallet %q for party %q is of another wallet public key than the active share", r.WalletID, r.PartyID), nil)
		}
		return nil
	})
}

// ActivateShare makes the pending share of walletID for partyID, which
// must be of epoch, the active share, in place of the active one, which is
// deleted: a share of a superseded epoch kept anywhere would keep that
// epoch able to sign. The change is atomic, even across a crash: the
// active share is the old one or the new one, never none.
//
// It is idempotent: with the active share of epoch already and no pending
// share of epoch, it returns nil. A pending share of an epoch not above
// the active share's (superseded, or left by an activation that crashed
// midway) is deleted, whatever epoch is asked for. Otherwise, with no
// pending share of epoch, it returns ErrStaleEpoch if the active share is
// of a later epoch, and ErrNotFound if not. Both shares are decrypted
// first: ErrWrongKey or ErrCorrupt, or a pending share of another wallet
// key than the active one (ErrInvalid), change nothing.
func (v *Vault) ActivateShare(walletID, partyID string, epoch int) error {
	return v.activate(walletID, partyID, epoch, "", false)
}

// ActivateShareFrom is ActivateShare for the share that reshare session
// sessionID gave (PutPendingShareFrom): a pending share of epoch that
// names another session, or none, is not activated (ErrInvalid) and stays
// pending; with the active share of epoch already, it returns nil only if
// that share is from sessionID (else ErrInvalid). The session is read in
// the same step that moves the record, so a pending record replaced after
// a caller checked it is checked again.
func (v *Vault) ActivateShareFrom(walletID, partyID string, epoch int, sessionID string) error {
	if err := checkSessionID(sessionID); err != nil {
		return err
	}
	return v.activate(walletID, partyID, epoch, sessionID, true)
}

func (v *Vault) activate(walletID, partyID string, epoch int, sessionID string, checkSession bool) error {
	return v.atEpoch(walletID, partyID, epoch, func(pending, active *rawRecord, runs []Run) (activation, error) {
		activeEpoch := -1 // none
		var a *share.Record
		activeFrom := ""
		if active != nil {
			var err error
			if a, activeFrom, err = v.openShareFrom(active, walletID, partyID, false); err != nil {
				return keepPending, err
			}
			activeEpoch = a.Epoch
		}
		act := keepPending
		note := ""
		if pending != nil {
			p, from, err := v.openShareFrom(pending, walletID, partyID, true)
			if err != nil {
				return keepPending, err
			}
			switch {
			case p.Epoch <= activeEpoch:
				act = dropPending
			case p.Epoch == epoch:
				if a != nil && !bytes.Equal(p.PublicKey, a.PublicKey) {
					return keepPending, newErr(ErrInvalid, pending.where, "the pending share is of another wallet public key than the active share; not activated", nil)
				}
				if checkSession && from != sessionID {
					return keepPending, newErr(ErrInvalid, pending.where, fmt.Sprintf("the pending share of epoch %d is from session %q, not %q; not activated", epoch, from, sessionID), nil)
				}
				if st := runState(runs, from); Settling(st) {
					return keepPending, newErr(ErrFrozen, pending.where, fmt.Sprintf("the pending share of epoch %d is of run %q, which is %s (tsskit settle); not activated", epoch, from, st), nil)
				}
				return movePending, nil
			default:
				note = fmt.Sprintf(" (the pending share is of epoch %d)", p.Epoch)
			}
		}
		switch {
		case activeEpoch == epoch && checkSession && activeFrom != sessionID:
			// Not this session's share: saying it was activated would
			// tell the caller its run's share is in use when another
			// run's is.
			return act, newErr(ErrInvalid, active.where, fmt.Sprintf("the active share of epoch %d is from session %q, not %q", epoch, activeFrom, sessionID), nil)
		case activeEpoch == epoch:
			return act, nil
		case activeEpoch > epoch:
			return act, newErr(ErrStaleEpoch, "", fmt.Sprintf("the active share of wallet %q for party %q is of epoch %d, later than epoch %d", walletID, partyID, activeEpoch, epoch), nil)
		}
		return act, newErr(ErrNotFound, "", fmt.Sprintf("no pending share of epoch %d of wallet %q for party %q%s", epoch, walletID, partyID, note), nil)
	})
}

// atEpoch checks the arguments of a change of (walletID, partyID)'s
// share for a reshare to epoch, then runs decide on the pending and the
// active share (activateShare), serialised with PutPendingShare and
// every other such change. runs is the party's runs record of the wallet,
// read under the same lock.
func (v *Vault) atEpoch(walletID, partyID string, epoch int, decide func(pending, active *rawRecord, runs []Run) (activation, error)) error {
	if err := v.checkReshareArgs(walletID, partyID, epoch); err != nil {
		return err
	}
	v.pendingMu.Lock()
	defer v.pendingMu.Unlock()
	runs, err := v.runsLocked(walletID, partyID)
	if err != nil {
		return err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.store.activateShare(walletID, partyID, func(pending, active *rawRecord) (activation, error) {
		return decide(pending, active, runs)
	})
}

// RetireShare deletes the active share of walletID for partyID, which
// must be of an epoch before epoch, and a pending share of such an epoch
// if there is one: the wallet has moved to epoch without this party (it
// was in the old committee of a reshare only), and a share of a
// superseded epoch kept anywhere would keep that epoch able to sign with
// the other old holders'. Call it only once the new epoch is known to be
// active and held — a server party does so when every new holder's
// stored acknowledgement verifies (participant.ReshareOutcome.Retire).
//
// With no active share it returns ErrNotFound; with an active or pending
// share of epoch or later, ErrStaleEpoch, and nothing is deleted. Both
// shares are decrypted first: ErrWrongKey or ErrCorrupt delete nothing.
func (v *Vault) RetireShare(walletID, partyID string, epoch int) error {
	return v.atEpoch(walletID, partyID, epoch, func(pending, active *rawRecord, _ []Run) (activation, error) {
		if active == nil {
			return keepPending, newErr(ErrNotFound, "", fmt.Sprintf("no share of wallet %q for party %q", walletID, partyID), nil)
		}
		a, err := v.openShare(active, walletID, partyID, false)
		if err != nil {
			return keepPending, err
		}
		if a.Epoch >= epoch {
			return keepPending, newErr(ErrStaleEpoch, active.where, fmt.Sprintf("the active share of wallet %q for party %q is of epoch %d, not before epoch %d; not deleted", walletID, partyID, a.Epoch, epoch), nil)
		}
		if pending != nil {
			p, err := v.openShare(pending, walletID, partyID, true)
			if err != nil {
				return keepPending, err
			}
			if p.Epoch >= epoch {
				return keepPending, newErr(ErrStaleEpoch, pending.where, fmt.Sprintf("the pending share of wallet %q for party %q is of epoch %d, not before epoch %d; nothing deleted", walletID, partyID, p.Epoch, epoch), nil)
			}
		}
		return retireActive, nil
	})
}

// HasShare reports whether a share of walletID for partyID is stored, an
// active one: a pending share does not count. It does not decrypt it.
func (v *Vault) HasShare(walletID, partyID string) bool {
	if checkIDs(walletID, partyID) != nil || v.checkOwner(partyID) != nil {
		return false
	}
	return v.store.hasShare(walletID, partyID)
}

// ListShares lists the stored shares, the active ones (pending shares are
// not listed), sorted by wallet and party id, from the plaintext headers:
// nothing is decrypted. A record whose header does not parse or does not
// match where it is stored is left out and named in the error returned,
// an ErrCorrupt (one per such record, joined), beside the records that
// do parse: one bad record hides none of the others. A failure to read
// the store returns no list.
func (v *Vault) ListShares() ([]ShareRef, error) { return v.listShares(v.store.shares) }

// ListPendingShares lists the pending shares as ListShares lists the
// active ones.
func (v *Vault) ListPendingShares() ([]ShareRef, error) { return v.listShares(v.store.pendingShares) }

func (v *Vault) listShares(list func(bad func(error)) ([]*stored, error)) ([]ShareRef, error) {
	var bad []error
	shares, err := list(func(err error) { bad = append(bad, err) })
	if err != nil {
		return nil, err
	}
	refs := make([]ShareRef, 0, len(shares))
	for _, s := range shares {
		if s.f.WalletID == IdentityWalletID {
			continue // the identity key, not a share
		}
		refs = append(refs, ShareRef{WalletID: s.f.WalletID, PartyID: s.f.PartyID, KeyID: s.f.KeyID, SessionID: s.f.SessionID})
	}
	slices.SortFunc(refs, func(a, b ShareRef) int {
		if c := strings.Compare(a.WalletID, b.WalletID); c != 0 {
			return c
		}
		return strings.Compare(a.PartyID, b.PartyID)
	})
	return refs, errors.Join(bad...)
}

// PutPreParams validates pp (preparams.Validate, about 0.1 s), encrypts it
// and adds it to the pool. It returns the entry id.
func (v *Vault) PutPreParams(pp *keygen.LocalPreParams) (id string, err error) {
	if err := preparams.Validate(pp); err != nil { // its errors quote no values
		return "", newErr(ErrInvalid, "", "pre-parameters", err)
	}
	pt, err := preparams.Marshal(pp)
	if err != nil {
		return "", newErr(ErrInvalid, "", "pre-parameters", err)
	}
	defer clear(pt)
	var idb [entryIDLen / 2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", newErr(ErrIO, "", "reading random bytes", err)
	}
	id = hex.EncodeToString(idb[:])
	v.mu.RLock()
	defer v.mu.RUnlock()
	b, err := sealFile(v.key, kindPreParams, "", "", "", pt, preParamsAAD(id))
	if err != nil {
		return "", err
	}
	if err := v.store.putPreParams(id, b); err != nil {
		return "", err
	}
	return id, nil
}

// TakePreParams removes the oldest entry from the pool and returns it; it
// returns ErrEmpty if the pool is empty. No entry is ever returned twice,
// whatever the number of callers and processes.
//
// An entry is claimed before it is read. One that fails authentication or
// validation is set aside, kept for inspection (a directory renames it to
// "<name>.corrupt", PostgreSQL moves it to vault_preparams_corrupt), and
// reported as ErrCorrupt; the next call goes on with the following entry.
// One under another master key is put back and reported as ErrWrongKey.
func (v *Vault) TakePreParams() (*keygen.LocalPreParams, error) {
	v.takeMu.Lock()
	defer v.takeMu.Unlock()
	v.mu.RLock()
	defer v.mu.RUnlock()
	var pp *keygen.LocalPreParams
	err := v.store.takePreParams(func(rec []byte, where, id string) error {
		var err error
		pp, err = v.openPreParams(rec, where, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pp, nil
}

// openPreParams parses, decrypts and decodes the record of entry id.
func (v *Vault) openPreParams(rec []byte, where, id string) (*keygen.LocalPreParams, error) {
	f, err := parseRecord(where, kindPreParams, rec)
	if err != nil {
		return nil, err
	}
	pt, err := f.open(where, v.key, preParamsAAD(id))
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	pp, err := preparams.Unmarshal(pt)
	if err != nil {
		// Unmarshal's decoding errors may quote numbers of the plaintext.
		return nil, corrupt(where, "the decrypted pre-parameters do not decode or fail validation")
	}
	return pp, nil
}

// CountPreParams returns the number of entries in the pool, 0 if it cannot
// be read.
func (v *Vault) CountPreParams() int { return v.store.countPreParams() }

// Rotate re-encrypts every share, active or pending, and pre-parameters
// entry under newKey, each record atomically, and returns the number of
// records rewritten; from then on the Vault uses newKey. In PostgreSQL
// these are the owner's shares and pool; each row is rewritten in a
// transaction of its own.
//
// Every record is first checked to decrypt under the current key (or,
// left by an interrupted Rotate, under newKey) before any is rewritten, so
// a corrupt record or one under a third key stops Rotate with nothing
// changed. Should a write fail midway, the Vault keeps its key; the records
// already under newKey are skipped when Rotate is called again.
func (v *Vault) Rotate(newKey *MasterKey) (int, error) {
	if newKey == nil {
		return 0, newErr(ErrInvalid, "", "no new master key", nil)
	}
	v.takeMu.Lock()
	defer v.takeMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()

	var bad []error
	collect := func(err error) { bad = append(bad, err) }
	all, err := v.store.shares(collect)
	if err != nil {
		return 0, err
	}
	pending, err := v.store.pendingShares(collect)
	if err != nil {
		return 0, err
	}
	if err := errors.Join(bad...); err != nil {
		return 0, err // every record must be rewritten, or none
	}
	all = append(all, pending...)
	pool, err := v.store.preParams()
	if err != nil {
		return 0, err
	}
	all = append(all, pool...)

	// Check that everything decrypts before changing anything.
	var todo []*stored
	for _, r := range all {
		key := v.key
		if r.f.KeyID == newKey.ID() {
			key = newKey
		}
		pt, err := r.f.open(r.where, key, r.aad())
		if err != nil {
			return 0, err
		}
		clear(pt)
		if key != newKey {
			todo = append(todo, r)
		}
	}

	n := 0
	for _, r := range todo {
		pt, err := r.f.open(r.where, v.key, r.aad())
		if err != nil {
			return n, err
		}
		b, err := sealFile(newKey, r.f.Kind, r.f.WalletID, r.f.PartyID, r.f.SessionID, pt, r.aad())
		clear(pt)
		if err != nil {
			return n, err
		}
		if err := v.store.replace(r, b); err != nil {
			if err == errGone {
				continue // a pre-parameters entry taken meanwhile
			}
			return n, err
		}
		n++
	}
	v.key = newKey
	return n, nil
}

// IdentityWalletID is the reserved wallet id under which a vault keeps its
// owner's identity key: a share-kind record, so that both backends store
// it, it is never replaced, and Rotate re-encrypts it with the shares. No
// wallet may have this id.
const IdentityWalletID = "tsskit.identity"

// identityFormat is the identity record's plaintext:
// {"format":"tsskit.identity","version":1,"party_id":"…","seed":"<64 hex>"}.
type identityRecord struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	PartyID string `json:"party_id"`
	Seed    string `json:"seed"`
}

// Identity returns partyID's long-term identity key, making it (from
// crypto/rand) and storing it encrypted on first use; created says which.
// A server party certifies this key with the deployment root.
func (v *Vault) Identity(partyID string) (k *identity.Key, created bool, err error) {
	if err := checkIDs(IdentityWalletID, partyID); err != nil {
		return nil, false, err
	}
	if err := v.checkOwner(partyID); err != nil {
		return nil, false, err
	}
	if k, err := v.readIdentity(partyID); err == nil || !errors.Is(err, ErrNotFound) {
		return k, false, err
	}
	k, err = identity.GenerateKey()
	if err != nil {
		return nil, false, newErr(ErrIO, "", "reading random bytes", err)
	}
	seed := k.Seed()
	pt, _ := json.Marshal(identityRecord{Format: "tsskit.identity", Version: 1, PartyID: partyID, Seed: hex.EncodeToString(seed)})
	clear(seed)
	defer clear(pt)
	v.mu.RLock()
	b, err := sealFile(v.key, kindShare, IdentityWalletID, partyID, "", pt, shareAAD(IdentityWalletID, partyID, ""))
	if err == nil {
		err = v.store.putShare(IdentityWalletID, partyID, b)
	}
	v.mu.RUnlock()
	if errors.Is(err, ErrExists) {
		// Another process made it first: use that one.
		k, err := v.readIdentity(partyID)
		return k, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return k, true, nil
}

func (v *Vault) readIdentity(partyID string) (*identity.Key, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b, where, err := v.store.getShare(IdentityWalletID, partyID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newErr(ErrNotFound, "", fmt.Sprintf("no identity key for party %q", partyID), nil)
	}
	if err != nil {
		return nil, err
	}
	f, err := parseRecord(where, kindShare, b)
	if err != nil {
		return nil, err
	}
	if f.WalletID != IdentityWalletID || f.PartyID != partyID || f.SessionID != "" {
		return nil, corrupt(where, "holds another record than the identity key of party "+partyID)
	}
	pt, err := f.open(where, v.key, shareAAD(IdentityWalletID, partyID, ""))
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var rec identityRecord
	if err := json.Unmarshal(pt, &rec); err != nil || rec.Format != "tsskit.identity" || rec.Version != 1 || rec.PartyID != partyID {
		return nil, corrupt(where, "the decrypted identity record does not decode")
	}
	seed, err := hex.DecodeString(rec.Seed)
	if err != nil || len(seed) != identity.KeySize {
		return nil, corrupt(where, "the decrypted identity record does not decode")
	}
	defer clear(seed)
	return identity.KeyFromSeed(seed)
}

// Package vault is a server party's storage at rest: its key shares and a
// pool of ready pre-parameters, each in its own file, encrypted with
// AES-256-GCM under the master key CRYPTO_MASTER_KEY.
//
// # Layout
//
//	dir/                      0700
//	  shares/                 0700
//	    <hex sha-256>.json    0600, one per (wallet_id, party_id)
//	  preparams/              0700
//	    <seq>-<id>.json       0600, one per pool entry, oldest first
//
// Share files are named by a SHA-256 of the wallet and party ids, never by
// the ids themselves, so no id can reach the file system as a path. A
// pre-parameters file is named by a 20-digit sequence number (nanoseconds
// since 1970, strictly increasing per process), which orders the pool, and
// the entry id (32 random hex characters).
//
// # Files
//
// Every file is one JSON object:
//
//	{"format":"tsskit.vault","version":1,"kind":"share",
//	 "wallet_id":"…","party_id":"…",          (kind "share" only)
//	 "key_id":"<16 hex>","nonce":"<base64>","ciphertext":"<base64>"}
//
// The plaintext of a share file is its share.Encode record, that of a
// pre-parameters file the preparams.Marshal encoding. The nonce is 96
// random bits, fresh for every write. The associated data is
// wallet_id + "|" + party_id for a share and "preparams|" + id for a
// pre-parameters entry, so a file copied to another wallet, party or entry
// does not decrypt (ErrCorrupt). A decrypted share must moreover carry the
// wallet and party ids it was read for. key_id is MasterKey.ID of the key
// the file was written under: a file under another key is reported as
// ErrWrongKey with both ids, without trying to decrypt it, and Rotate uses
// it to re-encrypt a vault under a new key, resuming after an interruption.
//
// Files are written atomically: a temporary file in the same directory,
// fsynced, then renamed (or, for a new file, hard-linked, so that an
// existing share is never replaced), then the directory is fsynced.
//
// # Concurrency
//
// A Vault is safe for concurrent use. TakePreParams claims an entry by
// renaming it before reading it, so even two processes sharing a directory
// never hand out the same entry; an entry claimed by a process that then
// crashed is left as a ".take-" file and never handed out.
package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

const (
	sharesDir    = "shares"
	preParamsDir = "preparams"

	fileExt      = ".json"
	claimPrefix  = ".take-"
	corruptExt   = ".corrupt"
	shareNameLen = 2*sha256.Size + len(fileExt)
	seqDigits    = 20
	entryIDLen   = 32 // hex characters
	ppNameLen    = seqDigits + 1 + entryIDLen + len(fileExt)
	shareNameTag = "tsskit vault share file v1"
)

// Vault is a directory of encrypted key shares and pre-parameters.
type Vault struct {
	dir string

	// takeMu serialises TakePreParams and Rotate.
	takeMu sync.Mutex
	// mu guards key: Rotate holds it exclusively, everything else shared.
	mu  sync.RWMutex
	key *MasterKey

	seqMu   sync.Mutex
	lastSeq int64
}

// ShareRef describes a stored share from its plaintext header.
type ShareRef struct {
	WalletID string
	PartyID  string
	// KeyID is the id of the master key the share is encrypted under.
	KeyID string
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
	v := &Vault{dir: dir, key: key}
	for _, d := range []string{dir, v.sharesPath(), v.preParamsPath()} {
		if err := makeDir(d); err != nil {
			return nil, err
		}
	}
	names, err := v.preParamsNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if seq, _, ok := parsePreParamsName(name); ok && seq > v.lastSeq {
			v.lastSeq = seq
		}
	}
	return v, nil
}

func makeDir(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return ioErr(d, err)
	}
	fi, err := os.Stat(d)
	if err != nil {
		return ioErr(d, err)
	}
	if !fi.IsDir() {
		return newErr(ErrIO, d, "not a directory", nil)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(d, 0o700); err != nil {
			return ioErr(d, err)
		}
	}
	return nil
}

// Dir returns the vault's directory.
func (v *Vault) Dir() string { return v.dir }

// KeyID returns the id of the master key in use.
func (v *Vault) KeyID() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.key.ID()
}

func (v *Vault) sharesPath() string    { return filepath.Join(v.dir, sharesDir) }
func (v *Vault) preParamsPath() string { return filepath.Join(v.dir, preParamsDir) }

// checkIDs applies the share package's rules for wallet and party ids.
func checkIDs(walletID, partyID string) error {
	if walletID == "" || len(walletID) > share.MaxWalletIDLen {
		return newErr(ErrInvalid, "", fmt.Sprintf("wallet id of %d bytes; want 1..%d", len(walletID), share.MaxWalletIDLen), nil)
	}
	for _, c := range walletID {
		if c == unicode.ReplacementChar || !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return newErr(ErrInvalid, "", "wallet id: want printable, non-space characters", nil)
		}
	}
	if err := roster.CheckID(partyID); err != nil {
		return newErr(ErrInvalid, "", "party id", err)
	}
	return nil
}

// shareFileName is the file name of the share of (walletID, partyID): a
// SHA-256 of both ids, each length-prefixed so that no two pairs collide.
func shareFileName(walletID, partyID string) string {
	h := sha256.New()
	h.Write([]byte(shareNameTag))
	for _, s := range []string{walletID, partyID} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)) + fileExt
}

func isShareFileName(name string) bool {
	return len(name) == shareNameLen && strings.HasSuffix(name, fileExt) && isLowerHex(name[:2*sha256.Size], 2*sha256.Size)
}

// PutShare encrypts and stores r, which must pass r.Validate. It refuses
// (ErrExists) if a share of the same wallet and party is stored: a key
// share is never replaced.
func (v *Vault) PutShare(r *share.Record) error {
	if r == nil {
		return newErr(ErrInvalid, "", "no record", nil)
	}
	pt, err := share.Encode(r) // validates; its errors quote no secrets
	if err != nil {
		return newErr(ErrInvalid, "", "share record", err)
	}
	defer clear(pt)
	v.mu.RLock()
	defer v.mu.RUnlock()
	name := shareFileName(r.WalletID, r.PartyID)
	path := filepath.Join(v.sharesPath(), name)
	exists := func() error {
		return newErr(ErrExists, path, fmt.Sprintf("a share of wallet %q for party %q is already stored; key shares are never replaced", r.WalletID, r.PartyID), nil)
	}
	if _, err := os.Lstat(path); err == nil {
		return exists()
	}
	b, err := sealFile(v.key, kindShare, r.WalletID, r.PartyID, pt, shareAAD(r.WalletID, r.PartyID))
	if err != nil {
		return err
	}
	if err := writeAtomic(v.sharesPath(), name, b, false); err != nil {
		if errors.Is(err, ErrExists) {
			return exists()
		}
		return err
	}
	return nil
}

// GetShare reads and decrypts the share of walletID for partyID. It
// returns ErrNotFound if there is none, ErrWrongKey if the file is
// encrypted under another master key, and ErrCorrupt if it was modified or
// belongs to another wallet or party.
func (v *Vault) GetShare(walletID, partyID string) (*share.Record, error) {
	if err := checkIDs(walletID, partyID); err != nil {
		return nil, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	path := filepath.Join(v.sharesPath(), shareFileName(walletID, partyID))
	f, err := readVaultFile(path, kindShare)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newErr(ErrNotFound, "", fmt.Sprintf("no share of wallet %q for party %q", walletID, partyID), nil)
	}
	if err != nil {
		if _, ok := errors.AsType[*Error](err); !ok {
			err = ioErr(path, err)
		}
		return nil, err
	}
	if f.WalletID != walletID || f.PartyID != partyID {
		return nil, corrupt(path, fmt.Sprintf("holds the share of wallet %q for party %q, not of wallet %q for party %q", f.WalletID, f.PartyID, walletID, partyID))
	}
	pt, err := f.open(path, v.key, shareAAD(walletID, partyID))
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	r, err := share.Decode(pt) // its errors quote no secrets
	if err != nil {
		return nil, newErr(ErrCorrupt, path, "the decrypted share record does not decode", err)
	}
	if r.WalletID != walletID || r.PartyID != partyID {
		return nil, corrupt(path, "the decrypted record belongs to another wallet or party")
	}
	return r, nil
}

// HasShare reports whether a share of walletID for partyID is stored. It
// does not decrypt it.
func (v *Vault) HasShare(walletID, partyID string) bool {
	if checkIDs(walletID, partyID) != nil {
		return false
	}
	fi, err := os.Lstat(filepath.Join(v.sharesPath(), shareFileName(walletID, partyID)))
	return err == nil && fi.Mode().IsRegular()
}

// ListShares lists the stored shares, sorted by wallet and party id, from
// the plaintext headers: nothing is decrypted. A file whose header does
// not parse or whose name does not match its ids is ErrCorrupt.
func (v *Vault) ListShares() ([]ShareRef, error) {
	names, err := readNames(v.sharesPath(), isShareFileName)
	if err != nil {
		return nil, err
	}
	refs := make([]ShareRef, 0, len(names))
	for _, name := range names {
		path := filepath.Join(v.sharesPath(), name)
		f, err := v.readShareHeader(path, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		refs = append(refs, ShareRef{WalletID: f.WalletID, PartyID: f.PartyID, KeyID: f.KeyID})
	}
	slices.SortFunc(refs, func(a, b ShareRef) int {
		if c := strings.Compare(a.WalletID, b.WalletID); c != 0 {
			return c
		}
		return strings.Compare(a.PartyID, b.PartyID)
	})
	return refs, nil
}

// readShareHeader reads the share file name and checks that its name
// matches the ids in its header.
func (v *Vault) readShareHeader(path, name string) (*fileV1, error) {
	f, err := readVaultFile(path, kindShare)
	if err != nil {
		if _, ok := errors.AsType[*Error](err); !ok && !errors.Is(err, fs.ErrNotExist) {
			err = ioErr(path, err)
		}
		return nil, err
	}
	if shareFileName(f.WalletID, f.PartyID) != name {
		return nil, corrupt(path, fmt.Sprintf("the file name does not match its wallet %q and party %q", f.WalletID, f.PartyID))
	}
	return f, nil
}

// readNames lists the names in dir that keep accepts, sorted.
func readNames(dir string, keep func(string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, ioErr(dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && keep(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Pre-parameters pool.

func preParamsName(seq int64, id string) string {
	return fmt.Sprintf("%0*d-%s%s", seqDigits, seq, id, fileExt)
}

func parsePreParamsName(name string) (seq int64, id string, ok bool) {
	if len(name) != ppNameLen || name[seqDigits] != '-' || !strings.HasSuffix(name, fileExt) {
		return 0, "", false
	}
	digits := name[:seqDigits]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, "", false
		}
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, "", false
	}
	id = name[seqDigits+1 : seqDigits+1+entryIDLen]
	if !isLowerHex(id, entryIDLen) {
		return 0, "", false
	}
	return seq, id, true
}

func isPreParamsName(name string) bool {
	_, _, ok := parsePreParamsName(name)
	return ok
}

func (v *Vault) preParamsNames() ([]string, error) {
	return readNames(v.preParamsPath(), isPreParamsName)
}

// nextSeq returns a sequence number above every earlier one of this Vault.
func (v *Vault) nextSeq() int64 {
	v.seqMu.Lock()
	defer v.seqMu.Unlock()
	seq := max(time.Now().UnixNano(), v.lastSeq+1)
	v.lastSeq = seq
	return seq
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
	b, err := sealFile(v.key, kindPreParams, "", "", pt, preParamsAAD(id))
	if err != nil {
		return "", err
	}
	if err := writeAtomic(v.preParamsPath(), preParamsName(v.nextSeq(), id), b, false); err != nil {
		return "", err
	}
	return id, nil
}

// TakePreParams removes the oldest entry from the pool and returns it; it
// returns ErrEmpty if the pool is empty. No entry is ever returned twice,
// whatever the number of callers and processes.
//
// An entry is claimed (renamed) before it is read. One that fails
// authentication or validation is renamed to "<name>.corrupt", kept for
// inspection, and reported as ErrCorrupt; the next call goes on with the
// following entry. One under another master key is put back and reported
// as ErrWrongKey.
func (v *Vault) TakePreParams() (*keygen.LocalPreParams, error) {
	v.takeMu.Lock()
	defer v.takeMu.Unlock()
	v.mu.RLock()
	defer v.mu.RUnlock()
	dir := v.preParamsPath()
	names, err := v.preParamsNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		_, id, _ := parsePreParamsName(name)
		path := filepath.Join(dir, name)
		claimed := filepath.Join(dir, claimPrefix+name)
		if err := os.Rename(path, claimed); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // another process took it
			}
			return nil, ioErr(path, err)
		}
		// Make the claim durable before handing anything out, so that a
		// crash cannot bring the entry back.
		if err := syncDir(dir); err != nil {
			return nil, err
		}
		pp, err := v.openPreParams(claimed, path, id)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				// Wrong key or i/o error: the entry may be fine, put it back.
				if rerr := os.Rename(claimed, path); rerr != nil {
					return nil, ioErr(claimed, rerr)
				}
				return nil, err
			}
			aside := path + corruptExt
			if rerr := os.Rename(claimed, aside); rerr != nil {
				return nil, ioErr(claimed, rerr)
			}
			if e, ok := errors.AsType[*Error](err); ok {
				e.Msg += "; moved aside to " + aside
			}
			return nil, err
		}
		if err := os.Remove(claimed); err != nil {
			return nil, ioErr(claimed, err)
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
		return pp, nil
	}
	return nil, newErr(ErrEmpty, dir, "", nil)
}

// openPreParams reads, decrypts and decodes the claimed entry id; errors
// name the entry by its pool path.
func (v *Vault) openPreParams(claimed, path, id string) (*keygen.LocalPreParams, error) {
	f, err := readVaultFile(claimed, kindPreParams)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok {
			e.Path = path
			return nil, e
		}
		return nil, ioErr(path, err)
	}
	pt, err := f.open(path, v.key, preParamsAAD(id))
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	pp, err := preparams.Unmarshal(pt)
	if err != nil {
		// Unmarshal's decoding errors may quote numbers of the plaintext.
		return nil, corrupt(path, "the decrypted pre-parameters do not decode or fail validation")
	}
	return pp, nil
}

// CountPreParams returns the number of entries in the pool, 0 if the
// directory cannot be read.
func (v *Vault) CountPreParams() int {
	names, err := v.preParamsNames()
	if err != nil {
		return 0
	}
	return len(names)
}

// Rotate re-encrypts every share and pre-parameters entry under newKey,
// each file atomically, and returns the number of files rewritten; from
// then on the Vault uses newKey.
//
// Every file is first checked to decrypt under the current key (or, left
// by an interrupted Rotate, under newKey) before any is rewritten, so a
// corrupt file or one under a third key stops Rotate with nothing changed.
// Should a write fail midway, the Vault keeps its key; the files already
// under newKey are skipped when Rotate is called again.
func (v *Vault) Rotate(newKey *MasterKey) (int, error) {
	if newKey == nil {
		return 0, newErr(ErrInvalid, "", "no new master key", nil)
	}
	v.takeMu.Lock()
	defer v.takeMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()

	type job struct {
		path, name string
		f          *fileV1
		aad        []byte
		kind       string
	}
	var jobs []job
	shareNames, err := readNames(v.sharesPath(), isShareFileName)
	if err != nil {
		return 0, err
	}
	for _, name := range shareNames {
		path := filepath.Join(v.sharesPath(), name)
		f, err := v.readShareHeader(path, name)
		if err != nil {
			return 0, err
		}
		jobs = append(jobs, job{path, name, f, shareAAD(f.WalletID, f.PartyID), kindShare})
	}
	ppNames, err := v.preParamsNames()
	if err != nil {
		return 0, err
	}
	for _, name := range ppNames {
		path := filepath.Join(v.preParamsPath(), name)
		_, id, _ := parsePreParamsName(name)
		f, err := readVaultFile(path, kindPreParams)
		if errors.Is(err, fs.ErrNotExist) {
			continue // taken by another process
		}
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				err = ioErr(path, err)
			}
			return 0, err
		}
		jobs = append(jobs, job{path, name, f, preParamsAAD(id), kindPreParams})
	}

	// Check that everything decrypts before changing anything.
	todo := jobs[:0]
	for _, j := range jobs {
		key := v.key
		if j.f.KeyID == newKey.ID() {
			key = newKey
		}
		pt, err := j.f.open(j.path, key, j.aad)
		if err != nil {
			return 0, err
		}
		clear(pt)
		if key != newKey {
			todo = append(todo, j)
		}
	}

	n := 0
	for _, j := range todo {
		pt, err := j.f.open(j.path, v.key, j.aad)
		if err != nil {
			return n, err
		}
		b, err := sealFile(newKey, j.kind, j.f.WalletID, j.f.PartyID, pt, j.aad)
		clear(pt)
		if err != nil {
			return n, err
		}
		if err := rewrite(j.path, j.name, j.kind, b); err != nil {
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

var errGone = errors.New("vault: entry gone")

// rewrite replaces the file at path (named name) by data. A share is
// replaced by a rename. A pre-parameters entry is first claimed, as
// TakePreParams does, and then written anew, so that an entry another
// process takes meanwhile is not brought back: if it is gone, rewrite
// returns errGone.
func rewrite(path, name, kind string, data []byte) error {
	dir := filepath.Dir(path)
	if kind == kindShare {
		return writeAtomic(dir, name, data, true)
	}
	claimed := filepath.Join(dir, claimPrefix+name)
	if err := os.Rename(path, claimed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errGone
		}
		return ioErr(path, err)
	}
	if err := writeAtomic(dir, name, data, false); err != nil {
		os.Rename(claimed, path) // best effort: put the old entry back
		return err
	}
	if err := os.Remove(claimed); err != nil {
		return ioErr(claimed, err)
	}
	return syncDir(dir)
}

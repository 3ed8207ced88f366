package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	sharesDir    = "shares"
	pendingDir   = "pending"
	runsDir      = "runs"
	preParamsDir = "preparams"

	fileExt      = ".json"
	tempPrefix   = ".tmp-"
	claimPrefix  = ".take-"
	corruptExt   = ".corrupt"
	shareNameLen = 2*sha256.Size + len(fileExt)
	seqDigits    = 20
	entryIDLen   = 32 // hex characters
	ppNameLen    = seqDigits + 1 + entryIDLen + len(fileExt)
	shareNameTag = "tsskit vault share file v1"
)

// fileStore keeps a vault in a directory, one file per record.
type fileStore struct {
	root string

	seqMu   sync.Mutex
	lastSeq int64
}

// openFileStore creates dir and its subdirectories shares/, pending/,
// runs/ and preparams/ (mode 0700) as needed; existing directories that group or
// others may access are restricted to 0700.
func openFileStore(dir string) (*fileStore, error) {
	s := &fileStore{root: dir}
	for _, d := range []string{dir, s.sharesPath(), s.pendingPath(), s.runsPath(), s.preParamsPath()} {
		if err := makeDir(d); err != nil {
			return nil, err
		}
	}
	names, err := s.preParamsNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if seq, _, ok := parsePreParamsName(name); ok && seq > s.lastSeq {
			s.lastSeq = seq
		}
	}
	return s, nil
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

func (s *fileStore) dir() string      { return s.root }
func (s *fileStore) location() string { return s.root }
func (s *fileStore) close() error     { return nil }

func (s *fileStore) sharesPath() string    { return filepath.Join(s.root, sharesDir) }
func (s *fileStore) pendingPath() string   { return filepath.Join(s.root, pendingDir) }
func (s *fileStore) preParamsPath() string { return filepath.Join(s.root, preParamsDir) }
func (s *fileStore) runsPath() string      { return filepath.Join(s.root, runsDir) }

// getRuns reads runs/<name of the share file>, nil if there is none.
func (s *fileStore) getRuns(walletID, partyID string) ([]byte, error) {
	b, err := readRecordFile(filepath.Join(s.runsPath(), shareFileName(walletID, partyID)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// putRuns replaces it, atomically and durably.
func (s *fileStore) putRuns(walletID, partyID string, rec []byte) error {
	return writeAtomic(s.runsPath(), shareFileName(walletID, partyID), rec, true)
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

// readRecordFile reads the file at path, at most one byte more than a
// record may have (parseRecord refuses it). A missing file is returned as
// is (errors.Is(err, fs.ErrNotExist)), other failures as ErrIO.
func readRecordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, ioErr(path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, ioErr(path, err)
	}
	return b, nil
}

func (s *fileStore) putShare(walletID, partyID string, rec []byte) error {
	name := shareFileName(walletID, partyID)
	if _, err := os.Lstat(filepath.Join(s.sharesPath(), name)); err == nil {
		return newErr(ErrExists, filepath.Join(s.sharesPath(), name), "", nil)
	}
	return writeAtomic(s.sharesPath(), name, rec, false)
}

func (s *fileStore) getShare(walletID, partyID string) ([]byte, string, error) {
	path := filepath.Join(s.sharesPath(), shareFileName(walletID, partyID))
	b, err := readRecordFile(path)
	return b, path, err
}

func (s *fileStore) hasShare(walletID, partyID string) bool {
	fi, err := os.Lstat(filepath.Join(s.sharesPath(), shareFileName(walletID, partyID)))
	return err == nil && fi.Mode().IsRegular()
}

// shares reads the header of every share file and checks that its name
// matches the ids in it. A file removed meanwhile is left out.
func (s *fileStore) shares(bad func(error)) ([]*stored, error) {
	return s.sharesIn(s.sharesPath(), false, bad)
}

// pendingShares is shares for pending/.
func (s *fileStore) pendingShares(bad func(error)) ([]*stored, error) {
	return s.sharesIn(s.pendingPath(), true, bad)
}

func (s *fileStore) sharesIn(dir string, pending bool, bad func(error)) ([]*stored, error) {
	names, err := readNames(dir, isShareFileName)
	if err != nil {
		return nil, err
	}
	out := make([]*stored, 0, len(names))
	for _, name := range names {
		path := filepath.Join(dir, name)
		b, err := readRecordFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f, err := parseRecord(path, kindShare, b)
		if err == nil && shareFileName(f.WalletID, f.PartyID) != name {
			err = corrupt(path, fmt.Sprintf("the file name does not match its wallet %q and party %q", f.WalletID, f.PartyID))
		}
		if err != nil {
			bad(err)
			continue
		}
		out = append(out, &stored{f: f, pending: pending, where: path, name: name})
	}
	return out, nil
}

// putPendingShare checks the active share, then writes the pending file in
// place of any other. Unlike PostgreSQL's, the check and the write are not
// atomic against other processes: one that activates the share in between
// may leave a pending share that is not above the new active one, which
// the next ActivateShare drops. Within a process, the Vault serialises
// them.
func (s *fileStore) putPendingShare(walletID, partyID string, rec []byte, check func(active *rawRecord) error) error {
	active, err := s.activeRecord(walletID, partyID)
	if err != nil {
		return err
	}
	if err := check(active); err != nil {
		return err
	}
	return writeAtomic(s.pendingPath(), shareFileName(walletID, partyID), rec, true)
}

// activeRecord reads the active share of (walletID, partyID), nil if there
// is none.
func (s *fileStore) activeRecord(walletID, partyID string) (*rawRecord, error) {
	b, where, err := s.getShare(walletID, partyID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &rawRecord{b, where}, nil
}

func (s *fileStore) getPendingShare(walletID, partyID string) ([]byte, string, error) {
	path := filepath.Join(s.pendingPath(), shareFileName(walletID, partyID))
	b, err := readRecordFile(path)
	return b, path, err
}

// activateShare first pins the pending file: a hard link to it in shares/,
// under a temporary name, which decide reads, so that what is moved is
// what decide saw even if another process replaces the pending file
// meanwhile (files are replaced by rename, never rewritten in place). It
// moves it by renaming the link over the active file, atomically: a crash
// leaves the old active share or the new one. The pending file is removed
// after that, unless it is another one by then; a crash before leaves it
// next to the active share of its epoch, which the next ActivateShare
// drops. A crash after the link leaves it in shares/ as a temporary file,
// as writeAtomic may. Retiring removes the pending file decide saw, if
// any, then the active one if it is still the file decide read (pinned
// by its file info before the read): a crash between leaves the old share
// for a later RetireShare, never a share without its record.
func (s *fileStore) activateShare(walletID, partyID string, decide func(pending, active *rawRecord) (activation, error)) error {
	name := shareFileName(walletID, partyID)
	pendingPath := filepath.Join(s.pendingPath(), name)
	link := filepath.Join(s.sharesPath(), tempPrefix+"activate-"+rand.Text())
	var (
		pending *rawRecord
		pinned  fs.FileInfo
	)
	err := os.Link(pendingPath, link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		link = ""
	case err != nil:
		return ioErr(pendingPath, err)
	default:
		defer func() {
			if link != "" {
				os.Remove(link)
			}
		}()
		if pinned, err = os.Lstat(link); err != nil {
			return ioErr(link, err)
		}
		b, err := readRecordFile(link)
		if errors.Is(err, fs.ErrNotExist) {
			err = ioErr(link, err)
		}
		if err != nil {
			return err
		}
		pending = &rawRecord{b, pendingPath}
	}
	activePath := filepath.Join(s.sharesPath(), name)
	activeInfo, _ := os.Lstat(activePath) // pinned before it is read, for retireActive
	active, err := s.activeRecord(walletID, partyID)
	if err != nil {
		return err
	}
	act, decided := decide(pending, active)
	switch act {
	case retireActive:
		// The pending file first: a crash between the two leaves the old
		// share, which a later RetireShare deletes. Then the active file,
		// only if it is still the one decide saw (another process's
		// activation renames a new file over it).
		if pending != nil {
			if fi, err := os.Lstat(pendingPath); err == nil && os.SameFile(fi, pinned) {
				if err := os.Remove(pendingPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return ioErr(pendingPath, err)
				}
				if err := syncDir(s.pendingPath()); err != nil {
					return err
				}
			}
		}
		if fi, err := os.Lstat(activePath); err != nil || activeInfo == nil || !os.SameFile(fi, activeInfo) {
			return newErr(ErrIO, activePath, "the active share changed while it was retired; nothing more deleted", nil)
		}
		if err := os.Remove(activePath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr(activePath, err)
		}
		if err := syncDir(s.sharesPath()); err != nil {
			return err
		}
		return decided
	case movePending:
		if err := os.Rename(link, activePath); err != nil {
			return ioErr(activePath, err)
		}
		link = ""
		if err := syncDir(s.sharesPath()); err != nil {
			return err
		}
		fallthrough
	case dropPending:
		// Only the file decide saw: another process may have put a newer
		// one since.
		if fi, err := os.Lstat(pendingPath); err != nil || !os.SameFile(fi, pinned) {
			break
		}
		if err := os.Remove(pendingPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr(pendingPath, err)
		}
		if err := syncDir(s.pendingPath()); err != nil {
			return err
		}
	}
	return decided
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

func (s *fileStore) preParamsNames() ([]string, error) {
	return readNames(s.preParamsPath(), isPreParamsName)
}

// nextSeq returns a sequence number above every earlier one of this store.
func (s *fileStore) nextSeq() int64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	seq := max(time.Now().UnixNano(), s.lastSeq+1)
	s.lastSeq = seq
	return seq
}

func (s *fileStore) putPreParams(id string, rec []byte) error {
	return writeAtomic(s.preParamsPath(), preParamsName(s.nextSeq(), id), rec, false)
}

// takePreParams claims an entry by renaming it to ".take-<name>" before
// reading it, so even two processes sharing the directory never hand out
// the same one. A corrupt entry is renamed to "<name>.corrupt"; an entry
// claimed by a process that then crashed stays a ".take-" file, never
// handed out.
func (s *fileStore) takePreParams(use func(rec []byte, where, id string) error) error {
	dir := s.preParamsPath()
	names, err := s.preParamsNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		_, id, _ := parsePreParamsName(name)
		path := filepath.Join(dir, name)
		claimed := filepath.Join(dir, claimPrefix+name)
		if err := os.Rename(path, claimed); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // another process took it
			}
			return ioErr(path, err)
		}
		// Make the claim durable before handing anything out, so that a
		// crash cannot bring the entry back.
		if err := syncDir(dir); err != nil {
			return err
		}
		b, err := readRecordFile(claimed)
		if err == nil {
			err = use(b, path, id)
		} else if _, ok := errors.AsType[*Error](err); !ok {
			err = ioErr(path, err)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				// Wrong key or i/o error: the entry may be fine, put it back.
				if rerr := os.Rename(claimed, path); rerr != nil {
					return ioErr(claimed, rerr)
				}
				return err
			}
			aside := path + corruptExt
			if rerr := os.Rename(claimed, aside); rerr != nil {
				return ioErr(claimed, rerr)
			}
			if e, ok := errors.AsType[*Error](err); ok {
				e.Msg += "; moved aside to " + aside
			}
			return err
		}
		if err := os.Remove(claimed); err != nil {
			return ioErr(claimed, err)
		}
		return syncDir(dir)
	}
	return newErr(ErrEmpty, dir, "", nil)
}

func (s *fileStore) countPreParams() int {
	names, err := s.preParamsNames()
	if err != nil {
		return 0
	}
	return len(names)
}

// preParams reads every entry of the pool, oldest first; an entry taken
// meanwhile is left out.
func (s *fileStore) preParams() ([]*stored, error) {
	names, err := s.preParamsNames()
	if err != nil {
		return nil, err
	}
	var out []*stored
	for _, name := range names {
		path := filepath.Join(s.preParamsPath(), name)
		_, id, _ := parsePreParamsName(name)
		b, err := readRecordFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // taken by another process
		}
		if err != nil {
			return nil, err
		}
		f, err := parseRecord(path, kindPreParams, b)
		if err != nil {
			return nil, err
		}
		out = append(out, &stored{f: f, where: path, id: id, name: name})
	}
	return out, nil
}

// replace writes rec in place of the file of r. A share, active or
// pending, is replaced by a rename. A pre-parameters entry is first
// claimed, as takePreParams does, and then written anew, so that an entry
// another process takes meanwhile is not brought back: if it is gone,
// replace returns errGone.
func (s *fileStore) replace(r *stored, rec []byte) error {
	dir := filepath.Dir(r.where)
	if r.f.Kind == kindShare {
		return writeAtomic(dir, r.name, rec, true)
	}
	claimed := filepath.Join(dir, claimPrefix+r.name)
	if err := os.Rename(r.where, claimed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errGone
		}
		return ioErr(r.where, err)
	}
	if err := writeAtomic(dir, r.name, rec, false); err != nil {
		os.Rename(claimed, r.where) // best effort: put the old entry back
		return err
	}
	if err := os.Remove(claimed); err != nil {
		return ioErr(claimed, err)
	}
	return syncDir(dir)
}

// writeAtomic writes data to dir/name through a temporary file in dir
// (mode 0600, fsynced), then renames it into place (replace) or links it
// there, which fails if name exists (!replace: ErrExists), and fsyncs dir.
// Readers see the old file or the new one, never a part.
func writeAtomic(dir, name string, data []byte, replace bool) (err error) {
	final := filepath.Join(dir, name)
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return ioErr(dir, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return ioErr(tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return ioErr(tmp, err)
	}
	if err := f.Sync(); err != nil {
		return ioErr(tmp, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return ioErr(tmp, err)
	}
	if replace {
		if err := os.Rename(tmp, final); err != nil {
			return ioErr(final, err)
		}
	} else {
		if err := os.Link(tmp, final); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return newErr(ErrExists, final, "", nil)
			}
			return ioErr(final, err)
		}
		os.Remove(tmp) // the data is at final now
	}
	return syncDir(dir)
}

// syncDir makes renames, links and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioErr(dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return ioErr(dir, err)
	}
	return nil
}

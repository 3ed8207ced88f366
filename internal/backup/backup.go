// Package backup snapshots and restores the data directory of the
// embedded default (tsskit dev, or a coordinator and server parties with
// --data-dir and no DATABASE_URL): the SQLite store and the server
// parties' file vaults.
//
// A backup is a gzip'd tar: a manifest (tsskit-backup.json) first, then
// every file under its path relative to the data directory. Files go in
// as they are at rest: vault records stay encrypted under the master key,
// which never goes in (dev-secrets.json, which holds it in dev mode, is
// left out, and so are private key files unless asked for), and SQLite
// databases are copied with VACUUM INTO, whole even while the service
// writes. Each file is consistent; the store and the vaults are read one
// after the other, so a keygen that finishes meanwhile may be in one and
// not the other. A restore checks the manifest (format, paths, sizes,
// SHA-256 of every file) before it writes anything, and only into an
// empty or missing directory, through an os.Root.
package backup

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, for VACUUM INTO
)

// Format and Version name the archive format.
const (
	Format       = "tsskit.backup"
	Version      = 1
	ManifestName = "tsskit-backup.json"
)

// Manifest lists what a backup holds.
type Manifest struct {
	Format    string    `json:"format"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Files     []File    `json:"files"`
	// Left out: files under the data directory not in the backup, and why.
	LeftOut []File `json:"left_out,omitempty"`
}

// File is one entry of the manifest.
type File struct {
	Path   string `json:"path"` // slash-separated, relative to the data directory
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Why    string `json:"why,omitempty"` // for LeftOut
}

// Error is a refused backup or restore.
type Error struct {
	Op  string // "backup" or "restore"
	Msg string
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Op, e.Msg, e.Err)
	}
	return e.Op + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Limits on what a restore reads: a data directory of tsskit's holds a
// store and vault records, far below these; an archive past them is not
// one, and is refused before it can exhaust memory.
const (
	MaxFile  = 256 << 20
	MaxTotal = 1 << 30
	MaxFiles = 1 << 20
)

// ErrNotEmpty: restore refuses a data directory that has files.
var ErrNotEmpty = errors.New("the data directory is not empty")

// Options choose what a backup holds.
type Options struct {
	// IncludeKeys puts key files (*.key: tsskit dev's root and coordinator
	// keys) in the backup as they are at rest, in the clear. Off: they
	// are left out, and whoever holds the backup cannot certify parties
	// or mint tokens with it.
	IncludeKeys bool
	Progress    func(string)
}

// leaveOut says why a file is not backed up ("" to back it up).
func leaveOut(rel string, d fs.DirEntry, o Options) string {
	base := path.Base(rel)
	switch {
	case base == "dev-secrets.json":
		return "holds CRYPTO_MASTER_KEY and MPC_API_KEY: keep those apart from the backup"
	case strings.HasSuffix(base, ".key") && !o.IncludeKeys:
		return "a private key in the clear (--include-keys to back it up)"
	case strings.HasPrefix(base, ".tmp-"), strings.HasPrefix(base, ".take-"):
		return "a vault write or take in progress"
	case strings.HasSuffix(base, "-wal"), strings.HasSuffix(base, "-shm"), strings.HasSuffix(base, "-journal"):
		return "SQLite's journal: the database is snapshotted whole"
	case strings.HasSuffix(base, ".corrupt"):
		return "a record the vault moved aside as corrupt"
	case !d.Type().IsRegular():
		return "not a regular file"
	}
	return ""
}

func isSQLite(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	return n == 16 && string(head) == "SQLite format 3\x00"
}

// Create writes a backup of dataDir to out. progress, if set, gets each
// file's path as it is added.
func Create(dataDir string, out io.Writer, o Options) (*Manifest, error) {
	fail := func(msg string, err error) (*Manifest, error) { return nil, &Error{Op: "backup", Msg: msg, Err: err} }
	progress := o.Progress
	// A data directory reached through a link (the image's .data) is
	// walked where it points.
	real, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return fail("data directory "+dataDir, err)
	}
	dataDir = real
	st, err := os.Stat(dataDir)
	if err != nil || !st.IsDir() {
		return fail("data directory "+dataDir, err)
	}
	tmp, err := os.MkdirTemp("", "tsskit-backup-")
	if err != nil {
		return fail("temporary directory", err)
	}
	defer os.RemoveAll(tmp)

	// First take every file (SQLite snapshots into tmp), hash it, then
	// write the manifest and the files: the manifest comes first so a
	// restore can check paths before it writes anything.
	type item struct {
		File
		src string
	}
	var items []item
	m := &Manifest{Format: Format, Version: Version, CreatedAt: time.Now().UTC()}
	err = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dataDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if why := leaveOut(rel, d, o); why != "" {
			m.LeftOut = append(m.LeftOut, File{Path: rel, Why: why})
			return nil
		}
		src := p
		if isSQLite(p) {
			src = filepath.Join(tmp, fmt.Sprintf("db-%d", len(items)))
			if err := snapshot(p, src); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		sum, size, err := hashFile(src)
		if err != nil {
			return err
		}
		items = append(items, item{File: File{Path: rel, Size: size, SHA256: sum}, src: src})
		return nil
	})
	if err != nil {
		return fail("read "+dataDir, err)
	}
	if len(items) == 0 {
		return fail("nothing to back up in "+dataDir+" (is it the data directory?)", nil)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	for _, it := range items {
		m.Files = append(m.Files, it.File)
	}
	gz := gzip.NewWriter(out)
	tw := tar.NewWriter(gz)
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := writeEntry(tw, ManifestName, mb); err != nil {
		return fail("write", err)
	}
	for _, it := range items {
		b, err := os.ReadFile(it.src)
		if err != nil {
			return fail("read "+it.Path, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != it.SHA256 {
			// A file the vault replaced between the hash and now: its
			// record is written by rename, so the old one is gone; back
			// up again.
			return fail(it.Path+" changed while the backup ran; run it again", nil)
		}
		if err := writeEntry(tw, it.Path, b); err != nil {
			return fail("write", err)
		}
		if progress != nil {
			progress(it.Path)
		}
	}
	if err := tw.Close(); err != nil {
		return fail("write", err)
	}
	if err := gz.Close(); err != nil {
		return fail("write", err)
	}
	return m, nil
}

// snapshot copies the SQLite database at src to dst, consistently.
func snapshot(src, dst string) error {
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec("VACUUM INTO ?", dst)
	return err
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func writeEntry(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// RestoreOptions choose what a restore writes.
type RestoreOptions struct {
	// PreParams restores the server parties' ready pre-parameters too. By
	// default they are left out: a set taken for a keygen after the
	// backup was made would otherwise be handed out a second time.
	PreParams bool
	Progress  func(string)
}

// Restore reads a backup from in and writes its files under dataDir,
// which must be missing or empty. Nothing is written unless the whole
// archive checks out.
func Restore(in io.Reader, dataDir string, o RestoreOptions) (*Manifest, error) {
	fail := func(msg string, err error) (*Manifest, error) { return nil, &Error{Op: "restore", Msg: msg, Err: err} }
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 {
		return fail(dataDir, ErrNotEmpty)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(dataDir, err)
	}
	gz, err := gzip.NewReader(in)
	if err != nil {
		return fail("not a tsskit backup (gzip)", err)
	}
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != ManifestName {
		return fail("not a tsskit backup: no manifest first", err)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&m); err != nil {
		return fail("manifest", err)
	}
	if m.Format != Format || m.Version != Version {
		return fail(fmt.Sprintf("format %q version %d; this tsskit reads %s version %d", m.Format, m.Version, Format, Version), nil)
	}
	want := map[string]File{}
	var total int64
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return fail("manifest", err)
		}
		if path.Base(f.Path) == "dev-secrets.json" {
			return fail("manifest", fmt.Errorf("%s is never in a backup", f.Path))
		}
		if f.Size < 0 || f.Size > MaxFile {
			return fail("manifest", fmt.Errorf("%s: size %d out of range", f.Path, f.Size))
		}
		total += f.Size
		want[f.Path] = f
	}
	if total > MaxTotal || len(want) > MaxFiles {
		return fail(fmt.Sprintf("manifest: %d files, %d bytes: more than a data directory holds (at most %d files, %d bytes)", len(want), total, MaxFiles, MaxTotal), nil)
	}
	// A file may not also be a directory of another's path.
	for p := range want {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := want[d]; ok {
				return fail("manifest", fmt.Errorf("%s is both a file and a directory", d))
			}
		}
	}
	// Read and check everything first.
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail("archive", err)
		}
		f, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			return fail(fmt.Sprintf("archive entry %q is not in the manifest", hdr.Name), nil)
		}
		if _, dup := files[hdr.Name]; dup || hdr.Size != f.Size {
			return fail(fmt.Sprintf("archive entry %q: duplicate or wrong size", hdr.Name), nil)
		}
		b, err := io.ReadAll(io.LimitReader(tr, f.Size+1))
		if err != nil {
			return fail("archive", err)
		}
		if sum := sha256.Sum256(b); int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			return fail(fmt.Sprintf("%s does not match its SHA-256 in the manifest: the backup is damaged", f.Path), nil)
		}
		files[hdr.Name] = b
	}
	for p := range want {
		if _, ok := files[p]; !ok {
			return fail(p+" is in the manifest but not in the archive", nil)
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fail(dataDir, err)
	}
	// Every write goes through an os.Root: nothing, not even a link
	// planted in the directory meanwhile, leads out of it.
	root, err := os.OpenRoot(dataDir)
	if err != nil {
		return fail(dataDir, err)
	}
	defer root.Close()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !o.PreParams && isPreParams(p) {
			continue
		}
		dst := filepath.FromSlash(p)
		if dir := filepath.Dir(dst); dir != "." {
			if err := root.MkdirAll(dir, 0o700); err != nil {
				return fail(p, err)
			}
		}
		if err := root.WriteFile(dst, files[p], 0o600); err != nil {
			return fail(p, err)
		}
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	return &m, nil
}

// isPreParams: a file in a vault's pre-parameter pool.
func isPreParams(p string) bool {
	dir := path.Dir(p)
	return path.Base(dir) == "preparams" && path.Base(path.Dir(dir)) == "vault"
}

// checkPath refuses paths that would leave the data directory.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\\") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || p == ManifestName {
		return fmt.Errorf("path %q is not a plain relative path", p)
	}
	return nil
}

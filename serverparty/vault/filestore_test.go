package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/party/share"
)

// fileBackend is the suite's directory: a fresh one per test.
type fileBackend struct{ dir string }

func newFileBackend(t *testing.T) *fileBackend {
	return &fileBackend{dir: filepath.Join(t.TempDir(), "vault")}
}

func (b *fileBackend) open(t *testing.T, k *MasterKey) *Vault {
	t.Helper()
	v, err := Open(b.dir, k)
	return mustOpen(t, v, err)
}

func (b *fileBackend) openErr(k *MasterKey) (*Vault, error) { return Open(b.dir, k) }

func (b *fileBackend) sharePath(walletID, partyID string) string {
	return filepath.Join(b.dir, sharesDir, shareFileName(walletID, partyID))
}

func (b *fileBackend) rawShare(t *testing.T, walletID, partyID string) []byte {
	t.Helper()
	data, err := os.ReadFile(b.sharePath(walletID, partyID))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (b *fileBackend) setRawShare(t *testing.T, walletID, partyID string, data []byte) {
	t.Helper()
	if err := os.WriteFile(b.sharePath(walletID, partyID), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *fileBackend) pendingPath(walletID, partyID string) string {
	return filepath.Join(b.dir, pendingDir, shareFileName(walletID, partyID))
}

func (b *fileBackend) rawPending(t *testing.T, walletID, partyID string) []byte {
	t.Helper()
	data, err := os.ReadFile(b.pendingPath(walletID, partyID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (b *fileBackend) setRawPending(t *testing.T, walletID, partyID string, data []byte) {
	t.Helper()
	if err := os.WriteFile(b.pendingPath(walletID, partyID), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *fileBackend) deleteRawPending(t *testing.T, walletID, partyID string) {
	t.Helper()
	if err := os.Remove(b.pendingPath(walletID, partyID)); err != nil {
		t.Fatal(err)
	}
}

func (b *fileBackend) entries(t *testing.T) []rawEntry {
	t.Helper()
	names, err := readNames(filepath.Join(b.dir, preParamsDir), isPreParamsName)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawEntry
	for _, name := range names {
		_, id, _ := parsePreParamsName(name)
		data, err := os.ReadFile(filepath.Join(b.dir, preParamsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rawEntry{id, data})
	}
	return out
}

// entryPath is the path of the pool entry id.
func (b *fileBackend) entryPath(t *testing.T, id string) string {
	t.Helper()
	names, err := readNames(filepath.Join(b.dir, preParamsDir), isPreParamsName)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, nid, _ := parsePreParamsName(name); nid == id {
			return filepath.Join(b.dir, preParamsDir, name)
		}
	}
	t.Fatalf("no entry %s", id)
	return ""
}

func (b *fileBackend) setRawEntry(t *testing.T, id string, data []byte) {
	t.Helper()
	if err := os.WriteFile(b.entryPath(t, id), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *fileBackend) renameEntry(t *testing.T, id, newID string) {
	t.Helper()
	path := b.entryPath(t, id)
	if err := os.Rename(path, filepath.Join(filepath.Dir(path), strings.Replace(filepath.Base(path), id, newID, 1))); err != nil {
		t.Fatal(err)
	}
}

func (b *fileBackend) setAside(t *testing.T) int {
	t.Helper()
	names, err := readNames(filepath.Join(b.dir, preParamsDir), func(name string) bool {
		return isPreParamsName(strings.TrimSuffix(name, corruptExt)) && strings.HasSuffix(name, corruptExt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func (b *fileBackend) asideNote() string { return corruptExt }

// checkClean: directories 0700, files 0600, no temporary or claimed file.
func (b *fileBackend) checkClean(t *testing.T) {
	t.Helper()
	checkMode(t, b.dir, 0o700)
	for _, d := range []string{sharesDir, pendingDir, preParamsDir} {
		checkMode(t, filepath.Join(b.dir, d), 0o700)
		entries, err := os.ReadDir(filepath.Join(b.dir, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			checkMode(t, filepath.Join(b.dir, d, e.Name()), 0o600)
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("leftover %s/%s", d, e.Name())
			}
		}
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

// TestFileLayout: the documented directory layout.
func TestFileLayout(t *testing.T) {
	r := goldenShare(t)
	pp := fixturePreParams(t)[0]
	b := newFileBackend(t)
	v := b.open(t, newKey(t))
	if v.Dir() != b.dir || v.Location() != b.dir {
		t.Fatalf("Dir %q, Location %q; want %q", v.Dir(), v.Location(), b.dir)
	}
	if err := v.PutShare(r); err != nil {
		t.Fatal(err)
	}
	id, err := v.PutPreParams(pp)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, b.dir, 0o700)
	checkMode(t, filepath.Join(b.dir, sharesDir), 0o700)
	checkMode(t, filepath.Join(b.dir, preParamsDir), 0o700)
	checkMode(t, filepath.Join(b.dir, pendingDir), 0o700)
	checkMode(t, b.sharePath(r.WalletID, r.PartyID), 0o600)
	if err := v.PutPendingShare(atEpoch(t, r, 1)); err != nil {
		t.Fatal(err)
	}
	checkMode(t, b.pendingPath(r.WalletID, r.PartyID), 0o600)
	if entries, _ := os.ReadDir(filepath.Join(b.dir, pendingDir)); len(entries) != 1 || entries[0].Name() != shareFileName(r.WalletID, r.PartyID) {
		t.Fatalf("pending/ holds %v", entries)
	}
	entries, _ := os.ReadDir(filepath.Join(b.dir, sharesDir))
	if len(entries) != 1 || entries[0].Name() != shareFileName(r.WalletID, r.PartyID) {
		t.Fatalf("shares/ holds %v", entries)
	}
	entries, _ = os.ReadDir(filepath.Join(b.dir, preParamsDir))
	if len(entries) != 1 {
		t.Fatalf("preparams/ holds %v", entries)
	}
	if _, eid, ok := parsePreParamsName(entries[0].Name()); !ok || eid != id {
		t.Fatalf("pre-parameters file %s, entry id %s", entries[0].Name(), id)
	}
	checkMode(t, filepath.Join(b.dir, preParamsDir, entries[0].Name()), 0o600)
}

func TestShareFileNames(t *testing.T) {
	r := goldenShare(t)
	b := newFileBackend(t)
	v := b.open(t, newKey(t))
	// Party ids may hold characters a file name must not: / .. \ and "|",
	// which also separates the AAD fields.
	for _, id := range []string{"../../etc/passwd", `a\b`, "x|y", "..", "server-1/../../z"} {
		if err := v.PutShare(inWallet(r, id)); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(v.Dir(), sharesDir))
	for _, e := range entries {
		if !isShareFileName(e.Name()) {
			t.Errorf("unexpected file %q", e.Name())
		}
	}
	if len(entries) != 5 {
		t.Fatalf("%d files, want 5", len(entries))
	}
	// "a|b"+"|"+"c" and "a"+"|"+"b|c" name different files.
	if shareFileName("a|b", "c") == shareFileName("a", "b|c") {
		t.Fatal("file names collide")
	}
}

// TestPreParamsFileAside: a corrupt entry is kept as "<name>.corrupt",
// and an entry claimed by a process that crashed (".take-<name>") is
// never handed out.
func TestPreParamsFileAside(t *testing.T) {
	pps := fixturePreParams(t)
	b := newFileBackend(t)
	v := b.open(t, newKey(t))
	ppDir := filepath.Join(b.dir, preParamsDir)
	first, err := v.PutPreParams(pps[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.PutPreParams(pps[1]); err != nil {
		t.Fatal(err)
	}
	path := b.entryPath(t, first)
	b.setRawEntry(t, first, []byte("garbage"))
	if _, err := v.TakePreParams(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path+corruptExt) {
		t.Fatalf("got %v, want ErrCorrupt naming %s", err, path+corruptExt)
	}
	if _, err := os.Stat(path + corruptExt); err != nil {
		t.Fatalf("corrupt entry not kept aside: %v", err)
	}

	// The second entry, claimed by a process that crashed.
	entries := b.entries(t)
	name := filepath.Base(b.entryPath(t, entries[0].id))
	if err := os.Rename(filepath.Join(ppDir, name), filepath.Join(ppDir, claimPrefix+name)); err != nil {
		t.Fatal(err)
	}
	if n := v.CountPreParams(); n != 0 {
		t.Fatalf("CountPreParams %d, want 0", n)
	}
	if _, err := v.TakePreParams(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("got %v, want ErrEmpty", err)
	}
}

func TestOpenPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "loose")
	if err := os.MkdirAll(filepath.Join(dir, sharesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, sharesDir), 0o777)
	v, err := Open(dir, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, sharesDir), filepath.Join(dir, preParamsDir)} {
		checkMode(t, d, 0o700)
	}
	if v.CountPreParams() != 0 {
		t.Fatal("new pool not empty")
	}

	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	if _, err := Open(notDir, newKey(t)); err == nil {
		t.Fatal("Open on a file succeeded")
	}
	if _, err := Open("", newKey(t)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open without a directory: %v", err)
	}
}

// TestActivateShareFileCrash: ActivateShare in a directory links the
// pending file into shares/, renames the link over the active file, then
// removes the pending file. A crash after any step leaves a usable active
// share, the old or the new one, and ActivateShare run again completes the
// activation.
func TestActivateShareFileCrash(t *testing.T) {
	r0 := goldenShare(t)
	b := newFileBackend(t)
	k := newKey(t)
	v := b.open(t, k)
	sharesPath := filepath.Join(b.dir, sharesDir)

	// setup stores the share of epoch 0 of wallet and a pending share of
	// epoch 1, and returns both.
	setup := func(wallet string) (*share.Record, *share.Record) {
		t.Helper()
		old := inWallet(r0, wallet)
		next := atEpoch(t, old, 1)
		if err := v.PutShare(old); err != nil {
			t.Fatal(err)
		}
		if err := v.PutPendingShare(next); err != nil {
			t.Fatal(err)
		}
		return old, next
	}
	// check: the active share is want, and activating epoch 1 again ends
	// with next active and nothing pending.
	check := func(step string, old, want, next *share.Record) {
		t.Helper()
		for _, vv := range []*Vault{v, b.open(t, k)} {
			got, err := vv.GetShare(old.WalletID, old.PartyID)
			sameShare(t, "crashed "+step+": GetShare", got, err, want)
		}
		if err := b.open(t, k).ActivateShare(old.WalletID, old.PartyID, 1); err != nil {
			t.Fatalf("crashed %s: ActivateShare again: %v", step, err)
		}
		got, err := v.GetShare(old.WalletID, old.PartyID)
		sameShare(t, "crashed "+step+": GetShare after ActivateShare again", got, err, next)
		if _, err := os.Lstat(b.pendingPath(old.WalletID, old.PartyID)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("crashed %s: the pending file is left: %v", step, err)
		}
	}

	// Crashed after the link: the old share is active, the new one
	// pending, and a temporary file in shares/.
	old, next := setup("wallet-link")
	link := filepath.Join(sharesPath, tempPrefix+"activate-crashed")
	if err := os.Link(b.pendingPath(old.WalletID, old.PartyID), link); err != nil {
		t.Fatal(err)
	}
	if refs, err := v.ListShares(); err != nil || len(refs) != 1 {
		t.Fatalf("ListShares with a leftover link: %v, %v", refs, err)
	}
	check("after the link", old, old, next)
	if err := os.Remove(link); err != nil { // left as writeAtomic's are
		t.Fatal(err)
	}

	// Crashed after the rename: the new share is active, and still
	// pending.
	old, next = setup("wallet-rename")
	if err := os.Link(b.pendingPath(old.WalletID, old.PartyID), link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, b.sharePath(old.WalletID, old.PartyID)); err != nil {
		t.Fatal(err)
	}
	check("after the rename", old, next, next)

	// Had the crash come before the rename reached the disk, the old
	// share would be active and the new one pending: the state before
	// ActivateShare, or after the link.
	b.checkClean(t)

	// What decide saw is what is moved: a pending file replaced after the
	// link is not the one activated.
	old, next = setup("wallet-pinned")
	store := v.store.(*fileStore)
	err := store.activateShare(old.WalletID, old.PartyID, func(pending, active *rawRecord) (activation, error) {
		newer := atEpoch(t, old, 2)
		if err := v.PutPendingShare(newer); err != nil {
			t.Error(err)
		}
		if m := decodeJSON(t, pending.b); m["wallet_id"] != old.WalletID {
			t.Errorf("pending header %v", m)
		}
		return movePending, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.GetShare(old.WalletID, old.PartyID)
	sameShare(t, "the pinned pending share", got, err, next)
	if got, err := v.GetPendingShare(old.WalletID, old.PartyID); err != nil || got.Epoch != 2 {
		t.Fatalf("the pending share put meanwhile: %v", err)
	}
	b.checkClean(t)
}

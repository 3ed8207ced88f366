package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/backup"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dataDir makes a data directory shaped like tsskit dev's: an open SQLite
// store with a wallet, a vault with a share and a pre-parameter set, the
// dev secrets and the debris a running vault can leave.
func dataDir(t *testing.T) (string, *store.SQLite) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(filepath.Join(dir, "coordinator.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &store.Wallet{ID: "w-1", Name: "before", SignersNeeded: 2, PublicKey: bytes.Repeat([]byte{2}, 33), Address: "0x" + strings.Repeat("ab", 20),
		Holders: []store.Holder{{PartyID: "a", Kind: store.HolderServer}, {PartyID: "b", Kind: store.HolderServer}, {PartyID: "c", Kind: store.HolderServer}}, CreatedAt: time.Now()}
	if err := st.CreateWallet(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "server-1", "party-id"), "server-1\n")
	write(t, filepath.Join(dir, "server-1", "vault", "shares", "abc.json"), `{"ciphertext":"…"}`)
	write(t, filepath.Join(dir, "server-1", "vault", "preparams", "0001.json"), `{"ciphertext":"pp"}`)
	write(t, filepath.Join(dir, "server-1", "vault", "shares", ".tmp-123"), "half")
	write(t, filepath.Join(dir, "dev-secrets.json"), `{"CRYPTO_MASTER_KEY":"secret"}`)
	write(t, filepath.Join(dir, "root.key"), "root-private-key")
	return dir, st
}

func TestRoundTrip(t *testing.T) {
	dir, st := dataDir(t)
	var buf bytes.Buffer
	var added []string
	m, err := backup.Create(dir, &buf, backup.Options{Progress: func(p string) { added = append(added, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Fatal("the backup holds the master key")
	}
	left := map[string]bool{}
	for _, f := range m.LeftOut {
		left[f.Path] = true
	}
	if !left["dev-secrets.json"] || !left["root.key"] || !left["server-1/vault/shares/.tmp-123"] || len(added) != 4 || strings.Contains(buf.String(), "root-private-key") {
		t.Fatalf("added %v, left out %v", added, m.LeftOut)
	}
	// With --include-keys, key files go in; through a link to the data
	// directory, the same files.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	var withKeys bytes.Buffer
	m2, err := backup.Create(link, &withKeys, backup.Options{IncludeKeys: true})
	if err != nil || len(m2.Files) != 5 {
		t.Fatalf("through a link, with keys: %v %v", m2, err)
	}
	if _, err := backup.Create(t.TempDir(), &bytes.Buffer{}, backup.Options{}); err == nil {
		t.Fatal("an empty directory was backed up")
	}
	// Written after the backup: not in it.
	st.CreateWallet(context.Background(), &store.Wallet{ID: "w-2", Name: "after", SignersNeeded: 2, PublicKey: bytes.Repeat([]byte{3}, 33),
		Address: "0x" + strings.Repeat("cd", 20), Holders: []store.Holder{{PartyID: "a", Kind: store.HolderServer}, {PartyID: "b", Kind: store.HolderServer}}, CreatedAt: time.Now()})

	to := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), to, backup.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(to, "server-1", "vault", "shares", "abc.json"))
	if err != nil || string(got) != `{"ciphertext":"…"}` {
		t.Fatalf("share: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(to, "server-1", "vault", "preparams", "0001.json")); !os.IsNotExist(err) {
		t.Fatalf("pre-parameters restored by default: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(to, "server-1", "party-id")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("party-id: %v %v", fi, err)
	}
	rs, err := store.OpenSQLite(filepath.Join(to, "coordinator.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if w, err := rs.GetWallet(context.Background(), "w-1"); err != nil || w.Name != "before" {
		t.Fatalf("restored wallet: %v %v", w, err)
	}
	if _, err := rs.GetWallet(context.Background(), "w-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a wallet made after the backup: %v", err)
	}

	// Into a directory with files: refused, nothing touched.
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), to, backup.RestoreOptions{}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore over data: %v", err)
	}
	// With pre-parameters, when asked.
	to2 := filepath.Join(t.TempDir(), "r2")
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), to2, backup.RestoreOptions{PreParams: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(to2, "server-1", "vault", "preparams", "0001.json")); err != nil {
		t.Fatal(err)
	}
}

// archive builds a backup by hand, for the refusals.
func archive(t *testing.T, manifest string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	add(backup.ManifestName, manifest)
	for n, b := range files {
		add(n, b)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// A damaged, foreign or hostile archive is refused before anything is
// written.
func TestRestoreRefuses(t *testing.T) {
	dir, _ := dataDir(t)
	var buf bytes.Buffer
	if _, err := backup.Create(dir, &buf, backup.Options{}); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(buf.Bytes())
	flipped[len(flipped)/2] ^= 0xff
	const sum = `"sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"` // "foo"
	cases := map[string][]byte{
		"not gzip":         []byte("hello"),
		"flipped byte":     flipped,
		"other format":     archive(t, `{"format":"zip","version":1}`, nil),
		"newer version":    archive(t, `{"format":"tsskit.backup","version":9}`, nil),
		"path escapes":     archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"../evil","size":3,`+sum+`}]}`, map[string]string{"../evil": "foo"}),
		"absolute path":    archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"/etc/x","size":3,`+sum+`}]}`, map[string]string{"/etc/x": "foo"}),
		"entry not listed": archive(t, `{"format":"tsskit.backup","version":1,"files":[]}`, map[string]string{"x": "foo"}),
		"wrong hash":       archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"x","size":3,`+sum+`}]}`, map[string]string{"x": "bar"}),
		"missing entry":    archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"x","size":3,`+sum+`}]}`, nil),
		"file and dir":     archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"a","size":3,`+sum+`},{"path":"a/b","size":3,`+sum+`}]}`, map[string]string{"a": "foo", "a/b": "foo"}),
		"master key":       archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"dev-secrets.json","size":3,`+sum+`}]}`, map[string]string{"dev-secrets.json": "foo"}),
		"huge size":        archive(t, `{"format":"tsskit.backup","version":1,"files":[{"path":"x","size":99999999999,`+sum+`}]}`, nil),
	}
	for name, b := range cases {
		to := filepath.Join(t.TempDir(), "r")
		_, err := backup.Restore(bytes.NewReader(b), to, backup.RestoreOptions{})
		var be *backup.Error
		if !errors.As(err, &be) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, serr := os.Stat(to); !os.IsNotExist(serr) {
			t.Errorf("%s: wrote %s before refusing (%v)", name, to, err)
		}
	}
}

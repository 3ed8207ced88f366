package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/coordinator/store/storetest"
)

func openFile(t *testing.T, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite(%s): %v", path, err)
	}
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, filepath.Join(t.TempDir(), "coordinator.db"))
	})
}

func TestSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, store.MemoryPath)
	})
}

// checkReopened: a reopened store still has w, and refuses it again.
func checkReopened(t *testing.T, s store.Store, w *store.Wallet) {
	t.Helper()
	ctx := context.Background()
	got, err := s.GetWallet(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != w.Name || got.UserID != w.UserID || !slices.Equal(got.Holders, w.Holders) ||
		!bytes.Equal(got.PublicKey, w.PublicKey) || got.Address != w.Address || !got.CreatedAt.Equal(w.CreatedAt) {
		t.Errorf("after reopen: %+v, want %+v", got, w)
	}
	if err := s.CreateWallet(ctx, testWallet()); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateWallet(same wallet) after reopen = %v, want ErrExists", err)
	}
}

func testWallet() *store.Wallet {
	return &store.Wallet{
		ID:            "0b6c1d7e-3c2a-4f5e-9a1b-2c3d4e5f6a7b",
		Name:          "reopen",
		UserID:        "user-42",
		SignersNeeded: 2,
		Holders: []store.Holder{
			{PartyID: "user-42", Kind: store.HolderUser},
			{PartyID: "server-b", Kind: store.HolderServer},
			{PartyID: "server-a", Kind: store.HolderServer},
		},
		PublicKey: append([]byte{0x03}, bytes.Repeat([]byte{0x5a}, 32)...),
		Address:   "0x52908400098527886E0F7030069857D2E4169EE7",
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "coordinator")
	path := filepath.Join(dir, "store.db")
	s := openFile(t, path)
	checkMode(t, path, 0o600)
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Dir(dir), 0o700)

	w := testWallet()
	if err := s.CreateWallet(ctx, w); err != nil {
		t.Fatal(err)
	}
	sess := &store.Session{
		ID: "sess-1", Kind: store.SessionSign, WalletID: w.ID, Parties: []string{"user-42", "server-a"},
		State: store.StateRunning, Digest: bytes.Repeat([]byte{7}, 32), CreatedAt: w.CreatedAt,
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	// SQLite gives the WAL and shared-memory files the database's mode.
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			checkMode(t, path+suffix, 0o600)
		} else {
			t.Errorf("%s%s: %v (expected while open in WAL mode)", path, suffix, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: the data is there, the migrations are not run again, and a
	// session left running by the previous process can be failed.
	s = openFile(t, path)
	defer s.Close()
	checkMode(t, path, 0o600)
	checkReopened(t, s, w)
	n, err := s.FailUnfinished(ctx, "coordinator restarted", time.Now())
	if err != nil || n != 1 {
		t.Errorf("FailUnfinished after reopen = %d, %v; want 1", n, err)
	}
	gs, err := s.GetSession(ctx, "sess-1")
	if err != nil || gs.State != store.StateFailed || !bytes.Equal(gs.Digest, sess.Digest) {
		t.Errorf("session after reopen = %+v, %v", gs, err)
	}
	var versions, max int
	if err := store.DBOf(s).QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&versions, &max); err != nil {
		t.Fatal(err)
	}
	if versions != store.LatestSchemaVersion() || max != store.LatestSchemaVersion() {
		t.Errorf("schema_migrations: %d rows, max %d; want %d, %d", versions, max, store.LatestSchemaVersion(), store.LatestSchemaVersion())
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	db := store.DBOf(s)
	if n := db.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("MaxOpenConnections = %d, want 1", n)
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	// Foreign keys are enforced: no holder without its wallet.
	_, err := db.Exec(`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, $2, $3, $4)`,
		"no-such-wallet", 0, "p", "server")
	if err == nil {
		t.Error("inserting a holder of a missing wallet succeeded")
	}
	// The CHECK constraints back up validation.
	_, err = db.Exec(`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at)
		VALUES ('s', 'keygen', 'w', '[]', 'paused', '', '[]', '', '', 0)`)
	if err == nil {
		t.Error("inserting a session in an unknown state succeeded")
	}
}

func TestSQLiteNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := openFile(t, path)
	if _, err := store.DBOf(s).Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`, store.LatestSchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := store.OpenSQLite(path); err == nil {
		s.Close()
		t.Fatal("OpenSQLite of a database from a newer program succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestSQLiteMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	// Each statement on its own connection, as another program (an older
	// coordinator) beside the store would.
	testMigrateFromV1(t, func(q string, args ...any) error {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec(q, args...)
		return err
	}, func() store.Store { return openFile(t, path) })
	s := openFile(t, path)
	defer s.Close()
	var versions, max int
	if err := store.DBOf(s).QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&versions, &max); err != nil {
		t.Fatal(err)
	}
	if versions != store.LatestSchemaVersion() || max != store.LatestSchemaVersion() {
		t.Errorf("schema_migrations: %d rows, max %d; want %d, %d", versions, max, store.LatestSchemaVersion(), store.LatestSchemaVersion())
	}
}

// The owner lookup of FailUnfinishedOwned uses the index of live
// sessions (FailStale is served as well by the index on state).
func TestSQLiteLiveIndex(t *testing.T) {
	s := openFile(t, store.MemoryPath)
	defer s.Close()
	rows, err := store.DBOf(s).Query("EXPLAIN QUERY PLAN "+store.SQLText()["qFailUnfinishedOwned"], "owner", "reason", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "USING INDEX sessions_live") {
		t.Errorf("FailUnfinishedOwned plan %q does not use sessions_live", plan)
	}
}

func TestSQLiteBadPath(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"", "file:" + filepath.Join(dir, "db"), filepath.Join(dir, "a?b")} {
		if s, err := store.OpenSQLite(p); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q) succeeded", p)
		}
	}
	// A parent that is a file.
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.OpenSQLite(filepath.Join(f, "db")); err == nil {
		s.Close()
		t.Error("OpenSQLite under a regular file succeeded")
	}
	// A file that is not a database.
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.OpenSQLite(junk); err == nil {
		s.Close()
		t.Error("OpenSQLite of a junk file succeeded")
	}
}

// TestPortableSQL keeps queries.go runnable on PostgreSQL as well.
func TestPortableSQL(t *testing.T) {
	forbidden := []string{
		"?", ";", "AUTOINCREMENT", "BLOB", "BYTEA", "SERIAL", "DATETIME", "TIMESTAMP", "BOOLEAN",
		"INSERT OR", "REPLACE", "ON CONFLICT", "RETURNING", "PRAGMA", "ROWID",
		"STRFTIME", "JULIANDAY", "DATE(", "NOW(", "IFNULL", "GLOB", "ILIKE", "::",
	}
	placeholder := regexp.MustCompile(`\$(\d+)`)
	for name, q := range store.SQLText() {
		upper := strings.ToUpper(q)
		for _, f := range forbidden {
			if strings.Contains(upper, f) {
				t.Errorf("%s contains %q", name, f)
			}
		}
		// $1..$n, each number used at least once.
		seen := map[int]bool{}
		max := 0
		for _, m := range placeholder.FindAllStringSubmatch(q, -1) {
			n, _ := strconv.Atoi(m[1])
			seen[n] = true
			if n > max {
				max = n
			}
		}
		for n := 1; n <= max; n++ {
			if !seen[n] {
				t.Errorf("%s uses $%d but not $%d", name, max, n)
			}
		}
	}
}

// sqliteSessions describes the sessions table of the database at path,
// for the migration test: its columns, its indexes and their SQL, and its
// CHECKs (which SQLite keeps only in the table's SQL).
func sqliteSessions(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := map[string]string{}
	query := func(q string, scan func(*sql.Rows) error) {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	query(`SELECT cid, name, type, "notnull", COALESCE(dflt_value, 'none'), pk FROM pragma_table_info('sessions')`, func(r *sql.Rows) error {
		var cid, notNull, pk int
		var name, typ, dflt string
		err := r.Scan(&cid, &name, &typ, &notNull, &dflt, &pk)
		m["column "+name] = fmt.Sprintf("#%d %s not null %d default %s pk %d", cid, typ, notNull, dflt, pk)
		return err
	})
	query(`SELECT name, COALESCE(sql, 'automatic') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'`, func(r *sql.Rows) error {
		var name, def string
		err := r.Scan(&name, &def)
		m["index "+name] = def
		return err
	})
	var table string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	checks := regexp.MustCompile(`CHECK \((\w+) IN \([^)]*\)\)`).FindAllStringSubmatch(table, -1)
	for _, c := range checks {
		m["check "+c[1]] = c[0]
	}
	return m
}

func TestSQLiteMigrateFromV5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	testMigrateFromV5(t, func(q string, args ...any) error {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)")
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec(q, args...)
		return err
	}, func() map[string]string { return sqliteSessions(t, path) }, func() store.Store { return openFile(t, path) })
	got := sqliteSessions(t, path)
	for _, k := range []string{"check kind", "check state", "index sqlite_autoindex_sessions_1", "index sessions_state", "index sessions_wallet", "index sessions_live"} {
		if _, ok := got[k]; !ok {
			t.Errorf("after the migration, sessions has no %s: %v", k, got)
		}
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the Store on a SQLite file (pure Go, modernc.org/sqlite).
//
// It uses ONE connection (SetMaxOpenConns(1)): SQLite allows one writer at
// a time anyway, and with a single connection every transaction simply
// queues in database/sql instead of failing with SQLITE_BUSY when two
// deferred transactions both try to upgrade to a write lock (a case the
// busy timeout does not cover). It is also what makes ":memory:" work, since
// every connection to ":memory:" is a different, empty database. The cost is
// that reads wait behind writes; the coordinator writes a handful of rows
// per session, far below what one connection serves. Never run a query on
// s.db while a transaction of s.db is open: it would wait for itself.
type SQLite struct {
	db   *sql.DB
	path string
}

var _ Store = (*SQLite)(nil)

// sqlitePragmas are applied to every connection, busy_timeout first.
// _txlock=immediate makes BEGIN take the write lock at once.
const sqlitePragmas = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

// MemoryPath opens a private in-memory database (for tests).
const MemoryPath = ":memory:"

// OpenSQLite opens (creating when missing) the database at path and brings
// its schema up to date. A new file is created with mode 0600 and missing
// parent directories with 0700; an existing file keeps its mode. path is a
// plain file path (not a "file:" URI, no '?') or ":memory:".
func OpenSQLite(path string) (*SQLite, error) {
	switch {
	case path == "":
		return nil, errors.New("store: sqlite: empty path")
	case strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("store: sqlite: %q: want a file path, not a URI", path)
	case strings.ContainsRune(path, '?'):
		return nil, fmt.Errorf("store: sqlite: %q: a path may not contain '?'", path)
	}
	if path != MemoryPath {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		// Create the file ourselves so that it gets 0600 whatever the
		// umask allows; SQLite gives its -wal and -shm files the mode of
		// the database file.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
	}

	db, err := sql.Open("sqlite", path+"?"+sqlitePragmas)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &SQLite{db: db, path: path}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	return s, nil
}

// init checks the pragmas took and runs the migrations.
func (s *SQLite) init(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	want := "wal"
	if s.path == MemoryPath {
		want = "memory"
	}
	if !strings.EqualFold(mode, want) {
		return fmt.Errorf("journal_mode is %q, want %q", mode, want)
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if fk != 1 {
		return errors.New("foreign_keys is off")
	}
	return migrate(ctx, s.db)
}

// migrate applies the migrations the database has not seen, in one
// transaction, and refuses a database newer than this binary.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, qCreateMigrations); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRowContext(ctx, qSchemaVersion).Scan(&have); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	err = applyMigrations(have, func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// isUnique reports whether err is a primary key or unique violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// CreateWallet implements Store. On success w.CreatedAt is what was stored.
func (s *SQLite) CreateWallet(ctx context.Context, w *Wallet) error {
	if err := validateWallet(w); err != nil {
		return err
	}
	created := w.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = storedTime(created)

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: create wallet %q: %w", w.ID, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, qInsertWallet, walletArgs(w, created)...)
	if isUnique(err) {
		tx.Rollback() // release the connection before existsError queries
		return s.existsError(ctx, w)
	}
	if err != nil {
		return fmt.Errorf("store: create wallet %q: %w", w.ID, err)
	}
	for i, h := range w.Holders {
		if _, err := tx.ExecContext(ctx, qInsertHolder, holderArgs(w, i)...); err != nil {
			return fmt.Errorf("store: create wallet %q: holder %q: %w", w.ID, h.PartyID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: create wallet %q: %w", w.ID, err)
	}
	w.CreatedAt = created
	return nil
}

// existsError says which uniqueness rule a refused wallet broke.
func (s *SQLite) existsError(ctx context.Context, w *Wallet) error {
	var n int
	if err := s.db.QueryRowContext(ctx, qWalletExists, w.ID).Scan(&n); err == nil && n == 0 && w.UserID != "" {
		return fmt.Errorf("%w: user %q already has a wallet", ErrExists, w.UserID)
	}
	return fmt.Errorf("%w: wallet %q", ErrExists, w.ID)
}

// GetWallet implements Store.
func (s *SQLite) GetWallet(ctx context.Context, id string) (*Wallet, error) {
	ws, err := s.queryWallets(ctx, qGetWallet, id)
	if err != nil {
		return nil, fmt.Errorf("store: get wallet %q: %w", id, err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w: wallet %q", ErrNotFound, id)
	}
	return ws[0], nil
}

// WalletByUser implements Store.
func (s *SQLite) WalletByUser(ctx context.Context, userID string) (*Wallet, error) {
	if userID == "" {
		return nil, fmt.Errorf("%w: wallet for an empty user id", ErrNotFound)
	}
	ws, err := s.queryWallets(ctx, qWalletByUser, userID)
	if err != nil {
		return nil, fmt.Errorf("store: wallet of user %q: %w", userID, err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w: wallet of user %q", ErrNotFound, userID)
	}
	return ws[0], nil
}

// ListWallets implements Store.
func (s *SQLite) ListWallets(ctx context.Context, f WalletFilter) ([]*Wallet, error) {
	limit, err := clampLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	var after int64
	if f.After != "" {
		err := s.db.QueryRowContext(ctx, qWalletCursor, f.After).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: list wallets: cursor %q is no wallet", ErrNotFound, f.After)
		}
		if err != nil {
			return nil, fmt.Errorf("store: list wallets: %w", err)
		}
	}
	ws, err := s.queryWallets(ctx, qListWallets, f.UserID, f.After, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list wallets: %w", err)
	}
	return ws, nil
}

// queryWallets runs a query returning walletColumns, party_id, kind: one
// row per holder, grouped by wallet, holders in order.
func (s *SQLite) queryWallets(ctx context.Context, query string, args ...any) ([]*Wallet, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanWallets(rows)
}

// CreateSession implements Store. On success s.CreatedAt (set to now when
// zero) and s.FinishedAt are what was stored.
func (s *SQLite) CreateSession(ctx context.Context, sess *Session) error {
	wr, err := insertSessionArgs(sess)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, qInsertSession, wr.args...)
	if isUnique(err) {
		return fmt.Errorf("%w: session %q", ErrExists, sess.ID)
	}
	if err != nil {
		return fmt.Errorf("store: create session %q: %w", sess.ID, err)
	}
	sess.CreatedAt, sess.FinishedAt = wr.created, wr.finished
	return nil
}

// UpdateSession implements Store. On success s.FinishedAt is what was
// stored.
func (s *SQLite) UpdateSession(ctx context.Context, sess *Session) error {
	wr, err := updateSessionArgs(sess)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, qUpdateSession, wr.args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%w: session %q", ErrNotFound, sess.ID)
		}
	}
	if err != nil {
		return fmt.Errorf("store: update session %q: %w", sess.ID, err)
	}
	sess.FinishedAt = wr.finished
	return nil
}

// GetSession implements Store.
func (s *SQLite) GetSession(ctx context.Context, id string) (*Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, qGetSession, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: session %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get session %q: %w", id, err)
	}
	return sess, nil
}

// FailUnfinished implements Store. A zero at means now.
func (s *SQLite) FailUnfinished(ctx context.Context, reason string, at time.Time) (int, error) {
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return s.fail(ctx, "fail unfinished sessions", qFailUnfinished, reason, ms)
}

// FailUnfinishedOwned implements Store. A zero at means now.
func (s *SQLite) FailUnfinishedOwned(ctx context.Context, owner, reason string, at time.Time) (int, error) {
	if err := checkOwner(owner); err != nil {
		return 0, err
	}
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return s.fail(ctx, fmt.Sprintf("fail unfinished sessions of %q", owner), qFailUnfinishedOwned, owner, reason, ms)
}

// FailStale implements Store. A zero at means now.
func (s *SQLite) FailStale(ctx context.Context, createdBefore time.Time, reason string, at time.Time) (int, error) {
	cutoff, err := staleCutoff(createdBefore)
	if err != nil {
		return 0, err
	}
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return s.fail(ctx, "fail stale sessions", qFailStale, cutoff, reason, ms)
}

// fail runs one of the FailUnfinished family and counts the sessions it
// changed.
func (s *SQLite) fail(ctx context.Context, what, query string, args ...any) (int, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, err)
	}
	return int(n), nil
}

// Ping implements Store.
func (s *SQLite) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close implements Store. It is safe to call more than once.
func (s *SQLite) Close() error { return s.db.Close() }

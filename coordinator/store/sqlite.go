package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
// s.db while a transaction of s.db is open: it would wait for itself (see
// tx).
//
// The Store methods are sqlStore's; SQLite is their engine.
type SQLite struct {
	sqlStore
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
	s.sqlStore = sqlStore{eng: s, prefix: "store: "}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	return s, nil
}

// init checks the pragmas took and applies the migrations the database
// has not seen, in one transaction. BEGIN takes the write lock
// (_txlock=immediate), so processes opening one file at once migrate one
// after the other.
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
	return s.tx(ctx, func(c conn) error { return migrateSchema(ctx, c) })
}

// The engine of sqlStore, on database/sql.

// sqlConn runs statements on a *sql.DB or in a *sql.Tx.
type sqlConn struct {
	c interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
}

func (c sqlConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c sqlConn) queryRow(ctx context.Context, query string, args ...any) scanner {
	return c.c.QueryRowContext(ctx, query, args...)
}

func (c sqlConn) query(ctx context.Context, query string, args []any, read func(rowIter) error) error {
	rows, err := c.c.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return read(rows)
}

func (s *SQLite) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return sqlConn{s.db}.exec(ctx, query, args...)
}

func (s *SQLite) queryRow(ctx context.Context, query string, args ...any) scanner {
	return sqlConn{s.db}.queryRow(ctx, query, args...)
}

func (s *SQLite) query(ctx context.Context, query string, args []any, read func(rowIter) error) error {
	return sqlConn{s.db}.query(ctx, query, args, read)
}

// tx runs f in a transaction, committed when f returns nil, and rolled
// back otherwise before tx returns. f runs its statements on the conn it
// is given, never on s: the transaction holds the one connection, so a
// statement on s.db would wait for it, and it for f.
func (s *SQLite) tx(ctx context.Context, f func(conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(sqlConn{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLite) batch(ctx context.Context, stmts []stmt) (int, error) {
	failed := -1
	err := s.tx(ctx, func(c conn) error {
		for i, st := range stmts {
			if _, err := c.exec(ctx, st.query, st.args...); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	return failed, err
}

func (*SQLite) noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func (*SQLite) uniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func (s *SQLite) ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close implements Store. It is safe to call more than once.
func (s *SQLite) Close() error { return s.db.Close() }

package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the Store on a PostgreSQL database (pgx), for coordinator
// replicas that share one database. It runs the SQL of queries.go as it
// is; what differs from SQLite is the connection pool (pgxpool, reached
// through with), how migrations are serialised between processes
// (migrate), and how constraint errors are recognised.
type Postgres struct {
	pool    *pgxpool.Pool
	secrets []string // scrubbed from the errors of acquiring a connection
}

var _ Store = (*Postgres)(nil)

// pgMigrationLock is the key of the transaction-level advisory lock held
// while the schema is brought up to date: the ASCII of "tsskit-c" (for
// coordinator). Every tsskit coordinator uses it, so that processes
// opening one database at once migrate one after the other. The lock is
// per database, not per schema.
const pgMigrationLock int64 = 0x7473736b69742d63

// qMigrationLock is PostgreSQL only, so it is not in queries.go.
const qMigrationLock = `SELECT pg_advisory_xact_lock($1)`

// pgConnectTimeout bounds each connection attempt when the URL sets no
// connect_timeout. pgxpool dials for the pool, not for the caller: the
// dial goes on when the caller's context ends, for up to two minutes
// without a timeout of its own.
const pgConnectTimeout = 10 * time.Second

// OpenPostgres connects to the database at databaseURL (a postgres:// URL
// or a key=value connection string, as libpq and pgx take them), pings it
// and brings its schema up to date. Besides the libpq settings, the URL may
// set those of pgxpool: pool_max_conns (default: the number of CPUs, at
// least 4), pool_max_conn_lifetime (1h), pool_max_conn_idle_time (30m),
// pool_health_check_period (1m) and the like; any other unknown parameter,
// such as search_path, is sent to the server as a run-time setting. A
// connection idle for more than a second is pinged before it is handed
// out, so that one the server dropped meanwhile is replaced rather than
// failing the caller. ctx bounds the connection and the migrations, not
// the life of the store. Errors never contain the password.
func OpenPostgres(ctx context.Context, databaseURL string) (*Postgres, error) {
	cfg, secrets, err := pgPoolConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	// NewWithConfig dials nothing (pool_min_conns aside, in the
	// background): the ping below is the first connection.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("store: postgres: %w", err), secrets)
	}
	p := &Postgres{pool: pool, secrets: secrets}
	if err := p.with(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) }); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres: cannot reach the database: %w", err)
	}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	return p, nil
}

// pgPoolConfig parses databaseURL into the pool's configuration, with
// the connect timeout filled in, and returns the passwords to scrub from
// errors. The other defaults are pgxpool's own.
func pgPoolConfig(databaseURL string) (*pgxpool.Config, []string, error) {
	secrets := urlSecrets(databaseURL)
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, scrub(fmt.Errorf("store: postgres: bad database URL: %w", parseError(err)), secrets)
	}
	secrets = appendSecret(secrets, cfg.ConnConfig.Password)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	return cfg, secrets, nil
}

// with runs f on a connection of the pool, as pgxpool.Pool.AcquireFunc
// does, but with the errors of acquiring one (dialling above all)
// scrubbed of the password. ctx bounds the wait for a connection; f
// receives the connection for its own calls only and must not keep it.
// pgxpool takes it back only when it is open, idle and outside a
// transaction, and closes it otherwise.
func (p *Postgres) with(ctx context.Context, f func(c *pgx.Conn) error) error {
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return scrub(err, p.secrets)
	}
	defer c.Release()
	return f(c.Conn())
}

// parseError is pgx's error for a connection string it cannot parse,
// without the (redacted) string that pgx puts in it: the caller's message
// says which string.
func parseError(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Error()
	if rest, ok := strings.CutPrefix(msg, "cannot parse `"); ok {
		if i := strings.LastIndex(rest, "`: "); i >= 0 {
			msg = rest[i+len("`: "):]
		}
	}
	return errors.New(msg)
}

// migrate applies the migrations the database has not seen, in one
// transaction holding the advisory lock pgMigrationLock, and refuses a
// database newer than this binary. The lock makes processes that open the
// database at once take turns: the first applies the migrations, the
// others then find nothing left to do. It is taken before anything else,
// even before schema_migrations is created, since two concurrent CREATE
// TABLE IF NOT EXISTS can both try to create the table.
func (p *Postgres) migrate(ctx context.Context) error {
	return p.with(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, qMigrationLock, pgMigrationLock); err != nil {
				return fmt.Errorf("migrations: lock: %w", err)
			}
			if _, err := tx.Exec(ctx, qCreateMigrations); err != nil {
				return fmt.Errorf("migrations: %w", err)
			}
			var have int
			if err := tx.QueryRow(ctx, qSchemaVersion).Scan(&have); err != nil {
				return fmt.Errorf("migrations: %w", err)
			}
			return applyMigrations(have, func(q string, args ...any) error {
				_, err := tx.Exec(ctx, q, args...)
				return err
			})
		})
	})
}

// pgUnique is err as a unique violation (SQLSTATE 23505), or nil.
func pgUnique(err error) *pgconn.PgError {
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == "23505" {
		return e
	}
	return nil
}

// CreateWallet implements Store. On success w.CreatedAt is what was stored.
// The wallet and its holders go in one transaction, sent as one batch.
func (p *Postgres) CreateWallet(ctx context.Context, w *Wallet) error {
	if err := validateWallet(w); err != nil {
		return err
	}
	created := w.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = storedTime(created)

	err := p.with(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(qInsertWallet, walletArgs(w, created)...)
			for i := range w.Holders {
				b.Queue(qInsertHolder, holderArgs(w, i)...)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	})
	if e := pgUnique(err); e != nil {
		// The constraint says which rule the wallet broke.
		if e.ConstraintName == "wallets_user_id" {
			return fmt.Errorf("%w: user %q already has a wallet", ErrExists, w.UserID)
		}
		return fmt.Errorf("%w: wallet %q", ErrExists, w.ID)
	}
	if err != nil {
		return fmt.Errorf("store: postgres: create wallet %q: %w", w.ID, err)
	}
	w.CreatedAt = created
	return nil
}

// GetWallet implements Store.
func (p *Postgres) GetWallet(ctx context.Context, id string) (*Wallet, error) {
	ws, err := p.queryWallets(ctx, qGetWallet, id)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: get wallet %q: %w", id, err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w: wallet %q", ErrNotFound, id)
	}
	return ws[0], nil
}

// WalletByUser implements Store.
func (p *Postgres) WalletByUser(ctx context.Context, userID string) (*Wallet, error) {
	if userID == "" {
		return nil, fmt.Errorf("%w: wallet for an empty user id", ErrNotFound)
	}
	ws, err := p.queryWallets(ctx, qWalletByUser, userID)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: wallet of user %q: %w", userID, err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w: wallet of user %q", ErrNotFound, userID)
	}
	return ws[0], nil
}

// ListWallets implements Store.
func (p *Postgres) ListWallets(ctx context.Context, f WalletFilter) ([]*Wallet, error) {
	limit, err := clampLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	var ws []*Wallet
	err = p.with(ctx, func(c *pgx.Conn) error {
		var after int64
		if f.After != "" {
			err := c.QueryRow(ctx, qWalletCursor, f.After).Scan(&after)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: list wallets: cursor %q is no wallet", ErrNotFound, f.After)
			}
			if err != nil {
				return err
			}
		}
		rows, err := c.Query(ctx, qListWallets, f.UserID, f.After, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		ws, err = scanWallets(rows)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("store: postgres: list wallets: %w", err)
	}
	return ws, nil
}

// queryWallets runs a query returning walletColumns, party_id, kind.
func (p *Postgres) queryWallets(ctx context.Context, query string, args ...any) ([]*Wallet, error) {
	var ws []*Wallet
	err := p.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		ws, err = scanWallets(rows)
		return err
	})
	return ws, err
}

// CreateSession implements Store. On success s.CreatedAt (set to now when
// zero) and s.FinishedAt are what was stored.
func (p *Postgres) CreateSession(ctx context.Context, sess *Session) error {
	wr, err := insertSessionArgs(sess)
	if err != nil {
		return err
	}
	_, err = p.exec(ctx, qInsertSession, wr.args...)
	if pgUnique(err) != nil {
		return fmt.Errorf("%w: session %q", ErrExists, sess.ID)
	}
	if err != nil {
		return fmt.Errorf("store: postgres: create session %q: %w", sess.ID, err)
	}
	sess.CreatedAt, sess.FinishedAt = wr.created, wr.finished
	return nil
}

// UpdateSession implements Store. On success s.FinishedAt is what was
// stored.
func (p *Postgres) UpdateSession(ctx context.Context, sess *Session) error {
	wr, err := updateSessionArgs(sess)
	if err != nil {
		return err
	}
	n, err := p.exec(ctx, qUpdateSession, wr.args...)
	if err != nil {
		return fmt.Errorf("store: postgres: update session %q: %w", sess.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: session %q", ErrNotFound, sess.ID)
	}
	sess.FinishedAt = wr.finished
	return nil
}

// GetSession implements Store.
func (p *Postgres) GetSession(ctx context.Context, id string) (*Session, error) {
	var sess *Session
	err := p.with(ctx, func(c *pgx.Conn) error {
		var err error
		sess, err = scanSession(c.QueryRow(ctx, qGetSession, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: session %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: postgres: get session %q: %w", id, err)
	}
	return sess, nil
}

// FailUnfinished implements Store. A zero at means now.
func (p *Postgres) FailUnfinished(ctx context.Context, reason string, at time.Time) (int, error) {
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return p.fail(ctx, "fail unfinished sessions", qFailUnfinished, reason, ms)
}

// FailUnfinishedOwned implements Store. A zero at means now.
func (p *Postgres) FailUnfinishedOwned(ctx context.Context, owner, reason string, at time.Time) (int, error) {
	if err := checkOwner(owner); err != nil {
		return 0, err
	}
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return p.fail(ctx, fmt.Sprintf("fail unfinished sessions of %q", owner), qFailUnfinishedOwned, owner, reason, ms)
}

// FailStale implements Store. A zero at means now.
func (p *Postgres) FailStale(ctx context.Context, createdBefore time.Time, reason string, at time.Time) (int, error) {
	cutoff, err := staleCutoff(createdBefore)
	if err != nil {
		return 0, err
	}
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return p.fail(ctx, "fail stale sessions", qFailStale, cutoff, reason, ms)
}

// fail runs one of the FailUnfinished family and counts the sessions it
// changed.
func (p *Postgres) fail(ctx context.Context, what, query string, args ...any) (int, error) {
	n, err := p.exec(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("store: postgres: %s: %w", what, err)
	}
	return int(n), nil
}

// exec runs one statement and returns the number of rows it changed.
func (p *Postgres) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := p.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, query, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// Ping implements Store.
func (p *Postgres) Ping(ctx context.Context) error {
	err := p.with(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) })
	if err != nil {
		return fmt.Errorf("store: postgres: ping: %w", err)
	}
	return nil
}

// Close implements Store. It waits for the calls in progress to give
// their connections back, then closes every connection. It is safe to
// call more than once; calls after it fail.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// Passwords in error messages. pgx keeps them out of its own errors, but
// an error that quotes the input (a malformed URL above all) could carry
// one; every error OpenPostgres and with (dialling above all) return
// passes through scrub, with the password of the URL as written (raw and
// decoded) and as pgx parsed it.

// urlPassword finds a userinfo password in a URL that net/url may not
// parse, and password=... in a key=value string.
var (
	urlPassword = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^@/:]*:([^@/]*)@`)
	kvPassword  = regexp.MustCompile(`(?:^|\s)(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)
)

// urlSecrets are the passwords written in a connection string.
func urlSecrets(s string) []string {
	var out []string
	if m := urlPassword.FindStringSubmatch(s); m != nil {
		out = appendSecret(out, m[1])
		if dec, err := url.PathUnescape(m[1]); err == nil {
			out = appendSecret(out, dec)
		}
	}
	if u, err := url.Parse(s); err == nil {
		if pw, ok := u.User.Password(); ok {
			out = appendSecret(out, pw)
		}
		for _, k := range []string{"password", "sslpassword"} {
			for _, v := range u.Query()[k] {
				out = appendSecret(out, v)
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(s, -1) {
		v := m[1]
		out = appendSecret(out, v)
		if len(v) >= 2 && v[0] == '\'' {
			out = appendSecret(out, v[1:len(v)-1])
		}
	}
	return out
}

func appendSecret(secrets []string, s string) []string {
	if s == "" {
		return secrets
	}
	for _, have := range secrets {
		if have == s {
			return secrets
		}
	}
	return append(secrets, s)
}

// scrub returns err with every secret in its message replaced by xxxxx.
// errors.Is and errors.As still see err.
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		clean = strings.ReplaceAll(clean, s, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

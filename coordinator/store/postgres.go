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
// is, and its Store methods are sqlStore's, with Postgres as their engine;
// what differs from SQLite is the connection pool (pgxpool, reached
// through with), how migrations are serialised between processes
// (migrate), and how constraint errors are recognised.
type Postgres struct {
	sqlStore
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
	p.sqlStore = sqlStore{eng: p, prefix: "store: postgres: "}
	if err := p.ping(ctx); err != nil {
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
	return p.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qMigrationLock, pgMigrationLock); err != nil {
			return fmt.Errorf("migrations: lock: %w", err)
		}
		return migrateSchema(ctx, pgConn{tx})
	})
}

// The engine of sqlStore, on pgx.

// pgConn runs statements on a connection or in a transaction.
type pgConn struct {
	c interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (c pgConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.c.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (c pgConn) queryRow(ctx context.Context, query string, args ...any) scanner {
	return c.c.QueryRow(ctx, query, args...)
}

func (c pgConn) query(ctx context.Context, query string, args []any, read func(rowIter) error) error {
	rows, err := c.c.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return read(rows)
}

func (p *Postgres) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := p.with(ctx, func(c *pgx.Conn) error {
		var err error
		n, err = pgConn{c}.exec(ctx, query, args...)
		return err
	})
	return n, err
}

// queryRow runs the query when the row is scanned, on a connection held
// for that Scan only.
func (p *Postgres) queryRow(ctx context.Context, query string, args ...any) scanner {
	return pgRow{p: p, ctx: ctx, query: query, args: args}
}

type pgRow struct {
	p     *Postgres
	ctx   context.Context
	query string
	args  []any
}

func (r pgRow) Scan(dest ...any) error {
	return r.p.with(r.ctx, func(c *pgx.Conn) error {
		return c.QueryRow(r.ctx, r.query, r.args...).Scan(dest...)
	})
}

func (p *Postgres) query(ctx context.Context, query string, args []any, read func(rowIter) error) error {
	return p.with(ctx, func(c *pgx.Conn) error { return pgConn{c}.query(ctx, query, args, read) })
}

// tx runs f in a transaction on a connection of the pool, committed when
// f returns nil and rolled back otherwise.
func (p *Postgres) tx(ctx context.Context, f func(pgx.Tx) error) error {
	return p.with(ctx, func(c *pgx.Conn) error { return pgx.BeginFunc(ctx, c, f) })
}

// batch sends stmts as one batch, in one transaction: three round trips
// (begin, the batch, commit) however many statements there are.
func (p *Postgres) batch(ctx context.Context, stmts []stmt) (int, error) {
	failed := -1
	err := p.tx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, st := range stmts {
			b.Queue(st.query, st.args...)
		}
		res := tx.SendBatch(ctx, b)
		for i := range stmts {
			if _, err := res.Exec(); err != nil {
				failed = i
				res.Close()
				return err
			}
		}
		return res.Close()
	})
	return failed, err
}

func (*Postgres) noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// uniqueViolation: SQLSTATE 23505.
func (*Postgres) uniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

func (p *Postgres) ping(ctx context.Context) error {
	return p.with(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) })
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

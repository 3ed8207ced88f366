package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// pgMigrationLock is the key of the transaction-level advisory lock
	// held while the vault tables are brought up to date: the ASCII of
	// "tsskit-v" (for vault; the coordinator store's is "tsskit-c"). The
	// lock is per database, not per schema.
	pgMigrationLock int64 = 0x7473736b69742d76

	// pgOpTimeout bounds every operation after OpenPostgres, waiting for a
	// connection included.
	pgOpTimeout = time.Minute
	// pgMaxConns is the number of connections a Vault opens at most:
	// each call holds one for a statement or a short transaction only.
	pgMaxConns = 4
	// pgConnectTimeout bounds each connection attempt when the URL sets
	// no connect_timeout. pgxpool dials for the pool, not for the caller:
	// the dial goes on when the caller's context ends, for up to two
	// minutes without a timeout of its own.
	pgConnectTimeout = 10 * time.Second
	// pgAppName is the application_name of the vault's connections,
	// unless the URL sets one.
	pgAppName = "tsskit-vault"

	// pgUniqueViolation is the SQLSTATE of a duplicate key.
	pgUniqueViolation = "23505"
	// pgLockNotAvailable is the SQLSTATE of a lock_timeout.
	pgLockNotAvailable = "55P03"
)

// pgMigrations[i] takes the vault tables from schema version i to i+1. A
// step is never edited once released, only followed by a new one. Each
// statement stands alone.
var pgMigrations = [][]string{
	{
		`CREATE TABLE vault_shares (
			wallet_id  TEXT        NOT NULL CHECK (wallet_id <> ''),
			party_id   TEXT        NOT NULL CHECK (party_id <> ''),
			record     TEXT        NOT NULL, -- the vault file, encrypted under the master key
			created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			PRIMARY KEY (wallet_id, party_id)
		)`,
		`CREATE INDEX vault_shares_party ON vault_shares (party_id)`,
		`CREATE TABLE vault_preparams (
			id         TEXT        NOT NULL PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'), -- bound into the AAD
			owner      TEXT        NOT NULL CHECK (owner <> ''), -- the server party whose pool it is
			seq        BIGINT      GENERATED ALWAYS AS IDENTITY, -- pool order, oldest first
			record     TEXT        NOT NULL, -- the vault file, encrypted under the master key
			created_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`,
		`CREATE INDEX vault_preparams_pool ON vault_preparams (owner, seq)`,
		// Entries TakePreParams found corrupt, kept for inspection.
		`CREATE TABLE vault_preparams_corrupt (
			n            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			id           TEXT        NOT NULL,
			owner        TEXT        NOT NULL,
			seq          BIGINT      NOT NULL,
			record       TEXT        NOT NULL,
			created_at   TIMESTAMPTZ NOT NULL,
			set_aside_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			reason       TEXT        NOT NULL
		)`,
		`CREATE INDEX vault_preparams_corrupt_owner ON vault_preparams_corrupt (owner, n)`,
	},
	{
		// The share a reshare gave a party, until ActivateShare moves its
		// record into vault_shares: one per wallet and party, as there.
		`CREATE TABLE vault_pending_shares (
			wallet_id  TEXT        NOT NULL CHECK (wallet_id <> ''),
			party_id   TEXT        NOT NULL CHECK (party_id <> ''),
			record     TEXT        NOT NULL, -- the vault file, encrypted as the active share's
			created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			PRIMARY KEY (wallet_id, party_id)
		)`,
		`CREATE INDEX vault_pending_shares_party ON vault_pending_shares (party_id)`,
	},
	{
		// The reshare runs a party joined as a new holder of a wallet's
		// next epoch, and what became of each (Vault.JoinRun): one row
		// per wallet and party.
		`CREATE TABLE vault_reshare_runs (
			wallet_id  TEXT        NOT NULL CHECK (wallet_id <> ''),
			party_id   TEXT        NOT NULL CHECK (party_id <> ''),
			record     TEXT        NOT NULL, -- JSON, not secret
			updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
			PRIMARY KEY (wallet_id, party_id)
		)`,
	},
	{
		// The claims of each party's vault (Vault.Exclusive): the last
		// claim's generation, which every write of a claimed vault checks
		// (pgStore.fence). Generations come from a sequence, so that none
		// is ever given twice, even if a row is deleted (never delete
		// one: a process whose claim ended unnoticed could then write).
		`CREATE SEQUENCE vault_claim_generations`,
		`CREATE TABLE vault_claims (
			owner      TEXT        NOT NULL PRIMARY KEY CHECK (owner <> ''),
			generation BIGINT      NOT NULL,
			claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`,
	},
}

const (
	qPGLock             = `SELECT pg_advisory_xact_lock($1)`
	qPGCreateMigrations = `CREATE TABLE IF NOT EXISTS vault_schema_migrations (
		version    INTEGER     NOT NULL PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`
	qPGSchemaVersion   = `SELECT COALESCE(MAX(version), 0) FROM vault_schema_migrations`
	qPGRecordMigration = `INSERT INTO vault_schema_migrations (version) VALUES ($1)`

	qPGPutShare = `INSERT INTO vault_shares (wallet_id, party_id, record) VALUES ($1, $2, $3)`
	qPGGetShare = `SELECT record FROM vault_shares WHERE wallet_id = $1 AND party_id = $2`
	qPGHasShare = `SELECT EXISTS (SELECT 1 FROM vault_shares WHERE wallet_id = $1 AND party_id = $2)`
	qPGShares   = `SELECT wallet_id, party_id, record FROM vault_shares WHERE party_id = $1 ORDER BY wallet_id`
	// qPGReplaceShare and qPGReplacePreParams change a record only if it
	// is still the one read.
	qPGReplaceShare = `UPDATE vault_shares SET record = $3
		WHERE wallet_id = $1 AND party_id = $2 AND record = $4`

	qPGPutPending = `INSERT INTO vault_pending_shares (wallet_id, party_id, record) VALUES ($1, $2, $3)
		ON CONFLICT (wallet_id, party_id) DO UPDATE SET record = EXCLUDED.record, created_at = now()`
	qPGGetPending    = `SELECT record FROM vault_pending_shares WHERE wallet_id = $1 AND party_id = $2`
	qPGLockPending   = qPGGetPending + ` FOR UPDATE`
	qPGLockShare     = qPGGetShare + ` FOR UPDATE`
	qPGPendingShares = `SELECT wallet_id, party_id, record FROM vault_pending_shares WHERE party_id = $1 ORDER BY wallet_id`
	qPGActivateShare = `UPDATE vault_shares SET record = $3, created_at = now()
		WHERE wallet_id = $1 AND party_id = $2`
	qPGDeletePending       = `DELETE FROM vault_pending_shares WHERE wallet_id = $1 AND party_id = $2`
	qPGDeleteShare         = `DELETE FROM vault_shares WHERE wallet_id = $1 AND party_id = $2`
	qPGDeletePendingRecord = `DELETE FROM vault_pending_shares WHERE wallet_id = $1 AND party_id = $2 AND record = $3`
	qPGReplacePending      = `UPDATE vault_pending_shares SET record = $3
		WHERE wallet_id = $1 AND party_id = $2 AND record = $4`

	qPGGetRuns = `SELECT record FROM vault_reshare_runs WHERE wallet_id = $1 AND party_id = $2`
	qPGPutRuns = `INSERT INTO vault_reshare_runs (wallet_id, party_id, record) VALUES ($1, $2, $3)
		ON CONFLICT (wallet_id, party_id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()`

	// qPGClaim counts a claim of the owner's vault; its row lock waits
	// for the writes that hold the row (qPGFence) to end.
	qPGClaim = `INSERT INTO vault_claims (owner, generation) VALUES ($1, nextval('vault_claim_generations'))
		ON CONFLICT (owner) DO UPDATE SET generation = EXCLUDED.generation, claimed_at = now()
		RETURNING generation`
	qPGFence = `SELECT generation FROM vault_claims WHERE owner = $1 FOR SHARE`

	qPGPutPreParams = `INSERT INTO vault_preparams (id, owner, record) VALUES ($1, $2, $3)`
	// qPGTakePreParams claims the owner's oldest entry that no other
	// transaction holds.
	qPGTakePreParams = `DELETE FROM vault_preparams
		WHERE id = (
			SELECT id FROM vault_preparams
			WHERE owner = $1
			ORDER BY seq
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		RETURNING id, seq, record, created_at`
	qPGSetAside = `INSERT INTO vault_preparams_corrupt (id, owner, seq, record, created_at, reason)
		VALUES ($1, $2, $3, $4, $5, $6)`
	qPGCountPreParams   = `SELECT COUNT(*) FROM vault_preparams WHERE owner = $1`
	qPGPreParams        = `SELECT id, record FROM vault_preparams WHERE owner = $1 ORDER BY seq`
	qPGReplacePreParams = `UPDATE vault_preparams SET record = $3
		WHERE owner = $1 AND id = $2 AND record = $4`
)

// pgStore keeps the vault of the server party owner in PostgreSQL.
type pgStore struct {
	pool  *pgxpool.Pool
	owner string
	loc   string
	// password is blanked out of the driver's messages; see dbErr.
	password string
	// gen is this process's claim of the vault (exclusive): its
	// generation in vault_claims, 0 if it made none. lost is set once the
	// claim's connection ended. See fence.
	gen  atomic.Int64
	lost atomic.Bool
	// claimPID is the server process of the claim's connection (tests).
	claimPID uint32
}

// openPGStore connects to the database at dsn and brings the vault tables
// to the current schema.
//
// The connections are pgxpool's, with its defaults but for the pool size
// and the connect timeout, and the URL may change them as it would for
// pgxpool (pool_max_conn_lifetime, pool_health_check_period...): a
// connection idle for more than a second is pinged before use and
// replaced if the server dropped it meanwhile; one idle for 30 minutes or
// open for an hour is closed.
func openPGStore(ctx context.Context, dsn, owner string) (*pgStore, error) {
	if dsn == "" {
		return nil, newErr(ErrInvalid, "", "no database URL", nil)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The driver's message quotes the URL, password and all, as best
		// it can parse it.
		return nil, newErr(ErrInvalid, "", "the database URL does not parse (not quoted here: it may hold a password)", nil)
	}
	cc := cfg.ConnConfig
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = pgAppName
	}
	// A commit must be durable before PutShare or TakePreParams returns,
	// as a file is fsynced: a share lost in a crash is a lost key, a
	// pre-parameters entry that comes back is handed out twice. This
	// overrides the server's default, not a synchronous_commit in the URL.
	if _, ok := cc.RuntimeParams["synchronous_commit"]; !ok {
		cc.RuntimeParams["synchronous_commit"] = "on"
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = pgConnectTimeout
	}
	// pool_max_conns may lower the bound, not raise it: the URL is often
	// the deployment's DATABASE_URL, whose pool_max_conns is sized for a
	// coordinator replica.
	cfg.MaxConns = min(cfg.MaxConns, pgMaxConns)
	s := &pgStore{owner: owner, loc: pgLocation(cc), password: cc.Password}
	// NewWithConfig dials nothing (pool_min_conns aside, in the
	// background): migrate makes the first connection.
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, s.dbErr("opening the connection pool", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// pgLocation names the database of cfg: postgres://user@host:port/database,
// without the password.
func pgLocation(cfg *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", Path: "/" + cfg.Database}
	if cfg.User != "" {
		u.User = url.User(cfg.User)
	}
	if strings.HasPrefix(cfg.Host, "/") { // a Unix socket directory
		u.RawQuery = url.Values{"host": {cfg.Host}}.Encode()
	} else {
		u.Host = net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	}
	return u.String()
}

// migrate applies the missing steps of pgMigrations in one transaction
// that holds the advisory lock, so that processes opening the database at
// once apply each step once.
func (s *pgStore) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qPGLock, pgMigrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qPGCreateMigrations); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, qPGSchemaVersion).Scan(&version); err != nil {
			return err
		}
		if version > len(pgMigrations) {
			return newErr(ErrIO, s.loc, fmt.Sprintf("the vault tables are at schema version %d; this build knows versions up to %d", version, len(pgMigrations)), nil)
		}
		for i, step := range pgMigrations[version:] {
			for _, stmt := range step {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, qPGRecordMigration, version+i+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.dbErr("creating the vault tables", err)
	}
	return nil
}

func (s *pgStore) dir() string      { return "" }
func (s *pgStore) location() string { return s.loc }
func (s *pgStore) close() error     { s.pool.Close(); return nil }

// op returns the context of one operation.
func (s *pgStore) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), pgOpTimeout)
}

// dbErr reports err, from the driver or the database, as ErrIO while
// doing what. Of the driver's error only the message is kept, with the
// password blanked out should it appear: some of its error values hold
// the whole connection configuration, password included, for anyone
// unwrapping them. An *Error passes unchanged.
func (s *pgStore) dbErr(what string, err error) error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	msg := err.Error()
	if s.password != "" {
		msg = strings.ReplaceAll(msg, s.password, "xxxxx")
	}
	cause := &dbError{msg: msg}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause.ctx = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause.ctx = context.Canceled
	}
	return newErr(ErrIO, s.loc, what, cause)
}

// dbError is a driver's error as dbErr keeps it.
type dbError struct {
	msg string
	ctx error // context.DeadlineExceeded or Canceled, if that was the cause
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.ctx }

func shareRow(walletID, partyID string) string {
	return fmt.Sprintf("vault_shares (wallet %q, party %q)", walletID, partyID)
}

func pendingRow(walletID, partyID string) string {
	return fmt.Sprintf("vault_pending_shares (wallet %q, party %q)", walletID, partyID)
}

func preParamsRow(id string) string { return "vault_preparams " + id }

func (s *pgStore) putShare(walletID, partyID string, rec []byte) error {
	ctx, cancel := s.op()
	defer cancel()
	_, err := s.exec(ctx, qPGPutShare, walletID, partyID, string(rec))
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == pgUniqueViolation {
		return newErr(ErrExists, shareRow(walletID, partyID), "", nil)
	}
	if err != nil {
		return s.dbErr("storing a share", err)
	}
	return nil
}

func (s *pgStore) getShare(walletID, partyID string) ([]byte, string, error) {
	ctx, cancel := s.op()
	defer cancel()
	where := shareRow(walletID, partyID)
	var rec string
	err := s.pool.QueryRow(ctx, qPGGetShare, walletID, partyID).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, where, fs.ErrNotExist
	}
	if err != nil {
		return nil, where, s.dbErr("reading a share", err)
	}
	return []byte(rec), where, nil
}

func (s *pgStore) hasShare(walletID, partyID string) bool {
	ctx, cancel := s.op()
	defer cancel()
	var ok bool
	err := s.pool.QueryRow(ctx, qPGHasShare, walletID, partyID).Scan(&ok)
	return err == nil && ok
}

// shares reads the owner's shares and checks that each row's wallet and
// party are its header's.
func (s *pgStore) shares(bad func(error)) ([]*stored, error) {
	return s.sharesIn(qPGShares, false, bad)
}

// pendingShares is shares for vault_pending_shares.
func (s *pgStore) pendingShares(bad func(error)) ([]*stored, error) {
	return s.sharesIn(qPGPendingShares, true, bad)
}

func (s *pgStore) sharesIn(query string, pending bool, bad func(error)) ([]*stored, error) {
	ctx, cancel := s.op()
	defer cancel()
	row := shareRow
	if pending {
		row = pendingRow
	}
	var out []*stored
	// pgxpool's rows give the connection back when ForEachRow closes
	// them; a Query error shows in ForEachRow.
	rows, _ := s.pool.Query(ctx, query, s.owner)
	var walletID, partyID, rec string
	_, err := pgx.ForEachRow(rows, []any{&walletID, &partyID, &rec}, func() error {
		where := row(walletID, partyID)
		f, err := parseRecord(where, kindShare, []byte(rec))
		if err == nil && (f.WalletID != walletID || f.PartyID != partyID) {
			err = corrupt(where, fmt.Sprintf("the record holds the share of wallet %q for party %q", f.WalletID, f.PartyID))
		}
		if err != nil {
			bad(err)
			return nil
		}
		out = append(out, &stored{f: f, pending: pending, where: where, raw: []byte(rec)})
		return nil
	})
	if err != nil {
		return nil, s.dbErr("listing shares", err)
	}
	return out, nil
}

// putPendingShare upserts the pending row, then reads the active share in
// the same transaction, and commits only if check accepts it. The pending
// row's lock, held to the end, orders it against an activation, which
// locks that row first: the active share read is the one that activation
// left, and a pending row an activation is about to move is replaced only
// after it moved.
func (s *pgStore) putPendingShare(walletID, partyID string, rec []byte, check func(active *rawRecord) error) error {
	ctx, cancel := s.op()
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qPGPutPending, walletID, partyID, string(rec)); err != nil {
			return err
		}
		active, err := scanRecord(tx.QueryRow(ctx, qPGGetShare, walletID, partyID), shareRow(walletID, partyID))
		if err != nil {
			return err
		}
		return check(active)
	})
	if err != nil {
		return s.dbErr("storing a pending share", err)
	}
	return nil
}

// scanRecord returns the record of row, found at where, or nil if there
// is no row.
func scanRecord(row pgx.Row, where string) (*rawRecord, error) {
	var rec string
	err := row.Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &rawRecord{[]byte(rec), where}, nil
}

func (s *pgStore) getRuns(walletID, partyID string) ([]byte, error) {
	ctx, cancel := s.op()
	defer cancel()
	var rec string
	err := s.pool.QueryRow(ctx, qPGGetRuns, walletID, partyID).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.dbErr("reading reshare runs", err)
	}
	return []byte(rec), nil
}

func (s *pgStore) putRuns(walletID, partyID string, rec []byte) error {
	ctx, cancel := s.op()
	defer cancel()
	if _, err := s.exec(ctx, qPGPutRuns, walletID, partyID, string(rec)); err != nil {
		return s.dbErr("storing reshare runs", err)
	}
	return nil
}

func (s *pgStore) getPendingShare(walletID, partyID string) ([]byte, string, error) {
	ctx, cancel := s.op()
	defer cancel()
	where := pendingRow(walletID, partyID)
	var rec string
	err := s.pool.QueryRow(ctx, qPGGetPending, walletID, partyID).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, where, fs.ErrNotExist
	}
	if err != nil {
		return nil, where, s.dbErr("reading a pending share", err)
	}
	return []byte(rec), where, nil
}

// activateShare locks the pending row first, as putPendingShare and other
// activations do, then the active one, and moves or drops the pending
// record in the same transaction: the active share is the old one or the
// new one, never none, and a pending record put meanwhile is not lost.
func (s *pgStore) activateShare(walletID, partyID string, decide func(pending, active *rawRecord) (activation, error)) error {
	ctx, cancel := s.op()
	defer cancel()
	var decided error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		pending, err := scanRecord(tx.QueryRow(ctx, qPGLockPending, walletID, partyID), pendingRow(walletID, partyID))
		if err != nil {
			return err
		}
		active, err := scanRecord(tx.QueryRow(ctx, qPGLockShare, walletID, partyID), shareRow(walletID, partyID))
		if err != nil {
			return err
		}
		act, derr := decide(pending, active)
		switch act {
		case keepPending:
			return derr // nothing to change; an error rolls back
		case movePending:
			if active != nil {
				_, err = tx.Exec(ctx, qPGActivateShare, walletID, partyID, string(pending.b))
			} else {
				// A PutShare racing this one fails the insert: nothing
				// is activated over a share decide has not seen.
				_, err = tx.Exec(ctx, qPGPutShare, walletID, partyID, string(pending.b))
			}
			if err != nil {
				return err
			}
		case retireActive:
			if _, err := tx.Exec(ctx, qPGDeleteShare, walletID, partyID); err != nil {
				return err
			}
			// Only the pending record decide saw: one put meanwhile (no
			// row was there to lock) stays.
			if pending != nil {
				if _, err := tx.Exec(ctx, qPGDeletePendingRecord, walletID, partyID, string(pending.b)); err != nil {
					return err
				}
			}
			decided = derr
			return nil
		}
		if _, err := tx.Exec(ctx, qPGDeletePending, walletID, partyID); err != nil {
			return err
		}
		decided = derr
		return nil
	})
	if err != nil {
		return s.dbErr("activating a share", err)
	}
	return decided
}

func (s *pgStore) putPreParams(id string, rec []byte) error {
	ctx, cancel := s.op()
	defer cancel()
	_, err := s.exec(ctx, qPGPutPreParams, id, s.owner, string(rec))
	if err != nil {
		return s.dbErr("storing pre-parameters", err)
	}
	return nil
}

// takePreParams deletes the oldest entry in a transaction, which holds it
// against every other taker until it ends, and commits only once use has
// accepted the entry, or set it aside as corrupt; on any other error it
// rolls back, putting the entry back.
func (s *pgStore) takePreParams(use func(rec []byte, where, id string) error) error {
	ctx, cancel := s.op()
	defer cancel()
	var used error
	err := func() error {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		// After Commit, a no-op; either gives the connection back.
		defer tx.Rollback(ctx)
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		var (
			id, rec string
			seq     int64
			created time.Time
		)
		if err := tx.QueryRow(ctx, qPGTakePreParams, s.owner).Scan(&id, &seq, &rec, &created); err != nil {
			return err
		}
		used = use([]byte(rec), preParamsRow(id), id)
		if used != nil && !errors.Is(used, ErrCorrupt) {
			return nil // wrong key or the like: roll back
		}
		if used != nil {
			if _, err := tx.Exec(ctx, qPGSetAside, id, s.owner, seq, rec, created, used.Error()); err != nil {
				return err
			}
			if e, ok := errors.AsType[*Error](used); ok {
				e.Msg += "; moved aside to vault_preparams_corrupt"
			}
		}
		return tx.Commit(ctx)
	}()
	if errors.Is(err, pgx.ErrNoRows) {
		return newErr(ErrEmpty, s.loc, fmt.Sprintf("party %q", s.owner), nil)
	}
	if err != nil {
		return s.dbErr("taking pre-parameters", err)
	}
	return used
}

func (s *pgStore) countPreParams() int {
	ctx, cancel := s.op()
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, qPGCountPreParams, s.owner).Scan(&n)
	if err != nil {
		return 0
	}
	return n
}

func (s *pgStore) preParams() ([]*stored, error) {
	ctx, cancel := s.op()
	defer cancel()
	var out []*stored
	rows, _ := s.pool.Query(ctx, qPGPreParams, s.owner) // an error shows in ForEachRow
	var id, rec string
	_, err := pgx.ForEachRow(rows, []any{&id, &rec}, func() error {
		where := preParamsRow(id)
		f, err := parseRecord(where, kindPreParams, []byte(rec))
		if err != nil {
			return err
		}
		out = append(out, &stored{f: f, where: where, id: id, raw: []byte(rec)})
		return nil
	})
	if err != nil {
		return nil, s.dbErr("listing pre-parameters", err)
	}
	return out, nil
}

// replace rewrites the row of r in one statement, provided it still holds
// the record read. A pre-parameters row that no longer does was taken
// meanwhile (errGone); a share row, active or pending, that changed was
// activated or rewritten meanwhile, which is reported.
func (s *pgStore) replace(r *stored, rec []byte) error {
	ctx, cancel := s.op()
	defer cancel()
	var (
		tag pgconn.CommandTag
		err error
	)
	switch {
	case r.pending:
		tag, err = s.exec(ctx, qPGReplacePending, r.f.WalletID, r.f.PartyID, string(rec), string(r.raw))
	case r.f.Kind == kindShare:
		tag, err = s.exec(ctx, qPGReplaceShare, r.f.WalletID, r.f.PartyID, string(rec), string(r.raw))
	default:
		tag, err = s.exec(ctx, qPGReplacePreParams, s.owner, r.id, string(rec), string(r.raw))
	}
	if err != nil {
		return s.dbErr("rewriting "+r.where, err)
	}
	if tag.RowsAffected() == 0 {
		if r.f.Kind != kindShare {
			return errGone
		}
		return newErr(ErrIO, r.where, "changed while Rotate ran (another rotation, or an activation, at the same time?); run it again", nil)
	}
	return nil
}

package vault

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrInUse: another process holds the vault (Exclusive): a server
	// party runs on it.
	ErrInUse = errors.New("vault: in use by another process")
	// ErrClaimLost: this process claimed the vault (Exclusive), and lost
	// the claim: it writes nothing more to it (ClaimLost).
	ErrClaimLost = errors.New("vault: claim lost")
)

// Exclusive claims the vault for this process until Close (or the
// process ends): a server party holds it while it runs, and the commands
// that change a vault behind its back (tsskit settle, rotate-key) claim
// it first, so that they refuse (ErrInUse) while the party runs. A file
// vault takes an advisory lock on a file in its directory; a PostgreSQL
// vault a session advisory lock named by its owner and schema, on a
// connection of its own. The vault's own methods do not need it: in one
// process they are serialised already.
//
// A PostgreSQL claim lasts as long as that connection, which a database
// restart or a killed backend ends, and a host that died without closing
// it holds until the server drops the connection (its TCP keepalive).
// Each claim is counted (vault_claims), and every write of a claimed
// vault checks, in its transaction, that no other process claimed it
// since (pgStore.fence): a process that lost its claim unnoticed writes
// nothing after another one claimed the vault, and a claim waits for the
// writes under way to end. Once the claim's connection ends, the vault
// writes nothing more either, and ClaimLost is closed: a server party
// then stops, and claims the vault anew when it is started again.
func (v *Vault) Exclusive() error {
	v.claimMu.Lock()
	defer v.claimMu.Unlock()
	v.mu.RLock()
	claimed := len(v.release) > 0
	v.mu.RUnlock()
	if claimed {
		return newErr(ErrInvalid, "", "the vault is claimed by this process already", nil)
	}
	release, lost, err := v.store.exclusive()
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.release = append(v.release, release)
	if lost != nil {
		v.lost = lost
	}
	v.mu.Unlock()
	return nil
}

// ClaimLost is closed once the process lost its Exclusive claim (the
// database connection holding a PostgreSQL claim ended); nil, which never
// is, for a vault not claimed or a file vault, whose claim lasts as long
// as the process.
func (v *Vault) ClaimLost() <-chan struct{} {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.lost
}

// pgVaultLockKey is the advisory lock of owner's vault rows, combined in
// the database with the schema's name (tests keep one schema each).
func pgVaultLockKey(owner string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tsskit vault owner\x00" + owner))
	return int64(h.Sum64())
}

func (s *pgStore) exclusive() (func(), <-chan struct{}, error) {
	ctx, cancel := s.op()
	defer cancel()
	// A connection of its own, outside the pool: the lock lives as long
	// as it, and takes nothing from the pool's few connections.
	// Named for operators: pg_stat_activity shows which process holds
	// the claim of which party's vault.
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = claimAppName(s.owner)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, s.dbErr("claim the vault", err)
	}
	claimed := false
	defer func() {
		if !claimed {
			conn.Close(context.Background())
		}
	}()
	var ok bool
	key := pgVaultLockKey(s.owner)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1 # hashtextextended(current_schema(), 0))`, key).Scan(&ok); err != nil {
		return nil, nil, s.dbErr("claim the vault", err)
	}
	if !ok {
		return nil, nil, newErr(ErrInUse, s.loc, "the vault of party "+s.owner+" is held by another process (a server party runs on it: stop it first)", nil)
	}
	// Idle, the connection must outlive the server's idle timeout
	// (PostgreSQL 14 and later; best effort before).
	_, _ = conn.Exec(ctx, `SELECT set_config('idle_session_timeout', '0', false)`)
	// The claim waits for the writes under way of a process whose claim
	// ended (pgStore.fence), but not for ever.
	if _, err := conn.Exec(ctx, `SET lock_timeout = '10s'`); err != nil {
		return nil, nil, s.dbErr("claim the vault", err)
	}
	var gen int64
	if err := conn.QueryRow(ctx, qPGClaim, s.owner).Scan(&gen); err != nil {
		if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == pgLockNotAvailable {
			return nil, nil, newErr(ErrInUse, s.loc, "writes to the vault of party "+s.owner+" by another process are under way (a server party whose claim ended still runs: stop it first)", nil)
		}
		return nil, nil, s.dbErr("claim the vault", err)
	}
	claimed = true
	s.gen.Store(gen)
	s.lost.Store(false)
	s.claimPID = conn.PgConn().PID()
	// The connection's end, the lock's with it, shows when the server
	// closes it: nothing is sent on it meanwhile, so reading it waits
	// for that.
	lost := make(chan struct{})
	watch, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		for err == nil {
			_, err = conn.WaitForNotification(watch)
		}
		if watch.Err() == nil {
			s.lost.Store(true)
			close(lost)
		}
	}()
	// Closing the connection ends the session, and the lock with it.
	return func() { stop(); <-done; conn.Close(context.Background()) }, lost, nil
}

// claimAppName is the application_name of the connection holding the
// claim of owner's vault, within PostgreSQL's 63 bytes.
func claimAppName(owner string) string {
	name := pgAppName + "-claim " + owner
	if len(name) > 63 {
		name = strings.ToValidUTF8(name[:63], "")
	}
	return name
}

// fence refuses a write in tx once this process lost its claim of the
// vault (Vault.Exclusive): its connection ended, or the claims row holds
// another generation than this process's claim, because another process
// claimed the vault since. The row stays locked FOR SHARE until tx ends,
// so that a claim, which updates it, waits for tx, and then reads what
// it wrote. An unclaimed vault is not fenced.
func (s *pgStore) fence(ctx context.Context, tx pgx.Tx) error {
	gen := s.gen.Load()
	if gen == 0 {
		return nil
	}
	if s.lost.Load() {
		return newErr(ErrClaimLost, s.loc, "the connection holding this process's claim of the vault of party "+s.owner+" ended: it writes nothing more; restart it", nil)
	}
	var now int64
	err := tx.QueryRow(ctx, qPGFence, s.owner).Scan(&now)
	if errors.Is(err, pgx.ErrNoRows) {
		return newErr(ErrClaimLost, s.loc, "the claims row of the vault of party "+s.owner+" is gone (vault_claims): this process writes nothing more; restart it", nil)
	}
	if err != nil {
		return err
	}
	if now != gen {
		return newErr(ErrClaimLost, s.loc, fmt.Sprintf("another process claimed the vault of party %s (claim %d) since this one did (claim %d): it writes nothing more; restart it", s.owner, now, gen), nil)
	}
	return nil
}

// exec runs one writing statement, fenced when the vault is claimed.
func (s *pgStore) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if s.gen.Load() == 0 {
		return s.pool.Exec(ctx, sql, args...)
	}
	var tag pgconn.CommandTag
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		var err error
		tag, err = tx.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

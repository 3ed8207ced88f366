package vault

import (
	"context"
	"errors"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// ErrInUse: another process holds the vault (Exclusive): a server party
// runs on it.
var ErrInUse = errors.New("vault: in use by another process")

// Exclusive claims the vault for this process until Close (or the
// process ends): a server party holds it while it runs, and the commands
// that change a vault behind its back (tsskit settle, rotate-key) claim
// it first, so that they refuse (ErrInUse) while the party runs. A file
// vault takes an advisory lock on a file in its directory; a PostgreSQL
// vault a session advisory lock named by its owner and schema, on a
// connection of its own. The vault's own methods do not need it: in one
// process they are serialised already. A PostgreSQL claim lasts as long
// as that connection: a database restart or a killed backend ends it
// without the holder noticing, and a host that died without closing it
// holds it until the server drops the connection (its TCP keepalive).
func (v *Vault) Exclusive() error {
	release, err := v.store.exclusive()
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.release = append(v.release, release)
	v.mu.Unlock()
	return nil
}

// pgVaultLockKey is the advisory lock of owner's vault rows, combined in
// the database with the schema's name (tests keep one schema each).
func pgVaultLockKey(owner string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tsskit vault owner\x00" + owner))
	return int64(h.Sum64())
}

func (s *pgStore) exclusive() (func(), error) {
	ctx, cancel := s.op()
	defer cancel()
	// A connection of its own, outside the pool: the lock lives as long
	// as it, and takes nothing from the pool's few connections.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, s.dbErr("claim the vault", err)
	}
	var ok bool
	key := pgVaultLockKey(s.owner)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1 # hashtextextended(current_schema(), 0))`, key).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return nil, s.dbErr("claim the vault", err)
	}
	if !ok {
		conn.Close(context.Background())
		return nil, newErr(ErrInUse, s.loc, "the vault of party "+s.owner+" is held by another process (a server party runs on it: stop it first)", nil)
	}
	// Closing the connection ends the session, and the lock with it.
	return func() { conn.Close(context.Background()) }, nil
}

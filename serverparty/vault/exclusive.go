package vault

import (
	"errors"
	"hash/fnv"
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
// connection kept for it. The vault's own methods do not need it: in one
// process they are serialised already.
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
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.dbErr("claim the vault", err)
	}
	var ok bool
	key := pgVaultLockKey(s.owner)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1 # hashtextextended(current_schema(), 0))`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, s.dbErr("claim the vault", err)
	}
	if !ok {
		conn.Release()
		return nil, newErr(ErrInUse, s.loc, "the vault of party "+s.owner+" is held by another process (a server party runs on it: stop it first)", nil)
	}
	return func() {
		ctx, cancel := s.op()
		defer cancel()
		conn.Exec(ctx, `SELECT pg_advisory_unlock($1 # hashtextextended(current_schema(), 0))`, key)
		conn.Release()
	}, nil
}

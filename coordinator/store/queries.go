package store

// The SQL every backend runs. It is kept portable between SQLite and
// PostgreSQL so that both backends (sqlite.go, postgres.go) run this file
// unchanged:
//   - types: TEXT, INTEGER, BIGINT only (no BLOB/BYTEA, no AUTOINCREMENT /
//     SERIAL, no DATETIME); bytes are hex TEXT, times BIGINT unix ms;
//   - placeholders are $1, $2, ... (modernc.org/sqlite binds $N by position
//     just as PostgreSQL does); a parameter used twice keeps its number;
//   - no engine-specific functions, upserts or RETURNING;
//   - every statement stands alone (no multi-statement strings), so a
//     driver that prepares statements can run them one by one.

// migration is one step of the schema. Versions start at 1 and increase by
// one; a step is never edited once released, only followed by a new one.
type migration struct {
	version    int
	statements []string
}

const qCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`

const (
	qSchemaVersion   = `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`
	qRecordMigration = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
)

var migrations = []migration{
	{version: 1, statements: []string{
		`CREATE TABLE wallets (
			id             TEXT    NOT NULL PRIMARY KEY,
			name           TEXT    NOT NULL,
			user_id        TEXT    NOT NULL, -- '' when the wallet has no account user
			signers_needed INTEGER NOT NULL CHECK (signers_needed >= 2),
			public_key     TEXT    NOT NULL, -- hex of the 33-byte compressed SEC1 key
			address        TEXT    NOT NULL, -- 0x + 40 hex
			created_at     BIGINT  NOT NULL  -- unix ms
		)`,
		// One wallet per account user id; wallets without one are exempt.
		`CREATE UNIQUE INDEX wallets_user_id ON wallets (user_id) WHERE user_id <> ''`,
		`CREATE INDEX wallets_created ON wallets (created_at, id)`,
		`CREATE TABLE wallet_holders (
			wallet_id TEXT    NOT NULL REFERENCES wallets (id) ON DELETE CASCADE,
			position  INTEGER NOT NULL, -- 0-based index in Wallet.Holders
			party_id  TEXT    NOT NULL,
			kind      TEXT    NOT NULL CHECK (kind IN ('server', 'client', 'user')),
			PRIMARY KEY (wallet_id, position),
			UNIQUE (wallet_id, party_id)
		)`,
		`CREATE INDEX wallet_holders_party ON wallet_holders (party_id)`,
		`CREATE TABLE sessions (
			id          TEXT   NOT NULL PRIMARY KEY,
			kind        TEXT   NOT NULL CHECK (kind IN ('keygen', 'sign')),
			wallet_id   TEXT   NOT NULL, -- no foreign key: a keygen names the wallet it will create
			parties     TEXT   NOT NULL, -- JSON array of party ids
			state       TEXT   NOT NULL CHECK (state IN ('waiting', 'running', 'completed', 'failed')),
			reason      TEXT   NOT NULL,
			culprits    TEXT   NOT NULL, -- JSON array of party ids
			digest      TEXT   NOT NULL, -- hex, '' for keygen
			signature   TEXT   NOT NULL, -- hex of r||s, '' until a sign session completes
			created_at  BIGINT NOT NULL, -- unix ms
			finished_at BIGINT           -- unix ms, NULL until completed or failed
		)`,
		`CREATE INDEX sessions_state ON sessions (state)`,
		`CREATE INDEX sessions_wallet ON sessions (wallet_id, created_at)`,
	}},
	// Replicas: who runs a live session and where to reach it. Rows from
	// before have no owner ('').
	{version: 2, statements: []string{
		`ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT ''`,      // the coordinator instance
		`ALTER TABLE sessions ADD COLUMN owner_addr TEXT NOT NULL DEFAULT ''`, // its address for other replicas
		// The live sessions only (a few at any time, however many have
		// ended), by owner for FailUnfinishedOwned and by age for FailStale.
		`CREATE INDEX sessions_live ON sessions (owner, created_at) WHERE state IN ('waiting', 'running')`,
	}},
	// User tokens: the user a wallet and a session belong to when a user
	// token made them ('' for an admin's or the account API's). A user has
	// any number of wallets, unlike an account user id.
	{version: 3, statements: []string{
		`ALTER TABLE wallets ADD COLUMN owner_user TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX wallets_owner_user ON wallets (owner_user, created_at, id) WHERE owner_user <> ''`,
		`ALTER TABLE sessions ADD COLUMN owner_user TEXT NOT NULL DEFAULT ''`,
	}},
	// BIP32: a wallet's chain code as its holders recorded it ('' for a
	// wallet made before: the legacy rule, package party/hd), and the
	// derivation path a signing used ('' for the wallet key).
	{version: 4, statements: []string{
		`ALTER TABLE wallets ADD COLUMN chain_code TEXT NOT NULL DEFAULT ''`,       // hex of 32 bytes, or ''
		`ALTER TABLE sessions ADD COLUMN derivation_path TEXT NOT NULL DEFAULT ''`, // "m/0/5", or ''
	}},
	// A wallet made before chain codes is marked 'legacy' explicitly, so
	// that '' can only mean a row written by a coordinator older than
	// chain codes after this migration (a replica during a rolling
	// upgrade): whether its holders recorded a chain code is unknown, and
	// the coordinator refuses to derive for it rather than guess
	// (docs/protocol.md, "Chain codes").
	{version: 5, statements: []string{
		`UPDATE wallets SET chain_code = 'legacy' WHERE chain_code = ''`,
	}},
	// Reshares (docs/lifecycle.md): a wallet's active key epoch, every
	// existing wallet's being keygen's (0), the reshare session that made
	// it active ('' for 0), and the wallet's one pending slot: the
	// reshare under way, the epoch it makes and when it claimed the slot
	// (0, '' and 0 when free). And sessions of kind 'reshare'.
	//
	// SQLite cannot alter a CHECK, so sessions is rebuilt, in statements
	// both engines run alike, to what migrations 1 to 4 made of it with
	// only the kind CHECK wider: same columns in the same order with the
	// same defaults, same constraints, same indexes. The rows are copied
	// aside and back rather than into a new table renamed to sessions,
	// because PostgreSQL names a table's primary key index and CHECK
	// constraints after the table at creation and keeps those names
	// through a rename: the table must be created as sessions, after the
	// old one is gone, for them to stay sessions_pkey, sessions_kind_check
	// and sessions_state_check. Dropping the indexes first frees their
	// names and, on PostgreSQL, locks sessions against writers from the
	// start (a replica still running the previous release), so that no
	// row is written after the copy and lost with the old table. SQLite's
	// migration transaction holds the write lock throughout anyway.
	{version: 6, statements: []string{
		`ALTER TABLE wallets ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE wallets ADD COLUMN epoch_session TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE wallets ADD COLUMN pending_epoch INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE wallets ADD COLUMN pending_session TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE wallets ADD COLUMN pending_at BIGINT NOT NULL DEFAULT 0`, // unix ms

		`DROP INDEX sessions_live`,
		`DROP INDEX sessions_wallet`,
		`DROP INDEX sessions_state`,
		`CREATE TABLE sessions_v5 AS
			SELECT id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at, finished_at,
				owner, owner_addr, owner_user, derivation_path
			FROM sessions`,
		`DROP TABLE sessions`,
		`CREATE TABLE sessions (
			id              TEXT   NOT NULL PRIMARY KEY,
			kind            TEXT   NOT NULL CHECK (kind IN ('keygen', 'sign', 'reshare')),
			wallet_id       TEXT   NOT NULL, -- no foreign key: a keygen names the wallet it will create
			parties         TEXT   NOT NULL, -- JSON array of party ids
			state           TEXT   NOT NULL CHECK (state IN ('waiting', 'running', 'completed', 'failed')),
			reason          TEXT   NOT NULL,
			culprits        TEXT   NOT NULL, -- JSON array of party ids
			digest          TEXT   NOT NULL, -- hex, '' for keygen and reshare
			signature       TEXT   NOT NULL, -- hex of r||s, '' until a sign session completes
			created_at      BIGINT NOT NULL, -- unix ms
			finished_at     BIGINT,          -- unix ms, NULL until completed or failed
			owner           TEXT   NOT NULL DEFAULT '', -- the coordinator instance
			owner_addr      TEXT   NOT NULL DEFAULT '', -- its address for other replicas
			owner_user      TEXT   NOT NULL DEFAULT '',
			derivation_path TEXT   NOT NULL DEFAULT ''  -- "m/0/5", or ''
		)`,
		`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at, finished_at,
				owner, owner_addr, owner_user, derivation_path)
			SELECT id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at, finished_at,
				owner, owner_addr, owner_user, derivation_path
			FROM sessions_v5`,
		`DROP TABLE sessions_v5`,
		`CREATE INDEX sessions_state ON sessions (state)`,
		`CREATE INDEX sessions_wallet ON sessions (wallet_id, created_at)`,
		`CREATE INDEX sessions_live ON sessions (owner, created_at) WHERE state IN ('waiting', 'running')`,
	}},
	// Recovery (docs/lifecycle.md): a co-managed wallet's recovery policy
	// as its client set it at keygen ('' for none, and for every wallet
	// made before): "kit:" and the kit key's hex, "backend", or both
	// joined by ",". The coordinator only relays it into reshares; every
	// holder checks it against its own record.
	{version: 7, statements: []string{
		`ALTER TABLE wallets ADD COLUMN recovery TEXT NOT NULL DEFAULT ''`,
	}},
	// What a finished session's final event needs when it is rebuilt from
	// the store (after the owner forgot it, or on another replica): a
	// failure's code, and a completed reshare's stored acknowledgements
	// (a JSON object of party id to hex; '' for none).
	{version: 8, statements: []string{
		`ALTER TABLE sessions ADD COLUMN code TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE sessions ADD COLUMN stored_acks TEXT NOT NULL DEFAULT ''`,
	}},
	// A reshare's run (Session.Run, JSON; '' for none): what a later run
	// of the epoch needs to activate this one late.
	{version: 9, statements: []string{
		`ALTER TABLE sessions ADD COLUMN reshare_run TEXT NOT NULL DEFAULT ''`,
	}},
}

// Wallets.
const (
	qInsertWallet = `INSERT INTO wallets (id, name, user_id, signers_needed, public_key, address, created_at, owner_user, chain_code, recovery)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	qInsertHolder = `INSERT INTO wallet_holders (wallet_id, position, party_id, kind)
		VALUES ($1, $2, $3, $4)`
	qWalletExists = `SELECT COUNT(*) FROM wallets WHERE id = $1`

	// The wallet queries return one row per holder, in holder order:
	// walletColumns then h.party_id, h.kind.
	walletColumns = `w.id, w.name, w.user_id, w.signers_needed, w.public_key, w.address, w.created_at, w.owner_user, w.chain_code,
		w.epoch, w.epoch_session, w.pending_epoch, w.pending_session, w.recovery`

	qGetWallet = `SELECT ` + walletColumns + `, h.party_id, h.kind
		FROM wallets w JOIN wallet_holders h ON h.wallet_id = w.id
		WHERE w.id = $1
		ORDER BY h.position`
	qWalletByUser = `SELECT ` + walletColumns + `, h.party_id, h.kind
		FROM wallets w JOIN wallet_holders h ON h.wallet_id = w.id
		WHERE w.user_id = $1 AND w.user_id <> ''
		ORDER BY h.position`

	// qWalletCursor finds the (created_at, id) position of ListWallets' After.
	qWalletCursor = `SELECT created_at FROM wallets WHERE id = $1`
	// qListWallets pages in the inner query and joins holders outside it,
	// so LIMIT counts wallets, not holders.
	//   $1 user id or '' for all; $2 cursor id or '' for the first page;
	//   $3 the cursor's created_at (0 when $2 is ''); $4 the page size;
	//   $5 owner user or '' for all.
	qListWallets = `SELECT ` + walletColumns + `, h.party_id, h.kind
		FROM (
			SELECT id, name, user_id, signers_needed, public_key, address, created_at, owner_user, chain_code,
				epoch, epoch_session, pending_epoch, pending_session, recovery
			FROM wallets
			WHERE (user_id = $1 OR $1 = '')
			  AND (owner_user = $5 OR $5 = '')
			  AND ($2 = '' OR created_at > $3 OR (created_at = $3 AND id > $2))
			ORDER BY created_at, id
			LIMIT $4
		) w JOIN wallet_holders h ON h.wallet_id = w.id
		ORDER BY w.created_at, w.id, h.position`
)

// Reshares: a wallet's epoch and pending slot. Each call is one
// conditional UPDATE, so that the database decides between concurrent
// ones (on PostgreSQL, the second waits for the first's row lock and
// re-checks its WHERE against the row the first wrote); when it changes
// no row, qReshareState says why.
const (
	// qBeginReshare: $1 wallet, $2 the epoch it must be at, $3 the epoch
	// the reshare makes ($2 + 1), $4 the session, $5 now (unix ms), $6 the
	// stale cutoff: a claim stored before it has expired. A claim whose
	// session is recorded failed is free too: a coordinator that restarts
	// fails the sessions it left (qFailUnfinishedOwned) but cannot abort
	// their claims, and a failed session never activates its epoch.
	qBeginReshare = `UPDATE wallets
		SET pending_epoch = $3, pending_session = $4, pending_at = $5
		WHERE id = $1 AND epoch = $2
		  AND (pending_session = '' OR pending_at < $6 OR (pending_session = $4 AND pending_epoch = $3)
		    OR EXISTS (SELECT 1 FROM sessions WHERE sessions.id = wallets.pending_session AND sessions.state = 'failed'))`
	// qActivateEpoch: $1 wallet, $2 the session, $3 its epoch.
	qActivateEpoch = `UPDATE wallets
		SET epoch = $3, epoch_session = $2, pending_epoch = 0, pending_session = '', pending_at = 0
		WHERE id = $1 AND pending_session = $2 AND pending_epoch = $3`
	// A reshare that changes the committee writes it in the same
	// transaction as qActivateEpoch, each statement only if the wallet's
	// active epoch is then the session's ($1 wallet, $2 the session, $3
	// its epoch): a refused activation changes nothing, and one retried
	// after a lost answer writes the same committee again.
	qActivateSigners = `UPDATE wallets SET signers_needed = $4
		WHERE id = $1 AND epoch_session = $2 AND epoch = $3`
	qActivateDropHolders = `DELETE FROM wallet_holders
		WHERE wallet_id = $1 AND EXISTS (SELECT 1 FROM wallets WHERE id = $1 AND epoch_session = $2 AND epoch = $3)`
	qActivateHolder = `INSERT INTO wallet_holders (wallet_id, position, party_id, kind)
		SELECT CAST($1 AS TEXT), CAST($4 AS INTEGER), CAST($5 AS TEXT), CAST($6 AS TEXT)
		WHERE EXISTS (SELECT 1 FROM wallets WHERE id = $1 AND epoch_session = $2 AND epoch = $3)`
	// qActivateSession records the session completed with its stored
	// acknowledgements ($4) at $5 (unix ms), in the same transaction and
	// on the same condition.
	qActivateSession = `UPDATE sessions SET state = 'completed', stored_acks = $4, finished_at = COALESCE(finished_at, $5)
		WHERE id = $2 AND EXISTS (SELECT 1 FROM wallets WHERE id = $1 AND epoch_session = $2 AND epoch = $3)`
	// qAbortReshare: $1 wallet, $2 the session.
	qAbortReshare = `UPDATE wallets
		SET pending_epoch = 0, pending_session = '', pending_at = 0
		WHERE id = $1 AND pending_session = $2`
	qReshareState = `SELECT epoch, epoch_session, pending_epoch, pending_session, pending_at FROM wallets WHERE id = $1`
)

// Sessions.
const (
	sessionColumns = `id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at, finished_at, owner, owner_addr, owner_user, derivation_path,
		code, stored_acks, reshare_run`

	qInsertSession = `INSERT INTO sessions (` + sessionColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`
	qUpdateSession = `UPDATE sessions
		SET state = $2, reason = $3, culprits = $4, signature = $5, finished_at = $6, code = $7, stored_acks = $8, reshare_run = $9
		WHERE id = $1`
	qGetSession     = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1`
	qFailUnfinished = `UPDATE sessions
		SET state = 'failed', reason = $1, finished_at = $2
		WHERE state IN ('waiting', 'running')`
	// The state condition is written as in the sessions_live index, so
	// that both engines see the index applies.
	qFailUnfinishedOwned = `UPDATE sessions
		SET state = 'failed', reason = $2, finished_at = $3
		WHERE owner = $1 AND state IN ('waiting', 'running')`
	qFailStale = `UPDATE sessions
		SET state = 'failed', reason = $2, finished_at = $3
		WHERE created_at < $1 AND state IN ('waiting', 'running')`
)

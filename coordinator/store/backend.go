package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
)

// What the backends share besides the SQL and sqlStore: the arguments of
// the writing statements, the decoding of rows and the migration loop.
// database/sql (SQLite) and pgx (PostgreSQL) rows both satisfy the small
// interfaces below.

// scanner is one row: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// rowIter is a result set: *sql.Rows, pgx.Rows. The caller closes it.
type rowIter interface {
	scanner
	Next() bool
	Err() error
}

// walletArgs are the qInsertWallet arguments for w, created at created.
func walletArgs(w *Wallet, created time.Time) []any {
	return []any{w.ID, w.Name, w.UserID, w.SignersNeeded, encodeBytes(w.PublicKey), w.Address, millis(created), w.OwnerUser, chainCodeColumn(w.ChainCode),
		recoveryColumn(w.Recovery)}
}

// chainCodeLegacy is wallets.chain_code for a wallet whose holders use
// the legacy rule; ” is a row written by a coordinator older than chain
// codes (migration 5).
const chainCodeLegacy = "legacy"

// chainCodeColumn is wallets.chain_code for a wallet with chain code cc
// (none: the legacy rule).
func chainCodeColumn(cc []byte) string {
	if len(cc) == 0 {
		return chainCodeLegacy
	}
	return encodeBytes(cc)
}

// holderArgs are the qInsertHolder arguments for holder i of w.
func holderArgs(w *Wallet, i int) []any {
	h := w.Holders[i]
	return []any{w.ID, i, h.PartyID, string(h.Kind)}
}

// scanWallets reads rows of walletColumns, party_id, kind: one row per
// holder, grouped by wallet, holders in order.
func scanWallets(rows rowIter) ([]*Wallet, error) {
	var out []*Wallet
	var cur *Wallet
	for rows.Next() {
		var (
			w                    Wallet
			pub, cc, party, kind string
			rec                  string
			created              int64
		)
		if err := rows.Scan(&w.ID, &w.Name, &w.UserID, &w.SignersNeeded, &pub, &w.Address, &created, &w.OwnerUser, &cc,
			&w.Epoch, &w.EpochSession, &w.PendingEpoch, &w.PendingSession, &rec, &party, &kind); err != nil {
			return nil, err
		}
		var err error
		if w.Recovery, err = parseRecoveryColumn(rec); err != nil {
			return nil, err
		}
		if cur == nil || cur.ID != w.ID {
			var err error
			if w.PublicKey, err = decodeBytes("wallets.public_key", pub); err != nil {
				return nil, err
			}
			switch cc {
			case chainCodeLegacy:
			case "":
				w.ChainCodeUnknown = true
			default:
				if w.ChainCode, err = decodeBytes("wallets.chain_code", cc); err != nil {
					return nil, err
				}
			}
			w.CreatedAt = fromMillis(created)
			cur = &w
			out = append(out, cur)
		}
		cur.Holders = append(cur.Holders, Holder{PartyID: party, Kind: HolderKind(kind)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// reshareState is a wallet's row of qReshareState: what a reshare call
// that changed nothing found.
type reshareState struct {
	epoch          int
	epochSession   string
	pendingEpoch   int
	pendingSession string
	pendingAt      int64
}

func scanReshareState(row scanner) (reshareState, error) {
	var st reshareState
	err := row.Scan(&st.epoch, &st.epochSession, &st.pendingEpoch, &st.pendingSession, &st.pendingAt)
	return st, err
}

// pending describes the claim on the slot, for errors.
func (st reshareState) pending() string {
	return fmt.Sprintf("reshare %q to epoch %d holds its pending slot since %v", st.pendingSession, st.pendingEpoch, fromMillis(st.pendingAt))
}

// finishedColumn is the finished_at column for s (nil for NULL) and the
// FinishedAt it stands for: s.FinishedAt, or now when the state is final
// and it is zero, as stored. s is not changed; the caller sets
// s.FinishedAt once the write succeeded.
func finishedColumn(s *Session) (any, time.Time) {
	fin := s.FinishedAt
	if fin.IsZero() {
		if !s.State.Final() {
			return nil, time.Time{}
		}
		fin = time.Now()
	}
	fin = storedTime(fin)
	return millis(fin), fin
}

// sessionWrite is what CreateSession or UpdateSession writes: the
// statement's arguments, and the CreatedAt (creation only) and FinishedAt
// they store, for the caller to put in the session on success.
type sessionWrite struct {
	args              []any
	created, finished time.Time
}

// insertSessionArgs validates s and prepares qInsertSession. A zero
// CreatedAt is now.
func insertSessionArgs(s *Session) (sessionWrite, error) {
	if err := validateSession(s); err != nil {
		return sessionWrite{}, err
	}
	parties, err := encodeList(s.Parties)
	if err != nil {
		return sessionWrite{}, err
	}
	culprits, err := encodeList(s.Culprits)
	if err != nil {
		return sessionWrite{}, err
	}
	created := s.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = storedTime(created)
	acks, err := encodeAcks(s.StoredAcks)
	if err != nil {
		return sessionWrite{}, err
	}
	run, err := encodeRun(s.Run)
	if err != nil {
		return sessionWrite{}, err
	}
	fin, finished := finishedColumn(s)
	return sessionWrite{
		args: []any{s.ID, string(s.Kind), s.WalletID, parties, string(s.State), s.Reason, culprits,
			encodeBytes(s.Digest), encodeBytes(s.Signature), millis(created), fin, s.Owner, s.OwnerAddr, s.OwnerUser, pathColumn(s.Path),
			s.Code, acks, run},
		created:  created,
		finished: finished,
	}, nil
}

// updateSessionArgs validates s and prepares qUpdateSession.
func updateSessionArgs(s *Session) (sessionWrite, error) {
	if err := validateUpdate(s); err != nil {
		return sessionWrite{}, err
	}
	culprits, err := encodeList(s.Culprits)
	if err != nil {
		return sessionWrite{}, err
	}
	acks, err := encodeAcks(s.StoredAcks)
	if err != nil {
		return sessionWrite{}, err
	}
	run, err := encodeRun(s.Run)
	if err != nil {
		return sessionWrite{}, err
	}
	fin, finished := finishedColumn(s)
	return sessionWrite{
		args:     []any{s.ID, string(s.State), s.Reason, culprits, encodeBytes(s.Signature), fin, s.Code, acks, run},
		finished: finished,
	}, nil
}

// scanSession reads one row of sessionColumns. The Scan error is returned
// as it is, so that the caller can recognise its driver's "no rows".
func scanSession(row scanner) (*Session, error) {
	var (
		sess                                                               Session
		kind, state, parties, culprits, digest, signature, path, acks, run string
		created                                                            int64
		finished                                                           sql.NullInt64
	)
	err := row.Scan(&sess.ID, &kind, &sess.WalletID, &parties, &state, &sess.Reason, &culprits,
		&digest, &signature, &created, &finished, &sess.Owner, &sess.OwnerAddr, &sess.OwnerUser, &path, &sess.Code, &acks, &run)
	if err != nil {
		return nil, err
	}
	sess.Kind, sess.State = SessionKind(kind), SessionState(state)
	sess.CreatedAt = fromMillis(created)
	if finished.Valid {
		sess.FinishedAt = fromMillis(finished.Int64)
	}
	if sess.Parties, err = decodeList("sessions.parties", parties); err != nil {
		return nil, err
	}
	if sess.Culprits, err = decodeList("sessions.culprits", culprits); err != nil {
		return nil, err
	}
	if sess.Digest, err = decodeBytes("sessions.digest", digest); err != nil {
		return nil, err
	}
	if sess.Signature, err = decodeBytes("sessions.signature", signature); err != nil {
		return nil, err
	}
	if sess.StoredAcks, err = decodeAcks("sessions.stored_acks", acks); err != nil {
		return nil, err
	}
	if sess.Run, err = decodeRun("sessions.reshare_run", run); err != nil {
		return nil, err
	}
	if path != "" {
		if sess.Path, err = hd.ParsePath(path); err != nil {
			return nil, fmt.Errorf("sessions.derivation_path: %w", err)
		}
	}
	return &sess, nil
}

// pathColumn is the derivation_path column of a path: "" for none.
func pathColumn(p []uint32) string {
	if len(p) == 0 {
		return ""
	}
	return hd.Path(p).String()
}

// failArgs checks and prepares the arguments shared by the
// FailUnfinished family: the reason and finished_at (a zero at is now).
func failArgs(reason string, at time.Time) (string, int64, error) {
	if err := checkReason(reason); err != nil {
		return "", 0, err
	}
	if at.IsZero() {
		at = time.Now()
	}
	return reason, millis(at), nil
}

// migrateSchema applies, through c (the caller's transaction), the
// migrations the database has not seen, each recorded in
// schema_migrations, creating that table first when missing. A database
// newer than this program is refused.
func migrateSchema(ctx context.Context, c conn) error {
	if _, err := c.exec(ctx, qCreateMigrations); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	var have int
	if err := c.queryRow(ctx, qSchemaVersion).Scan(&have); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	latest := migrations[len(migrations)-1].version
	if have > latest {
		return fmt.Errorf("schema version %d is newer than this program knows (%d)", have, latest)
	}
	for _, m := range migrations {
		if m.version <= have {
			continue
		}
		for i, q := range m.statements {
			if _, err := c.exec(ctx, q); err != nil {
				return fmt.Errorf("migration %d, statement %d: %w", m.version, i+1, err)
			}
		}
		if _, err := c.exec(ctx, qRecordMigration, m.version, millis(time.Now())); err != nil {
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
	}
	return nil
}

// recoveryColumn is wallets.recovery for a policy: "" for none, else
// "kit:" and the kit key's hex and/or "backend", joined by ",".
func recoveryColumn(r identity.Recovery) string {
	var parts []string
	if !r.Kit.IsZero() {
		parts = append(parts, "kit:"+r.Kit.String())
	}
	if r.Backend {
		parts = append(parts, "backend")
	}
	return strings.Join(parts, ",")
}

func parseRecoveryColumn(s string) (identity.Recovery, error) {
	var r identity.Recovery
	if s == "" {
		return r, nil
	}
	for _, p := range strings.Split(s, ",") {
		switch {
		case p == "backend" && !r.Backend:
			r.Backend = true
		case strings.HasPrefix(p, "kit:") && r.Kit.IsZero():
			k, err := identity.ParsePublicKey(strings.TrimPrefix(p, "kit:"))
			if err != nil || k.IsZero() {
				return r, fmt.Errorf("wallets.recovery: %q is not a kit key", p)
			}
			r.Kit = k
		default:
			return r, fmt.Errorf("wallets.recovery: %q", s)
		}
	}
	return r, nil
}

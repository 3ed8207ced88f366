package store

import (
	"context"
	"fmt"
	"time"
)

// sqlStore is the Store on SQL, written once for both backends: the
// validation, the statements and their arguments, and the mapping of
// errors to ErrNotFound and ErrExists. What differs between SQLite and
// PostgreSQL, how a statement reaches the database, how a transaction
// runs and how the driver says "no rows" or "unique violation", is behind
// engine. SQLite (sqlite.go) and Postgres (postgres.go) embed a sqlStore
// whose engine is themselves, and add opening, migrating and closing.
type sqlStore struct {
	eng    engine
	prefix string // of the errors the database returns: "store: " or "store: postgres: "
}

// conn runs statements: on the database, or in a transaction.
type conn interface {
	// exec runs a statement and returns how many rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// queryRow runs a query for one row. Like the drivers' rows, the
	// scanner reports errors, "no rows" included, from Scan.
	queryRow(ctx context.Context, query string, args ...any) scanner
	// query runs a query and has read read its rows, which query closes
	// afterwards.
	query(ctx context.Context, query string, args []any, read func(rowIter) error) error
}

// engine is the database of a backend, as sqlStore uses it.
type engine interface {
	conn
	// batch runs stmts in order in one transaction, which ends (committed
	// or rolled back) before batch returns. On error it also returns the
	// index of the statement that failed, -1 when none did (beginning or
	// committing failed).
	batch(ctx context.Context, stmts []stmt) (failed int, err error)
	// noRows reports whether err is the driver's "no rows" from Scan.
	noRows(err error) bool
	// uniqueViolation reports whether err is a primary key or unique
	// constraint violation.
	uniqueViolation(err error) bool
	ping(ctx context.Context) error
}

// stmt is a statement with its arguments.
type stmt struct {
	query string
	args  []any
}

// wrap is an error from the database, in what the store was doing.
func (s *sqlStore) wrap(what string, err error) error {
	return fmt.Errorf("%s%s: %w", s.prefix, what, err)
}

// CreateWallet implements Store. On success w.CreatedAt is what was stored.
// The wallet and its holders go in one transaction (on PostgreSQL, sent as
// one batch).
func (s *sqlStore) CreateWallet(ctx context.Context, w *Wallet) error {
	if err := validateWallet(w); err != nil {
		return err
	}
	created := w.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = storedTime(created)

	stmts := []stmt{{qInsertWallet, walletArgs(w, created)}}
	for i := range w.Holders {
		stmts = append(stmts, stmt{qInsertHolder, holderArgs(w, i)})
	}
	failed, err := s.eng.batch(ctx, stmts)
	switch {
	case err == nil:
		w.CreatedAt = created
		return nil
	case failed == 0 && s.eng.uniqueViolation(err):
		return s.existsError(ctx, w)
	case failed > 0:
		return s.wrap(fmt.Sprintf("create wallet %q: holder %q", w.ID, w.Holders[failed-1].PartyID), err)
	}
	return s.wrap(fmt.Sprintf("create wallet %q", w.ID), err)
}

// existsError says which uniqueness rule a refused wallet broke: its id
// when a wallet has it, else its user id. Wallets are never deleted, so
// the answer cannot be out of date. It runs after the transaction ended,
// as SQLite requires.
func (s *sqlStore) existsError(ctx context.Context, w *Wallet) error {
	var n int
	if err := s.eng.queryRow(ctx, qWalletExists, w.ID).Scan(&n); err == nil && n == 0 && w.UserID != "" {
		return fmt.Errorf("%w: user %q already has a wallet", ErrExists, w.UserID)
	}
	return fmt.Errorf("%w: wallet %q", ErrExists, w.ID)
}

// GetWallet implements Store.
func (s *sqlStore) GetWallet(ctx context.Context, id string) (*Wallet, error) {
	ws, err := s.queryWallets(ctx, qGetWallet, id)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("get wallet %q", id), err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w: wallet %q", ErrNotFound, id)
	}
	return ws[0], nil
}

// WalletByUser implements Store.
func (s *sqlStore) WalletByUser(ctx context.Context, userID string) (*Wallet, error) {
	if userID == "" {
		return nil, fmt.Errorf("%w: wallet for an empty user id", ErrNotFound)
	}
	ws, err := s.queryWallets(ctx, qWalletByUser, userID)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("wallet of user %q", userID), err)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w: wallet of user %q", ErrNotFound, userID)
	}
	return ws[0], nil
}

// ListWallets implements Store.
func (s *sqlStore) ListWallets(ctx context.Context, f WalletFilter) ([]*Wallet, error) {
	limit, err := clampLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	var after int64
	if f.After != "" {
		err := s.eng.queryRow(ctx, qWalletCursor, f.After).Scan(&after)
		if s.eng.noRows(err) {
			return nil, fmt.Errorf("%w: list wallets: cursor %q is no wallet", ErrNotFound, f.After)
		}
		if err != nil {
			return nil, s.wrap("list wallets", err)
		}
	}
	ws, err := s.queryWallets(ctx, qListWallets, f.UserID, f.After, after, limit, f.OwnerUser)
	if err != nil {
		return nil, s.wrap("list wallets", err)
	}
	return ws, nil
}

// queryWallets runs a query returning walletColumns, party_id, kind: one
// row per holder, grouped by wallet, holders in order.
func (s *sqlStore) queryWallets(ctx context.Context, query string, args ...any) ([]*Wallet, error) {
	var ws []*Wallet
	err := s.eng.query(ctx, query, args, func(rows rowIter) error {
		var err error
		ws, err = scanWallets(rows)
		return err
	})
	return ws, err
}

// CreateSession implements Store. On success s.CreatedAt (set to now when
// zero) and s.FinishedAt are what was stored.
func (s *sqlStore) CreateSession(ctx context.Context, sess *Session) error {
	wr, err := insertSessionArgs(sess)
	if err != nil {
		return err
	}
	_, err = s.eng.exec(ctx, qInsertSession, wr.args...)
	if s.eng.uniqueViolation(err) {
		return fmt.Errorf("%w: session %q", ErrExists, sess.ID)
	}
	if err != nil {
		return s.wrap(fmt.Sprintf("create session %q", sess.ID), err)
	}
	sess.CreatedAt, sess.FinishedAt = wr.created, wr.finished
	return nil
}

// UpdateSession implements Store. On success s.FinishedAt is what was
// stored.
func (s *sqlStore) UpdateSession(ctx context.Context, sess *Session) error {
	wr, err := updateSessionArgs(sess)
	if err != nil {
		return err
	}
	n, err := s.eng.exec(ctx, qUpdateSession, wr.args...)
	if err != nil {
		return s.wrap(fmt.Sprintf("update session %q", sess.ID), err)
	}
	if n == 0 {
		return fmt.Errorf("%w: session %q", ErrNotFound, sess.ID)
	}
	sess.FinishedAt = wr.finished
	return nil
}

// GetSession implements Store.
func (s *sqlStore) GetSession(ctx context.Context, id string) (*Session, error) {
	sess, err := scanSession(s.eng.queryRow(ctx, qGetSession, id))
	if s.eng.noRows(err) {
		return nil, fmt.Errorf("%w: session %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("get session %q", id), err)
	}
	return sess, nil
}

// FailUnfinished implements Store. A zero at means now.
func (s *sqlStore) FailUnfinished(ctx context.Context, reason string, at time.Time) (int, error) {
	reason, ms, err := failArgs(reason, at)
	if err != nil {
		return 0, err
	}
	return s.fail(ctx, "fail unfinished sessions", qFailUnfinished, reason, ms)
}

// FailUnfinishedOwned implements Store. A zero at means now.
func (s *sqlStore) FailUnfinishedOwned(ctx context.Context, owner, reason string, at time.Time) (int, error) {
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
func (s *sqlStore) FailStale(ctx context.Context, createdBefore time.Time, reason string, at time.Time) (int, error) {
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
func (s *sqlStore) fail(ctx context.Context, what, query string, args ...any) (int, error) {
	n, err := s.eng.exec(ctx, query, args...)
	if err != nil {
		return 0, s.wrap(what, err)
	}
	return int(n), nil
}

// BeginReshare implements Store.
func (s *sqlStore) BeginReshare(ctx context.Context, walletID string, fromEpoch int, sessionID string, now, staleBefore time.Time) error {
	args, err := beginReshareArgs(walletID, fromEpoch, sessionID, now, staleBefore)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("begin reshare %q of wallet %q", sessionID, walletID)
	n, err := s.eng.exec(ctx, qBeginReshare, args...)
	if err != nil {
		return s.wrap(what, err)
	}
	if n != 0 {
		return nil
	}
	st, err := s.reshareState(ctx, what, walletID)
	if err != nil {
		return err
	}
	// st is read after the refusal, so it may have moved on since; the
	// refusal stands, st only explains it.
	switch {
	case st.epoch != fromEpoch:
		return fmt.Errorf("%w: %s: the wallet is at epoch %d, not %d", ErrReshareConflict, what, st.epoch, fromEpoch)
	case st.pendingSession != "":
		return fmt.Errorf("%w: %s: %s", ErrReshareConflict, what, st.pending())
	}
	return fmt.Errorf("%w: %s: the wallet changed meanwhile", ErrReshareConflict, what)
}

// ActivateEpoch implements Store.
func (s *sqlStore) ActivateEpoch(ctx context.Context, walletID, sessionID string, epoch int, to *Committee, acks map[string][]byte) error {
	if err := checkActivate(walletID, sessionID, epoch, to, acks); err != nil {
		return err
	}
	what := fmt.Sprintf("activate epoch %d of wallet %q by reshare %q", epoch, walletID, sessionID)
	acksColumn, err := encodeAcks(acks)
	if err != nil {
		return err
	}
	stmts := []stmt{{qActivateEpoch, []any{walletID, sessionID, epoch}}}
	if to != nil {
		stmts = append(stmts, stmt{qActivateSigners, []any{walletID, sessionID, epoch, to.SignersNeeded}},
			stmt{qActivateDropHolders, []any{walletID, sessionID, epoch}})
		for i, h := range to.Holders {
			stmts = append(stmts, stmt{qActivateHolder, []any{walletID, sessionID, epoch, i, h.PartyID, string(h.Kind)}})
		}
	}
	stmts = append(stmts, stmt{qActivateSession, []any{walletID, sessionID, epoch, acksColumn, millis(time.Now())}})
	if _, err := s.eng.batch(ctx, stmts); err != nil {
		return s.wrap(what, err)
	}
	// Whether it took is the wallet's state now: the statements are
	// conditional, not counted.
	st, err := s.reshareState(ctx, what, walletID)
	if err != nil {
		return err
	}
	switch {
	case st.epoch == epoch && st.epochSession == sessionID:
		// Done already: a retry, after an answer that was lost.
		return nil
	case st.pendingSession != "":
		return fmt.Errorf("%w: %s: %s", ErrReshareConflict, what, st.pending())
	}
	// The claim went stale and another reshare took the slot and made its
	// own epoch active, or the claim was aborted: the session's shares of
	// that epoch are not the wallet's, even when the epoch number is.
	return fmt.Errorf("%w: %s: no reshare is pending; the wallet is at epoch %d, made by %q", ErrReshareConflict, what, st.epoch, st.epochSession)
}

// AbortReshare implements Store.
func (s *sqlStore) AbortReshare(ctx context.Context, walletID, sessionID string) error {
	if err := checkID("wallet id", walletID); err != nil {
		return err
	}
	if err := checkID("reshare session id", sessionID); err != nil {
		return err
	}
	if _, err := s.eng.exec(ctx, qAbortReshare, walletID, sessionID); err != nil {
		return s.wrap(fmt.Sprintf("abort reshare %q of wallet %q", sessionID, walletID), err)
	}
	return nil
}

// reshareState reads what a reshare call that changed nothing found,
// for its error: ErrNotFound when there is no such wallet.
func (s *sqlStore) reshareState(ctx context.Context, what, walletID string) (reshareState, error) {
	st, err := scanReshareState(s.eng.queryRow(ctx, qReshareState, walletID))
	if s.eng.noRows(err) {
		return st, fmt.Errorf("%w: %s: no such wallet", ErrNotFound, what)
	}
	if err != nil {
		return st, s.wrap(what, err)
	}
	return st, nil
}

// Ping implements Store.
func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.eng.ping(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
)

// testMigrateFromV1 brings an empty database to schema version 1 through
// exec, as the first release left it, with a wallet and two live
// sessions; then open (which migrates) must keep them, give the sessions
// no owner, and make owners work.
func testMigrateFromV1(t *testing.T, exec func(q string, args ...any) error, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := store.MigrateTo(1, exec); err != nil {
		t.Fatalf("schema version 1: %v", err)
	}
	w := testWallet()
	created := w.CreatedAt.UnixMilli()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO wallets (id, name, user_id, signers_needed, public_key, address, created_at)
			VALUES ($1, $2, $3, 2, $4, $5, $6)`, []any{w.ID, w.Name, w.UserID, hex.EncodeToString(w.PublicKey), w.Address, created}},
		{`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, 0, 'user-42', 'user')`, []any{w.ID}},
		{`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, 1, 'server-b', 'server')`, []any{w.ID}},
		{`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, 2, 'server-a', 'server')`, []any{w.ID}},
		{`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at, finished_at)
			VALUES ('old-run', 'sign', $1, '["user-42","server-a"]', 'running', '', '[]', $2, '', $3, NULL)`,
			[]any{w.ID, hex.EncodeToString(bytes.Repeat([]byte{9}, 32)), created}},
		{`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at, finished_at)
			VALUES ('old-done', 'keygen', $1, '["user-42","server-a","server-b"]', 'completed', '', '[]', '', '', $2, $2)`,
			[]any{w.ID, created}},
	} {
		if err := exec(q.sql, q.args...); err != nil {
			t.Fatalf("a version 1 row: %v", err)
		}
	}

	s := open()
	defer s.Close()
	got, err := s.GetWallet(ctx, w.ID)
	if err != nil || got.Address != w.Address || len(got.Holders) != 3 || !got.CreatedAt.Equal(w.CreatedAt) {
		t.Errorf("wallet after the migration = %+v, %v", got, err)
	}
	for _, id := range []string{"old-run", "old-done"} {
		sess, err := s.GetSession(ctx, id)
		if err != nil {
			t.Fatalf("GetSession(%s) after the migration: %v", id, err)
		}
		if sess.Owner != "" || sess.OwnerAddr != "" {
			t.Errorf("%s: owner %q at %q, want none", id, sess.Owner, sess.OwnerAddr)
		}
		if !sess.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("%s: CreatedAt %v, want %v", id, sess.CreatedAt, w.CreatedAt)
		}
	}
	// A new session has an owner; the old one is no replica's.
	sess := &store.Session{
		ID: "new", Kind: store.SessionSign, WalletID: w.ID, Parties: []string{"user-42", "server-b"},
		State: store.StateRunning, Digest: bytes.Repeat([]byte{8}, 32), Owner: "replica-1", OwnerAddr: "10.1.2.3:4000",
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if n, err := s.FailUnfinishedOwned(ctx, "replica-1", "restarted", time.Now()); err != nil || n != 1 {
		t.Errorf("FailUnfinishedOwned(replica-1) = %d, %v; want 1", n, err)
	}
	if n, err := s.FailUnfinishedOwned(ctx, "", "restarted", time.Now()); err != nil || n != 1 {
		t.Errorf("FailUnfinishedOwned(\"\") = %d, %v; want 1 (the session from before owners)", n, err)
	}
	if got, err := s.GetSession(ctx, "old-done"); err != nil || got.State != store.StateCompleted {
		t.Errorf("the completed session after FailUnfinishedOwned = %+v, %v", got, err)
	}
}

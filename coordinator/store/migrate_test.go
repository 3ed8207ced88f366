package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/hd"
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

	// The wallet from before chain codes is marked legacy by the
	// migration: its holders use the legacy rule.
	if cc, err := got.ChainCodeOrLegacy(); err != nil || got.ChainCodeUnknown || !bytes.Equal(cc, hd.LegacyChainCode(w.ID, w.PublicKey)) {
		t.Errorf("the wallet from before chain codes: chain code %x, unknown %v, %v; want the legacy rule's", cc, got.ChainCodeUnknown, err)
	}
	// A coordinator older than chain codes, still running beside a
	// migrated one, inserts a wallet without the column: its holders may
	// have recorded a chain code, so it must not read as legacy.
	const oldCode = "1c7d2e8f-4d3b-4a6f-8b2c-3d4e5f6a7b8c"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO wallets (id, name, user_id, signers_needed, public_key, address, created_at, owner_user)
			VALUES ($1, '', '', 2, $2, $3, $4, '')`, []any{oldCode, hex.EncodeToString(w.PublicKey), w.Address, created}},
		{`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, 0, 'server-a', 'server')`, []any{oldCode}},
	} {
		if err := exec(q.sql, q.args...); err != nil {
			t.Fatalf("an old coordinator's row: %v", err)
		}
	}
	old, err := s.GetWallet(ctx, oldCode)
	if err != nil {
		t.Fatal(err)
	}
	if cc, err := old.ChainCodeOrLegacy(); !old.ChainCodeUnknown || !errors.Is(err, store.ErrChainCodeUnknown) {
		t.Errorf("a wallet an old coordinator wrote after the migration: chain code %x, unknown %v, %v; want ErrChainCodeUnknown", cc, old.ChainCodeUnknown, err)
	}
}

package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
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

// testMigrateFromV5 brings an empty database to schema version 5 through
// exec, as the release before reshares left it, with wallets and sessions
// of every shape that release wrote; then open (which migrates) must keep
// every row as it was, put the wallets at epoch 0 with no reshare pending,
// and take reshare sessions. describe is the sessions table's columns,
// constraints and indexes by name, which the table's rebuild must leave
// as they were but for the wider kind CHECK.
func testMigrateFromV5(t *testing.T, exec func(q string, args ...any) error, describe func() map[string]string, open func() store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := store.MigrateTo(5, exec); err != nil {
		t.Fatalf("schema version 5: %v", err)
	}
	before := describe()

	w := testWallet()
	chain := bytes.Repeat([]byte{0xcc}, 32)
	w2 := &store.Wallet{
		ID: "7d1e9c2a-0f3b-4e6d-8a5c-9b8a7f6e5d4c", Name: "owned", SignersNeeded: 2,
		Holders:   []store.Holder{{PartyID: "server-a", Kind: store.HolderServer}, {PartyID: "client-9", Kind: store.HolderClient}},
		PublicKey: append([]byte{0x02}, bytes.Repeat([]byte{0x17}, 32)...), Address: "0x" + strings.Repeat("ab", 20),
		CreatedAt: w.CreatedAt.Add(time.Second), OwnerUser: "alice", ChainCode: chain,
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	created, finished := ms(w.CreatedAt), ms(w.CreatedAt.Add(time.Minute))
	digest := bytes.Repeat([]byte{9}, 32)
	signature := bytes.Repeat([]byte{7}, 64)
	sessions := []*store.Session{
		{ID: "kg-done", Kind: store.SessionKeygen, WalletID: w.ID, Parties: []string{"user-42", "server-b", "server-a"},
			State: store.StateCompleted, CreatedAt: at(created), FinishedAt: at(finished),
			Owner: "replica-0", OwnerAddr: "10.0.0.1:4000", OwnerUser: "alice"},
		{ID: "sg-run", Kind: store.SessionSign, WalletID: w2.ID, Parties: []string{"server-a", "client-9"},
			State: store.StateRunning, Digest: digest, CreatedAt: at(created + 1),
			Owner: "replica-1", OwnerAddr: "10.0.0.2:4000", Path: []uint32{0, 5}},
		{ID: "sg-failed", Kind: store.SessionSign, WalletID: w.ID, Parties: []string{"user-42", "server-a"},
			State: store.StateFailed, Reason: "party server-a sent a bad share", Culprits: []string{"server-a"},
			Digest: digest, CreatedAt: at(created + 2), FinishedAt: at(finished + 2)},
		{ID: "sg-done", Kind: store.SessionSign, WalletID: w.ID, Parties: []string{"server-b", "server-a"},
			State: store.StateCompleted, Digest: digest, Signature: signature, CreatedAt: at(created + 3), FinishedAt: at(finished + 3)},
		{ID: "kg-wait", Kind: store.SessionKeygen, WalletID: "future", Parties: []string{"server-a", "server-b"},
			State: store.StateWaiting, CreatedAt: at(created + 4)},
	}
	type row struct {
		sql  string
		args []any
	}
	rows := []row{
		{`INSERT INTO wallets (id, name, user_id, signers_needed, public_key, address, created_at, owner_user, chain_code)
			VALUES ($1, $2, $3, 2, $4, $5, $6, '', 'legacy')`, []any{w.ID, w.Name, w.UserID, hex.EncodeToString(w.PublicKey), w.Address, created}},
		{`INSERT INTO wallets (id, name, user_id, signers_needed, public_key, address, created_at, owner_user, chain_code)
			VALUES ($1, $2, '', 2, $3, $4, $5, 'alice', $6)`, []any{w2.ID, w2.Name, hex.EncodeToString(w2.PublicKey), w2.Address, ms(w2.CreatedAt), hex.EncodeToString(chain)}},
	}
	for _, wl := range []*store.Wallet{w, w2} {
		for i, h := range wl.Holders {
			rows = append(rows, row{`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, $2, $3, $4)`,
				[]any{wl.ID, i, h.PartyID, string(h.Kind)}})
		}
	}
	for _, s := range sessions {
		list := func(l []string) string {
			if l == nil {
				return "[]"
			}
			return `["` + strings.Join(l, `","`) + `"]`
		}
		path := ""
		if s.Path != nil {
			path = hd.Path(s.Path).String()
		}
		var fin any
		if !s.FinishedAt.IsZero() {
			fin = ms(s.FinishedAt)
		}
		rows = append(rows, row{`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature,
				created_at, finished_at, owner, owner_addr, owner_user, derivation_path)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			[]any{s.ID, string(s.Kind), s.WalletID, list(s.Parties), string(s.State), s.Reason, list(s.Culprits),
				hex.EncodeToString(s.Digest), hex.EncodeToString(s.Signature), ms(s.CreatedAt), fin, s.Owner, s.OwnerAddr, s.OwnerUser, path}})
	}
	for _, r := range rows {
		if err := exec(r.sql, r.args...); err != nil {
			t.Fatalf("a version 5 row: %v", err)
		}
	}
	// Version 5 knows no reshare session.
	if err := exec(`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at)
		VALUES ('early', 'reshare', 'w', '[]', 'waiting', '', '[]', '', '', 0)`); err == nil {
		t.Fatal("schema version 5 took a reshare session")
	}

	s := open()
	defer s.Close()

	// The rows are as they were; the wallets are at keygen's epoch.
	for _, want := range sessions {
		got, err := s.GetSession(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetSession(%s) after the migration: %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s after the migration:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	w.CreatedAt, w2.CreatedAt = at(created), at(ms(w2.CreatedAt))
	list, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("ListWallets after the migration = %d wallets, %v", len(list), err)
	}
	for i, want := range []*store.Wallet{w, w2} {
		got, err := s.GetWallet(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []*store.Wallet{got, list[i]} {
			if !reflect.DeepEqual(got, want) {
				t.Errorf("wallet %s after the migration:\n got %+v\nwant %+v", want.ID, got, want)
			}
		}
	}

	// The table is what it was, but for the kind CHECK; the copy is gone.
	after := describe()
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			t.Errorf("sessions lost %s (%s)", k, b)
		case strings.Contains(b, "'keygen'"): // the kind CHECK
			if !strings.Contains(a, "'reshare'") || strings.Contains(b, "'reshare'") || !strings.Contains(a, "'keygen'") || !strings.Contains(a, "'sign'") {
				t.Errorf("sessions %s: %s before, %s after; want reshare added to keygen and sign", k, b, a)
			}
		case a != b:
			t.Errorf("sessions %s: %s before, %s after", k, b, a)
		}
	}
	for k, a := range after {
		if _, ok := before[k]; !ok && k != "column code" && k != "column stored_acks" && k != "column reshare_run" { // migrations 8 and 9
			t.Errorf("sessions gained %s (%s)", k, a)
		}
	}
	if len(before) < 17 { // 15 columns, the kind and state CHECKs, ...
		t.Errorf("describe found too little to compare: %v", before)
	}
	if err := exec(`SELECT COUNT(*) FROM sessions_v5`); err == nil {
		t.Error("the migration left its copy of sessions behind")
	}

	// The constraints hold as before.
	if err := exec(`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at)
		VALUES ('x', 'refresh', 'w', '[]', 'waiting', '', '[]', '', '', 0)`); err == nil {
		t.Error("the rebuilt sessions took an unknown kind")
	}
	if err := exec(`INSERT INTO sessions (id, kind, wallet_id, parties, state, reason, culprits, digest, signature, created_at)
		VALUES ('x', 'reshare', 'w', '[]', 'paused', '', '[]', '', '', 0)`); err == nil {
		t.Error("the rebuilt sessions took an unknown state")
	}
	if err := s.CreateSession(ctx, &store.Session{ID: "sg-run", Kind: store.SessionKeygen, WalletID: "x", Parties: []string{"a", "b"},
		State: store.StateWaiting}); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSession(an id from before the migration) = %v, want ErrExists", err)
	}
	if n, err := s.FailUnfinishedOwned(ctx, "replica-1", "restarted", time.Now()); err != nil || n != 1 {
		t.Errorf("FailUnfinishedOwned(replica-1) = %d, %v; want 1 (sg-run)", n, err)
	}

	// Reshares work on a wallet from before them.
	rs := &store.Session{ID: "rs-1", Kind: store.SessionReshare, WalletID: w.ID, Parties: []string{"user-42", "server-a", "server-b"},
		State: store.StateRunning, Owner: "replica-2"}
	if err := s.CreateSession(ctx, rs); err != nil {
		t.Fatalf("CreateSession(reshare) after the migration: %v", err)
	}
	if got, err := s.GetSession(ctx, "rs-1"); err != nil || !reflect.DeepEqual(got, rs) {
		t.Errorf("the reshare session: got %+v, %v; want %+v", got, err, rs)
	}
	if err := s.BeginReshare(ctx, w.ID, 0, "rs-1", time.Now(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateEpoch(ctx, w.ID, "rs-1", 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetWallet(ctx, w.ID); err != nil || got.Epoch != 1 || got.EpochSession != "rs-1" || got.PendingSession != "" {
		t.Errorf("the wallet after its first reshare: %+v, %v", got, err)
	}
	// A coordinator of the previous release, still running beside this
	// one, writes wallets at epoch 0.
	const oldCode = "3f2e1d0c-4b5a-4968-8776-a5b4c3d2e1f0"
	if err := exec(`INSERT INTO wallets (id, name, user_id, signers_needed, public_key, address, created_at, owner_user, chain_code)
		VALUES ($1, '', '', 2, $2, $3, 0, '', 'legacy')`, oldCode, hex.EncodeToString(w.PublicKey), w.Address); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO wallet_holders (wallet_id, position, party_id, kind) VALUES ($1, 0, 'server-a', 'server')`, oldCode); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetWallet(ctx, oldCode); err != nil || got.Epoch != 0 || got.PendingSession != "" || got.PendingEpoch != 0 {
		t.Errorf("a wallet an old coordinator wrote after the migration: %+v, %v", got, err)
	}
}

// Package storetest is the conformance suite for store.Store backends. A
// backend's test calls Run with a function that opens a fresh, empty store:
//
//	func TestSQLite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := store.OpenSQLite(filepath.Join(t.TempDir(), "db.sqlite"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// open is called once per subtest, from that subtest; Run closes the store
// when the subtest ends (Close must therefore tolerate a second call), so
// open need not register any cleanup of its own for the store.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
)

// Run runs every conformance subtest against stores made by open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGetWallet", testCreateGetWallet},
		{"CreateWalletSetsCreatedAt", testCreateWalletSetsCreatedAt},
		{"WalletExists", testWalletExists},
		{"UserUnique", testUserUnique},
		{"WalletByUser", testWalletByUser},
		{"WalletNotFound", testWalletNotFound},
		{"HolderOrder", testHolderOrder},
		{"WalletValidation", testWalletValidation},
		{"ListWalletsPages", testListWalletsPages},
		{"ListWalletsLimits", testListWalletsLimits},
		{"TimestampRoundTrip", testTimestampRoundTrip},
		{"CreateGetSession", testCreateGetSession},
		{"SessionExists", testSessionExists},
		{"SessionNotFound", testSessionNotFound},
		{"UpdateSession", testUpdateSession},
		{"SessionValidation", testSessionValidation},
		{"FailUnfinished", testFailUnfinished},
		{"SessionOwner", testSessionOwner},
		{"OwnerUser", testOwnerUser},
		{"ChainCodeAndPath", testChainCodeAndPath},
		{"FailUnfinishedOwned", testFailUnfinishedOwned},
		{"FailStale", testFailStale},
		{"WalletEpoch", testWalletEpoch},
		{"Reshare", testReshare},
		{"ReshareCommittee", testReshareCommittee},
		{"RecoveryPolicy", testRecoveryPolicy},
		{"ReshareRefusals", testReshareRefusals},
		{"ReshareStaleClaim", testReshareStaleClaim},
		{"ReshareFailedClaim", testReshareFailedClaim},
		{"ReshareValidation", testReshareValidation},
		{"ReshareSession", testReshareSession},
		{"ActivateRecordsSession", testActivateRecordsSession},
		{"ConcurrentBeginReshare", testConcurrentBeginReshare},
		{"ConcurrentCreateWallet", testConcurrentCreateWallet},
		{"ContextCanceled", testContextCanceled},
		{"PingClose", testPingClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// base is a fixed, millisecond-aligned UTC time the tests count from.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// pubKey is a syntactically valid compressed key derived from seed.
func pubKey(seed string) []byte {
	h := sha256.Sum256([]byte(seed))
	return append([]byte{0x02 + h[0]&1}, h[:]...)
}

func address(seed string) string {
	h := sha256.Sum256([]byte("addr:" + seed))
	return "0x" + hex.EncodeToString(h[:20])
}

// wallet is a valid 2-of-3 wallet.
func wallet(id, user string, created time.Time) *store.Wallet {
	return &store.Wallet{
		ID:            id,
		Name:          "wallet " + id,
		UserID:        user,
		SignersNeeded: 2,
		Holders: []store.Holder{
			{PartyID: "server-1", Kind: store.HolderServer},
			{PartyID: "client-" + id, Kind: store.HolderClient},
			{PartyID: "user-" + id, Kind: store.HolderUser},
		},
		PublicKey: pubKey(id),
		Address:   address(id),
		CreatedAt: created,
	}
}

func clone(w *store.Wallet) *store.Wallet {
	c := *w
	c.Holders = slices.Clone(w.Holders)
	c.PublicKey = bytes.Clone(w.PublicKey)
	return &c
}

func mustCreate(t *testing.T, s store.Store, w *store.Wallet) {
	t.Helper()
	if err := s.CreateWallet(ctx, w); err != nil {
		t.Fatalf("CreateWallet(%q): %v", w.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) *store.Wallet {
	t.Helper()
	w, err := s.GetWallet(ctx, id)
	if err != nil {
		t.Fatalf("GetWallet(%q): %v", id, err)
	}
	return w
}

// walletDiff describes how got differs from want ("" when equal).
func walletDiff(got, want *store.Wallet) string {
	if got == nil || want == nil {
		if got == want {
			return ""
		}
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Name != want.Name {
		add("Name", got.Name, want.Name)
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID, want.UserID)
	}
	if got.OwnerUser != want.OwnerUser {
		add("OwnerUser", got.OwnerUser, want.OwnerUser)
	}
	if !bytes.Equal(got.ChainCode, want.ChainCode) {
		add("ChainCode", hex.EncodeToString(got.ChainCode), hex.EncodeToString(want.ChainCode))
	}
	if got.SignersNeeded != want.SignersNeeded {
		add("SignersNeeded", got.SignersNeeded, want.SignersNeeded)
	}
	if !slices.Equal(got.Holders, want.Holders) {
		add("Holders", got.Holders, want.Holders)
	}
	if !bytes.Equal(got.PublicKey, want.PublicKey) {
		add("PublicKey", hex.EncodeToString(got.PublicKey), hex.EncodeToString(want.PublicKey))
	}
	if got.Address != want.Address {
		add("Address", got.Address, want.Address)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if got.CreatedAt.Location() != time.UTC {
		add("CreatedAt.Location", got.CreatedAt.Location(), time.UTC)
	}
	if got.Epoch != want.Epoch || got.EpochSession != want.EpochSession {
		add("Epoch", fmt.Sprintf("%d (%q)", got.Epoch, got.EpochSession), fmt.Sprintf("%d (%q)", want.Epoch, want.EpochSession))
	}
	if got.PendingEpoch != want.PendingEpoch || got.PendingSession != want.PendingSession {
		add("Pending", fmt.Sprintf("%d (%q)", got.PendingEpoch, got.PendingSession), fmt.Sprintf("%d (%q)", want.PendingEpoch, want.PendingSession))
	}
	return strings.Join(d, "; ")
}

func ids(ws []*store.Wallet) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func testCreateGetWallet(t *testing.T, s store.Store) {
	w := wallet("5b0e8a8e-8d1c-4c52-9d53-1f7a9d9f0a01", "user-1", base)
	want := clone(w)
	mustCreate(t, s, w)
	if d := walletDiff(w, want); d != "" {
		t.Errorf("CreateWallet changed an aligned wallet: %s", d)
	}
	got := mustGet(t, s, w.ID)
	if d := walletDiff(got, want); d != "" {
		t.Errorf("GetWallet: %s", d)
	}
	// The result is the caller's to change.
	got.Holders[0].PartyID = "changed"
	got.PublicKey[1] ^= 0xff
	if d := walletDiff(mustGet(t, s, w.ID), want); d != "" {
		t.Errorf("GetWallet after changing an earlier result: %s", d)
	}
	// A wallet without a user and with an empty name.
	w2 := wallet("w2", "", base.Add(time.Second))
	w2.Name = ""
	want2 := clone(w2)
	mustCreate(t, s, w2)
	if d := walletDiff(mustGet(t, s, "w2"), want2); d != "" {
		t.Errorf("GetWallet(w2): %s", d)
	}
}

func testCreateWalletSetsCreatedAt(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Millisecond)
	w := wallet("w", "", time.Time{})
	mustCreate(t, s, w)
	after := time.Now().Add(time.Millisecond)
	if w.CreatedAt.Before(before) || w.CreatedAt.After(after) {
		t.Fatalf("CreatedAt = %v, want between %v and %v", w.CreatedAt, before, after)
	}
	if w.CreatedAt.Location() != time.UTC || !w.CreatedAt.Equal(w.CreatedAt.Truncate(time.Millisecond)) {
		t.Errorf("CreatedAt = %v, want UTC, whole milliseconds", w.CreatedAt)
	}
	if got := mustGet(t, s, "w"); !got.CreatedAt.Equal(w.CreatedAt) {
		t.Errorf("stored CreatedAt = %v, CreateWallet reported %v", got.CreatedAt, w.CreatedAt)
	}
}

func testWalletExists(t *testing.T, s store.Store) {
	w := wallet("w", "u1", base)
	want := clone(w)
	mustCreate(t, s, w)
	dup := wallet("w", "u2", base.Add(time.Hour))
	dup.Holders = []store.Holder{{PartyID: "a", Kind: store.HolderServer}, {PartyID: "b", Kind: store.HolderUser}}
	if err := s.CreateWallet(ctx, dup); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateWallet(duplicate id) = %v, want ErrExists", err)
	}
	if d := walletDiff(mustGet(t, s, "w"), want); d != "" {
		t.Errorf("the refused duplicate changed the wallet: %s", d)
	}
	// The refused wallet's user id stays free.
	mustCreate(t, s, wallet("w3", "u2", base))
}

func testUserUnique(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w1", "alice", base))
	err := s.CreateWallet(ctx, wallet("w2", "alice", base))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateWallet(second wallet of alice) = %v, want ErrExists", err)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		t.Errorf("error %v matches more than ErrExists", err)
	}
	if _, err := s.GetWallet(ctx, "w2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetWallet(refused w2) = %v, want ErrNotFound (nothing half-written)", err)
	}
	// The refused wallet's holders left nothing behind either: the same
	// id can be created for another user.
	mustCreate(t, s, wallet("w2", "bob", base))
	// Any number of wallets may have no user id.
	for i := range 3 {
		mustCreate(t, s, wallet(fmt.Sprintf("nouser-%d", i), "", base))
	}
	// User ids are compared exactly.
	mustCreate(t, s, wallet("w4", "Alice", base))
	mustCreate(t, s, wallet("w5", "alice ", base))
}

func testWalletByUser(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("anon", "", base))
	w := wallet("w1", "alice", base)
	want := clone(w)
	mustCreate(t, s, w)
	mustCreate(t, s, wallet("w2", "bob", base))
	got, err := s.WalletByUser(ctx, "alice")
	if err != nil {
		t.Fatalf("WalletByUser(alice): %v", err)
	}
	if d := walletDiff(got, want); d != "" {
		t.Errorf("WalletByUser(alice): %s", d)
	}
	for _, u := range []string{"carol", "", "ALICE"} {
		if w, err := s.WalletByUser(ctx, u); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("WalletByUser(%q) = %v, %v; want ErrNotFound", u, w, err)
		}
	}
}

func testWalletNotFound(t *testing.T, s store.Store) {
	for _, id := range []string{"nope", ""} {
		if w, err := s.GetWallet(ctx, id); !errors.Is(err, store.ErrNotFound) || w != nil {
			t.Errorf("GetWallet(%q) on an empty store = %v, %v; want nil, ErrNotFound", id, w, err)
		}
	}
	mustCreate(t, s, wallet("w", "", base))
	if _, err := s.GetWallet(ctx, "W"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetWallet(W) = %v, want ErrNotFound (ids are case-sensitive)", err)
	}
}

func testHolderOrder(t *testing.T, s store.Store) {
	// Not sorted by any key: the order is the caller's and must survive.
	kinds := []store.HolderKind{store.HolderUser, store.HolderServer, store.HolderClient}
	var holders []store.Holder
	for i := range store.MaxHolders {
		holders = append(holders, store.Holder{
			PartyID: fmt.Sprintf("p-%02d", (i*7+5)%store.MaxHolders),
			Kind:    kinds[i%len(kinds)],
		})
	}
	w := wallet("big", "", base)
	w.Holders, w.SignersNeeded = holders, 11
	want := clone(w)
	mustCreate(t, s, w)

	w2 := wallet("small", "", base)
	w2.Holders = []store.Holder{{PartyID: "z", Kind: store.HolderUser}, {PartyID: "a", Kind: store.HolderServer}}
	want2 := clone(w2)
	mustCreate(t, s, w2)

	for _, want := range []*store.Wallet{want, want2} {
		if d := walletDiff(mustGet(t, s, want.ID), want); d != "" {
			t.Errorf("GetWallet(%s): %s", want.ID, d)
		}
	}
	list, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListWallets: %v, want 2 wallets", ids(list))
	}
	for _, got := range list {
		w := want
		if got.ID == want2.ID {
			w = want2
		}
		if d := walletDiff(got, w); d != "" {
			t.Errorf("ListWallets, %s: %s", got.ID, d)
		}
	}
}

func testWalletValidation(t *testing.T, s store.Store) {
	holders := func(n int) []store.Holder {
		var hs []store.Holder
		for i := range n {
			hs = append(hs, store.Holder{PartyID: fmt.Sprintf("p%d", i), Kind: store.HolderServer})
		}
		return hs
	}
	cases := []struct {
		name   string
		change func(w *store.Wallet)
	}{
		{"empty id", func(w *store.Wallet) { w.ID = "" }},
		{"long id", func(w *store.Wallet) { w.ID = strings.Repeat("x", 1000) }},
		{"no holders", func(w *store.Wallet) { w.Holders = nil }},
		{"one holder", func(w *store.Wallet) { w.Holders = holders(1); w.SignersNeeded = 1 }},
		{"17 holders", func(w *store.Wallet) { w.Holders = holders(17) }},
		{"duplicate holder", func(w *store.Wallet) { w.Holders[2].PartyID = w.Holders[0].PartyID }},
		{"empty party id", func(w *store.Wallet) { w.Holders[1].PartyID = "" }},
		{"unknown holder kind", func(w *store.Wallet) { w.Holders[1].Kind = "robot" }},
		{"empty holder kind", func(w *store.Wallet) { w.Holders[1].Kind = "" }},
		{"signers 0", func(w *store.Wallet) { w.SignersNeeded = 0 }},
		{"signers 1", func(w *store.Wallet) { w.SignersNeeded = 1 }},
		{"signers > holders", func(w *store.Wallet) { w.SignersNeeded = 4 }},
		{"no public key", func(w *store.Wallet) { w.PublicKey = nil }},
		{"32-byte key", func(w *store.Wallet) { w.PublicKey = w.PublicKey[:32] }},
		{"65-byte key", func(w *store.Wallet) { w.PublicKey = append([]byte{4}, make([]byte, 64)...) }},
		{"33 bytes, not compressed", func(w *store.Wallet) { w.PublicKey[0] = 0x04 }},
		{"no address", func(w *store.Wallet) { w.Address = "" }},
		{"short address", func(w *store.Wallet) { w.Address = w.Address[:41] }},
		{"address without 0x", func(w *store.Wallet) { w.Address = "00" + w.Address[2:] }},
		{"address not hex", func(w *store.Wallet) { w.Address = w.Address[:41] + "g" }},
	}
	for _, c := range cases {
		w := wallet("w", "u", base)
		c.change(w)
		if err := s.CreateWallet(ctx, w); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateWallet = %v, want ErrInvalid", c.name, err)
		}
	}
	if err := s.CreateWallet(ctx, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateWallet(nil) = %v, want ErrInvalid", err)
	}
	if list, err := s.ListWallets(ctx, store.WalletFilter{}); err != nil || len(list) != 0 {
		t.Errorf("after refused wallets, ListWallets = %v, %v; want none", ids(list), err)
	}
	// The edges that are valid.
	ok := wallet("n-of-n", "u", base)
	ok.Holders, ok.SignersNeeded = holders(2), 2
	ok.PublicKey[0] = 0x03
	ok.Address = "0xAbCdEf" + ok.Address[8:]
	mustCreate(t, s, ok)
	ok16 := wallet("16", "", base)
	ok16.Holders, ok16.SignersNeeded = holders(16), 16
	mustCreate(t, s, ok16)
}

func testListWalletsPages(t *testing.T, s store.Store) {
	if list, err := s.ListWallets(ctx, store.WalletFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("ListWallets on an empty store = %v, %v; want none", ids(list), err)
	}
	// Inserted out of order; c, a and e share a timestamp, so id breaks the tie.
	type spec struct {
		id, user string
		at       time.Duration
	}
	specs := []spec{
		{"d", "", 3 * time.Second}, {"c", "u-c", time.Second}, {"f", "", 4 * time.Second},
		{"a", "", time.Second}, {"b", "u-b", 0}, {"e", "", time.Second}, {"g", "", -time.Hour},
	}
	for _, sp := range specs {
		mustCreate(t, s, wallet(sp.id, sp.user, base.Add(sp.at)))
	}
	want := []string{"g", "b", "a", "c", "e", "d", "f"}

	all, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); !slices.Equal(got, want) {
		t.Fatalf("ListWallets = %v, want %v", got, want)
	}
	for _, w := range all {
		if len(w.Holders) != 3 {
			t.Errorf("ListWallets: %s has %d holders, want 3", w.ID, len(w.Holders))
		}
	}
	for limit := 1; limit <= len(want)+1; limit++ {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("limit %d: paging does not end: %v", limit, got)
			}
			page, err := s.ListWallets(ctx, store.WalletFilter{Limit: limit, After: after})
			if err != nil {
				t.Fatalf("limit %d, after %q: %v", limit, after, err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d, after %q: %d wallets", limit, after, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("paging with limit %d: %v, want %v", limit, got, want)
		}
	}
	// After the last wallet: nothing.
	if page, err := s.ListWallets(ctx, store.WalletFilter{After: "f"}); err != nil || len(page) != 0 {
		t.Errorf("ListWallets(after last) = %v, %v; want none", ids(page), err)
	}
	// Filter by user.
	page, err := s.ListWallets(ctx, store.WalletFilter{UserID: "u-c"})
	if err != nil || !slices.Equal(ids(page), []string{"c"}) {
		t.Errorf("ListWallets(user u-c) = %v, %v; want [c]", ids(page), err)
	}
	page, err = s.ListWallets(ctx, store.WalletFilter{UserID: "u-c", After: "b"})
	if err != nil || !slices.Equal(ids(page), []string{"c"}) {
		t.Errorf("ListWallets(user u-c, after b) = %v, %v; want [c]", ids(page), err)
	}
	page, err = s.ListWallets(ctx, store.WalletFilter{UserID: "u-c", After: "c"})
	if err != nil || len(page) != 0 {
		t.Errorf("ListWallets(user u-c, after c) = %v, %v; want none", ids(page), err)
	}
	page, err = s.ListWallets(ctx, store.WalletFilter{UserID: "nobody"})
	if err != nil || len(page) != 0 {
		t.Errorf("ListWallets(user nobody) = %v, %v; want none", ids(page), err)
	}
	// A cursor that names no wallet.
	if page, err := s.ListWallets(ctx, store.WalletFilter{After: "zzz"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ListWallets(after unknown) = %v, %v; want ErrNotFound", ids(page), err)
	}
	if _, err := s.ListWallets(ctx, store.WalletFilter{Limit: -1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ListWallets(limit -1) = %v, want ErrInvalid", err)
	}
}

func testListWalletsLimits(t *testing.T, s store.Store) {
	n := store.DefaultLimit + 5
	var want []string
	for i := range n {
		id := fmt.Sprintf("w-%04d", i)
		// Ten wallets per millisecond: the id orders within one.
		mustCreate(t, s, wallet(id, "", base.Add(time.Duration(i/10)*time.Millisecond)))
		want = append(want, id)
	}
	page, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page); !slices.Equal(got, want[:store.DefaultLimit]) {
		t.Errorf("ListWallets(limit 0) returned %d wallets %v..., want the first %d", len(got), got[:min(3, len(got))], store.DefaultLimit)
	}
	page, err = s.ListWallets(ctx, store.WalletFilter{After: page[len(page)-1].ID})
	if err != nil || !slices.Equal(ids(page), want[store.DefaultLimit:]) {
		t.Errorf("second default page = %v, %v; want %v", ids(page), err, want[store.DefaultLimit:])
	}
	page, err = s.ListWallets(ctx, store.WalletFilter{Limit: store.MaxLimit * 10})
	if err != nil || !slices.Equal(ids(page), want) {
		t.Errorf("ListWallets(limit %d) = %d wallets, %v; want all %d", store.MaxLimit*10, len(page), err, n)
	}
}

func testTimestampRoundTrip(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	times := []time.Time{
		time.Date(2025, 6, 1, 12, 0, 0, 123_456_789, zone),
		time.Date(2025, 6, 1, 12, 0, 0, 999_999_999, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 1_000_000, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 7_000_000, time.UTC),
		time.Date(1969, 7, 20, 20, 17, 40, 500_600_700, time.UTC), // before the epoch
		time.Now(), // with a monotonic reading
	}
	for i, at := range times {
		want := at.Truncate(time.Millisecond)
		id := fmt.Sprintf("w%d", i)
		w := wallet(id, "", at)
		mustCreate(t, s, w)
		if !w.CreatedAt.Equal(want) || w.CreatedAt.Location() != time.UTC {
			t.Errorf("%v: CreateWallet set CreatedAt to %v, want %v in UTC", at, w.CreatedAt, want)
		}
		got := mustGet(t, s, id)
		if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("%v: wallet read back as %v, want %v in UTC", at, got.CreatedAt, want.UTC())
		}

		sess := keygen(fmt.Sprintf("s%d", i), id)
		sess.CreatedAt = at
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		sess.State, sess.FinishedAt = store.StateCompleted, at.Add(1500*time.Microsecond)
		if err := s.UpdateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		gs, err := s.GetSession(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantFin := at.Add(1500 * time.Microsecond).Truncate(time.Millisecond)
		if !gs.CreatedAt.Equal(want) || gs.CreatedAt.Location() != time.UTC {
			t.Errorf("%v: session CreatedAt read back as %v, want %v in UTC", at, gs.CreatedAt, want)
		}
		if !gs.FinishedAt.Equal(wantFin) || gs.FinishedAt.Location() != time.UTC {
			t.Errorf("%v: session FinishedAt read back as %v, want %v in UTC", at, gs.FinishedAt, wantFin)
		}
		if !sess.CreatedAt.Equal(want) || !sess.FinishedAt.Equal(wantFin) {
			t.Errorf("%v: the session struct holds %v / %v, want what was stored: %v / %v",
				at, sess.CreatedAt, sess.FinishedAt, want, wantFin)
		}
	}
}

func keygen(id, walletID string) *store.Session {
	return &store.Session{
		ID:        id,
		Kind:      store.SessionKeygen,
		WalletID:  walletID,
		Parties:   []string{"server-1", "client-" + walletID, "user-" + walletID},
		State:     store.StateWaiting,
		CreatedAt: base,
	}
}

func sign(id, walletID string) *store.Session {
	d := sha256.Sum256([]byte(id))
	return &store.Session{
		ID:        id,
		Kind:      store.SessionSign,
		WalletID:  walletID,
		Parties:   []string{"user-" + walletID, "server-1"},
		State:     store.StateRunning,
		Digest:    d[:],
		CreatedAt: base.Add(time.Minute),
	}
}

func cloneSession(s *store.Session) *store.Session {
	c := *s
	c.Parties = slices.Clone(s.Parties)
	c.Culprits = slices.Clone(s.Culprits)
	c.Digest = bytes.Clone(s.Digest)
	c.Signature = bytes.Clone(s.Signature)
	c.Path = slices.Clone(s.Path)
	c.StoredAcks = maps.Clone(s.StoredAcks)
	if s.Run != nil {
		r := *s.Run
		r.Identities, r.Acks = maps.Clone(s.Run.Identities), maps.Clone(s.Run.Acks)
		if s.Run.Committee != nil {
			r.Committee = &store.Committee{SignersNeeded: s.Run.Committee.SignersNeeded, Holders: slices.Clone(s.Run.Committee.Holders)}
		}
		c.Run = &r
	}
	return &c
}

// A wallet's chain code (recorded or none: the legacy rule) and a
// signing's derivation path round-trip; bad ones are refused.
func testChainCodeAndPath(t *testing.T, s store.Store) {
	w := wallet("w-cc", "", base)
	cc := sha256.Sum256([]byte("chain code"))
	w.ChainCode = cc[:]
	mustCreate(t, s, w)
	if d := walletDiff(mustGet(t, s, w.ID), w); d != "" {
		t.Errorf("wallet with a chain code: %s", d)
	}
	legacy := wallet("w-legacy", "", base)
	mustCreate(t, s, legacy)
	got := mustGet(t, s, legacy.ID)
	if cc, err := got.ChainCodeOrLegacy(); len(got.ChainCode) != 0 || got.ChainCodeUnknown || err != nil || !bytes.Equal(cc, hd.LegacyChainCode(legacy.ID, legacy.PublicKey)) {
		t.Errorf("wallet without a chain code: %x (unknown %v) / %x, %v", got.ChainCode, got.ChainCodeUnknown, cc, err)
	}
	short := wallet("w-short", "", base)
	short.ChainCode = cc[:31]
	if err := s.CreateWallet(ctx, short); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a 31-byte chain code: %v", err)
	}
	sess := sign("sign-path", w.ID)
	sess.Path = []uint32{0, 5, 2147483647}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if d := sessionDiff(mustGetSession(t, s, sess.ID), sess); d != "" {
		t.Errorf("session with a path: %s", d)
	}
	for _, bad := range [][]uint32{{hd.Hardened}, make([]uint32, 256)} {
		b := sign("sign-bad-path", w.ID)
		b.Path = bad
		if err := s.CreateSession(ctx, b); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("path %v: %v", len(bad), err)
		}
	}
	kg := sign("kg-path", w.ID)
	kg.Kind, kg.Digest, kg.Path = store.SessionKeygen, nil, []uint32{1}
	if err := s.CreateSession(ctx, kg); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a keygen with a path: %v", err)
	}
}

// sessionDiff describes how got differs from want ("" when equal); nil
// and empty slices are equal.
func sessionDiff(got, want *store.Session) string {
	if got == nil || want == nil {
		if got == want {
			return ""
		}
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Kind != want.Kind {
		add("Kind", got.Kind, want.Kind)
	}
	if got.WalletID != want.WalletID {
		add("WalletID", got.WalletID, want.WalletID)
	}
	if !slices.Equal(got.Parties, want.Parties) {
		add("Parties", got.Parties, want.Parties)
	}
	if got.State != want.State {
		add("State", got.State, want.State)
	}
	if got.Reason != want.Reason {
		add("Reason", got.Reason, want.Reason)
	}
	if !slices.Equal(got.Culprits, want.Culprits) {
		add("Culprits", got.Culprits, want.Culprits)
	}
	if !bytes.Equal(got.Digest, want.Digest) {
		add("Digest", hex.EncodeToString(got.Digest), hex.EncodeToString(want.Digest))
	}
	if !bytes.Equal(got.Signature, want.Signature) {
		add("Signature", hex.EncodeToString(got.Signature), hex.EncodeToString(want.Signature))
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if !got.FinishedAt.Equal(want.FinishedAt) {
		add("FinishedAt", got.FinishedAt, want.FinishedAt)
	}
	if got.Owner != want.Owner {
		add("Owner", got.Owner, want.Owner)
	}
	if got.OwnerUser != want.OwnerUser {
		add("OwnerUser", got.OwnerUser, want.OwnerUser)
	}
	if got.OwnerAddr != want.OwnerAddr {
		add("OwnerAddr", got.OwnerAddr, want.OwnerAddr)
	}
	if !slices.Equal(got.Path, want.Path) {
		add("Path", got.Path, want.Path)
	}
	if got.Code != want.Code {
		add("Code", got.Code, want.Code)
	}
	if !maps.EqualFunc(got.StoredAcks, want.StoredAcks, bytes.Equal) {
		add("StoredAcks", got.StoredAcks, want.StoredAcks)
	}
	if (got.Run == nil) != (want.Run == nil) || got.Run != nil && (got.Run.Epoch != want.Run.Epoch ||
		!maps.EqualFunc(got.Run.Identities, want.Run.Identities, bytes.Equal) || !maps.EqualFunc(got.Run.Acks, want.Run.Acks, bytes.Equal) ||
		(got.Run.Committee == nil) != (want.Run.Committee == nil) ||
		got.Run.Committee != nil && (got.Run.Committee.SignersNeeded != want.Run.Committee.SignersNeeded || !slices.Equal(got.Run.Committee.Holders, want.Run.Committee.Holders))) {
		add("Run", got.Run, want.Run)
	}
	return strings.Join(d, "; ")
}

func mustGetSession(t *testing.T, s store.Store, id string) *store.Session {
	t.Helper()
	sess, err := s.GetSession(ctx, id)
	if err != nil {
		t.Fatalf("GetSession(%q): %v", id, err)
	}
	return sess
}

func testCreateGetSession(t *testing.T, s store.Store) {
	// A keygen names a wallet that does not exist yet.
	kg := keygen("kg-1", "future-wallet")
	sg := sign("sg-1", "w")
	for _, sess := range []*store.Session{kg, sg} {
		want := cloneSession(sess)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession(%s): %v", sess.ID, err)
		}
		got := mustGetSession(t, s, sess.ID)
		if d := sessionDiff(got, want); d != "" {
			t.Errorf("GetSession(%s): %s", sess.ID, d)
		}
		if !got.FinishedAt.IsZero() {
			t.Errorf("GetSession(%s): FinishedAt = %v, want zero", sess.ID, got.FinishedAt)
		}
		if len(got.Culprits) != 0 || len(got.Signature) != 0 || got.Reason != "" {
			t.Errorf("GetSession(%s): culprits %v, signature %x, reason %q; want none", sess.ID, got.Culprits, got.Signature, got.Reason)
		}
	}
	if got := mustGetSession(t, s, "kg-1"); len(got.Digest) != 0 {
		t.Errorf("keygen digest = %x, want none", got.Digest)
	}
	// CreatedAt defaults to now.
	before := time.Now().Add(-time.Millisecond)
	sess := sign("sg-2", "w")
	sess.CreatedAt = time.Time{}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	got := mustGetSession(t, s, "sg-2")
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Millisecond)) || !got.CreatedAt.Equal(sess.CreatedAt) {
		t.Errorf("CreatedAt = %v (struct %v), want about now", got.CreatedAt, sess.CreatedAt)
	}
}

func testSessionExists(t *testing.T, s store.Store) {
	sess := keygen("s", "w")
	want := cloneSession(sess)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sign("s", "other")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateSession(duplicate) = %v, want ErrExists", err)
	}
	if d := sessionDiff(mustGetSession(t, s, "s"), want); d != "" {
		t.Errorf("the refused duplicate changed the session: %s", d)
	}
	// Sessions and wallets are separate name spaces, and many sessions may
	// name one wallet.
	mustCreate(t, s, wallet("s", "", base))
	for i := range 3 {
		if err := s.CreateSession(ctx, sign(fmt.Sprintf("sign-%d", i), "s")); err != nil {
			t.Fatal(err)
		}
	}
}

func testSessionNotFound(t *testing.T, s store.Store) {
	if sess, err := s.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) || sess != nil {
		t.Errorf("GetSession(nope) = %v, %v; want nil, ErrNotFound", sess, err)
	}
	upd := sign("nope", "w")
	upd.State = store.StateFailed
	if err := s.UpdateSession(ctx, upd); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSession(nope) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateSession(nope) created it: GetSession = %v", err)
	}
}

func testUpdateSession(t *testing.T, s store.Store) {
	sess := sign("s", "w")
	sess.State = store.StateWaiting
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	want := cloneSession(sess)

	// waiting -> running: FinishedAt stays zero.
	upd := cloneSession(sess)
	upd.State = store.StateRunning
	if err := s.UpdateSession(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want.State = store.StateRunning
	if d := sessionDiff(mustGetSession(t, s, "s"), want); d != "" {
		t.Errorf("after running: %s", d)
	}

	// running -> completed with a signature; FinishedAt given.
	upd = cloneSession(want)
	upd.State = store.StateCompleted
	upd.Signature = bytes.Repeat([]byte{0xab}, 64)
	upd.FinishedAt = base.Add(2 * time.Minute)
	// The fixed fields are not written by UpdateSession.
	upd.Kind, upd.WalletID, upd.Parties = store.SessionKeygen, "other", []string{"x", "y"}
	upd.Digest, upd.CreatedAt = nil, base.Add(time.Hour)
	if err := s.UpdateSession(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want.State, want.Signature, want.FinishedAt = store.StateCompleted, upd.Signature, base.Add(2*time.Minute)
	if d := sessionDiff(mustGetSession(t, s, "s"), want); d != "" {
		t.Errorf("after completed: %s", d)
	}

	// A failure with culprits; FinishedAt zero becomes now.
	kg := keygen("kg", "w2")
	kg.State = store.StateRunning
	if err := s.CreateSession(ctx, kg); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Millisecond)
	fail := cloneSession(kg)
	fail.State, fail.Reason, fail.Culprits = store.StateFailed, "party user-w2 sent a bad share", []string{"user-w2"}
	if err := s.UpdateSession(ctx, fail); err != nil {
		t.Fatal(err)
	}
	got := mustGetSession(t, s, "kg")
	if got.FinishedAt.Before(before) || got.FinishedAt.After(time.Now().Add(time.Millisecond)) {
		t.Errorf("FinishedAt = %v, want about now", got.FinishedAt)
	}
	if !got.FinishedAt.Equal(fail.FinishedAt) {
		t.Errorf("stored FinishedAt %v, UpdateSession reported %v", got.FinishedAt, fail.FinishedAt)
	}
	wantKG := cloneSession(kg)
	wantKG.State, wantKG.Reason, wantKG.Culprits, wantKG.FinishedAt = store.StateFailed, fail.Reason, fail.Culprits, got.FinishedAt
	if d := sessionDiff(got, wantKG); d != "" {
		t.Errorf("after failed: %s", d)
	}

	// Culprits can be cleared again, and reasons may hold any text.
	fail.Culprits, fail.Reason = nil, "it's \"quoted\", has ; and -- and unicode ✓\nnewline"
	if err := s.UpdateSession(ctx, fail); err != nil {
		t.Fatal(err)
	}
	got = mustGetSession(t, s, "kg")
	if len(got.Culprits) != 0 || got.Reason != fail.Reason {
		t.Errorf("after clearing culprits: culprits %v, reason %q", got.Culprits, got.Reason)
	}

	// Invalid updates change nothing.
	for name, change := range map[string]func(*store.Session){
		"unknown state":      func(s *store.Session) { s.State = "done" },
		"63-byte signature":  func(s *store.Session) { s.Signature = make([]byte, 63) },
		"duplicate culprits": func(s *store.Session) { s.Culprits = []string{"a", "a"} },
		"empty id":           func(s *store.Session) { s.ID = "" },
	} {
		bad := cloneSession(want)
		change(bad)
		if err := s.UpdateSession(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpdateSession(%s) = %v, want ErrInvalid", name, err)
		}
	}
	if err := s.UpdateSession(ctx, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpdateSession(nil) = %v, want ErrInvalid", err)
	}
	if d := sessionDiff(mustGetSession(t, s, "s"), want); d != "" {
		t.Errorf("after refused updates: %s", d)
	}
}

func testSessionValidation(t *testing.T, s store.Store) {
	sign := func(id string) *store.Session { return sign(id, "w") }
	cases := []struct {
		name   string
		mk     func(id string) *store.Session
		change func(s *store.Session)
	}{
		{"empty id", sign, func(s *store.Session) { s.ID = "" }},
		{"long id", sign, func(s *store.Session) { s.ID = strings.Repeat("s", 1000) }},
		{"unknown kind", sign, func(s *store.Session) { s.Kind = "refresh" }},
		{"unknown state", sign, func(s *store.Session) { s.State = "" }},
		{"no wallet", sign, func(s *store.Session) { s.WalletID = "" }},
		{"one party", sign, func(s *store.Session) { s.Parties = s.Parties[:1] }},
		{"duplicate party", sign, func(s *store.Session) { s.Parties[1] = s.Parties[0] }},
		{"empty party", sign, func(s *store.Session) { s.Parties[1] = "" }},
		{"sign without digest", sign, func(s *store.Session) { s.Digest = nil }},
		{"sign with 31-byte digest", sign, func(s *store.Session) { s.Digest = s.Digest[:31] }},
		{"keygen with digest", kg, func(s *store.Session) { s.Digest = make([]byte, 32) }},
		{"keygen with signature", kg, func(s *store.Session) { s.Signature = make([]byte, 64) }},
		{"short signature", sign, func(s *store.Session) { s.Signature = make([]byte, 32) }},
		{"long owner", sign, func(s *store.Session) { s.Owner = strings.Repeat("o", store.MaxIDLen+1) }},
		{"long owner address", kg, func(s *store.Session) { s.OwnerAddr = strings.Repeat("a", store.MaxAddrLen+1) }},
	}
	for _, c := range cases {
		sess := c.mk("s")
		c.change(sess)
		if err := s.CreateSession(ctx, sess); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateSession = %v, want ErrInvalid", c.name, err)
		}
	}
	if err := s.CreateSession(ctx, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateSession(nil) = %v, want ErrInvalid", err)
	}
	if _, err := s.GetSession(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused session was stored: GetSession = %v", err)
	}
}

func kg(id string) *store.Session { return keygen(id, "w") }

func testFailUnfinished(t *testing.T, s store.Store) {
	if n, err := s.FailUnfinished(ctx, "restart", base); err != nil || n != 0 {
		t.Fatalf("FailUnfinished on an empty store = %d, %v; want 0", n, err)
	}
	mk := func(id string, state store.SessionState, reason string) *store.Session {
		sess := sign(id, "w")
		sess.State, sess.Reason = state, reason
		if state == store.StateCompleted {
			sess.Signature = bytes.Repeat([]byte{1}, 64)
		}
		if state.Final() {
			sess.FinishedAt = base.Add(time.Hour)
		}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		return cloneSession(sess)
	}
	waiting := []*store.Session{mk("w1", store.StateWaiting, ""), mk("w2", store.StateWaiting, "")}
	running := []*store.Session{mk("r1", store.StateRunning, "")}
	done := []*store.Session{mk("c1", store.StateCompleted, ""), mk("f1", store.StateFailed, "timeout")}

	at := time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.FixedZone("CET", 3600))
	n, err := s.FailUnfinished(ctx, "coordinator restarted", at)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("FailUnfinished = %d, want 3", n)
	}
	for _, want := range append(waiting, running...) {
		want.State, want.Reason, want.FinishedAt = store.StateFailed, "coordinator restarted", at.Truncate(time.Millisecond)
		if d := sessionDiff(mustGetSession(t, s, want.ID), want); d != "" {
			t.Errorf("%s: %s", want.ID, d)
		}
	}
	for _, want := range done {
		if d := sessionDiff(mustGetSession(t, s, want.ID), want); d != "" {
			t.Errorf("%s (already final) changed: %s", want.ID, d)
		}
	}
	if n, err := s.FailUnfinished(ctx, "again", at.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second FailUnfinished = %d, %v; want 0", n, err)
	}
	if got := mustGetSession(t, s, "w1"); got.Reason != "coordinator restarted" {
		t.Errorf("second FailUnfinished changed reason to %q", got.Reason)
	}
}

func testSessionOwner(t *testing.T, s store.Store) {
	owned := sign("owned", "w")
	owned.Owner, owned.OwnerAddr = "coordinator-1", "coordinator-1.internal:4000"
	none := keygen("none", "w2") // no owner: a single coordinator
	edge := sign("edge", "w")
	edge.Owner, edge.OwnerAddr = strings.Repeat("o", store.MaxIDLen), strings.Repeat("a", store.MaxAddrLen)
	odd := kg("odd")
	odd.Owner, odd.OwnerAddr = "replica ✓ 'quoted'", "[2001:db8::1]:4000"
	for _, sess := range []*store.Session{owned, none, edge, odd} {
		want := cloneSession(sess)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession(%s): %v", sess.ID, err)
		}
		if d := sessionDiff(mustGetSession(t, s, sess.ID), want); d != "" {
			t.Errorf("GetSession(%s): %s", sess.ID, d)
		}
	}
	if got := mustGetSession(t, s, "none"); got.Owner != "" || got.OwnerAddr != "" {
		t.Errorf("a session created without an owner reads back owner %q at %q", got.Owner, got.OwnerAddr)
	}

	// The owner is fixed at creation: UpdateSession does not write it.
	want := cloneSession(owned)
	upd := cloneSession(owned)
	upd.State, upd.Signature, upd.FinishedAt = store.StateCompleted, bytes.Repeat([]byte{2}, 64), base.Add(time.Hour)
	upd.Owner, upd.OwnerAddr = "coordinator-2", "coordinator-2.internal:4000"
	if err := s.UpdateSession(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want.State, want.Signature, want.FinishedAt = upd.State, upd.Signature, upd.FinishedAt
	if d := sessionDiff(mustGetSession(t, s, "owned"), want); d != "" {
		t.Errorf("after UpdateSession with another owner: %s", d)
	}
	// UpdateSession ignores the owner altogether, even one that
	// CreateSession would refuse.
	upd.Owner = strings.Repeat("o", store.MaxIDLen+1)
	if err := s.UpdateSession(ctx, upd); err != nil {
		t.Errorf("UpdateSession with an over-long owner it does not write = %v, want nil", err)
	}
}

// mkSession creates a session of owner in state, created at created.
func mkSession(t *testing.T, s store.Store, id, owner string, state store.SessionState, created time.Time) *store.Session {
	t.Helper()
	sess := sign(id, "w")
	sess.Owner, sess.OwnerAddr, sess.State, sess.CreatedAt = owner, owner+":4000", state, created
	if state == store.StateCompleted {
		sess.Signature = bytes.Repeat([]byte{1}, 64)
	}
	if state == store.StateFailed {
		sess.Reason = "timeout"
	}
	if state.Final() {
		sess.FinishedAt = created.Add(time.Minute)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession(%s): %v", id, err)
	}
	return cloneSession(sess)
}

// checkFailed checks that the sessions in failed were failed with reason
// at at, and that those in same are as they were.
func checkFailed(t *testing.T, s store.Store, step string, failed, same []*store.Session, reason string, at time.Time) {
	t.Helper()
	for _, want := range failed {
		want.State, want.Reason, want.FinishedAt = store.StateFailed, reason, at.Truncate(time.Millisecond)
		if d := sessionDiff(mustGetSession(t, s, want.ID), want); d != "" {
			t.Errorf("%s: %s, which should have failed: %s", step, want.ID, d)
		}
	}
	for _, want := range same {
		if d := sessionDiff(mustGetSession(t, s, want.ID), want); d != "" {
			t.Errorf("%s: %s changed: %s", step, want.ID, d)
		}
	}
}

// checkFailedBetween checks that the sessions were failed at a time
// between before and after (a zero "at" means now).
func checkFailedBetween(t *testing.T, s store.Store, sessions []*store.Session, before, after time.Time) {
	t.Helper()
	for _, sess := range sessions {
		got := mustGetSession(t, s, sess.ID)
		if got.State != store.StateFailed || got.FinishedAt.Before(before) || got.FinishedAt.After(after) {
			t.Errorf("%s: state %s, FinishedAt %v; want failed about now", sess.ID, got.State, got.FinishedAt)
		}
	}
}

func testFailUnfinishedOwned(t *testing.T, s store.Store) {
	if n, err := s.FailUnfinishedOwned(ctx, "a", "restart", base); err != nil || n != 0 {
		t.Fatalf("FailUnfinishedOwned on an empty store = %d, %v; want 0", n, err)
	}
	mk := func(id, owner string, state store.SessionState) *store.Session {
		return mkSession(t, s, id, owner, state, base)
	}
	aLive := []*store.Session{mk("a-wait", "a", store.StateWaiting), mk("a-run", "a", store.StateRunning)}
	aDone := []*store.Session{mk("a-done", "a", store.StateCompleted), mk("a-failed", "a", store.StateFailed)}
	bLive := []*store.Session{mk("b-run", "b", store.StateRunning), mk("b-wait", "b", store.StateWaiting)}
	// Owners are compared exactly.
	near := []*store.Session{mk("A-run", "A", store.StateRunning), mk("a_-run", "a ", store.StateRunning)}
	ownerless := []*store.Session{mk("none-run", "", store.StateRunning)}

	at := time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.FixedZone("CET", 3600))
	n, err := s.FailUnfinishedOwned(ctx, "a", "coordinator a restarted", at)
	if err != nil || n != len(aLive) {
		t.Errorf("FailUnfinishedOwned(a) = %d, %v; want %d", n, err, len(aLive))
	}
	same := slices.Concat(aDone, bLive, near, ownerless)
	checkFailed(t, s, "FailUnfinishedOwned(a)", aLive, same, "coordinator a restarted", at)
	if n, err := s.FailUnfinishedOwned(ctx, "a", "again", at.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second FailUnfinishedOwned(a) = %d, %v; want 0", n, err)
	}
	checkFailed(t, s, "second FailUnfinishedOwned(a)", nil, slices.Concat(aLive, same), "", at)
	if n, err := s.FailUnfinishedOwned(ctx, "nobody", "x", at); err != nil || n != 0 {
		t.Errorf("FailUnfinishedOwned(nobody) = %d, %v; want 0", n, err)
	}

	// "" is the sessions created without an owner.
	n, err = s.FailUnfinishedOwned(ctx, "", "restarted", at)
	if err != nil || n != len(ownerless) {
		t.Errorf("FailUnfinishedOwned(\"\") = %d, %v; want %d", n, err, len(ownerless))
	}
	checkFailed(t, s, "FailUnfinishedOwned(\"\")", ownerless, slices.Concat(bLive, near), "restarted", at)

	// Bad input changes nothing.
	if _, err := s.FailUnfinishedOwned(ctx, strings.Repeat("b", store.MaxIDLen+1), "x", at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FailUnfinishedOwned(over-long owner) = %v, want ErrInvalid", err)
	}
	if _, err := s.FailUnfinishedOwned(ctx, "b", strings.Repeat("r", store.MaxReasonLen+1), at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FailUnfinishedOwned(over-long reason) = %v, want ErrInvalid", err)
	}
	checkFailed(t, s, "refused FailUnfinishedOwned", nil, bLive, "", at)

	// A zero at is now.
	before := time.Now().Add(-time.Millisecond)
	if n, err := s.FailUnfinishedOwned(ctx, "b", "b restarted", time.Time{}); err != nil || n != len(bLive) {
		t.Errorf("FailUnfinishedOwned(b) = %d, %v; want %d", n, err, len(bLive))
	}
	after := time.Now().Add(time.Millisecond)
	checkFailedBetween(t, s, bLive, before, after)
}

func testFailStale(t *testing.T, s store.Store) {
	if n, err := s.FailStale(ctx, base, "stale", base); err != nil || n != 0 {
		t.Fatalf("FailStale on an empty store = %d, %v; want 0", n, err)
	}
	old := []*store.Session{
		mkSession(t, s, "old-a", "a", store.StateRunning, base.Add(-2*time.Hour)),
		mkSession(t, s, "old-b", "b", store.StateWaiting, base.Add(-time.Hour)),
		mkSession(t, s, "old-none", "", store.StateRunning, base.Add(-time.Millisecond)),
	}
	oldDone := []*store.Session{
		mkSession(t, s, "old-done", "a", store.StateCompleted, base.Add(-time.Hour)),
		mkSession(t, s, "old-failed", "b", store.StateFailed, base.Add(-time.Hour)),
	}
	edge := mkSession(t, s, "edge", "c", store.StateRunning, base) // created at the cutoff: not before it
	young := []*store.Session{
		mkSession(t, s, "young-a", "a", store.StateRunning, base.Add(time.Hour)),
		mkSession(t, s, "young-b", "b", store.StateWaiting, base.Add(time.Millisecond)),
	}

	at := time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.UTC)
	n, err := s.FailStale(ctx, base, "its coordinator is gone", at)
	if err != nil || n != len(old) {
		t.Errorf("FailStale(base) = %d, %v; want %d", n, err, len(old))
	}
	checkFailed(t, s, "FailStale(base)", old, slices.Concat(oldDone, []*store.Session{edge}, young), "its coordinator is gone", at)

	// A cutoff inside a millisecond: the session stored at the start of
	// it was created before the cutoff.
	n, err = s.FailStale(ctx, base.Add(time.Nanosecond), "gone", at)
	if err != nil || n != 1 {
		t.Errorf("FailStale(base+1ns) = %d, %v; want 1 (edge)", n, err)
	}
	checkFailed(t, s, "FailStale(base+1ns)", []*store.Session{edge}, young, "gone", at)

	// The same before the epoch, where unix milliseconds are negative.
	moon := time.Date(1969, 7, 20, 20, 17, 40, 500_600_700, time.UTC)
	landed := mkSession(t, s, "moon", "", store.StateRunning, moon)
	if n, err := s.FailStale(ctx, moon.Truncate(time.Millisecond), "x", at); err != nil || n != 0 {
		t.Errorf("FailStale(moon, whole ms) = %d, %v; want 0", n, err)
	}
	if n, err := s.FailStale(ctx, moon, "x", at); err != nil || n != 1 {
		t.Errorf("FailStale(moon) = %d, %v; want 1", n, err)
	}
	checkFailed(t, s, "FailStale(moon)", []*store.Session{landed}, young, "x", at)

	// Bad input changes nothing.
	if _, err := s.FailStale(ctx, time.Time{}, "x", at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FailStale(zero cutoff) = %v, want ErrInvalid", err)
	}
	if _, err := s.FailStale(ctx, base.Add(100*time.Hour), strings.Repeat("r", store.MaxReasonLen+1), at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FailStale(over-long reason) = %v, want ErrInvalid", err)
	}
	checkFailed(t, s, "refused FailStale", nil, young, "", at)

	// A zero at is now; whoever the owner.
	before := time.Now().Add(-time.Millisecond)
	if n, err := s.FailStale(ctx, base.Add(100*time.Hour), "stale", time.Time{}); err != nil || n != len(young) {
		t.Errorf("FailStale(everything) = %d, %v; want %d", n, err, len(young))
	}
	after := time.Now().Add(time.Millisecond)
	checkFailedBetween(t, s, young, before, after)
}

func testConcurrentCreateWallet(t *testing.T, s store.Store) {
	const (
		goroutines = 8
		perG       = 10
	)
	type result struct {
		key string
		err error
	}
	results := make(chan result, goroutines*perG*3)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perG {
				// The same id (and user) from every goroutine: one wins.
				w := wallet(fmt.Sprintf("same-id-%d", i), fmt.Sprintf("id-user-%d", i), time.Time{})
				results <- result{"id-" + w.ID, s.CreateWallet(ctx, w)}
				// Different ids, the same user: one wins.
				w = wallet(fmt.Sprintf("g%d-user-%d", g, i), fmt.Sprintf("shared-user-%d", i), time.Time{})
				results <- result{"user-" + w.UserID, s.CreateWallet(ctx, w)}
				// Nothing shared: all win.
				w = wallet(fmt.Sprintf("g%d-own-%d", g, i), "", time.Time{})
				results <- result{"own-" + w.ID, s.CreateWallet(ctx, w)}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(results)

	wins := map[string]int{}
	for r := range results {
		switch {
		case r.err == nil:
			wins[r.key]++
		case errors.Is(r.err, store.ErrExists):
		default:
			t.Errorf("%s: %v (only ErrExists is allowed)", r.key, r.err)
		}
	}
	var keys []string
	for i := range perG {
		keys = append(keys, fmt.Sprintf("id-same-id-%d", i), fmt.Sprintf("user-shared-user-%d", i))
		for g := range goroutines {
			keys = append(keys, fmt.Sprintf("own-g%d-own-%d", g, i))
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if wins[k] != 1 {
			t.Errorf("%s: created %d times, want once", k, wins[k])
		}
	}
	list, err := s.ListWallets(ctx, store.WalletFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if want := perG*2 + goroutines*perG; len(list) != want {
		t.Errorf("%d wallets stored, want %d", len(list), want)
	}
	for _, w := range list {
		if len(w.Holders) != 3 {
			t.Errorf("%s has %d holders, want 3", w.ID, len(w.Holders))
		}
	}
	for i := range perG {
		w, err := s.WalletByUser(ctx, fmt.Sprintf("shared-user-%d", i))
		if err != nil {
			t.Errorf("WalletByUser(shared-user-%d): %v", i, err)
		} else if !strings.HasSuffix(w.ID, fmt.Sprintf("-user-%d", i)) {
			t.Errorf("WalletByUser(shared-user-%d) = %s", i, w.ID)
		}
	}
}

func testContextCanceled(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "u", base))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	checks := map[string]error{}
	_, checks["GetWallet"] = s.GetWallet(cctx, "w")
	_, checks["WalletByUser"] = s.WalletByUser(cctx, "u")
	_, checks["ListWallets"] = s.ListWallets(cctx, store.WalletFilter{})
	checks["CreateWallet"] = s.CreateWallet(cctx, wallet("w2", "", base))
	checks["CreateSession"] = s.CreateSession(cctx, kg("s"))
	_, checks["GetSession"] = s.GetSession(cctx, "s")
	checks["UpdateSession"] = s.UpdateSession(cctx, kg("s"))
	_, checks["FailUnfinished"] = s.FailUnfinished(cctx, "x", base)
	_, checks["FailUnfinishedOwned"] = s.FailUnfinishedOwned(cctx, "o", "x", base)
	_, checks["FailStale"] = s.FailStale(cctx, base, "x", base)
	checks["BeginReshare"] = s.BeginReshare(cctx, "w", 0, "rs", base, time.Time{})
	checks["ActivateEpoch"] = s.ActivateEpoch(cctx, "w", "rs", 1, nil, nil)
	checks["AbortReshare"] = s.AbortReshare(cctx, "w", "rs")
	checks["Ping"] = s.Ping(cctx)
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want context.Canceled", name, err)
		}
	}
	if _, err := s.GetWallet(ctx, "w2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateWallet with a canceled context stored the wallet: %v", err)
	}
	if _, err := s.GetSession(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession with a canceled context stored the session: %v", err)
	}
	if got := mustGet(t, s, "w"); got.Epoch != 0 || got.PendingSession != "" {
		t.Errorf("the reshare calls with a canceled context changed the wallet: epoch %d, pending %q", got.Epoch, got.PendingSession)
	}
}

func testPingClose(t *testing.T, s store.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close = nil, want an error")
	}
	if _, err := s.GetWallet(ctx, "w"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetWallet after Close = %v, want an error other than ErrNotFound", err)
	}
}

// testOwnerUser: the user a user token made a wallet or session for reads
// back; one user may own any number of wallets (unlike an account user
// id), and ListWallets selects by owner.
func testOwnerUser(t *testing.T, s store.Store) {
	var mine []string
	for i, owner := range []string{"alice", "bob", "alice", "", "alice"} {
		w := wallet(fmt.Sprintf("owned-%d", i), "", base.Add(time.Duration(i)*time.Second))
		w.OwnerUser = owner
		want := clone(w)
		mustCreate(t, s, w)
		if d := walletDiff(mustGet(t, s, w.ID), want); d != "" {
			t.Errorf("GetWallet(%s): %s", w.ID, d)
		}
		if owner == "alice" {
			mine = append(mine, w.ID)
		}
	}
	var got []string
	for after := ""; ; {
		ws, err := s.ListWallets(ctx, store.WalletFilter{OwnerUser: "alice", Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			got = append(got, w.ID)
		}
		if len(ws) < 2 {
			break
		}
		after = ws[len(ws)-1].ID
	}
	if !slices.Equal(got, mine) {
		t.Errorf("alice's wallets: got %v, want %v", got, mine)
	}
	all, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil || len(all) != 5 {
		t.Errorf("all wallets: %d, %v", len(all), err)
	}
	long := wallet("owned-long", "", base)
	long.OwnerUser = strings.Repeat("u", store.MaxIDLen+1)
	if err := s.CreateWallet(ctx, long); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an owner user longer than %d bytes: %v", store.MaxIDLen, err)
	}
	sess := &store.Session{ID: "owned-session", Kind: store.SessionKeygen, WalletID: "owned-new", Parties: []string{"browser-1", "server-1"},
		State: store.StateWaiting, OwnerUser: "alice"}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if got := mustGetSession(t, s, sess.ID); got.OwnerUser != "alice" {
		t.Errorf("session owner user: got %q", got.OwnerUser)
	}
}

// The reshare tests. A claim is made at base unless said otherwise, with
// an hour as the age at which a claim goes stale.

const staleAfter = time.Hour

// claim is BeginReshare at at, expiring the claims older than staleAfter.
func claim(s store.Store, walletID string, from int, sessionID string, at time.Time) error {
	return s.BeginReshare(ctx, walletID, from, sessionID, at, at.Add(-staleAfter))
}

// epochs is the wallet's reshare state as GetWallet, WalletByUser and
// ListWallets return it, which must agree.
func epochs(t *testing.T, s store.Store, id string) (epoch int, epochSession string, pending int, pendingSession string) {
	t.Helper()
	w := mustGet(t, s, id)
	reads := []*store.Wallet{}
	if w.UserID != "" {
		byUser, err := s.WalletByUser(ctx, w.UserID)
		if err != nil {
			t.Fatalf("WalletByUser(%q): %v", w.UserID, err)
		}
		reads = append(reads, byUser)
	}
	list, err := s.ListWallets(ctx, store.WalletFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if l.ID == id {
			reads = append(reads, l)
		}
	}
	for _, r := range reads {
		if d := walletDiff(r, w); d != "" {
			t.Errorf("%s: the wallet reads differ: %s", id, d)
		}
	}
	return w.Epoch, w.EpochSession, w.PendingEpoch, w.PendingSession
}

// wantEpochs checks the wallet's reshare state.
func wantEpochs(t *testing.T, s store.Store, step, id string, epoch int, epochSession string, pending int, pendingSession string) {
	t.Helper()
	e, es, p, ps := epochs(t, s, id)
	if e != epoch || es != epochSession || p != pending || ps != pendingSession {
		t.Errorf("%s: wallet %s at epoch %d (made by %q), pending %d (%q); want epoch %d (%q), pending %d (%q)",
			step, id, e, es, p, ps, epoch, epochSession, pending, pendingSession)
	}
}

// wantConflict checks err is ErrReshareConflict and nothing else.
func wantConflict(t *testing.T, step string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrReshareConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		t.Errorf("%s = %v, want ErrReshareConflict", step, err)
	}
}

// A new wallet is at epoch 0 with no reshare under way, in every read;
// CreateWallet refuses reshare state it was given.
func testWalletEpoch(t *testing.T, s store.Store) {
	w := wallet("w", "alice", base)
	mustCreate(t, s, w)
	wantEpochs(t, s, "created", "w", 0, "", 0, "")
	for name, change := range map[string]func(*store.Wallet){
		"epoch":           func(w *store.Wallet) { w.Epoch = 1 },
		"epoch session":   func(w *store.Wallet) { w.EpochSession = "rs" },
		"pending epoch":   func(w *store.Wallet) { w.PendingEpoch = 1 },
		"pending session": func(w *store.Wallet) { w.PendingSession = "rs" },
	} {
		w := wallet("w-"+strings.ReplaceAll(name, " ", "-"), "", base)
		change(w)
		if err := s.CreateWallet(ctx, w); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateWallet with a %s = %v, want ErrInvalid", name, err)
		}
	}
	if list, err := s.ListWallets(ctx, store.WalletFilter{}); err != nil || len(list) != 1 {
		t.Errorf("after refused wallets, ListWallets = %v, %v; want [w]", ids(list), err)
	}
}

// A wallet's recovery policy is kept as written: none, a kit, the
// backend, or both.
func testRecoveryPolicy(t *testing.T, s store.Store) {
	var kit identity.PublicKey
	for i := range kit {
		kit[i] = byte(i + 1)
	}
	for i, pol := range []identity.Recovery{{}, {Kit: kit}, {Backend: true}, {Kit: kit, Backend: true}} {
		w := wallet(fmt.Sprintf("rp-%d", i), "", base)
		w.Recovery = pol
		mustCreate(t, s, w)
		got, err := s.GetWallet(ctx, w.ID)
		if err != nil || !got.Recovery.Equal(pol) {
			t.Fatalf("policy %+v: GetWallet = %+v, %v", pol, got, err)
		}
	}
	list, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil || len(list) != 4 || !list[3].Recovery.Equal(identity.Recovery{Kit: kit, Backend: true}) {
		t.Fatalf("ListWallets: %v, %v", list, err)
	}
}

// A reshare that changes the committee: holders and signers change with
// the epoch, in one transaction, and only then; a refused activation
// changes nothing, a retried one writes the same.
func testReshareCommittee(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "", base))
	to := &store.Committee{SignersNeeded: 3, Holders: []store.Holder{
		{PartyID: "client-w", Kind: store.HolderClient}, {PartyID: "server-1", Kind: store.HolderServer},
		{PartyID: "server-2", Kind: store.HolderServer}, {PartyID: "server-3", Kind: store.HolderServer},
	}}
	holdersOf := func(what string) (int, []store.Holder) {
		t.Helper()
		w, err := s.GetWallet(ctx, "w")
		if err != nil {
			t.Fatalf("%s: GetWallet: %v", what, err)
		}
		return w.SignersNeeded, w.Holders
	}
	before, beforeHolders := holdersOf("before")
	// Not claimed: refused, and nothing changes.
	wantConflict(t, "ActivateEpoch(rs-1, 1, committee) unclaimed", s.ActivateEpoch(ctx, "w", "rs-1", 1, to, nil))
	if n, h := holdersOf("refused"); n != before || !slices.Equal(h, beforeHolders) {
		t.Fatalf("a refused activation changed the committee: %d %v", n, h)
	}
	if err := claim(s, "w", 0, "rs-1", base); err != nil {
		t.Fatalf("BeginReshare: %v", err)
	}
	// Another session's activation: refused, nothing changes.
	wantConflict(t, "ActivateEpoch(rs-x, 1, committee)", s.ActivateEpoch(ctx, "w", "rs-x", 1, to, nil))
	if n, h := holdersOf("refused"); n != before || !slices.Equal(h, beforeHolders) {
		t.Fatalf("another session's activation changed the committee: %d %v", n, h)
	}
	for try := range 2 {
		if err := s.ActivateEpoch(ctx, "w", "rs-1", 1, to, nil); err != nil {
			t.Fatalf("try %d: ActivateEpoch(rs-1, 1, committee): %v", try, err)
		}
		if n, h := holdersOf("activated"); n != 3 || !slices.Equal(h, to.Holders) {
			t.Fatalf("try %d: after activation: %d signers of %v; want 3 of %v", try, n, h, to.Holders)
		}
		wantEpochs(t, s, "rs-1 active", "w", 1, "rs-1", 0, "")
	}
	// The holder index follows the new committee.
	list, err := s.ListWallets(ctx, store.WalletFilter{})
	if err != nil || len(list) != 1 || len(list[0].Holders) != 4 {
		t.Fatalf("ListWallets after the committee changed: %v, %v", list, err)
	}
	// A bad committee is refused before anything is written.
	if err := claim(s, "w", 1, "rs-2", base.Add(time.Hour)); err != nil {
		t.Fatalf("BeginReshare(rs-2): %v", err)
	}
	for name, bad := range map[string]*store.Committee{
		"one holder":    {SignersNeeded: 2, Holders: to.Holders[:1]},
		"signers > n":   {SignersNeeded: 5, Holders: to.Holders},
		"signers 1":     {SignersNeeded: 1, Holders: to.Holders},
		"holder twice":  {SignersNeeded: 2, Holders: []store.Holder{to.Holders[0], to.Holders[0]}},
		"kind unknown":  {SignersNeeded: 2, Holders: []store.Holder{to.Holders[0], {PartyID: "x", Kind: "boss"}}},
		"empty partyid": {SignersNeeded: 2, Holders: []store.Holder{to.Holders[0], {Kind: store.HolderServer}}},
	} {
		if err := s.ActivateEpoch(ctx, "w", "rs-2", 2, bad, nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: ActivateEpoch = %v, want ErrInvalid", name, err)
		}
	}
	wantEpochs(t, s, "bad committees refused", "w", 1, "rs-1", 2, "rs-2")
}

// Two reshares made active, one aborted; every call retried.
func testReshare(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "alice", base))
	other := wallet("other", "", base)
	mustCreate(t, s, other)

	if err := claim(s, "w", 0, "rs-1", base); err != nil {
		t.Fatalf("BeginReshare(rs-1 from 0): %v", err)
	}
	wantEpochs(t, s, "rs-1 claimed", "w", 0, "", 1, "rs-1")
	// A retried claim succeeds.
	if err := claim(s, "w", 0, "rs-1", base.Add(time.Minute)); err != nil {
		t.Errorf("BeginReshare(rs-1) again: %v", err)
	}
	wantEpochs(t, s, "rs-1 claimed again", "w", 0, "", 1, "rs-1")
	if err := s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil); err != nil {
		t.Fatalf("ActivateEpoch(rs-1, 1): %v", err)
	}
	wantEpochs(t, s, "rs-1 active", "w", 1, "rs-1", 0, "")
	// A retried activation succeeds and changes nothing.
	if err := s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil); err != nil {
		t.Errorf("ActivateEpoch(rs-1, 1) again: %v", err)
	}
	wantEpochs(t, s, "rs-1 activated again", "w", 1, "rs-1", 0, "")

	// The next reshare starts from epoch 1; rs-1's retry still succeeds
	// while it runs: rs-1 did make epoch 1.
	if err := claim(s, "w", 1, "rs-2", base.Add(time.Hour)); err != nil {
		t.Fatalf("BeginReshare(rs-2 from 1): %v", err)
	}
	wantEpochs(t, s, "rs-2 claimed", "w", 1, "rs-1", 2, "rs-2")
	if err := s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil); err != nil {
		t.Errorf("ActivateEpoch(rs-1, 1) while rs-2 runs: %v", err)
	}
	if err := s.ActivateEpoch(ctx, "w", "rs-2", 2, nil, nil); err != nil {
		t.Fatalf("ActivateEpoch(rs-2, 2): %v", err)
	}
	wantEpochs(t, s, "rs-2 active", "w", 2, "rs-2", 0, "")

	// An aborted reshare leaves the epoch as it was, and the slot free.
	if err := claim(s, "w", 2, "rs-3", base.Add(2*time.Hour)); err != nil {
		t.Fatalf("BeginReshare(rs-3 from 2): %v", err)
	}
	if err := s.AbortReshare(ctx, "w", "rs-3"); err != nil {
		t.Fatalf("AbortReshare(rs-3): %v", err)
	}
	wantEpochs(t, s, "rs-3 aborted", "w", 2, "rs-2", 0, "")
	if err := s.AbortReshare(ctx, "w", "rs-3"); err != nil {
		t.Errorf("AbortReshare(rs-3) again: %v", err)
	}
	wantConflict(t, "ActivateEpoch(rs-3, 3) after its abort", s.ActivateEpoch(ctx, "w", "rs-3", 3, nil, nil))
	wantEpochs(t, s, "rs-3 activated after its abort", "w", 2, "rs-2", 0, "")
	if err := claim(s, "w", 2, "rs-4", base.Add(2*time.Hour)); err != nil {
		t.Errorf("BeginReshare(rs-4 from 2) after an abort: %v", err)
	}
	wantEpochs(t, s, "rs-4 claimed", "w", 2, "rs-2", 3, "rs-4")

	// The other wallet was never touched.
	wantEpochs(t, s, "the other wallet", "other", 0, "", 0, "")
	if d := walletDiff(mustGet(t, s, "other"), other); d != "" {
		t.Errorf("the other wallet: %s", d)
	}
}

// Every refusal, each of which changes nothing.
func testReshareRefusals(t *testing.T, s store.Store) {
	// No such wallet.
	for step, err := range map[string]error{
		"BeginReshare":  claim(s, "nope", 0, "rs", base),
		"ActivateEpoch": s.ActivateEpoch(ctx, "nope", "rs", 1, nil, nil),
	} {
		if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrReshareConflict) {
			t.Errorf("%s of a missing wallet = %v, want ErrNotFound", step, err)
		}
	}
	if err := s.AbortReshare(ctx, "nope", "rs"); err != nil {
		t.Errorf("AbortReshare of a missing wallet = %v, want nil", err)
	}
	if _, err := s.GetWallet(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a reshare call on a missing wallet made it: %v", err)
	}

	mustCreate(t, s, wallet("w", "", base))
	// Nothing to activate.
	wantConflict(t, "ActivateEpoch with no reshare pending", s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil))
	// Not from the wallet's epoch.
	wantConflict(t, "BeginReshare(from 1) at epoch 0", claim(s, "w", 1, "rs-1", base))
	wantEpochs(t, s, "refused claims", "w", 0, "", 0, "")

	// The slot is rs-1's: another claim, fresh, is refused; so are
	// another session's activation and the wrong epoch's; another
	// session's abort does nothing.
	if err := claim(s, "w", 0, "rs-1", base); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "BeginReshare(rs-2) while rs-1 holds the slot", claim(s, "w", 0, "rs-2", base.Add(staleAfter-time.Millisecond)))
	wantConflict(t, "BeginReshare(rs-1 from 1) while rs-1 holds the slot from 0", claim(s, "w", 1, "rs-1", base))
	wantConflict(t, "ActivateEpoch(rs-2, 1)", s.ActivateEpoch(ctx, "w", "rs-2", 1, nil, nil))
	wantConflict(t, "ActivateEpoch(rs-1, 2)", s.ActivateEpoch(ctx, "w", "rs-1", 2, nil, nil))
	if err := s.AbortReshare(ctx, "w", "rs-2"); err != nil {
		t.Errorf("AbortReshare(rs-2) = %v, want nil", err)
	}
	wantEpochs(t, s, "refused calls while rs-1 holds the slot", "w", 0, "", 1, "rs-1")

	// rs-1's claim goes stale and rs-2 takes the slot over: rs-1 can
	// neither activate nor abort it, and once rs-2 made epoch 1 active,
	// rs-1's activation of epoch 1 is still refused: its shares of epoch
	// 1 are not the wallet's.
	if err := claim(s, "w", 0, "rs-2", base.Add(staleAfter+time.Millisecond)); err != nil {
		t.Fatalf("BeginReshare(rs-2) over rs-1's stale claim: %v", err)
	}
	wantConflict(t, "ActivateEpoch(rs-1, 1) after rs-2 took over", s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil))
	if err := s.AbortReshare(ctx, "w", "rs-1"); err != nil {
		t.Errorf("AbortReshare(rs-1) after rs-2 took over = %v, want nil", err)
	}
	wantEpochs(t, s, "rs-1 after rs-2 took over", "w", 0, "", 1, "rs-2")
	if err := s.ActivateEpoch(ctx, "w", "rs-2", 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "ActivateEpoch(rs-1, 1) after rs-2 made epoch 1", s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil))
	wantConflict(t, "ActivateEpoch(rs-2, 2) (epoch 1 is active, 2 was never claimed)", s.ActivateEpoch(ctx, "w", "rs-2", 2, nil, nil))
	// An old epoch's reshare cannot start, nor the finished one again.
	wantConflict(t, "BeginReshare(from 0) at epoch 1", claim(s, "w", 0, "rs-3", base.Add(2*staleAfter)))
	wantConflict(t, "BeginReshare(rs-2 from 0) after it made epoch 1", claim(s, "w", 0, "rs-2", base.Add(2*staleAfter)))
	wantEpochs(t, s, "the end", "w", 1, "rs-2", 0, "")
}

// A claim expires when it was made before staleBefore, to the
// millisecond as stored; a zero staleBefore expires none.
func testReshareStaleClaim(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "", base))
	late := base.Add(24 * time.Hour)
	// Claimed inside a millisecond: stored at its start.
	if err := s.BeginReshare(ctx, "w", 0, "rs-1", base.Add(700*time.Microsecond), time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "BeginReshare with no expiry", s.BeginReshare(ctx, "w", 0, "rs-2", late, time.Time{}))
	wantConflict(t, "BeginReshare, stale before the claim", s.BeginReshare(ctx, "w", 0, "rs-2", late, base.Add(-time.Millisecond)))
	wantConflict(t, "BeginReshare, stale before the claim's millisecond", s.BeginReshare(ctx, "w", 0, "rs-2", late, base))
	wantEpochs(t, s, "fresh claim", "w", 0, "", 1, "rs-1")
	if err := s.BeginReshare(ctx, "w", 0, "rs-2", late, base.Add(time.Nanosecond)); err != nil {
		t.Fatalf("BeginReshare, stale after the claim's stored time: %v", err)
	}
	wantEpochs(t, s, "taken over", "w", 0, "", 1, "rs-2")

	// The new claim is at its own time: not stale for a cutoff just
	// before it, though the old one's would be.
	wantConflict(t, "BeginReshare over the new claim", s.BeginReshare(ctx, "w", 0, "rs-3", late.Add(time.Hour), late))
	// A retried claim renews it.
	if err := s.BeginReshare(ctx, "w", 0, "rs-2", late.Add(2*time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "BeginReshare over the renewed claim", s.BeginReshare(ctx, "w", 0, "rs-3", late.Add(3*time.Hour), late.Add(time.Hour)))

	// A zero now is the current time.
	mustCreate(t, s, wallet("w-now", "", base))
	before := time.Now()
	if err := s.BeginReshare(ctx, "w-now", 0, "rs-now", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "BeginReshare over a claim made now", s.BeginReshare(ctx, "w-now", 0, "rs-x", time.Time{}, before.Add(-time.Millisecond)))
	if err := s.BeginReshare(ctx, "w-now", 0, "rs-x", time.Now().Add(time.Hour), time.Now().Add(time.Second)); err != nil {
		t.Errorf("BeginReshare over a claim made before the cutoff: %v", err)
	}
	wantEpochs(t, s, "w-now taken over", "w-now", 0, "", 1, "rs-x")
}

// A claim whose session is recorded failed is free at once: a
// coordinator that restarted failed the reshare it left
// (FailUnfinishedOwned), which can neither abort its claim nor activate
// its epoch; a retry must not wait for the claim to go stale.
func testReshareFailedClaim(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "", base))
	rs := &store.Session{ID: "rs-1", Kind: store.SessionReshare, WalletID: "w", Parties: []string{"server-1", "server-2", "user-w"},
		State: store.StateRunning, CreatedAt: base, Owner: "coordinator-1"}
	if err := s.CreateSession(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := claim(s, "w", 0, "rs-1", base); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "BeginReshare over a running reshare's claim", claim(s, "w", 0, "rs-2", base.Add(time.Minute)))
	if n, err := s.FailUnfinishedOwned(ctx, "coordinator-1", "coordinator restarted", base.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("FailUnfinishedOwned = %d, %v; want 1", n, err)
	}
	if err := claim(s, "w", 0, "rs-2", base.Add(2*time.Minute)); err != nil {
		t.Fatalf("BeginReshare over a failed reshare's claim: %v", err)
	}
	wantEpochs(t, s, "taken over from a failed reshare", "w", 0, "", 1, "rs-2")
	wantConflict(t, "ActivateEpoch of the failed reshare", s.ActivateEpoch(ctx, "w", "rs-1", 1, nil, nil))
	// A claim with no session record (its coordinator died before
	// writing it) waits for the cutoff as before.
	mustCreate(t, s, wallet("w-2", "", base))
	if err := claim(s, "w-2", 0, "rs-unrecorded", base); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "BeginReshare over an unrecorded session's claim", claim(s, "w-2", 0, "rs-3", base.Add(time.Minute)))
}

// Bad input is ErrInvalid, and changes nothing.
func testReshareValidation(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "", base))
	long := strings.Repeat("x", store.MaxIDLen+1)
	cases := map[string]error{
		"BeginReshare, empty wallet":           claim(s, "", 0, "rs", base),
		"BeginReshare, long wallet":            claim(s, long, 0, "rs", base),
		"BeginReshare, empty session":          claim(s, "w", 0, "", base),
		"BeginReshare, long session":           claim(s, "w", 0, long, base),
		"BeginReshare, negative epoch":         claim(s, "w", -1, "rs", base),
		"BeginReshare, from the last epoch":    claim(s, "w", store.MaxEpoch, "rs", base),
		"BeginReshare, stale cutoff after now": s.BeginReshare(ctx, "w", 0, "rs", base, base.Add(time.Millisecond)),
		"ActivateEpoch, empty wallet":          s.ActivateEpoch(ctx, "", "rs", 1, nil, nil),
		"ActivateEpoch, empty session":         s.ActivateEpoch(ctx, "w", "", 1, nil, nil),
		"ActivateEpoch, long session":          s.ActivateEpoch(ctx, "w", long, 1, nil, nil),
		"ActivateEpoch, epoch 0":               s.ActivateEpoch(ctx, "w", "rs", 0, nil, nil),
		"ActivateEpoch, epoch -1":              s.ActivateEpoch(ctx, "w", "rs", -1, nil, nil),
		"AbortReshare, empty wallet":           s.AbortReshare(ctx, "", "rs"),
		"AbortReshare, empty session":          s.AbortReshare(ctx, "w", ""),
	}
	for name, err := range cases {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s = %v, want ErrInvalid", name, err)
		}
	}
	wantEpochs(t, s, "refused calls", "w", 0, "", 0, "")
	// The edges that are valid: a cutoff at now, the last epoch.
	if err := s.BeginReshare(ctx, "w", 0, "rs", base, base); err != nil {
		t.Errorf("BeginReshare with the cutoff at now: %v", err)
	}
	wantConflict(t, "ActivateEpoch(MaxEpoch)", s.ActivateEpoch(ctx, "w", "rs", store.MaxEpoch, nil, nil))
}

// A reshare session round-trips; like a keygen it has no digest,
// signature or path.
func testReshareSession(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "", base))
	rs := &store.Session{
		ID: "rs-1", Kind: store.SessionReshare, WalletID: "w",
		Parties: []string{"server-1", "client-w", "user-w", "server-2"},
		State:   store.StateWaiting, CreatedAt: base, Owner: "coordinator-1", OwnerAddr: "coordinator-1:4000", OwnerUser: "alice",
	}
	want := cloneSession(rs)
	if err := s.CreateSession(ctx, rs); err != nil {
		t.Fatalf("CreateSession(reshare): %v", err)
	}
	if d := sessionDiff(mustGetSession(t, s, "rs-1"), want); d != "" {
		t.Errorf("GetSession(reshare): %s", d)
	}
	upd := cloneSession(rs)
	upd.State, upd.Reason, upd.Culprits, upd.FinishedAt = store.StateFailed, "party server-2 sent a bad proof", []string{"server-2"}, base.Add(time.Minute)
	upd.Code = "verify"
	if err := s.UpdateSession(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want.State, want.Reason, want.Culprits, want.FinishedAt, want.Code = upd.State, upd.Reason, upd.Culprits, upd.FinishedAt, upd.Code
	if d := sessionDiff(mustGetSession(t, s, "rs-1"), want); d != "" {
		t.Errorf("GetSession(reshare) after its failure: %s", d)
	}
	// A completed reshare keeps every new holder's stored acknowledgement,
	// for a party that missed the Completed event.
	ok := cloneSession(rs)
	ok.ID = "rs-ok"
	if err := s.CreateSession(ctx, ok); err != nil {
		t.Fatal(err)
	}
	ok.State, ok.FinishedAt = store.StateCompleted, base.Add(2*time.Minute)
	ok.StoredAcks = map[string][]byte{"server-1": bytes.Repeat([]byte{1}, 64), "client-w": bytes.Repeat([]byte{2}, 64), "server-2": {3}}
	if err := s.UpdateSession(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if d := sessionDiff(mustGetSession(t, s, "rs-ok"), ok); d != "" {
		t.Errorf("GetSession(completed reshare): %s", d)
	}
	// A reshare's run — epoch, new committee, identities, the acks
	// reported so far — round-trips, with and without a committee.
	ok.Run = &store.ReshareRun{Epoch: 4, Identities: map[string][]byte{"server-1": bytes.Repeat([]byte{5}, 32), "client-w": bytes.Repeat([]byte{6}, 32)},
		Acks: map[string][]byte{"server-1": bytes.Repeat([]byte{1}, 64)}}
	if err := s.UpdateSession(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if d := sessionDiff(mustGetSession(t, s, "rs-ok"), ok); d != "" {
		t.Errorf("GetSession(reshare with its run): %s", d)
	}
	ok.Run.Committee = &store.Committee{SignersNeeded: 2, Holders: []store.Holder{{PartyID: "server-1", Kind: store.HolderServer}, {PartyID: "client-w", Kind: store.HolderClient}}}
	if err := s.UpdateSession(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if d := sessionDiff(mustGetSession(t, s, "rs-ok"), ok); d != "" {
		t.Errorf("GetSession(reshare with its run and committee): %s", d)
	}
	for name, change := range map[string]func(*store.Session){
		"a code of other characters": func(s *store.Session) { s.Code = "Stale-Epoch" },
		"a long code":                func(s *store.Session) { s.Code = strings.Repeat("a", store.MaxCodeLen+1) },
		"an empty ack":               func(s *store.Session) { s.StoredAcks = map[string][]byte{"server-1": nil} },
		"a long ack":                 func(s *store.Session) { s.StoredAcks = map[string][]byte{"server-1": make([]byte, store.MaxAckLen+1)} },
		"an ack of no party":         func(s *store.Session) { s.StoredAcks = map[string][]byte{"": {1}} },
		"a run of epoch 0":           func(s *store.Session) { s.Run.Epoch = 0 },
		"a run without holders":      func(s *store.Session) { s.Run.Identities = nil },
		"a run with a short key":     func(s *store.Session) { s.Run.Identities["server-1"] = []byte{1} },
		"a run ack of no holder":     func(s *store.Session) { s.Run.Acks = map[string][]byte{"server-9": {1}} },
		"a run with a bad committee": func(s *store.Session) { s.Run.Committee.SignersNeeded = 5 },
	} {
		bad := cloneSession(ok)
		change(bad)
		if err := s.UpdateSession(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("an update with %s: %v, want ErrInvalid", name, err)
		}
	}
	if d := sessionDiff(mustGetSession(t, s, "rs-ok"), ok); d != "" {
		t.Errorf("a refused update changed the session: %s", d)
	}
	// Live reshares are failed like the others.
	live := cloneSession(rs)
	live.ID, live.State, live.FinishedAt = "rs-2", store.StateRunning, time.Time{}
	if err := s.CreateSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if n, err := s.FailUnfinishedOwned(ctx, "coordinator-1", "restarted", base.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("FailUnfinishedOwned with a running reshare = %d, %v; want 1", n, err)
	}
	for name, change := range map[string]func(*store.Session){
		"digest":    func(s *store.Session) { s.Digest = make([]byte, 32) },
		"signature": func(s *store.Session) { s.Signature = make([]byte, 64) },
		"path":      func(s *store.Session) { s.Path = []uint32{0} },
	} {
		bad := cloneSession(rs)
		bad.ID = "rs-bad"
		change(bad)
		if err := s.CreateSession(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a reshare with a %s: CreateSession = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.GetSession(ctx, "rs-bad"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused reshare session was stored: %v", err)
	}
}

// ActivateEpoch records the reshare completed, with its stored
// acknowledgements, in its own transaction: a restart that fails the
// sessions left running does not fail one whose epoch is active. A
// refused activation leaves the session as it was.
func testActivateRecordsSession(t *testing.T, s store.Store) {
	mustCreate(t, s, wallet("w", "", base))
	now := time.Now()
	running := func(id string) *store.Session {
		rs := &store.Session{ID: id, Kind: store.SessionReshare, WalletID: "w", Parties: []string{"server-1", "client-w"},
			State: store.StateRunning, CreatedAt: base, Owner: "coordinator-1"}
		if err := s.CreateSession(ctx, rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	rs := running("rs-1")
	acks := map[string][]byte{"server-1": bytes.Repeat([]byte{1}, 64), "client-w": bytes.Repeat([]byte{2}, 64)}
	if err := s.BeginReshare(ctx, "w", 0, rs.ID, now, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{"server-1": nil}
	if err := s.ActivateEpoch(ctx, "w", rs.ID, 1, nil, bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("ActivateEpoch with an empty acknowledgement: %v, want ErrInvalid", err)
	}
	wantEpochs(t, s, "after a refused activation", "w", 0, "", 1, rs.ID)
	if err := s.ActivateEpoch(ctx, "w", rs.ID, 1, nil, acks); err != nil {
		t.Fatal(err)
	}
	got := mustGetSession(t, s, rs.ID)
	if got.State != store.StateCompleted || got.FinishedAt.IsZero() || !maps.EqualFunc(got.StoredAcks, acks, bytes.Equal) {
		t.Fatalf("the reshare after its activation: %+v", got)
	}
	if n, err := s.FailUnfinishedOwned(ctx, "coordinator-1", "coordinator restarted", time.Time{}); err != nil || n != 0 {
		t.Fatalf("FailUnfinishedOwned after the activation = %d, %v; want 0", n, err)
	}
	// A session whose activation is refused (the slot is not its own)
	// stays running.
	other := running("rs-2")
	wantConflict(t, "ActivateEpoch of an unclaimed epoch", s.ActivateEpoch(ctx, "w", other.ID, 2, nil, acks))
	if got := mustGetSession(t, s, other.ID); got.State != store.StateRunning || got.StoredAcks != nil {
		t.Fatalf("a refused activation changed its session: %+v", got)
	}
}

// Of concurrent claims on one wallet, one wins, round after round; claims
// on different wallets do not get in each other's way.
func testConcurrentBeginReshare(t *testing.T, s store.Store) {
	const (
		goroutines = 8
		rounds     = 4
	)
	mustCreate(t, s, wallet("w", "", base))
	mustCreate(t, s, wallet("w-own", "", base))
	made := "" // the session that made the active epoch
	for round := range rounds {
		errs := make([]error, goroutines)
		var own error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				<-start
				now := time.Now()
				errs[g] = s.BeginReshare(ctx, "w", round, fmt.Sprintf("rs-%d-%d", round, g), now, now.Add(-staleAfter))
			})
		}
		wg.Go(func() {
			<-start
			now := time.Now()
			own = s.BeginReshare(ctx, "w-own", round, fmt.Sprintf("own-%d", round), now, now.Add(-staleAfter))
		})
		close(start)
		wg.Wait()
		winner := -1
		for g, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: rs-%d-%d and rs-%d-%d both claimed the slot", round, round, winner, round, g)
			case err == nil:
				winner = g
			default:
				wantConflict(t, fmt.Sprintf("round %d: BeginReshare(rs-%d-%d)", round, round, g), err)
			}
		}
		if own != nil {
			t.Errorf("round %d: the claim on another wallet = %v", round, own)
		}
		if winner < 0 {
			t.Fatalf("round %d: no claim won", round)
		}
		session := fmt.Sprintf("rs-%d-%d", round, winner)
		wantEpochs(t, s, fmt.Sprintf("round %d", round), "w", round, made, round+1, session)
		if err := s.ActivateEpoch(ctx, "w", session, round+1, nil, nil); err != nil {
			t.Fatalf("round %d: ActivateEpoch(%s): %v", round, session, err)
		}
		made = session
		if err := s.ActivateEpoch(ctx, "w-own", fmt.Sprintf("own-%d", round), round+1, nil, nil); err != nil {
			t.Fatalf("round %d: ActivateEpoch(own-%d): %v", round, round, err)
		}
	}
	wantEpochs(t, s, fmt.Sprintf("after %d rounds", rounds), "w", rounds, made, 0, "")
}

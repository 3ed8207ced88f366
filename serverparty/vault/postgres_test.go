package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rwadurian/tsskit/internal/testdb"
	"github.com/rwadurian/tsskit/party/share"
)

// pgBackend is the suite's database: a fresh schema per test, and the
// golden share's party as the owner.
type pgBackend struct {
	url, owner string
	db         *pgx.Conn // the test's own connection, to read and tamper with rows
}

func newPGBackend(t *testing.T) *pgBackend {
	t.Helper()
	u := testdb.Postgres(t)
	return &pgBackend{url: u, owner: goldenShare(t).PartyID, db: testConn(t, u)}
}

func testConn(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func openPG(t *testing.T, u, owner string, k *MasterKey) *Vault {
	t.Helper()
	v, err := OpenPostgres(context.Background(), u, owner, k)
	return mustOpen(t, v, err)
}

func (b *pgBackend) open(t *testing.T, k *MasterKey) *Vault {
	t.Helper()
	return openPG(t, b.url, b.owner, k)
}

func (b *pgBackend) openErr(k *MasterKey) (*Vault, error) {
	return OpenPostgres(context.Background(), b.url, b.owner, k)
}

// exec runs sql and returns the number of rows it affected.
func (b *pgBackend) exec(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	tag, err := b.db.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tag.RowsAffected()
}

func (b *pgBackend) rawShare(t *testing.T, walletID, partyID string) []byte {
	t.Helper()
	var rec string
	if err := b.db.QueryRow(context.Background(), `SELECT record FROM vault_shares WHERE wallet_id = $1 AND party_id = $2`, walletID, partyID).Scan(&rec); err != nil {
		t.Fatal(err)
	}
	return []byte(rec)
}

func (b *pgBackend) setRawShare(t *testing.T, walletID, partyID string, data []byte) {
	t.Helper()
	if b.exec(t, `UPDATE vault_shares SET record = $3 WHERE wallet_id = $1 AND party_id = $2`, walletID, partyID, string(data)) != 1 {
		t.Fatalf("no share row of wallet %q for party %q", walletID, partyID)
	}
}

func (b *pgBackend) rawPending(t *testing.T, walletID, partyID string) []byte {
	t.Helper()
	var rec string
	err := b.db.QueryRow(context.Background(), `SELECT record FROM vault_pending_shares WHERE wallet_id = $1 AND party_id = $2`, walletID, partyID).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return []byte(rec)
}

func (b *pgBackend) setRawPending(t *testing.T, walletID, partyID string, data []byte) {
	t.Helper()
	b.exec(t, `INSERT INTO vault_pending_shares (wallet_id, party_id, record) VALUES ($1, $2, $3)
		ON CONFLICT (wallet_id, party_id) DO UPDATE SET record = EXCLUDED.record`, walletID, partyID, string(data))
}

func (b *pgBackend) deleteRawPending(t *testing.T, walletID, partyID string) {
	t.Helper()
	b.exec(t, `DELETE FROM vault_pending_shares WHERE wallet_id = $1 AND party_id = $2`, walletID, partyID)
}

func (b *pgBackend) entries(t *testing.T) []rawEntry {
	t.Helper()
	rows, _ := b.db.Query(context.Background(), `SELECT id, record FROM vault_preparams WHERE owner = $1 ORDER BY seq`, b.owner)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rawEntry, error) {
		var id, rec string
		err := row.Scan(&id, &rec)
		return rawEntry{id, []byte(rec)}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *pgBackend) setRawEntry(t *testing.T, id string, data []byte) {
	t.Helper()
	if b.exec(t, `UPDATE vault_preparams SET record = $2 WHERE id = $1`, id, string(data)) != 1 {
		t.Fatalf("no entry %s", id)
	}
}

func (b *pgBackend) renameEntry(t *testing.T, id, newID string) {
	t.Helper()
	if b.exec(t, `UPDATE vault_preparams SET id = $2 WHERE id = $1`, id, newID) != 1 {
		t.Fatalf("no entry %s", id)
	}
}

func (b *pgBackend) setAside(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM vault_preparams_corrupt WHERE owner = $1`, b.owner).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *pgBackend) asideNote() string { return "vault_preparams_corrupt" }

// checkClean: every row holds a record that parses, in the row it says.
func (b *pgBackend) checkClean(t *testing.T) {
	t.Helper()
	for _, table := range []string{"vault_shares", "vault_pending_shares"} {
		rows, _ := b.db.Query(context.Background(), `SELECT wallet_id, party_id, record FROM `+table)
		var walletID, partyID, rec string
		_, err := pgx.ForEachRow(rows, []any{&walletID, &partyID, &rec}, func() error {
			f, err := parseRecord(shareRow(walletID, partyID), kindShare, []byte(rec))
			if err == nil && (f.WalletID != walletID || f.PartyID != partyID) {
				err = fmt.Errorf("%s row (%q, %q) holds the record of (%q, %q)", table, walletID, partyID, f.WalletID, f.PartyID)
			}
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}
	for _, e := range b.entries(t) {
		if _, err := parseRecord(preParamsRow(e.id), kindPreParams, e.rec); err != nil {
			t.Error(err)
		}
	}
}

// TestPostgresPoolsConcurrent: two server parties' pools in one database,
// each drained by several Vaults (processes) at once: every entry is
// handed out exactly once, and only to its owner.
func TestPostgresPoolsConcurrent(t *testing.T) {
	const perPool, vaultsPerOwner, takersPerVault = 8, 3, 2
	u := testdb.Postgres(t)
	k := newKey(t) // one key for both, so that a wrong owner's entry would decrypt
	owners := []string{"server-a", "server-b"}
	pps := distinctPreParams(t, perPool*len(owners))
	put := map[string]string{} // H1i -> owner
	for i, owner := range owners {
		mine := pps[i*perPool : (i+1)*perPool]
		putAll(t, openPG(t, u, owner, k), mine)
		for _, pp := range mine {
			put[pp.H1i.String()] = owner
		}
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string][]string{} // H1i -> the owners it was handed to
		errs []error
	)
	for _, owner := range owners {
		for range vaultsPerOwner {
			v := openPG(t, u, owner, k)
			for range takersPerVault {
				wg.Go(func() {
					for {
						pp, err := v.TakePreParams()
						if errors.Is(err, ErrEmpty) {
							return
						}
						mu.Lock()
						if err != nil {
							errs = append(errs, err)
						} else {
							seen[pp.H1i.String()] = append(seen[pp.H1i.String()], owner)
						}
						mu.Unlock()
						if err != nil {
							return
						}
					}
				})
			}
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(put) {
		t.Fatalf("%d distinct entries taken, want %d", len(seen), len(put))
	}
	for h, to := range seen {
		if len(to) != 1 {
			t.Fatalf("an entry was handed out %d times", len(to))
		}
		if to[0] != put[h] {
			t.Fatalf("an entry of %s was handed to %s", put[h], to[0])
		}
	}
	for _, owner := range owners {
		if n := openPG(t, u, owner, k).CountPreParams(); n != 0 {
			t.Fatalf("%s: CountPreParams %d after draining", owner, n)
		}
	}
}

// TestPostgresConcurrentOpen: server parties opening a new database at
// once create the tables once, and a schema newer than this build is
// refused.
func TestPostgresConcurrentOpen(t *testing.T) {
	u := testdb.Postgres(t)
	k := newKey(t)
	vaults := make([]*Vault, 8)
	errs := make([]error, len(vaults))
	var wg sync.WaitGroup
	for i := range vaults {
		wg.Go(func() {
			vaults[i], errs[i] = OpenPostgres(context.Background(), u, fmt.Sprintf("server-%d", i), k)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("OpenPostgres %d: %v", i, err)
		}
		defer vaults[i].Close()
	}
	for i, v := range vaults {
		if n := v.CountPreParams(); n != 0 || v.HasShare("w", fmt.Sprintf("server-%d", i)) {
			t.Fatalf("vault %d not empty", i)
		}
	}
	db := testConn(t, u)
	var n, max int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*), MAX(version) FROM vault_schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(pgMigrations) || max != len(pgMigrations) {
		t.Fatalf("vault_schema_migrations: %d rows up to version %d; want %d", n, max, len(pgMigrations))
	}

	// Opening waits for the lock, within the context's deadline.
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), qPGLock, pgMigrationLock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = OpenPostgres(ctx, u, "server-0", k)
	cancel()
	if !errors.Is(err, ErrIO) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenPostgres while another holds the migration lock: got %v, want ErrIO and the deadline", err)
	}
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}

	if _, err := db.Exec(context.Background(), `INSERT INTO vault_schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPostgres(context.Background(), u, "server-0", k)
	if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("OpenPostgres on a newer schema: got %v", err)
	}
}

// TestPostgresMigrateV1: a database at schema version 1, from before
// pending shares, is brought to the current version at open, its shares
// kept, and takes pending shares.
func TestPostgresMigrateV1(t *testing.T) {
	r := goldenShare(t)
	u := testdb.Postgres(t)
	db := testConn(t, u)
	ctx := context.Background()
	k := newKey(t)
	for _, stmt := range append([]string{qPGCreateMigrations}, pgMigrations[0]...) {
		if _, err := db.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := sealFile(k, kindShare, r.WalletID, r.PartyID, "", mustEncode(t, r), shareAAD(r.WalletID, r.PartyID, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, qPGRecordMigration, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, qPGPutShare, r.WalletID, r.PartyID, string(rec)); err != nil {
		t.Fatal(err)
	}

	v := openPG(t, u, r.PartyID, k)
	var version int
	if err := db.QueryRow(ctx, qPGSchemaVersion).Scan(&version); err != nil || version != len(pgMigrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(pgMigrations))
	}
	got, err := v.GetShare(r.WalletID, r.PartyID)
	sameShare(t, "the share stored before the migration", got, err, r)
	r1 := atEpoch(t, r, 1)
	if err := v.PutPendingShare(r1); err != nil {
		t.Fatal(err)
	}
	if err := v.ActivateShare(r.WalletID, r.PartyID, 1); err != nil {
		t.Fatal(err)
	}
	got, err = v.GetShare(r.WalletID, r.PartyID)
	sameShare(t, "the share activated after the migration", got, err, r1)
}

// TestPostgresTamperedRows: a row's ciphertext changed, or a row copied to
// another wallet or party, does not decrypt.
func TestPostgresTamperedRows(t *testing.T) {
	r := goldenShare(t)
	b := newPGBackend(t)
	k := newKey(t)
	v := b.open(t, k)
	if err := v.PutShare(r); err != nil {
		t.Fatal(err)
	}
	orig := b.rawShare(t, r.WalletID, r.PartyID)

	// The ciphertext, one bit.
	m := decodeJSON(t, orig)
	ct, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
	ct[len(ct)/2] ^= 0x01
	m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	b.setRawShare(t, r.WalletID, r.PartyID, encodeJSON(t, m))
	_, err := v.GetShare(r.WalletID, r.PartyID)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "vault_shares") {
		t.Fatalf("tampered ciphertext: got %v", err)
	}
	b.setRawShare(t, r.WalletID, r.PartyID, orig)

	// Copied to another wallet: the header gives it away...
	b.exec(t, `INSERT INTO vault_shares (wallet_id, party_id, record) SELECT 'wallet-copy', party_id, record FROM vault_shares WHERE wallet_id = $1`, r.WalletID)
	if _, err := v.GetShare("wallet-copy", r.PartyID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("row copied to another wallet: got %v", err)
	}
	if _, err := v.ListShares(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ListShares with a copied row: got %v", err)
	}
	// ... and, the header edited to match, the AAD does.
	m = decodeJSON(t, orig)
	m["wallet_id"] = "wallet-copy"
	b.setRawShare(t, "wallet-copy", r.PartyID, encodeJSON(t, m))
	_, err = v.GetShare("wallet-copy", r.PartyID)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("row copied to another wallet, header edited: got %v", err)
	}

	// Copied to another party, under the same key: as much.
	other := "server-1"
	m = decodeJSON(t, orig)
	m["party_id"] = other
	b.exec(t, `INSERT INTO vault_shares (wallet_id, party_id, record) VALUES ($1, $2, $3)`, r.WalletID, other, string(encodeJSON(t, m)))
	_, err = openPG(t, b.url, other, k).GetShare(r.WalletID, other)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("row copied to another party: got %v", err)
	}

	// The original is untouched throughout.
	if got, err := v.GetShare(r.WalletID, r.PartyID); err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, r)) {
		t.Fatalf("original share: %v", err)
	}
}

// TestPostgresOwner: a vault holds its owner's shares only.
func TestPostgresOwner(t *testing.T) {
	r := goldenShare(t)
	b := newPGBackend(t)
	k := newKey(t)
	if err := b.open(t, k).PutShare(r); err != nil {
		t.Fatal(err)
	}
	other := openPG(t, b.url, "server-1", k)
	if err := other.PutShare(r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutShare of another party's share: got %v, want ErrInvalid", err)
	}
	if _, err := other.GetShare(r.WalletID, r.PartyID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("GetShare of another party's share: got %v, want ErrInvalid", err)
	}
	if other.HasShare(r.WalletID, r.PartyID) {
		t.Fatal("HasShare of another party's share")
	}
	if refs, err := other.ListShares(); err != nil || len(refs) != 0 {
		t.Fatalf("ListShares of another party: %v, %v", refs, err)
	}
	r1 := atEpoch(t, r, 1)
	if err := other.PutPendingShare(r1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutPendingShare of another party's share: got %v, want ErrInvalid", err)
	}
	if err := b.open(t, k).PutPendingShare(r1); err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetPendingShare(r.WalletID, r.PartyID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("GetPendingShare of another party's share: got %v, want ErrInvalid", err)
	}
	if err := other.ActivateShare(r.WalletID, r.PartyID, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ActivateShare of another party's share: got %v, want ErrInvalid", err)
	}
	for _, owner := range []string{"", "a b", strings.Repeat("x", 200)} {
		if _, err := OpenPostgres(context.Background(), b.url, owner, k); !errors.Is(err, ErrInvalid) {
			t.Errorf("owner %q: got %v, want ErrInvalid", owner, err)
		}
	}
	if _, err := OpenPostgres(context.Background(), "", "server-1", k); !errors.Is(err, ErrInvalid) {
		t.Errorf("no URL: got %v, want ErrInvalid", err)
	}
}

// TestPostgresRotateOwners: Rotate re-encrypts its owner's rows, all of
// them, and no other party's; reopened under the new key, the vault reads
// every share and entry.
func TestPostgresRotateOwners(t *testing.T) {
	r := goldenShare(t)
	pps := fixturePreParams(t)
	b := newPGBackend(t)
	kA1, kA2, kB := newKey(t), newKey(t), newKey(t)
	a := b.open(t, kA1)
	var shares []*share.Record
	for i := range 6 {
		s := inWallet(r, fmt.Sprintf("wallet-%d", i))
		if err := a.PutShare(s); err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	for _, pp := range pps[:3] {
		if _, err := a.PutPreParams(pp); err != nil {
			t.Fatal(err)
		}
	}
	// Another server party in the same database, under its own key: a
	// pool entry, and a share row (its plaintext does not matter here).
	other := r.Parties[2]
	vb := openPG(t, b.url, other, kB)
	if _, err := vb.PutPreParams(pps[3]); err != nil {
		t.Fatal(err)
	}
	rawB, err := sealFile(kB, kindShare, "wallet-b", other, "", []byte("a share"), shareAAD("wallet-b", other, ""))
	if err != nil {
		t.Fatal(err)
	}
	b.exec(t, `INSERT INTO vault_shares (wallet_id, party_id, record) VALUES ($1, $2, $3)`, "wallet-b", other, string(rawB))
	// And a pending share of each.
	pending := atEpoch(t, shares[0], 1)
	if err := a.PutPendingShare(pending); err != nil {
		t.Fatal(err)
	}
	b.setRawPending(t, "wallet-b", other, rawB)

	n, err := a.Rotate(kA2)
	if err != nil || n != 10 {
		t.Fatalf("Rotate: %d, %v; want 10", n, err)
	}
	if !bytes.Equal(b.rawShare(t, "wallet-b", other), rawB) {
		t.Fatal("Rotate rewrote another party's share")
	}
	if !bytes.Equal(b.rawPending(t, "wallet-b", other), rawB) {
		t.Fatal("Rotate rewrote another party's pending share")
	}
	if refs, err := vb.ListShares(); err != nil || len(refs) != 1 || refs[0].KeyID != kB.ID() {
		t.Fatalf("the other party's shares: %v, %v", refs, err)
	}
	if got, err := vb.TakePreParams(); err != nil || !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[3])) {
		t.Fatalf("the other party's pool: %v", err)
	}

	a.Close()
	a = b.open(t, kA2)
	for _, s := range shares {
		got, err := a.GetShare(s.WalletID, s.PartyID)
		if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, s)) {
			t.Fatalf("after Rotate, reopened: %v", err)
		}
	}
	for i := range 3 {
		got, err := a.TakePreParams()
		if err != nil || !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[i])) {
			t.Fatalf("take %d after Rotate: %v", i, err)
		}
	}
	if got, err := a.GetPendingShare(pending.WalletID, pending.PartyID); err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, pending)) {
		t.Fatalf("pending share after Rotate, reopened: %v", err)
	}
	if _, err := b.open(t, kA1).GetShare(shares[0].WalletID, shares[0].PartyID); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key after Rotate: got %v, want ErrWrongKey", err)
	}
}

// TestPostgresNoPassword: the password of the database URL appears in no
// error and not in Location.
func TestPostgresNoPassword(t *testing.T) {
	const pw = "pw-Zq8uT3sW9x"
	k := newKey(t)
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, pw) {
				t.Fatalf("%s: the error quotes the password: %s", what, s)
			}
		}
		if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
			t.Fatalf("%s: the driver's connect error, with its configuration, is reachable", what)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %T, want *Error", what, err)
		}
	}
	for _, u := range []string{
		"postgres://u:" + pw + "@127.0.0.1:notaport/db",
		"postgres://u:" + pw + "@[::1/db",
		"host=127.0.0.1 port=1 user=u password=" + pw + " dbname=d connect_timeout=5 sslmode=disable",
		"postgres://u:" + pw + "@127.0.0.1:1/db?connect_timeout=5&sslmode=disable",
	} {
		_, err := OpenPostgres(context.Background(), u, "server-1", k)
		check("open", err)
	}

	// The test database with the password in its URL: the server may
	// accept it (trust) or refuse it; either way nothing quotes it.
	parsed, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	parsed.User = url.UserPassword(parsed.User.Username(), pw)
	v, err := OpenPostgres(context.Background(), parsed.String(), "server-1", k)
	if err != nil {
		check("open with a password", err)
		return
	}
	if strings.Contains(v.Location(), pw) || !strings.HasPrefix(v.Location(), "postgres://") || v.Dir() != "" {
		t.Fatalf("Location %q, Dir %q", v.Location(), v.Dir())
	}
	v.Close()
	_, err = v.TakePreParams()
	check("closed", err)
	if !errors.Is(err, ErrIO) {
		t.Fatalf("take from a closed vault: %v", err)
	}
}

// TestPostgresReconnect: connections the server dropped while idle (a
// restart, an administrator) are replaced before a statement runs on
// them: the caller sees no error.
func TestPostgresReconnect(t *testing.T) {
	r := goldenShare(t)
	b := newPGBackend(t)
	// A name of the test's own, to find its connections among those of
	// whatever else uses the server.
	app := "tsskit-vault-" + rand.Text()
	v := openPG(t, testdb.WithParams(t, b.url, "application_name", app), b.owner, newKey(t))
	if err := v.PutShare(r); err != nil {
		t.Fatal(err)
	}
	// In the select list, pg_terminate_backend runs for the rows that
	// pass the WHERE only.
	rows, _ := b.db.Query(context.Background(), `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1`, app)
	killed, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		t.Fatal(err)
	}
	if len(killed) == 0 {
		t.Fatal("the vault has no connection open")
	}
	if idle := v.store.(*pgStore).pool.Stat().IdleConns(); int(idle) != len(killed) {
		t.Fatalf("%d connections terminated, %d idle in the pool", len(killed), idle)
	}
	// pgxpool pings a connection idle for more than a second before
	// handing it out; one used sooner fails its statement.
	time.Sleep(1100 * time.Millisecond)
	if _, err := v.GetShare(r.WalletID, r.PartyID); err != nil {
		t.Fatalf("after the server dropped the connections: %v", err)
	}
	if !v.HasShare(r.WalletID, r.PartyID) {
		t.Fatal("HasShare after the server dropped the connections")
	}
}

// TestPostgresSessionSettings: the vault's connections are named and
// commit synchronously, unless the URL says otherwise.
func TestPostgresSessionSettings(t *testing.T) {
	u := testdb.Postgres(t)
	show := func(v *Vault) (app, sync string) {
		t.Helper()
		err := v.store.(*pgStore).pool.QueryRow(context.Background(),
			`SELECT current_setting('application_name'), current_setting('synchronous_commit')`).Scan(&app, &sync)
		if err != nil {
			t.Fatal(err)
		}
		return app, sync
	}
	if app, sync := show(openPG(t, u, "server-1", newKey(t))); app != pgAppName || sync != "on" {
		t.Fatalf("application_name %q, synchronous_commit %q", app, sync)
	}
	mine := testdb.WithParams(t, u, "application_name", "mine", "synchronous_commit", "local")
	if app, sync := show(openPG(t, mine, "server-1", newKey(t))); app != "mine" || sync != "local" {
		t.Fatalf("set in the URL: application_name %q, synchronous_commit %q", app, sync)
	}
}

// TestPostgresPoolSize: a vault opens pgMaxConns connections at most;
// pool_max_conns in the URL may lower that, not raise it, and is not sent
// to the server (which would refuse an unknown setting).
func TestPostgresPoolSize(t *testing.T) {
	u := testdb.Postgres(t)
	k := newKey(t)
	for _, c := range []struct {
		param string
		want  int32
	}{
		{"", pgMaxConns},
		{"1", 1},
		{"100", pgMaxConns},
	} {
		dsn := u
		if c.param != "" {
			dsn = testdb.WithParams(t, u, "pool_max_conns", c.param)
		}
		v := openPG(t, dsn, "server-1", k)
		pool := v.store.(*pgStore).pool
		if got := pool.Stat().MaxConns(); got != c.want {
			t.Errorf("pool_max_conns %q: %d connections at most, want %d", c.param, got, c.want)
		}
		// Busier than the pool: callers wait their turn.
		errs := make([]error, 3*pgMaxConns)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = v.ListShares() })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Errorf("pool_max_conns %q: %v", c.param, err)
		}
		if got := pool.Stat().TotalConns(); got < 1 || got > c.want {
			t.Errorf("pool_max_conns %q: %d connections open, want 1 to %d", c.param, got, c.want)
		}
	}
}

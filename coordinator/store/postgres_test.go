package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/coordinator/store/storetest"
	"github.com/rwadurian/tsskit/internal/testdb"
)

func openPG(t *testing.T, dbURL string) *store.Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.OpenPostgres(ctx, dbURL)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	return s
}

// pgConn is a plain connection to the test schema at dbURL, for looking
// behind the store's back.
func pgConn(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// migrationCounts is how many rows schema_migrations has per version.
func migrationCounts(t *testing.T, c *pgx.Conn) map[int]int {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT version, COUNT(*) FROM schema_migrations GROUP BY version`)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int, error) {
		var v [2]int
		err := r.Scan(&v[0], &v[1])
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]int{}
	for _, c := range counts {
		m[c[0]] = c[1]
	}
	return m
}

// checkMigratedOnce checks schema_migrations has every version once.
func checkMigratedOnce(t *testing.T, c *pgx.Conn) {
	t.Helper()
	got := migrationCounts(t, c)
	want := map[int]int{}
	for v := 1; v <= store.LatestSchemaVersion(); v++ {
		want[v] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schema_migrations rows per version = %v, want %v", got, want)
	}
}

func TestPostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPG(t, testdb.Postgres(t))
	})
}

// Replicas starting at once on a new database: every one opens it, and
// each migration is applied once.
func TestPostgresConcurrentOpen(t *testing.T) {
	const replicas = 4
	for round := range 3 {
		dbURL := testdb.Postgres(t)
		start := make(chan struct{})
		stores := make([]*store.Postgres, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				<-start
				stores[i], errs[i] = store.OpenPostgres(ctx, dbURL)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: replica %d: OpenPostgres: %v", round, i, err)
			}
			defer stores[i].Close()
		}
		checkMigratedOnce(t, pgConn(t, dbURL))
		// They share the data.
		ctx := context.Background()
		w := testWallet()
		if err := stores[0].CreateWallet(ctx, w); err != nil {
			t.Fatal(err)
		}
		for i, s := range stores[1:] {
			if _, err := s.GetWallet(ctx, w.ID); err != nil {
				t.Errorf("round %d: replica %d: GetWallet: %v", round, i+1, err)
			}
			if err := s.CreateWallet(ctx, testWallet()); !errors.Is(err, store.ErrExists) {
				t.Errorf("round %d: replica %d: CreateWallet(same wallet) = %v, want ErrExists", round, i+1, err)
			}
		}
	}
}

// The migrations wait for the advisory lock: a process holding it (here,
// a transaction of the test's own) keeps OpenPostgres waiting, and the
// migrations run once it lets go.
func TestPostgresMigrationLock(t *testing.T) {
	ctx := context.Background()
	dbURL := testdb.Postgres(t)
	c := pgConn(t, dbURL)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, store.MigrationLock); err != nil {
		t.Fatal(err)
	}
	type result struct {
		s   *store.Postgres
		err error
	}
	done := make(chan result, 1)
	go func() {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := store.OpenPostgres(octx, dbURL)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.s != nil {
			r.s.Close()
		}
		t.Fatalf("OpenPostgres returned (%v) while another process held the migration lock", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	var tables int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables created while the lock was held elsewhere", tables)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("OpenPostgres after the lock was released: %v", r.err)
	}
	defer r.s.Close()
	checkMigratedOnce(t, c)
}

func TestPostgresReopen(t *testing.T) {
	ctx := context.Background()
	dbURL := testdb.Postgres(t)
	s := openPG(t, dbURL)
	w := testWallet()
	if err := s.CreateWallet(ctx, w); err != nil {
		t.Fatal(err)
	}
	sess := &store.Session{
		ID: "sess-1", Kind: store.SessionSign, WalletID: w.ID, Parties: []string{"user-42", "server-a"},
		State: store.StateRunning, Digest: bytes.Repeat([]byte{7}, 32), CreatedAt: w.CreatedAt,
		Owner: "coordinator-0", OwnerAddr: "coordinator-0.coordinator:4000",
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: the data is there, the migrations are not run again, and the
	// session left running by the previous process is failed by its owner.
	s = openPG(t, dbURL)
	defer s.Close()
	checkReopened(t, s, w)
	if n, err := s.FailUnfinishedOwned(ctx, "coordinator-1", "restarted", time.Now()); err != nil || n != 0 {
		t.Errorf("FailUnfinishedOwned(another replica) = %d, %v; want 0", n, err)
	}
	if n, err := s.FailUnfinishedOwned(ctx, "coordinator-0", "restarted", time.Now()); err != nil || n != 1 {
		t.Errorf("FailUnfinishedOwned(coordinator-0) after reopen = %d, %v; want 1", n, err)
	}
	gs, err := s.GetSession(ctx, "sess-1")
	if err != nil || gs.State != store.StateFailed || gs.Owner != sess.Owner || gs.OwnerAddr != sess.OwnerAddr {
		t.Errorf("session after reopen = %+v, %v", gs, err)
	}
	checkMigratedOnce(t, pgConn(t, dbURL))
}

func TestPostgresNewerSchema(t *testing.T) {
	dbURL := testdb.Postgres(t)
	openPG(t, dbURL).Close()
	c := pgConn(t, dbURL)
	if _, err := c.Exec(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`, store.LatestSchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenPostgres(context.Background(), dbURL)
	if err == nil {
		s.Close()
		t.Fatal("OpenPostgres of a database from a newer program succeeded")
	}
	if !strings.Contains(err.Error(), "newer") || !strings.HasPrefix(err.Error(), "store: postgres: ") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
	// Refusing changed nothing.
	if got := migrationCounts(t, c); len(got) != store.LatestSchemaVersion()+1 {
		t.Errorf("schema_migrations after the refusal: %v", got)
	}
}

func TestPostgresMigrateFromV1(t *testing.T) {
	dbURL := testdb.Postgres(t)
	c := pgConn(t, dbURL)
	testMigrateFromV1(t, func(q string, args ...any) error {
		_, err := c.Exec(context.Background(), q, args...)
		return err
	}, func() store.Store { return openPG(t, dbURL) })
	checkMigratedOnce(t, c)
}

// closedPort is a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestPostgresUnreachable(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	dbURL := fmt.Sprintf("postgres://tsskit:%s@127.0.0.1:%d/coordinator?sslmode=disable&connect_timeout=3", secret, closedPort(t))
	start := time.Now()
	s, err := store.OpenPostgres(context.Background(), dbURL)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("OpenPostgres of a closed port succeeded")
	}
	t.Logf("after %v: %v", took, err)
	if took > 5*time.Second {
		t.Errorf("OpenPostgres took %v to fail", took)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "store: postgres: cannot reach the database: ") || !strings.Contains(msg, "127.0.0.1") {
		t.Errorf("error %q does not say which database could not be reached", msg)
	}
	if strings.Contains(msg, secret) {
		t.Errorf("error %q contains the password", msg)
	}

	// The caller's context bounds it too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := store.OpenPostgres(ctx, dbURL); !errors.Is(err, context.Canceled) {
		if s != nil {
			s.Close()
		}
		t.Errorf("OpenPostgres with a canceled context = %v, want context.Canceled", err)
	}
}

func TestPostgresBadURL(t *testing.T) {
	const secret = "hunter2-Secret"
	for _, u := range []string{
		"postgres://tsskit:" + secret + "@db.example:notaport/coordinator",
		"postgres://tsskit:" + secret + "@db.example:5432/coordinator?connect_timeout=soon",
		"postgres://tsskit:" + secret + "@db.example:5432/coordinator?pool_max_conns=0",
		"postgres://tsskit:" + secret + "@db.example:5432/coordinator?pool_max_conns=many",
		"postgres://tsskit:" + secret + "%zz@db.example:5432/coordinator",
		"postgres://tsskit:" + secret + "@[::1/coordinator",
		"postgres://tsskit:" + secret + "@db.example:5432/coordinator?sslmode=sometimes",
		"host=db.example password=" + secret + " port=notaport",
		"host=db.example password='" + secret + " with spaces' sslmode=sometimes",
		"mysql://tsskit:" + secret + "@db.example/coordinator",
	} {
		start := time.Now()
		s, err := store.OpenPostgres(context.Background(), u)
		if err == nil {
			s.Close()
			t.Errorf("OpenPostgres(%q) succeeded", u)
			continue
		}
		msg := err.Error()
		t.Logf("%v", msg)
		if !strings.HasPrefix(msg, "store: postgres: ") {
			t.Errorf("error %q lacks the store: postgres: prefix", msg)
		}
		if strings.Contains(msg, secret) || strings.Contains(msg, "hunter2") {
			t.Errorf("error %q contains the password", msg)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("OpenPostgres(%q) took %v to fail", u, time.Since(start))
		}
	}
}

// The server's own refusal (an unknown role) does not show the password
// either.
func TestPostgresPasswordNotInServerError(t *testing.T) {
	const secret = "n0t-Shown-anywhere"
	u, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("no_such_role_tsskit", secret)
	s, err := store.OpenPostgres(context.Background(), u.String())
	if err == nil {
		s.Close()
		t.Fatal("OpenPostgres as an unknown role succeeded")
	}
	t.Logf("%v", err)
	if msg := err.Error(); strings.Contains(msg, secret) || !strings.HasPrefix(msg, "store: postgres: ") {
		t.Errorf("error %q: want the store: postgres: prefix and no password", msg)
	}
}

// pool_max_conns bounds the connections (and is not sent to the server,
// which would refuse an unknown setting).
func TestPostgresPoolMaxConns(t *testing.T) {
	// A name of the test's own, to find its connections among those of
	// whatever else uses the server.
	app := "tsskit-store-" + rand.Text()
	dbURL := testdb.Postgres(t)
	s := openPG(t, testdb.WithParams(t, dbURL, "pool_max_conns", "2", "application_name", app))
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateWallet(ctx, testWallet()); err != nil {
		t.Fatal(err)
	}
	c := pgConn(t, dbURL)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		most     int
		failures []error
	)
	for range 16 {
		wg.Go(func() {
			for range 20 {
				_, err := s.GetWallet(ctx, testWallet().ID)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			var n int
			if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
				return
			}
			mu.Lock()
			most = max(most, n)
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	if most == 0 || most > 2 {
		t.Errorf("the store had up to %d connections, want 1 or 2", most)
	}
}

// Connections the server dropped while idle (a restart, a failover, an
// administrator) are replaced before a statement runs on them: the
// caller sees no error.
func TestPostgresReconnect(t *testing.T) {
	app := "tsskit-store-" + rand.Text()
	dbURL := testdb.Postgres(t)
	s := openPG(t, testdb.WithParams(t, dbURL, "application_name", app))
	defer s.Close()
	ctx := context.Background()
	w := testWallet()
	if err := s.CreateWallet(ctx, w); err != nil {
		t.Fatal(err)
	}
	// In the select list, pg_terminate_backend runs for the rows that
	// pass the WHERE only.
	rows, _ := pgConn(t, dbURL).Query(ctx, `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1`, app)
	killed, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		t.Fatal(err)
	}
	if len(killed) == 0 {
		t.Fatal("the store has no connection open")
	}
	// pgxpool pings a connection idle for more than a second before
	// handing it out; one used sooner fails its statement.
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.GetWallet(ctx, w.ID); err != nil {
		t.Fatalf("after the server dropped the connections: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the server dropped the connections: %v", err)
	}
}

// pgSessions describes the sessions table of the test schema, for the
// migration test: its columns, its constraints and its indexes, by name.
func pgSessions(t *testing.T, c *pgx.Conn) map[string]string {
	t.Helper()
	ctx := context.Background()
	m := map[string]string{}
	for _, q := range []string{
		`SELECT 'column ' || column_name, '#' || ordinal_position || ' ' || data_type || ' nullable ' || is_nullable || ' default ' || COALESCE(column_default, 'none')
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'sessions'`,
		`SELECT 'constraint ' || conname, contype::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'sessions'::regclass`,
		`SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'sessions'`,
	} {
		rows, err := c.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var v [2]string
			err := r.Scan(&v[0], &v[1])
			return v, err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range kv {
			m[v[0]] = v[1]
		}
	}
	return m
}

func TestPostgresMigrateFromV5(t *testing.T) {
	dbURL := testdb.Postgres(t)
	c := pgConn(t, dbURL)
	testMigrateFromV5(t, func(q string, args ...any) error {
		_, err := c.Exec(context.Background(), q, args...)
		return err
	}, func() map[string]string { return pgSessions(t, c) }, func() store.Store { return openPG(t, dbURL) })
	checkMigratedOnce(t, c)
	// The names PostgreSQL gave them when migration 1 created the table.
	got := pgSessions(t, c)
	for _, k := range []string{"constraint sessions_pkey", "constraint sessions_kind_check", "constraint sessions_state_check",
		"index sessions_pkey", "index sessions_state", "index sessions_wallet", "index sessions_live"} {
		if _, ok := got[k]; !ok {
			t.Errorf("after the migration, sessions has no %s: %v", k, got)
		}
	}
}

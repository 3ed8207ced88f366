package store

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rwadurian/tsskit/internal/testdb"
)

// The pool is pgxpool's; these check what OpenPostgres asks of it.

func TestPGPoolConfig(t *testing.T) {
	cfg, secrets, err := pgPoolConfig("postgres://u:pw@db.example/coordinator")
	if err != nil {
		t.Fatal(err)
	}
	if want := int32(max(4, runtime.NumCPU())); cfg.MaxConns != want {
		t.Errorf("MaxConns %d by default, want %d", cfg.MaxConns, want)
	}
	if cfg.ConnConfig.ConnectTimeout != pgConnectTimeout {
		t.Errorf("ConnectTimeout %v by default, want %v", cfg.ConnConfig.ConnectTimeout, pgConnectTimeout)
	}
	// What the documentation of OpenPostgres promises, pgxpool's defaults.
	if cfg.MaxConnLifetime != time.Hour || cfg.MaxConnIdleTime != 30*time.Minute || cfg.HealthCheckPeriod != time.Minute {
		t.Errorf("MaxConnLifetime %v, MaxConnIdleTime %v, HealthCheckPeriod %v by default",
			cfg.MaxConnLifetime, cfg.MaxConnIdleTime, cfg.HealthCheckPeriod)
	}
	if !slices.Equal(secrets, []string{"pw"}) {
		t.Errorf("secrets %q", secrets)
	}

	cfg, _, err = pgPoolConfig("postgres://u@db.example/coordinator?pool_max_conns=2&connect_timeout=3&pool_max_conn_idle_time=1m&search_path=s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 2 || cfg.ConnConfig.ConnectTimeout != 3*time.Second || cfg.MaxConnIdleTime != time.Minute {
		t.Errorf("set in the URL: MaxConns %d, ConnectTimeout %v, MaxConnIdleTime %v", cfg.MaxConns, cfg.ConnConfig.ConnectTimeout, cfg.MaxConnIdleTime)
	}
	// The pool's settings are not sent to the server, which would refuse
	// them; the others are.
	if rp := cfg.ConnConfig.RuntimeParams; len(rp) != 1 || rp["search_path"] != "s" {
		t.Errorf("run-time settings %q, want search_path only", rp)
	}
}

// The pool holds pool_max_conns connections at most: a caller waits for
// one, as long as its context lets it. After Close every call fails.
func TestPGPoolBound(t *testing.T) {
	p, err := OpenPostgres(context.Background(), testdb.Postgres(t)+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n := p.pool.Stat().MaxConns(); n != 1 {
		t.Fatalf("MaxConns %d, want 1", n)
	}
	ctx := context.Background()
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- p.with(ctx, func(*pgx.Conn) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = p.with(wctx, func(*pgx.Conn) error { return errors.New("ran without a free connection") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with while the only connection is in use = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.pool.Stat().TotalConns(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}

	p.Close()
	if err := p.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func TestURLSecrets(t *testing.T) {
	for _, c := range []struct {
		conn string
		want []string
	}{
		{"postgres://u:pw@h/db", []string{"pw"}},
		{"postgresql://u:p%40ss@h:5432/db?sslmode=disable", []string{"p%40ss", "p@ss"}},
		{"postgres://u@h/db?password=q&sslpassword=k", []string{"q", "k"}},
		{"postgres://u:bad%zz@h/db", []string{"bad%zz"}},
		{"postgres://u:pw@h:notaport/db", []string{"pw"}},
		{"host=h user=u password=kv sslmode=disable", []string{"kv"}},
		{"host=h password='two words' user=u", []string{"'two words'", "two words"}},
		{"postgres://u@h/db", nil},
		{"host=h user=u", nil},
	} {
		if got := urlSecrets(c.conn); !slices.Equal(got, c.want) {
			t.Errorf("urlSecrets(%q) = %q, want %q", c.conn, got, c.want)
		}
	}
}

func TestScrub(t *testing.T) {
	base := context.DeadlineExceeded
	err := scrub(errors.Join(errors.New("dial postgres://u:sEcret@h: refused"), base), []string{"sEcret"})
	if strings.Contains(err.Error(), "sEcret") || !strings.Contains(err.Error(), "postgres://u:xxxxx@h") {
		t.Errorf("scrubbed message %q", err)
	}
	if !errors.Is(err, base) {
		t.Error("errors.Is does not see through scrub")
	}
	plain := errors.New("nothing secret")
	if scrub(plain, []string{"sEcret"}) != plain {
		t.Error("scrub wrapped an error that had nothing to hide")
	}
	if scrub(nil, []string{"x"}) != nil {
		t.Error("scrub(nil) is not nil")
	}
}

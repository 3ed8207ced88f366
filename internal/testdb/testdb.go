// Package testdb gives tests their own corner of the real PostgreSQL and
// Redis servers: a fresh schema per test (dropped at cleanup) and a fresh
// key prefix per test (deleted at cleanup).
//
// The servers are found through TSSKIT_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and
// TSSKIT_TEST_REDIS_URL (default redis://127.0.0.1:6379/0). A test that
// needs one fails, rather than skips, when it is not reachable: `make test`
// starts both (scripts/services.sh), and a backend test that silently does
// not run proves nothing.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Defaults for the servers every development machine and CI runs.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// DatabaseURL is the test PostgreSQL server's URL.
func DatabaseURL() string {
	if v := os.Getenv("TSSKIT_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return DefaultDatabaseURL
}

// RedisURL is the test Redis server's URL.
func RedisURL() string {
	if v := os.Getenv("TSSKIT_TEST_REDIS_URL"); v != "" {
		return v
	}
	return DefaultRedisURL
}

func randName(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// Postgres creates an empty schema for t and returns a URL whose
// connections use it (search_path), so that tests running at once never
// see each other's tables. The schema is dropped when t ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := DatabaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testdb: PostgreSQL at %s is not reachable (make test starts it; or set TSSKIT_TEST_DATABASE_URL): %v", redact(base), err)
	}
	defer conn.Close(context.Background())
	schema := randName("t_")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("testdb: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("testdb: drop schema %s: %v", schema, err)
		}
	})
	return WithParams(t, base, "search_path", schema)
}

// WithParams is the URL u with the query parameters kv (name, value, ...)
// set.
func WithParams(t testing.TB, u string, kv ...string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	q := parsed.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// Redis returns a client of the test Redis server and a key prefix of
// t's own ("t_<random>:"); every key under the prefix is deleted when t
// ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testdb: TSSKIT_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("testdb: Redis at %s is not reachable (make test starts it; or set TSSKIT_TEST_REDIS_URL): %v", redact(RedisURL()), err)
	}
	prefix := randName("t_") + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return c, prefix
}

// redact drops a password from a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return strings.TrimSpace(u.String())
}

package testdb

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgresSchemaIsPrivate: two tests' schemas do not see each other's
// tables, and a schema is gone once its test ends.
func TestPostgresSchemaIsPrivate(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("a", func(t *testing.T) {
		first = Postgres(t)
		c, err := pgx.Connect(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "CREATE TABLE private_table (a int)"); err != nil {
			t.Fatal(err)
		}
	})
	second := Postgres(t)
	c, err := pgx.Connect(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE private_table (a int)"); err != nil {
		t.Fatalf("a table of the same name in another test's schema: %v", err)
	}
	schema := first[strings.Index(first, "search_path=")+len("search_path="):]
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("schema %s still there after its test (%d, %v)", schema, n, err)
	}
}

// TestRedisPrefixCleaned: keys under a test's prefix are deleted when it
// ends.
func TestRedisPrefixCleaned(t *testing.T) {
	ctx := context.Background()
	var prefix string
	t.Run("a", func(t *testing.T) {
		r, p := Redis(t)
		prefix = p
		if err := r.Set(ctx, p+"k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	r, p := Redis(t)
	if p == prefix {
		t.Fatal("two tests got the same prefix")
	}
	if n, err := r.Exists(ctx, prefix+"k").Result(); err != nil || n != 0 {
		t.Fatalf("key of an ended test: %d %v", n, err)
	}
}

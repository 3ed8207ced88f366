package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/testdb"
	"github.com/rwadurian/tsskit/router"
)

// The Redis hook times the router bus's real commands against the test
// Redis: its Lua scripts and reads, none of them an error or unnamed.
func TestRedisHook(t *testing.T) {
	c, prefix := testdb.Redis(t)
	m := metrics.New()
	c.AddHook(metrics.RedisHook(m))
	// As on a fresh Redis: no script cached, so the bus's first EVALSHA
	// calls answer NOSCRIPT and go-redis loads them with EVAL.
	if err := c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	bus := router.NewRedisBus(c, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := bus.Open(ctx, router.SessionInfo{ID: "s1", Parties: []string{"a", "b"}, Expires: time.Now().Add(time.Minute), MaxBytes: 1 << 20, MaxEnvelopes: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Info(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Append(ctx, "s1", router.Entry{From: "a", SenderSeq: 1, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if got, err := bus.Read(ctx, "s1", 0, 10); err != nil || len(got) != 1 {
		t.Fatalf("read: %v %v", got, err)
	}
	s := scrape(t, m)
	cmds := s.LabelValues("tsskit_redis_call_duration_seconds", "command")
	if s.Value("tsskit_redis_call_duration_seconds", "result=ok") < 3 || s.Value("tsskit_redis_call_duration_seconds", "result=error") != 0 {
		t.Fatalf("redis calls: commands %v, ok %v, errors %v", cmds, s.Value("tsskit_redis_call_duration_seconds", "result=ok"), s.Value("tsskit_redis_call_duration_seconds", "result=error"))
	}
	for _, cmd := range cmds {
		if cmd == "other" {
			t.Errorf("a command tsskit sends is labelled other: %v", cmds)
		}
	}
	t.Logf("commands timed: %v", cmds)
}

package router_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rwadurian/tsskit/internal/testdb"
	"github.com/rwadurian/tsskit/router"
	"github.com/rwadurian/tsskit/router/bustest"
)

func TestMemoryBusConformance(t *testing.T) {
	bustest.Run(t, func(*testing.T) router.Bus { return router.NewMemoryBus() })
}

func TestRedisBusConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) router.Bus {
		c, prefix := testdb.Redis(t)
		return router.NewRedisBus(c, prefix)
	})
}

// TestRedisBusShared: two buses with their own clients and the same
// prefix, as two router replicas.
func TestRedisBusShared(t *testing.T) {
	bustest.RunShared(t, func(t *testing.T) (router.Bus, router.Bus) {
		c, prefix := testdb.Redis(t)
		c2 := redis.NewClient(c.Options())
		t.Cleanup(func() { c2.Close() })
		return router.NewRedisBus(c, prefix), router.NewRedisBus(c2, prefix)
	})
}

// TestRedisBusKeys checks what a session leaves in Redis: a stream whose
// ids are the seqs, a dedupe hash of digests (not of copies of the data),
// TTLs at expiry + an hour on every key; after Close, the reason and the
// close marker only.
func TestRedisBusKeys(t *testing.T) {
	c, prefix := testdb.Redis(t)
	b := router.NewRedisBus(c, prefix)
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)
	if err := b.Open(ctx, router.SessionInfo{ID: "s1", Parties: []string{"a", "b"}, Expires: exp, MaxBytes: 1 << 20, MaxEnvelopes: 10}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("envelope"), 100)
	for i := range 2 {
		if _, err := b.Append(ctx, "s1", router.Entry{From: "a", To: "b", SenderSeq: uint64(i + 1), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	info, log, dedupe := prefix+"s:{s1}:info", prefix+"s:{s1}:log", prefix+"s:{s1}:dedupe"
	wantTTL := func(key string) {
		t.Helper()
		at, err := c.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := exp.Add(time.Hour).UnixMilli(); at.Milliseconds() != want {
			t.Fatalf("%s expires at %d, want %d", key, at.Milliseconds(), want)
		}
	}
	msgs, err := c.XRange(ctx, log, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].ID != "0-1" || msgs[1].ID != "0-2" || msgs[1].Values["d"] != string(data) {
		t.Fatalf("stream: %v", msgs)
	}
	d, err := c.HGet(ctx, dedupe, "a|2").Result()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if d != "2:"+string(sum[:]) {
		t.Fatalf("dedupe entry %q", d)
	}
	for _, k := range []string{info, log, dedupe} {
		wantTTL(k)
	}

	if err := b.Close(ctx, "s1", "completed"); err != nil {
		t.Fatal(err)
	}
	msgs, err = c.XRange(ctx, log, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != "1-0" || msgs[0].Values["closed"] != "completed" {
		t.Fatalf("stream after close: %v", msgs)
	}
	if n, _ := c.Exists(ctx, dedupe).Result(); n != 0 {
		t.Fatal("dedupe hash kept after close")
	}
	if r, _ := c.HGet(ctx, info, "closed").Result(); r != "completed" {
		t.Fatalf("closed reason %q", r)
	}
	wantTTL(info)
	wantTTL(log)
	// Nothing outside the prefix.
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v, %v", keys, err)
	}
}

// TestRedisBusErrors: Redis failing is neither a session error nor the
// caller's deadline; Redis out of memory is ErrBusFull.
func TestRedisBusErrors(t *testing.T) {
	b := router.NewRedisBus(deadRedis(t), "tsskit:")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err1 := b.Info(ctx, "s")
	_, err2 := b.Append(ctx, "s", router.Entry{From: "a", SenderSeq: 1})
	_, err3 := b.Read(ctx, "s", 0, 10)
	for i, err := range []error{
		b.Open(ctx, router.SessionInfo{ID: "s", Expires: time.Now().Add(time.Hour)}),
		err1, err2, err3,
		b.Close(ctx, "s", "done"),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "router: redis: ") {
			t.Fatalf("call %d: %v", i, err)
		}
		for _, e := range []error{router.ErrUnknownSession, router.ErrSessionClosed, router.ErrConflict, router.ErrSessionFull, router.ErrBusFull, context.Canceled, context.DeadlineExceeded} {
			if errors.Is(err, e) {
				t.Fatalf("call %d: %v is %v", i, err, e)
			}
		}
	}

	// Redis refusing a script for want of memory (the reply Redis 7 gives
	// when maxmemory is reached).
	c2, prefix := testdb.Redis(t)
	c2.AddHook(oomHook{})
	b = router.NewRedisBus(c2, prefix)
	err := b.Open(ctx, router.SessionInfo{ID: "s", Parties: []string{"a", "b"}, Expires: time.Now().Add(time.Hour), MaxBytes: 1 << 20, MaxEnvelopes: 10})
	if !errors.Is(err, router.ErrBusFull) {
		t.Fatalf("open when Redis is out of memory: %v", err)
	}
}

// oomHook answers every script with Redis' out-of-memory error.
type oomHook struct{}

func (oomHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (oomHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (oomHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "evalsha" || n == "eval" {
			err := errors.New("OOM command not allowed when used memory > 'maxmemory'.")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

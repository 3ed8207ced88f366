package auth_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
)

func TestParseRateLimit(t *testing.T) {
	tests := []struct {
		in   string
		want auth.RateLimit
		err  string // non-empty: must fail, message containing this
	}{
		{in: "5/s,burst=20", want: auth.RateLimit{PerSecond: 5, Burst: 20}},
		{in: " 5/s , burst = 20 ", want: auth.RateLimit{PerSecond: 5, Burst: 20}},
		{in: "10/s", want: auth.RateLimit{PerSecond: 10, Burst: 10}},
		{in: "2.5/s", want: auth.RateLimit{PerSecond: 2.5, Burst: 3}},
		{in: "300/m", want: auth.RateLimit{PerSecond: 5, Burst: 5}},
		{in: "30/m", want: auth.RateLimit{PerSecond: 0.5, Burst: 1}},
		{in: "3600/h,burst=100", want: auth.RateLimit{PerSecond: 1, Burst: 100}},
		{in: "0", want: auth.RateLimit{}},
		{in: "off", want: auth.RateLimit{}},
		{in: "OFF", want: auth.RateLimit{}},
		{in: "0/s", want: auth.RateLimit{}},
		{in: "", err: "want"},
		{in: "5", err: "want"},
		{in: "five/s", err: "non-negative number"},
		{in: "-1/s", err: "non-negative number"},
		{in: "NaN/s", err: "non-negative number"},
		{in: "Inf/s", err: "non-negative number"},
		{in: "5/d", err: "unit"},
		{in: "5/sec", err: "unit"},
		{in: "5/s,burst=0", err: "burst"},
		{in: "5/s,burst=-3", err: "burst"},
		{in: "5/s,burst=1.5", err: "burst"},
		{in: "5/s,burst=", err: "burst"},
		{in: "5/s,burst=2000000", err: "burst"},
		{in: "5/s,bust=20", err: "burst"},
		{in: "5/s,burst=2,x=1", err: "burst"},
		{in: "0/s,burst=5", err: "disabled"},
		{in: "2000000/s", err: "per second"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.ParseRateLimit(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseRateLimit(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRateLimit(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.Enabled() {
				back, err := auth.ParseRateLimit(got.String())
				if err != nil || back != got {
					t.Fatalf("String %q does not round-trip: %+v, %v", got.String(), back, err)
				}
			} else if got.String() != "off" {
				t.Fatalf("disabled limit prints %q", got.String())
			}
		})
	}
	if d := auth.DefaultRateLimit; d.PerSecond != 10 || d.Burst != 20 {
		t.Fatalf("DefaultRateLimit = %+v", d)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRateLimiterBucket(t *testing.T) {
	clk := &clock{t: t0}
	rl := auth.NewRateLimiter(auth.RateLimit{PerSecond: 2, Burst: 3}, clk.now, 0)
	for i := range 3 {
		if ok, _ := rl.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := rl.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: %v, wait %v; want refused, 500ms", ok, wait)
	}
	// Other keys have their own buckets.
	if ok, _ := rl.Allow("b"); !ok {
		t.Fatal("another key was limited")
	}
	clk.advance(250 * time.Millisecond)
	if ok, wait := rl.Allow("a"); ok || wait != 250*time.Millisecond {
		t.Fatalf("after 250ms: %v, %v", ok, wait)
	}
	clk.advance(250 * time.Millisecond)
	if ok, _ := rl.Allow("a"); !ok {
		t.Fatal("a token was added after 500ms but the request was refused")
	}
	if ok, _ := rl.Allow("a"); ok {
		t.Fatal("second request after 500ms allowed")
	}
	// Sustained: 2 per second over 10 s, whatever the request rate.
	allowed := 0
	for range 1000 {
		clk.advance(10 * time.Millisecond)
		if ok, _ := rl.Allow("a"); ok {
			allowed++
		}
	}
	if allowed < 19 || allowed > 21 {
		t.Fatalf("%d requests allowed in 10s at 2/s", allowed)
	}
	// A long pause refills to the burst, not beyond.
	clk.advance(time.Hour)
	for i := range 3 {
		if ok, _ := rl.Allow("a"); !ok {
			t.Fatalf("after a pause, request %d refused", i+1)
		}
	}
	if ok, _ := rl.Allow("a"); ok {
		t.Fatal("bucket refilled beyond its burst")
	}
	// A clock that steps back adds nothing.
	clk.advance(-time.Minute)
	if ok, _ := rl.Allow("a"); ok {
		t.Fatal("clock stepping back added tokens")
	}
}

func TestRateLimiterDisabled(t *testing.T) {
	for _, l := range []auth.RateLimit{{}, {PerSecond: 0, Burst: 5}, {PerSecond: -1}} {
		rl := auth.NewRateLimiter(l, nil, 0)
		if rl != nil {
			t.Fatalf("%+v: limiter made", l)
		}
		for range 1000 {
			if ok, _ := rl.Allow("x"); !ok {
				t.Fatalf("%+v: nil limiter refused", l)
			}
		}
	}
}

// TestRateLimiterMemory: idle buckets go once they are full again, and the
// number kept never exceeds the bound however many keys come.
func TestRateLimiterMemory(t *testing.T) {
	clk := &clock{t: t0}
	rl := auth.NewRateLimiter(auth.RateLimit{PerSecond: 10, Burst: 20}, clk.now, 100)
	for i := range 50 {
		rl.Allow(fmt.Sprintf("k%d", i))
	}
	if rl.Len() != 50 {
		t.Fatalf("%d buckets, want 50", rl.Len())
	}
	// 20 tokens at 10/s: full after 2 s.
	clk.advance(1900 * time.Millisecond)
	rl.Allow("k0")
	if rl.Len() != 50 {
		t.Fatalf("%d buckets after 1.9s, want 50 (none full yet)", rl.Len())
	}
	clk.advance(200 * time.Millisecond)
	rl.Allow("new")
	if rl.Len() != 2 { // k0 was used 0.2 s ago, plus "new"
		t.Fatalf("%d buckets after the others idled 2.1s, want 2", rl.Len())
	}
	// A flood of distinct keys: bounded.
	for i := range 10_000 {
		rl.Allow(fmt.Sprintf("flood%d", i))
		if rl.Len() > 100 {
			t.Fatalf("%d buckets, bound is 100", rl.Len())
		}
	}
	// Dropping an idle bucket lost nothing: a drained key that idled is
	// back to a full burst.
	clk.advance(time.Minute)
	for range 20 {
		if ok, _ := rl.Allow("k1"); !ok {
			t.Fatal("full burst not available after idling")
		}
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	rl := auth.NewRateLimiter(auth.RateLimit{PerSecond: 0.001, Burst: 50}, nil, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := rl.Allow("shared"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d of 800 concurrent requests allowed, burst is 50", allowed)
	}
}

// TestAllowN: n tokens at once or none; more than the burst never fits.
func TestAllowN(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rl := auth.NewRateLimiter(auth.RateLimit{PerSecond: 1, Burst: 4}, func() time.Time { return now }, 10)
	if ok, _ := rl.AllowN("k", 3); !ok {
		t.Fatal("3 of 4")
	}
	if ok, wait := rl.AllowN("k", 2); ok || wait != time.Second {
		t.Fatalf("2 with 1 left: %v %v", ok, wait)
	}
	if ok, _ := rl.AllowN("k", 1); !ok {
		t.Fatal("the last one, not spent by the refused AllowN")
	}
	if ok, wait := rl.AllowN("k", 5); ok || wait != 4*time.Second {
		t.Fatalf("more than the burst: %v %v", ok, wait)
	}
	now = now.Add(4 * time.Second)
	if ok, _ := rl.AllowN("k", 4); !ok {
		t.Fatal("a full bucket again")
	}
}

package auth

import (
	"container/list"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimit is a token bucket: PerSecond tokens are added each second up to
// Burst, and each request takes one. The zero RateLimit (PerSecond <= 0)
// disables limiting.
type RateLimit struct {
	PerSecond float64 // sustained requests per second; <= 0: no limit
	Burst     int     // requests allowed at once after a quiet spell; < 1 is taken as 1
}

// DefaultRateLimit is the REST APIs' limit when RATE_LIMIT is not set: 10
// requests per second per client, 20 at once.
var DefaultRateLimit = RateLimit{PerSecond: 10, Burst: 20}

// Limits for ParseRateLimit.
const (
	maxRatePerSecond = 1e6
	maxBurst         = 1_000_000
)

// Enabled reports whether l limits anything.
func (l RateLimit) Enabled() bool { return l.PerSecond > 0 }

func (l RateLimit) burst() int { return max(l.Burst, 1) }

// String returns l in the syntax ParseRateLimit reads: "10/s,burst=20" or
// "off".
func (l RateLimit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.FormatFloat(l.PerSecond, 'g', -1, 64) + "/s,burst=" + strconv.Itoa(l.burst())
}

// ParseRateLimit parses a rate limit such as "5/s,burst=20", "300/m" or
// "3600/h,burst=100" (the value of RATE_LIMIT). The rate is a positive
// decimal number per second, minute or hour; burst, optional, is a positive
// integer and defaults to one second's worth of the rate, at least 1. "0" and
// "off" disable limiting (the zero RateLimit). Spaces around the parts are
// ignored; anything else, including an empty string, is an error.
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	if s == "0" || strings.EqualFold(s, "off") {
		return RateLimit{}, nil
	}
	rate, burst, hasBurst := strings.Cut(s, ",")
	num, unit, ok := strings.Cut(strings.TrimSpace(rate), "/")
	if !ok {
		return RateLimit{}, fmt.Errorf(`rate limit %q: want "<n>/s", "<n>/m" or "<n>/h", optionally ",burst=<n>"; or "0" to disable`, s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
		return RateLimit{}, fmt.Errorf("rate limit %q: rate must be a non-negative number", s)
	}
	var per float64
	switch strings.TrimSpace(unit) {
	case "s":
		per = 1
	case "m":
		per = 60
	case "h":
		per = 3600
	default:
		return RateLimit{}, fmt.Errorf(`rate limit %q: unit must be "s", "m" or "h"`, s)
	}
	l := RateLimit{PerSecond: n / per}
	if n == 0 {
		if hasBurst {
			return RateLimit{}, fmt.Errorf("rate limit %q: burst given for a disabled limit", s)
		}
		return RateLimit{}, nil
	}
	if l.PerSecond > maxRatePerSecond {
		return RateLimit{}, fmt.Errorf("rate limit %q: more than %g per second", s, float64(maxRatePerSecond))
	}
	l.Burst = max(1, int(math.Ceil(l.PerSecond)))
	if hasBurst {
		k, v, ok := strings.Cut(strings.TrimSpace(burst), "=")
		if !ok || strings.TrimSpace(k) != "burst" {
			return RateLimit{}, fmt.Errorf(`rate limit %q: after the rate only ",burst=<n>" may follow`, s)
		}
		b, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || b < 1 || b > maxBurst {
			return RateLimit{}, fmt.Errorf("rate limit %q: burst must be an integer 1..%d", s, maxBurst)
		}
		l.Burst = b
	}
	return l, nil
}

// DefaultMaxBuckets bounds the buckets a RateLimiter keeps.
const DefaultMaxBuckets = 10_000

// RateLimiter keeps one token bucket per key (e.g. client address and API
// key), created on first use. Memory is bounded: a bucket idle long enough to
// have refilled completely is dropped — it is then the same as a new one, so
// dropping it loses nothing — and beyond MaxBuckets the least recently used
// bucket is dropped. A RateLimiter is safe for concurrent use.
type RateLimiter struct {
	limit    RateLimit
	now      func() time.Time
	max      int
	fullTime time.Duration // an idle bucket is full again after this

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter for l, or nil if l is disabled (a nil
// *RateLimiter allows everything). now is the clock (nil: time.Now);
// maxBuckets <= 0 takes DefaultMaxBuckets.
func NewRateLimiter(l RateLimit, now func() time.Time, maxBuckets int) *RateLimiter {
	if !l.Enabled() {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if maxBuckets <= 0 {
		maxBuckets = DefaultMaxBuckets
	}
	full := time.Duration(float64(l.burst()) / l.PerSecond * float64(time.Second))
	if full <= 0 || full > 365*24*time.Hour {
		full = 365 * 24 * time.Hour
	}
	return &RateLimiter{limit: l, now: now, max: maxBuckets, fullTime: full, buckets: map[string]*list.Element{}}
}

// Allow takes a token from key's bucket. If there is none it returns false
// and how long until there is one.
func (rl *RateLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return rl.AllowN(key, 1)
}

// AllowN takes n tokens from key's bucket at once, or none: if there are
// fewer it returns false and how long until there are n (n larger than the
// burst never fits, and is refused with the time to a full bucket).
func (rl *RateLimiter) AllowN(key string, n int) (ok bool, retryAfter time.Duration) {
	if rl == nil {
		return true, 0
	}
	need := float64(max(n, 1))
	now := rl.now()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.evictIdle(now)
	burst := float64(rl.limit.burst())
	var b *bucket
	if e, found := rl.buckets[key]; found {
		b = e.Value.(*bucket)
		rl.lru.MoveToFront(e)
		if d := now.Sub(b.last); d > 0 {
			b.tokens = math.Min(burst, b.tokens+d.Seconds()*rl.limit.PerSecond)
		}
		if now.After(b.last) {
			b.last = now
		}
	} else {
		b = &bucket{key: key, tokens: burst, last: now}
		rl.buckets[key] = rl.lru.PushFront(b)
		for rl.lru.Len() > rl.max {
			rl.remove(rl.lru.Back())
		}
	}
	if need <= burst && b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	wait := time.Duration((min(need, burst) - b.tokens) / rl.limit.PerSecond * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// evictIdle drops buckets, least recently used first, that have been idle
// long enough to be full.
func (rl *RateLimiter) evictIdle(now time.Time) {
	for e := rl.lru.Back(); e != nil; e = rl.lru.Back() {
		if now.Sub(e.Value.(*bucket).last) < rl.fullTime {
			return
		}
		rl.remove(e)
	}
}

func (rl *RateLimiter) remove(e *list.Element) {
	delete(rl.buckets, e.Value.(*bucket).key)
	rl.lru.Remove(e)
}

// Len returns the number of buckets kept.
func (rl *RateLimiter) Len() int {
	if rl == nil {
		return 0
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.lru.Len()
}

package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// GuardConfig configures NewGuard.
type GuardConfig struct {
	// APIKey is the key every request must carry in X-API-Key (required
	// unless Authenticate is set).
	APIKey string
	// Authenticate, when set, replaces the API key: it names the caller
	// of r (who, for the rate limit and Refused; never a secret) and
	// returns the request to pass on (e.g. with verified claims in its
	// context), or a message saying why r is refused with 401
	// "unauthorized". TokenAuth makes one that takes bearer tokens.
	Authenticate func(r *http.Request) (who string, next *http.Request, refusal string)
	// Allow lists the client addresses allowed; nil or empty allows all.
	Allow *Allowlist
	// TrustedProxies lists the reverse proxies whose X-Forwarded-For is
	// believed (see ClientIP); nil or empty trusts none.
	TrustedProxies *Allowlist
	// Open lists URL paths that skip every check, e.g. "/health".
	Open []string
	// RateLimit limits requests per (API key, client address); the zero
	// RateLimit does not limit.
	RateLimit RateLimit
	// WriteError writes a refusal (required). The messages Guard passes it
	// never contain a key or a header value.
	WriteError func(w http.ResponseWriter, status int, code, msg string)
	// Refused, if set, is called for every refused request before the
	// refusal is written, e.g. to write an audit record. It gets no key.
	Refused func(r *http.Request, rf Refusal)
	// Now is the rate limiter's clock; nil means time.Now.
	Now func() time.Time
}

// Refusal describes a request Guard refused.
type Refusal struct {
	Status int    // HTTP status written
	Code   string // error code written: "bad_forwarded_for", "forbidden_ip", "rate_limited" or "unauthorized"
	Caller Caller // who asked, as far as known
}

// Caller is who sent a request that Guard let through (or refused): put in
// the request's context by Guard, read with CallerFromContext.
type Caller struct {
	// IP is the client address (ClientIP); invalid if the peer is not an IP
	// address (possible only when the allowlist allows all).
	IP netip.Addr
	// Peer is the TCP peer: IP itself, or the trusted proxy that forwarded
	// the request.
	Peer netip.Addr
	// Who names the credential: KeyID(key) for the configured API key,
	// "api-key:invalid" for a wrong one (or several X-API-Key headers),
	// "anonymous" for none. Never the key.
	Who string
}

// Who values for callers without the right key.
const (
	WhoAnonymous = "anonymous"
	// WhoInvalidToken: a bearer token that does not verify (Authenticate).
	WhoInvalidToken = "token:invalid"
	WhoInvalidKey   = "api-key:invalid"
)

// KeyID names an API key in logs without revealing it: "api-key:" and the
// first 8 hex digits of its SHA-256. 32 bits tell keys apart; they do not
// help guess a key of the length services require (16 random characters or
// more), but a short, guessable key could be confirmed offline from them.
func KeyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "api-key:" + hex.EncodeToString(sum[:4])
}

type callerKey struct{}

// CallerFromContext returns the caller Guard stored for a request.
func CallerFromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Guard wraps h with the REST API checks: NewGuard with the client address
// taken from the TCP peer only (no trusted proxies) and no rate limit. It is
// kept for callers that need nothing more.
func Guard(apiKey string, allow *Allowlist, open []string, writeErr func(w http.ResponseWriter, status int, code, msg string), h http.Handler) http.Handler {
	return NewGuard(GuardConfig{APIKey: apiKey, Allow: allow, Open: open, WriteError: writeErr}, h)
}

// NewGuard wraps h with the REST API checks, in this order:
//
//  1. the client address is found with ClientIP(r, TrustedProxies); an
//     X-Forwarded-For from a trusted proxy that does not parse is
//     WriteError(w, 400, "bad_forwarded_for", …) — never a fallback to the
//     peer address;
//  2. the client address must be allowed by Allow, else 403 "forbidden_ip";
//  3. the request takes a token from the bucket of (credential, client
//     address), where the credential is the configured key's KeyID, or one
//     shared bucket per address for every request without the right key, so
//     a flood of bad keys cannot use up the good key's budget; an empty
//     bucket is 429 "rate_limited" with a Retry-After header in whole
//     seconds;
//  4. the request must carry exactly one X-API-Key header equal to APIKey
//     (KeyEqual, constant time), or pass Authenticate when that is set,
//     else 401 "unauthorized".
//
// The key is compared before step 2 so that Refused can tell a right key
// used from a wrong address; the answer does not change. Authenticate, which
// verifies signatures, runs only for allowed addresses. Requests whose URL
// path is exactly one of Open skip every check. Passed requests carry their
// Caller in the context. Guard itself logs nothing.
//
// NewGuard panics if APIKey is empty or WriteError or h is nil: these are
// programming errors, services refuse to start without a key.
func NewGuard(cfg GuardConfig, h http.Handler) http.Handler {
	if cfg.APIKey == "" && cfg.Authenticate == nil {
		panic("auth.Guard: empty API key")
	}
	if cfg.WriteError == nil || h == nil {
		panic("auth.Guard: nil writeErr or handler")
	}
	openSet := make(map[string]bool, len(cfg.Open))
	for _, p := range cfg.Open {
		openSet[p] = true
	}
	limiter := NewRateLimiter(cfg.RateLimit, cfg.Now, 0)
	keyID := KeyID(cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openSet[r.URL.Path] {
			h.ServeHTTP(w, r)
			return
		}
		var c Caller
		c.Peer, _ = RemoteIP(r)
		keys := r.Header.Values("X-API-Key")
		var keyMsg string
		switch {
		case cfg.Authenticate != nil:
			// After the address checks below: a token's signature and
			// certificates are not checked for an address not allowed.
			c.Who = WhoAnonymous
		case len(keys) == 0:
			c.Who, keyMsg = WhoAnonymous, "missing X-API-Key header"
		case len(keys) > 1:
			c.Who, keyMsg = WhoInvalidKey, "more than one X-API-Key header"
		case !KeyEqual(keys[0], cfg.APIKey):
			c.Who, keyMsg = WhoInvalidKey, "invalid API key"
		default:
			c.Who = keyID
		}
		refuse := func(status int, code, msg string) {
			if cfg.Refused != nil {
				cfg.Refused(r, Refusal{Status: status, Code: code, Caller: c})
			}
			cfg.WriteError(w, status, code, msg)
		}

		ip, err := ClientIP(r, cfg.TrustedProxies)
		switch {
		case errors.Is(err, ErrBadForwardedFor):
			c.IP = c.Peer
			refuse(http.StatusBadRequest, string(CodeBadForwardedFor), "X-Forwarded-For from the proxy is malformed")
			return
		case err != nil && !cfg.Allow.AllowsAll():
			refuse(http.StatusForbidden, "forbidden_ip", "client address not allowed")
			return
		}
		c.IP = ip
		if !cfg.Allow.Allows(ip) {
			refuse(http.StatusForbidden, "forbidden_ip", "client address not allowed")
			return
		}
		if cfg.Authenticate != nil {
			var next *http.Request
			if c.Who, next, keyMsg = cfg.Authenticate(r); keyMsg == "" {
				r = next
			} else {
				c.Who = WhoInvalidToken
				if r.Header.Get("Authorization") == "" {
					c.Who = WhoAnonymous
				}
			}
		}
		bucket := "unauthenticated"
		if keyMsg == "" {
			bucket = c.Who
		}
		if ok, wait := limiter.Allow(bucket + "|" + ip.String()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			refuse(http.StatusTooManyRequests, "rate_limited", "too many requests; retry after the time in Retry-After")
			return
		}
		if keyMsg != "" {
			refuse(http.StatusUnauthorized, "unauthorized", keyMsg)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

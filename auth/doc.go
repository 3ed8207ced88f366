// Package auth authenticates the callers of tsskit services: the message
// router, the coordinator and the server parties.
//
// Two mechanisms are provided, each for one kind of caller.
//
// # Bearer tokens (JWT, HS256)
//
// Services and parties present a JSON Web Token (RFC 7519) signed with
// HMAC-SHA256 under a secret shared by every tsskit service (the
// JWT_SECRET_KEY environment variable, read with ParseSecret). A token has one
// of three kinds, carried in the private claim "knd":
//
//   - KindAdmin: a person or application allowed to create sessions and read
//     wallets; minted by `tsskit token`.
//   - KindParty: one party in one session. "sub" is the party id and "sid"
//     the session id; the router and the coordinator check both with
//     Claims.RequireParty, so a party token is useless outside its session.
//   - KindService: one tsskit service talking to another (server party →
//     coordinator, coordinator → router).
//
// The kind is a private claim rather than the JOSE "typ" header, which names
// the media type of the whole token ("JWT") and is not meant for
// authorization decisions.
//
// Tokens are minted and verified only by tsskit, so Verify accepts exactly what
// Mint produces and nothing else. It fails closed:
//
//   - a token longer than 4096 bytes is refused before anything is decoded;
//   - the token must be three segments of unpadded base64url in canonical
//     form (no padding, no line breaks, no stray bits), so one set of claims
//     has exactly one encoding;
//   - the header must be exactly {"alg":"HS256","typ":"JWT"} (any order or
//     spacing, no other members): "none", HS512, RS256 and the rest are
//     refused (ErrAlgorithm) before the MAC is looked at, so there is no
//     algorithm confusion and no key-id lookups;
//   - the MAC is checked with hmac.Equal before the payload is parsed
//     (ErrSignature);
//   - header and payload must be single JSON objects without duplicate
//     members (parsers that keep the first and the last duplicate would
//     otherwise disagree about what was signed); member names are matched
//     exactly, not case-insensitively as encoding/json would;
//   - the payload may carry only the claims this package knows (iss, aud,
//     knd, sub, sid, iat, nbf, exp), each with the right JSON type. An
//     unknown claim might be a restriction added by a newer issuer, and
//     ignoring a restriction is the unsafe direction;
//   - iss must be "tsskit" (ErrIssuer); aud, which Mint always writes as the
//     string "tsskit", must be exactly that when present (ErrAudience) — it
//     may be absent only so that tokens minted before aud was added stay
//     valid until they expire;
//   - exp is required and strict: a token is expired once now >= exp, with
//     no allowance for clock skew (ErrExpired); iat and nbf may be at most
//     60 s in the future (the leeway for skew between hosts), beyond that the
//     token is not yet valid (ErrNotYetValid);
//   - times are NumericDates in whole seconds; fractions are refused.
//
// Every failure is an *Error whose Code tells why (errors.Is against
// ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired, …). The kind is
// checked by the caller with Claims.Require (ErrWrongKind) and
// Claims.RequireParty (ErrForbidden). No error message contains the token or
// the secret; messages may contain party and session ids, which are not
// secret.
//
// # API keys, IP allowlist and rate limit (REST)
//
// The REST API is protected by NewGuard (Guard is the short form without
// proxies and rate limit): the client address must be in an Allowlist (403
// "forbidden_ip"), the (credential, address) pair must have a token left in
// its bucket (429 "rate_limited" with Retry-After), and the X-API-Key header
// must match the configured key (401 "unauthorized"). Keys are compared with
// KeyEqual, in constant time over SHA-256 digests so that neither the content
// nor the length of the key leaks through timing; logs name a key only by
// KeyID. Health checks and similar paths can be listed as open and skip every
// check.
//
// The client address is the TCP peer (http.Request.RemoteAddr), unless the
// peer is one of the configured trusted proxies: then it is the right-most
// X-Forwarded-For entry that is not itself a trusted proxy (ClientIP). The
// header is never believed from anyone else — the client writes it, so
// trusting it would let anyone claim an allowed address — and a malformed
// header from a trusted proxy refuses the request (400 "bad_forwarded_for")
// rather than falling back to the proxy's address. X-Real-IP and Forwarded
// are never read.
package auth

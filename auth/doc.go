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
//     refused, so there is no algorithm confusion and no key-id lookups;
//   - the MAC is checked with hmac.Equal before the payload is parsed;
//   - header and payload must be single JSON objects without duplicate
//     members (parsers that keep the first and the last duplicate would
//     otherwise disagree about what was signed); member names are matched
//     exactly, not case-insensitively as encoding/json would;
//   - the payload may carry only the claims this package knows (iss, knd,
//     sub, sid, iat, nbf, exp), each with the right JSON type. An unknown
//     claim might be a restriction added by a newer issuer, and ignoring a
//     restriction is the unsafe direction;
//   - iss must be "tsskit"; exp is required and strict: a token is expired
//     once now >= exp, with no allowance for clock skew; iat and nbf may be
//     at most 60 s in the future (a small skew between hosts), beyond that the
//     token is malformed;
//   - times are NumericDates in whole seconds; fractions are refused.
//
// Every failure is an *Error whose Code tells why (errors.Is against
// ErrMalformed, ErrSignature, ErrExpired, …). No error message contains the
// token or the secret; messages may contain party and session ids, which are
// not secret.
//
// # API keys and IP allowlist (REST)
//
// The REST API is protected by Guard: first the client address must be in an
// Allowlist (403 "forbidden_ip"), then the X-API-Key header must match the
// configured key (401 "unauthorized"). Keys are compared with KeyEqual, in
// constant time over SHA-256 digests so that neither the content nor the
// length of the key leaks through timing. Health checks and similar paths can
// be listed as open and skip both checks.
//
// The client address is taken from the TCP connection (http.Request.RemoteAddr)
// only. X-Forwarded-For and similar headers are ignored on purpose: the client
// writes them, so unless a trusted proxy in front of the service strips and
// rewrites them, trusting them would let anyone claim an allowed address.
// Deployments behind a proxy should filter at the proxy, or allow the proxy's
// address.
package auth

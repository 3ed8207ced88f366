// Package auth authenticates the callers of tsskit services: the message
// router, the coordinator and the server parties.
//
// Two mechanisms are provided, each for one kind of caller.
//
// # Bearer tokens (JWT, EdDSA)
//
// Tokens are JSON Web Tokens (RFC 7519) signed with Ed25519 (alg "EdDSA",
// github.com/golang-jwt/jwt/v5) by a certified identity, never under a
// shared secret: the header member "tsc" carries the signer's certificate
// chain (package party/identity), and a Verifier accepts a token only when
// that chain verifies under the deployment roots it pins (not revoked,
// valid now) and the signature verifies with the certified key. Who may
// sign what:
//
//   - the coordinator (a certificate of kind coordinator) mints every kind:
//     KindAdmin for operators (`tsskit token`), KindUser for an app's
//     signed-in user (the account API's token endpoint), KindParty for one
//     party in one session, KindService for itself towards the router;
//   - a server party (kind server) mints only KindService tokens whose
//     subject is its own certified party id: that is how it authenticates
//     to the coordinator's pool.
//
// So a service that verifies holds nothing it could mint with: the router
// and the coordinator keep only the roots, and a server party's key mints
// nothing but tokens for itself.
//
// A user token carries the user id as "sub", the operations it allows as
// "ops" (create_wallet, sign, list_wallets) and, optionally, the wallets it
// is limited to as "wlt" (Claims.Allows). A party token carries "sid"; the
// router and the coordinator check it with Claims.RequireParty.
//
// Verify fails closed: a token over MaxTokenLen bytes is refused before
// decoding; any algorithm but EdDSA ("none", HS256 made with a public key
// as its secret, RS256) is ErrAlgorithm before anything else is looked at;
// a missing, malformed, untrusted or revoked certificate, a bad signature,
// or a signer minting what it may not is ErrSignature; iss and aud must be
// "tsskit" (ErrIssuer, ErrAudience); exp is required; iat, nbf and exp
// allow ClockSkew (60 s) of skew (ErrNotYetValid, ErrExpired); the claims
// of the kind must be consistent (ErrMalformed). Every failure is an *Error
// whose Code tells why; no message contains the token or a key.
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

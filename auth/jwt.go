package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Token kinds, carried in the private claim "knd" (not in the JOSE "typ"
// header, which is always "JWT").
const (
	KindAdmin   = "admin"   // a person/app allowed to create sessions and read wallets; minted by `tsskit token`
	KindParty   = "party"   // one party in one session: Subject = party id, Session = session id
	KindService = "service" // a tsskit service talking to another (server party -> coordinator, coordinator -> router)
)

const (
	issuer       = "tsskit"
	audience     = "tsskit"         // the "aud" Mint writes and Verify accepts
	minSecretLen = 32               // bytes, the HMAC-SHA256 output size (RFC 7518 §3.2)
	maxTokenLen  = 4096             // bytes; longer tokens are refused before decoding
	maxFutureIat = 60 * time.Second // leeway: how far iat/nbf may lie in the future (clock skew)
)

// Issuer and Audience are the "iss" and "aud" of every token Mint writes.
// Verify requires iss == Issuer and, when aud is present, aud == Audience.
const (
	Issuer   = issuer
	Audience = audience
)

// headerB64 is the only header Mint writes: {"alg":"HS256","typ":"JWT"}.
var headerB64 = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// b64 is unpadded base64url that refuses non-zero trailing bits, so every
// byte string has exactly one accepted encoding.
var b64 = base64.RawURLEncoding.Strict()

// Claims are the claims of a tsskit token.
type Claims struct {
	Kind     string    // "knd": KindAdmin, KindParty or KindService
	Subject  string    // "sub": admin name, party id or service name
	Session  string    // "sid": required for KindParty, must be empty otherwise
	IssuedAt time.Time // "iat" (unix seconds); Mint fills it in if zero
	Expires  time.Time // "exp" (unix seconds), required
}

// Signer mints and verifies HS256 JWTs (RFC 7519) with issuer and audience
// "tsskit".
// Create it with NewSigner; the zero Signer refuses to mint and verify.
type Signer struct {
	key []byte

	// Now returns the current time; nil means time.Now. Tests set it to
	// mint and verify at a fixed instant.
	Now func() time.Time
}

// NewSigner returns a Signer for secret, which must be at least 32 bytes
// (ErrWeakSecret); an empty secret is ErrMissingSecret. The secret is copied.
func NewSigner(secret []byte) (*Signer, error) {
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	return &Signer{key: bytes.Clone(secret)}, nil
}

func checkSecret(secret []byte) error {
	if len(secret) == 0 {
		return &Error{Code: CodeMissingSecret, Err: errors.New("no JWT secret configured")}
	}
	if len(secret) < minSecretLen {
		return newErr(CodeWeakSecret, "JWT secret is %d bytes, need at least %d", len(secret), minSecretLen)
	}
	return nil
}

// ParseSecret turns the value of the JWT_SECRET_KEY environment variable into
// a key. Surrounding whitespace (a trailing newline from a secrets file) is
// removed. A value of 64 or more hex digits, of even length, is decoded from
// hex (64 digits give a 32-byte key); any other value is used as raw bytes.
// An empty value is ErrMissingSecret; a key shorter than 32 bytes is
// ErrWeakSecret. Note that a 32-character password has far less entropy than
// 32 random bytes: generate the secret, e.g. with `openssl rand -hex 32`.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	if len(s) >= 2*minSecretLen && len(s)%2 == 0 && isHex(s) {
		k, err := hex.DecodeString(s)
		if err != nil { // unreachable: checked by isHex
			return nil, malformed("JWT secret: bad hex")
		}
		key = k
	} else {
		key = []byte(s)
	}
	if err := checkSecret(key); err != nil {
		return nil, err
	}
	return key, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Signer) ready() error {
	if s == nil {
		return &Error{Code: CodeMissingSecret, Err: errors.New("nil Signer")}
	}
	return checkSecret(s.key)
}

func (s *Signer) mac(signingInput string) []byte {
	m := hmac.New(sha256.New, s.key)
	io.WriteString(m, signingInput)
	return m.Sum(nil)
}

// payload is the wire form of Claims, in the order Mint writes them.
type payload struct {
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Knd string `json:"knd"`
	Sub string `json:"sub"`
	Sid string `json:"sid,omitempty"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// Mint signs c. A zero IssuedAt is set to the current time; times are
// truncated to whole seconds. Kind must be one of the Kind constants, Subject
// and Expires must be set, Expires must be at least a second after IssuedAt,
// and Session must be set for KindParty and empty otherwise. Subject and
// Session must be valid UTF-8. Refused claims are ErrMalformed.
func (s *Signer) Mint(c Claims) (string, error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.now()
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	if c.Expires.IsZero() {
		return "", malformed("claims: missing expiry")
	}
	iat, exp := c.IssuedAt.Unix(), c.Expires.Unix()
	if exp <= iat {
		return "", malformed("claims: expiry not after issued-at")
	}
	if !utf8.ValidString(c.Subject) || !utf8.ValidString(c.Session) {
		return "", malformed("claims: subject or session is not valid UTF-8")
	}
	p, err := json.Marshal(payload{Iss: issuer, Aud: audience, Knd: c.Kind, Sub: c.Subject, Sid: c.Session, Iat: iat, Exp: exp})
	if err != nil {
		return "", malformed("claims: " + err.Error())
	}
	input := headerB64 + "." + b64.EncodeToString(p)
	tok := input + "." + b64.EncodeToString(s.mac(input))
	if len(tok) > maxTokenLen {
		return "", newErr(CodeMalformed, "claims: token would be %d bytes, limit is %d", len(tok), maxTokenLen)
	}
	return tok, nil
}

// validate checks kind, subject and session (not the times).
func (c *Claims) validate() error {
	switch c.Kind {
	case KindAdmin, KindService:
		if c.Session != "" {
			return newErr(CodeMalformed, "claims: session set on a %s token", c.Kind)
		}
	case KindParty:
		if c.Session == "" {
			return malformed("claims: party token without session")
		}
	case "":
		return malformed("claims: missing kind")
	default:
		return newErr(CodeMalformed, "claims: unknown kind %q", c.Kind)
	}
	if c.Subject == "" {
		return malformed("claims: missing subject")
	}
	return nil
}

func (s *Signer) mintTTL(kind, subject, session string, ttl time.Duration) (string, error) {
	if ttl < time.Second {
		return "", newErr(CodeMalformed, "claims: ttl %v is shorter than 1s", ttl)
	}
	now := s.now()
	return s.Mint(Claims{Kind: kind, Subject: subject, Session: session, IssuedAt: now, Expires: now.Add(ttl)})
}

// MintParty mints a token for party in session, valid for ttl (at least 1s).
func (s *Signer) MintParty(session, party string, ttl time.Duration) (string, error) {
	return s.mintTTL(KindParty, party, session, ttl)
}

// MintService mints a token for the tsskit service name, valid for ttl (at
// least 1s).
func (s *Signer) MintService(name string, ttl time.Duration) (string, error) {
	return s.mintTTL(KindService, name, "", ttl)
}

// MintAdmin mints an admin token for subject, valid for ttl (at least 1s).
func (s *Signer) MintAdmin(subject string, ttl time.Duration) (string, error) {
	return s.mintTTL(KindAdmin, subject, "", ttl)
}

// Verify checks token and returns its claims. See the package documentation
// for the exact rules. Errors, in the order the checks run: ErrMalformed (size,
// encoding, header members), ErrAlgorithm (alg other than HS256),
// ErrSignature, then on the verified payload ErrMalformed (claims),
// ErrIssuer, ErrAudience, ErrNotYetValid and ErrExpired
// (ErrMissingSecret/ErrWeakSecret for an unusable Signer). So a forged token
// is ErrSignature even if it is also expired, and nothing in an unverified
// payload is looked at.
func (s *Signer) Verify(token string) (*Claims, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if len(token) > maxTokenLen {
		return nil, newErr(CodeMalformed, "token is %d bytes, limit is %d", len(token), maxTokenLen)
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return nil, malformed("token is not three dot-separated segments")
	}
	// The header first: a token for another algorithm ("none" with its
	// empty signature included) is ErrAlgorithm whatever the rest holds.
	if !isB64URL(h) {
		return nil, malformed("token segment is not unpadded base64url")
	}
	hdr, err := b64.DecodeString(h)
	if err != nil {
		return nil, malformed("header: bad base64url")
	}
	if err := checkHeader(hdr); err != nil {
		return nil, err
	}
	if !isB64URL(p) || !isB64URL(sig) {
		return nil, malformed("token segment is not unpadded base64url")
	}
	gotMAC, err := b64.DecodeString(sig)
	if err != nil {
		return nil, malformed("signature: bad base64url")
	}
	if !hmac.Equal(gotMAC, s.mac(token[:len(h)+1+len(p)])) {
		return nil, &Error{Code: CodeSignature, Err: errors.New("signature does not match")}
	}
	pl, err := b64.DecodeString(p)
	if err != nil {
		return nil, malformed("payload: bad base64url")
	}
	c, nbf, err := parseClaims(pl)
	if err != nil {
		return nil, err
	}
	now := s.now()
	limit := now.Add(maxFutureIat)
	if c.IssuedAt.After(limit) {
		return nil, &Error{Code: CodeNotYetValid, Err: errors.New("iat is in the future")}
	}
	if nbf.After(limit) {
		return nil, &Error{Code: CodeNotYetValid, Err: errors.New("nbf is in the future")}
	}
	if !now.Before(c.Expires) {
		return nil, &Error{Code: CodeExpired, Err: errors.New("token expired")}
	}
	return c, nil
}

// isB64URL reports whether s is non-empty and uses only the base64url
// alphabet. encoding/base64 skips '\r' and '\n', which would give one token
// several spellings; this refuses them (and '=' padding) up front.
func isB64URL(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func checkHeader(b []byte) error {
	m, err := decodeObject(b)
	if err != nil {
		return malformed("header: " + err.Error())
	}
	alg, err := stringMember(m, "alg")
	if err != nil {
		return malformed("header: " + err.Error())
	}
	if alg != "HS256" {
		// Names the algorithm only if it is short and printable; it is
		// attacker-chosen but not secret.
		if len(alg) > 16 || !printable(alg) {
			alg = "?"
		}
		return newErr(CodeAlgorithm, "header: alg %q not accepted, only HS256", alg)
	}
	typ, err := stringMember(m, "typ")
	if err != nil {
		return malformed("header: " + err.Error())
	}
	if typ != "JWT" {
		return malformed(`header: typ must be "JWT"`)
	}
	if len(m) != 2 {
		return malformed("header: members other than alg and typ")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// parseClaims decodes a payload; it returns nbf separately (zero if absent)
// because Claims does not carry it.
func parseClaims(b []byte) (*Claims, time.Time, error) {
	var nbf time.Time
	m, err := decodeObject(b)
	if err != nil {
		return nil, nbf, malformed("payload: " + err.Error())
	}
	for k := range m {
		switch k {
		case "iss", "aud", "knd", "sub", "sid", "iat", "nbf", "exp":
		default:
			if len(k) > 16 || !printable(k) {
				k = "?"
			}
			return nil, nbf, newErr(CodeMalformed, "payload: unknown claim %q", k)
		}
	}
	iss, err := stringMember(m, "iss")
	if err != nil {
		return nil, nbf, malformed("payload: " + err.Error())
	}
	if iss != issuer {
		return nil, nbf, &Error{Code: CodeIssuer, Err: errors.New("payload: wrong issuer")}
	}
	// aud is optional so that tokens minted before Mint wrote it stay valid
	// until they expire; when present it must be exactly "tsskit" (a JSON
	// string: Mint never writes the array form).
	if _, ok := m["aud"]; ok {
		aud, err := stringMember(m, "aud")
		if err != nil {
			return nil, nbf, malformed("payload: " + err.Error())
		}
		if aud != audience {
			return nil, nbf, &Error{Code: CodeAudience, Err: errors.New("payload: wrong audience")}
		}
	}
	c := &Claims{}
	if c.Kind, err = stringMember(m, "knd"); err != nil {
		return nil, nbf, malformed("payload: " + err.Error())
	}
	if c.Subject, err = stringMember(m, "sub"); err != nil {
		return nil, nbf, malformed("payload: " + err.Error())
	}
	if _, ok := m["sid"]; ok {
		if c.Session, err = stringMember(m, "sid"); err != nil {
			return nil, nbf, malformed("payload: " + err.Error())
		}
		if c.Session == "" {
			return nil, nbf, malformed("payload: empty sid")
		}
	}
	if err := c.validate(); err != nil {
		return nil, nbf, err
	}
	exp, err := dateMember(m, "exp", true)
	if err != nil {
		return nil, nbf, err
	}
	c.Expires = exp
	if c.IssuedAt, err = dateMember(m, "iat", false); err != nil {
		return nil, nbf, err
	}
	if nbf, err = dateMember(m, "nbf", false); err != nil {
		return nil, nbf, err
	}
	if !c.IssuedAt.IsZero() && !c.Expires.After(c.IssuedAt) {
		return nil, nbf, malformed("payload: exp not after iat")
	}
	if !nbf.IsZero() && !c.Expires.After(nbf) {
		return nil, nbf, malformed("payload: exp not after nbf")
	}
	return c, nbf, nil
}

// stringMember returns the JSON string member name of m; it must be present.
func stringMember(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Errorf("missing %q", name)
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%q is not a string", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// dateMember returns a NumericDate member in whole seconds; the zero time if
// it is absent and not required.
func dateMember(m map[string]json.RawMessage, name string, required bool) (time.Time, error) {
	raw, ok := m[name]
	if !ok {
		if required {
			return time.Time{}, newErr(CodeMalformed, "payload: missing %q", name)
		}
		return time.Time{}, nil
	}
	// raw is a syntactically valid JSON value; ParseInt accepts exactly the
	// JSON integers that fit in int64 and refuses fractions, exponents,
	// strings and null.
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, newErr(CodeMalformed, "payload: %q is not an integer NumericDate", name)
	}
	// Beyond this time.Unix overflows and the time compares as long past:
	// an iat or nbf there would pass the future checks, an exp would pass
	// the exp-after-iat check.
	const maxNumericDate = 1<<63 - 1 - 62135596800
	if n > maxNumericDate {
		return time.Time{}, newErr(CodeMalformed, "payload: %q is out of range", name)
	}
	return time.Unix(n, 0), nil
}

// decodeObject decodes b, which must be exactly one JSON object with no
// duplicate member names (compared after unescaping) and nothing after it.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("bad JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("bad JSON")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("bad JSON")
		}
		if _, dup := m[key]; dup {
			return nil, errors.New("duplicate member")
		}
		m[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errors.New("bad JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

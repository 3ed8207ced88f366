package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rwadurian/tsskit/party/identity"
)

// Token kinds, carried in the private claim "knd".
const (
	KindAdmin   = "admin"   // an operator: pool, every wallet; minted by `tsskit token` with the coordinator's key
	KindUser    = "user"    // one signed-in user of an app: Subject = user id, Ops (and Wallets) say what it may do
	KindParty   = "party"   // one party in one session: Subject = party id, Session = session id
	KindService = "service" // a tsskit service: the coordinator towards the router, a server party towards the coordinator
)

// Operations a user token may allow (claim "ops").
const (
	OpCreateWallet = "create_wallet"
	OpSign         = "sign"
	OpListWallets  = "list_wallets"
)

// Ops are every operation a user token may carry.
var Ops = []string{OpCreateWallet, OpSign, OpListWallets}

const (
	// Issuer and Audience are the "iss" and "aud" of every token.
	Issuer   = "tsskit"
	Audience = "tsskit"
	// MaxTokenLen bounds a token; longer ones are refused before decoding
	// (the signer's certificates ride in the header).
	MaxTokenLen = 8192
	// ClockSkew is how far iat, nbf and exp may be off.
	ClockSkew = 60 * time.Second
	// certHeader is the header member carrying the signer's certificate
	// chain (standard base64 of each certificate, the signer's first).
	certHeader = "tsc"
)

// Claims are the claims of a tsskit token and, once verified, who signed it.
type Claims struct {
	Kind    string   // "knd"
	Subject string   // "sub": admin name, user id, party id, or service (party) id
	Session string   // "sid": KindParty only
	Ops     []string // "ops": KindUser only, a subset of Ops
	Wallets []string // "wlt": KindUser only, optional: the wallets it is limited to
	// IssuedAt and Expires are "iat" and "exp" (Unix seconds).
	IssuedAt time.Time
	Expires  time.Time

	// Set by Verify: the signer's certified identity.
	SignerKind identity.Kind
	SignerID   string
	SignerKey  identity.PublicKey
}

// Allows reports whether a user token allows op (and, with wallet set, on
// that wallet).
func (c *Claims) Allows(op, wallet string) bool {
	if c == nil || c.Kind != KindUser || !slices.Contains(c.Ops, op) {
		return false
	}
	return wallet == "" || len(c.Wallets) == 0 || slices.Contains(c.Wallets, wallet)
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Kind    string   `json:"knd"`
	Session string   `json:"sid,omitempty"`
	Ops     []string `json:"ops,omitempty"`
	Wallets []string `json:"wlt,omitempty"`
}

// validate checks the kind-specific claims (not the times).
func (c *Claims) validate() error {
	switch c.Kind {
	case KindAdmin, KindService, KindUser:
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
	if c.Kind != KindUser && (len(c.Ops) > 0 || len(c.Wallets) > 0) {
		return newErr(CodeMalformed, "claims: operations or wallets on a %s token", c.Kind)
	}
	if c.Kind == KindUser {
		if len(c.Ops) == 0 {
			return malformed("claims: a user token without operations")
		}
		for _, op := range c.Ops {
			if !slices.Contains(Ops, op) {
				return newErr(CodeMalformed, "claims: unknown operation %q", op)
			}
		}
	}
	return nil
}

// Minter signs tokens with an identity key and its certificate chain:
// the coordinator's (every kind of token) or a server party's (service
// tokens for itself). No secret is shared: services that verify hold only
// the deployment root.
type Minter struct {
	key   *identity.Key
	chain []*identity.Certificate
	hdr   []string

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// NewMinter returns a minter for key, certified by chain (its first
// certificate must be for key).
func NewMinter(key *identity.Key, chain []*identity.Certificate) (*Minter, error) {
	if key == nil || len(chain) == 0 || !chain[0].Key.Equal(key.Public()) {
		return nil, errors.New("auth: the minter's certificate is not for its key")
	}
	m := &Minter{key: key, chain: chain}
	for _, c := range chain {
		m.hdr = append(m.hdr, base64.StdEncoding.EncodeToString(c.Bytes()))
	}
	return m, nil
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// ID is the minter's certified party id.
func (m *Minter) ID() string { return m.chain[0].PartyID }

// Key is the minter's signing key (for tests that look for it in logs).
func (m *Minter) Key() *identity.Key { return m.key }

// Mint signs c (EdDSA). A zero IssuedAt is now; times are kept to the
// second; Expires is required and later than IssuedAt.
func (m *Minter) Mint(c Claims) (string, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = m.now()
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	iat, exp := c.IssuedAt.Truncate(time.Second), c.Expires.Truncate(time.Second)
	if c.Expires.IsZero() || !exp.After(iat) {
		return "", malformed("claims: expiry missing or not after issued-at")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: c.Subject,
			IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp)},
		Kind: c.Kind, Session: c.Session, Ops: c.Ops, Wallets: c.Wallets,
	})
	t.Header[certHeader] = m.hdr
	s, err := t.SignedString(ed25519.PrivateKey(m.keyBytes()))
	if err != nil {
		return "", malformed("sign: " + err.Error())
	}
	if len(s) > MaxTokenLen {
		return "", newErr(CodeMalformed, "claims: token would be %d bytes, limit is %d", len(s), MaxTokenLen)
	}
	return s, nil
}

func (m *Minter) keyBytes() []byte {
	seed := m.key.Seed()
	defer clear(seed)
	return ed25519.NewKeyFromSeed(seed)
}

func (m *Minter) mintTTL(c Claims, ttl time.Duration) (string, error) {
	if ttl < time.Second {
		return "", newErr(CodeMalformed, "claims: ttl %v is shorter than 1s", ttl)
	}
	now := m.now()
	c.IssuedAt, c.Expires = now, now.Add(ttl)
	return m.Mint(c)
}

// MintParty mints a token for party in session, valid for ttl.
func (m *Minter) MintParty(session, party string, ttl time.Duration) (string, error) {
	return m.mintTTL(Claims{Kind: KindParty, Subject: party, Session: session}, ttl)
}

// MintService mints a service token for name, valid for ttl. A server
// party's minter mints for its own party id only (verifiers check).
func (m *Minter) MintService(name string, ttl time.Duration) (string, error) {
	return m.mintTTL(Claims{Kind: KindService, Subject: name}, ttl)
}

// MintAdmin mints an admin token for subject, valid for ttl.
func (m *Minter) MintAdmin(subject string, ttl time.Duration) (string, error) {
	return m.mintTTL(Claims{Kind: KindAdmin, Subject: subject}, ttl)
}

// MintUser mints a user token for user, allowing ops (on wallets, if
// any), valid for ttl.
func (m *Minter) MintUser(user string, ops, wallets []string, ttl time.Duration) (string, error) {
	return m.mintTTL(Claims{Kind: KindUser, Subject: user, Ops: ops, Wallets: wallets}, ttl)
}

// Verifier checks tokens against the deployment's trust: a token is
// accepted only when its header's certificate chain verifies under the
// pinned roots (not revoked, valid now), its EdDSA signature verifies with
// the certified key, and the signer may mint that kind of token: the
// coordinator any kind, a server party only service tokens for its own
// party id.
type Verifier struct {
	trust *identity.Trust
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// NewVerifier returns a verifier under trust.
func NewVerifier(trust *identity.Trust) *Verifier { return &Verifier{trust: trust} }

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify checks token and returns its claims. Errors: ErrMalformed (size,
// encoding, claims), ErrAlgorithm (anything but EdDSA, "none" included),
// ErrSignature (no or an untrusted certificate, a bad signature, a signer
// that may not mint this kind), ErrIssuer, ErrAudience, ErrNotYetValid,
// ErrExpired.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if v == nil || v.trust == nil {
		return nil, &Error{Code: CodeMissingSecret, Err: errors.New("no trust root configured")}
	}
	if len(token) > MaxTokenLen {
		return nil, newErr(CodeMalformed, "token is %d bytes, limit is %d", len(token), MaxTokenLen)
	}
	// The algorithm first: a token for another one ("none" with its empty
	// signature, HS256 made with a public key as its secret) is
	// ErrAlgorithm whatever else it holds.
	if t, _, err := jwt.NewParser().ParseUnverified(token, &jwtClaims{}); err != nil {
		return nil, malformed("not a JWT")
	} else if t.Method == nil || t.Method.Alg() != jwt.SigningMethodEdDSA.Alg() {
		return nil, newErr(CodeAlgorithm, "only EdDSA tokens are accepted")
	}
	now := v.now()
	var signer *identity.Certificate
	var jc jwtClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithStrictDecoding())
	_, err := p.ParseWithClaims(token, &jc, func(t *jwt.Token) (any, error) {
		chain, err := headerChain(t.Header[certHeader])
		if err != nil {
			return nil, err
		}
		c := chain[0]
		if err := v.trust.Verify(chain, c.PartyID, c.Kind, c.Key, now); err != nil {
			return nil, err
		}
		signer = c
		return ed25519.PublicKey(c.Key[:]), nil
	})
	if err != nil {
		return nil, tokenError(err)
	}
	c := &Claims{Kind: jc.Kind, Subject: jc.Subject, Session: jc.Session, Ops: jc.Ops, Wallets: jc.Wallets,
		SignerKind: signer.Kind, SignerID: signer.PartyID, SignerKey: signer.Key}
	if jc.IssuedAt != nil {
		c.IssuedAt = jc.IssuedAt.Time
	}
	if jc.ExpiresAt != nil {
		c.Expires = jc.ExpiresAt.Time
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	switch {
	case signer.Kind == identity.KindCoordinator:
	case signer.Kind == identity.KindServer && c.Kind == KindService && c.Subject == signer.PartyID:
	default:
		return nil, newErr(CodeSignature, "a %s may not mint this %s token", signer.Kind, c.Kind)
	}
	return c, nil
}

// headerChain decodes the signer's certificates from the token header.
func headerChain(v any) ([]*identity.Certificate, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > identity.MaxChain {
		return nil, newErr(CodeSignature, "token header carries no certificate chain of its signer")
	}
	raw := make([][]byte, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, malformed("token header: certificate is not a string")
		}
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, malformed("token header: certificate is not base64")
		}
		raw[i] = b
	}
	chain, err := identity.DecodeChain(raw)
	if err != nil {
		return nil, newErr(CodeSignature, "token header: %v", err)
	}
	return chain, nil
}

// tokenError maps golang-jwt's errors (and the key function's) to codes.
// Messages name the check, never the token.
func tokenError(err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var ie *identity.Error
	if errors.As(err, &ie) {
		return newErr(CodeSignature, "signer: %v", ie)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return newErr(CodeSignature, "signature does not verify")
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrSignatureInvalid):
		return newErr(CodeAlgorithm, "only EdDSA tokens are accepted")
	case errors.Is(err, jwt.ErrTokenExpired):
		return newErr(CodeExpired, "token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return newErr(CodeNotYetValid, "token not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return newErr(CodeIssuer, "issuer is not %q", Issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return newErr(CodeAudience, "audience is not %q", Audience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return newErr(CodeMalformed, "a required claim is missing")
	}
	return malformed("not a token this service accepts")
}

package identity

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Trust is what a party believes, from its own configuration: the pinned
// deployment root keys and the revoked identity keys. It is never taken
// from the coordinator.
type Trust struct {
	roots   []PublicKey
	revoked map[PublicKey]bool
}

// NewTrust pins roots (at least one) and revokes the keys in revoked.
func NewTrust(roots []PublicKey, revoked []PublicKey) (*Trust, error) {
	if len(roots) == 0 {
		return nil, errors.New("identity: no trust root")
	}
	t := &Trust{roots: append([]PublicKey(nil), roots...), revoked: map[PublicKey]bool{}}
	for _, k := range revoked {
		t.revoked[k] = true
	}
	return t, nil
}

// ParseTrust reads roots and revoked keys as comma- or space-separated hex
// keys (TSSKIT_TRUST_ROOT, TSSKIT_REVOKED).
func ParseTrust(roots, revoked string) (*Trust, error) {
	rs, err := parseKeys(roots)
	if err != nil {
		return nil, fmt.Errorf("trust root: %w", err)
	}
	vs, err := parseKeys(revoked)
	if err != nil {
		return nil, fmt.Errorf("revoked keys: %w", err)
	}
	return NewTrust(rs, vs)
}

func parseKeys(s string) ([]PublicKey, error) {
	var out []PublicKey
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		k, err := ParsePublicKey(f)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// Roots are the pinned root keys.
func (t *Trust) Roots() []PublicKey { return append([]PublicKey(nil), t.roots...) }

// Revoked reports whether k is revoked.
func (t *Trust) Revoked(k PublicKey) bool { return t.revoked[k] }

func (t *Trust) isRoot(k PublicKey) bool {
	for _, r := range t.roots {
		if r.Equal(k) {
			return true
		}
	}
	return false
}

// Verify checks that chain certifies key as (partyID, kind) at now: the
// party's certificate names exactly that subject and is valid at now, and
// either it is signed by a pinned root, or it is a server certificate
// signed by an issuer whose certificate the root signed, that is valid at
// now, whose prefix the party id has and whose validity covers the
// party's. No key in the chain may be revoked, the root's included. Errors
// are *Error naming partyID.
func (t *Trust) Verify(chain []*Certificate, partyID string, kind Kind, key PublicKey, now time.Time) error {
	fail := func(code Code, format string, a ...any) error { return errorf(code, partyID, format, a...) }
	if len(chain) == 0 {
		return fail(CodeNoCertificate, "a %s needs a certificate from the deployment root", kind)
	}
	if len(chain) > MaxChain {
		return fail(CodeMalformed, "chain of %d certificates; want at most %d", len(chain), MaxChain)
	}
	leaf := chain[0]
	switch {
	case leaf.Kind != kind:
		return fail(CodeWrongSubject, "certificate is for a %s, not a %s", leaf.Kind, kind)
	case leaf.PartyID != partyID:
		return fail(CodeWrongSubject, "certificate is for party %q", leaf.PartyID)
	case !leaf.Key.Equal(key):
		return fail(CodeWrongSubject, "certificate is for identity key %s, not %s", leaf.Key.Short(), key.Short())
	}
	for _, c := range chain {
		if t.revoked[c.Key] {
			return fail(CodeRevoked, "identity key %s is revoked", c.Key.Short())
		}
		if !c.validAt(now) {
			return fail(CodeExpired, "certificate of %s %q is valid %s..%s, not at %s", c.Kind, c.PartyID,
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	top := chain[len(chain)-1]
	if t.revoked[top.Issuer] {
		return fail(CodeRevoked, "root key %s is revoked", top.Issuer.Short())
	}
	if !t.isRoot(top.Issuer) {
		return fail(CodeUntrusted, "certificate chain ends at key %s, which is not a pinned deployment root", top.Issuer.Short())
	}
	if len(chain) == 2 {
		iss := chain[1]
		switch {
		case iss.Kind != KindIssuer:
			return fail(CodeUntrusted, "second certificate is a %s's, not an issuer's", iss.Kind)
		case leaf.Kind != KindServer:
			return fail(CodeUntrusted, "an issuer certifies only server parties")
		case !leaf.Issuer.Equal(iss.Key):
			return fail(CodeUntrusted, "certificate is not signed by the issuer in its chain")
		case !strings.HasPrefix(leaf.PartyID, iss.PartyID):
			return fail(CodeUntrusted, "the issuer certifies party ids starting %q only", iss.PartyID)
		case iss.NotAfter.Sub(iss.NotBefore) > MaxIssuerLifetime:
			return fail(CodeUntrusted, "issuer certificate lives longer than %s", MaxIssuerLifetime)
		case leaf.NotBefore.Before(iss.NotBefore) || leaf.NotAfter.After(iss.NotAfter):
			return fail(CodeUntrusted, "certificate outlives its issuer's")
		}
	}
	for _, c := range chain {
		if !c.signedBy() {
			return fail(CodeBadSignature, "certificate of %s %q does not verify with its issuer's key", c.Kind, c.PartyID)
		}
	}
	return nil
}

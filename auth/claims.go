package auth

import (
	"context"
	"errors"
	"strings"
)

// Require returns nil if c is a token of kind, else ErrWrongKind. A nil c is
// ErrWrongKind.
func (c *Claims) Require(kind string) error {
	if c == nil {
		return &Error{Code: CodeWrongKind, Err: errors.New("no claims")}
	}
	if c.Kind != kind {
		return newErr(CodeWrongKind, "token kind %q, need %q", c.Kind, kind)
	}
	return nil
}

// RequireParty returns nil if c is a party token of party in session. A token
// of another kind is ErrWrongKind; a party token for another session or
// another party is ErrForbidden. Empty session or party never match.
func (c *Claims) RequireParty(session, party string) error {
	if err := c.Require(KindParty); err != nil {
		return err
	}
	if session == "" || c.Session != session {
		return newErr(CodeForbidden, "token is for session %q, not %q", c.Session, session)
	}
	if party == "" || c.Subject != party {
		return newErr(CodeForbidden, "token is for party %q, not %q", c.Subject, party)
	}
	return nil
}

// BearerToken returns the token of an Authorization header value
// "Bearer <token>". The scheme is case-insensitive (RFC 9110 §11.1); the token
// must be non-empty and contain no whitespace. It reports false for anything
// else.
func BearerToken(h string) (string, bool) {
	const scheme = "bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	tok := strings.TrimLeft(h[len(scheme):], " ")
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", false
	}
	return tok, true
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying c. Store only claims returned by
// Verify.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the claims stored by NewContext, if any.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok && c != nil
}

package auth

import (
	"errors"
	"fmt"
)

// Code classifies why a token, secret, claim or client address check was
// refused.
type Code string

const (
	CodeMalformed     Code = "malformed"       // not a token this package would mint: encoding, header, claims, size
	CodeAlgorithm     Code = "unsupported_alg" // header alg is not EdDSA: "none", HS256 (algorithm confusion), RS256, …
	CodeSignature     Code = "bad_signature"   // forged, tampered, signed by an uncertified key, or by a signer that may not mint this kind
	CodeIssuer        Code = "wrong_issuer"    // iss is not "tsskit"
	CodeAudience      Code = "wrong_audience"  // aud is present and is not "tsskit"
	CodeExpired       Code = "expired"         // now >= exp
	CodeNotYetValid   Code = "not_yet_valid"   // nbf or iat more than the allowed clock skew in the future
	CodeMissingSecret Code = "missing_trust"   // no trust root configured to verify with
	CodeWrongKind     Code = "wrong_kind"      // valid token of another kind than required
	CodeForbidden     Code = "forbidden"       // valid party token for another session or party

	CodeNoClientIP      Code = "no_client_ip"      // the connection's peer address is not an IP address
	CodeBadForwardedFor Code = "bad_forwarded_for" // a trusted proxy sent an X-Forwarded-For that does not parse
)

// Error is the typed error of this package. Its message never contains a
// token or a secret.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "auth: " + string(e.Code)
	}
	return fmt.Sprintf("auth: %s: %v", e.Code, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same code, so callers can write
// errors.Is(err, auth.ErrExpired).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Code == e.Code
}

// Sentinels, one per code, for errors.Is.
var (
	ErrMalformed     = &Error{Code: CodeMalformed}
	ErrAlgorithm     = &Error{Code: CodeAlgorithm}
	ErrSignature     = &Error{Code: CodeSignature}
	ErrIssuer        = &Error{Code: CodeIssuer}
	ErrAudience      = &Error{Code: CodeAudience}
	ErrExpired       = &Error{Code: CodeExpired}
	ErrNotYetValid   = &Error{Code: CodeNotYetValid}
	ErrMissingSecret = &Error{Code: CodeMissingSecret}
	ErrWrongKind     = &Error{Code: CodeWrongKind}
	ErrForbidden     = &Error{Code: CodeForbidden}

	ErrNoClientIP      = &Error{Code: CodeNoClientIP}
	ErrBadForwardedFor = &Error{Code: CodeBadForwardedFor}
)

func newErr(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

func malformed(msg string) *Error { return &Error{Code: CodeMalformed, Err: errors.New(msg)} }

package identity

import (
	"errors"
	"fmt"
)

// Code says why an identity check failed.
type Code string

const (
	CodeMalformed     Code = "malformed"        // not a valid encoding
	CodeNoCertificate Code = "no_certificate"   // a certified kind without a certificate
	CodeUntrusted     Code = "untrusted"        // the chain does not end at a pinned root
	CodeExpired       Code = "expired"          // outside a certificate's or a statement's validity
	CodeRevoked       Code = "revoked"          // a key in the chain is revoked
	CodeBadSignature  Code = "bad_signature"    // a signature does not verify
	CodeWrongSubject  Code = "wrong_subject"    // a certificate for another party, kind or key
	CodeMismatch      Code = "session_mismatch" // a statement describes another session than this party's
	CodeNotHolder     Code = "not_holder"       // at signing: not a holder of the wallet
	CodeWrongIdentity Code = "wrong_identity"   // at signing: another identity than the share record's
	CodeSubstituted   Code = "substituted"      // parties saw different roster entries for a party
	CodePolicy        Code = "policy"           // the wallet's policy refuses the session
	CodeStaleEpoch    Code = "stale_epoch"      // at signing: a party's share is of another epoch than this party's
)

// Error is an identity check that failed. Party is the party whose entry
// failed (the culprit), empty if the failure is not about one party.
type Error struct {
	Code  Code
	Party string
	Err   error
}

func (e *Error) Error() string {
	if e.Party == "" {
		return fmt.Sprintf("identity: %s: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("identity: %s: party %q: %v", e.Code, e.Party, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Party == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrMalformed     = &Error{Code: CodeMalformed}
	ErrNoCertificate = &Error{Code: CodeNoCertificate}
	ErrUntrusted     = &Error{Code: CodeUntrusted}
	ErrExpired       = &Error{Code: CodeExpired}
	ErrRevoked       = &Error{Code: CodeRevoked}
	ErrBadSignature  = &Error{Code: CodeBadSignature}
	ErrWrongSubject  = &Error{Code: CodeWrongSubject}
	ErrMismatch      = &Error{Code: CodeMismatch}
	ErrNotHolder     = &Error{Code: CodeNotHolder}
	ErrWrongIdentity = &Error{Code: CodeWrongIdentity}
	ErrSubstituted   = &Error{Code: CodeSubstituted}
	ErrPolicy        = &Error{Code: CodePolicy}
	ErrStaleEpoch    = &Error{Code: CodeStaleEpoch}
)

func errorf(code Code, party, format string, a ...any) *Error {
	return &Error{Code: code, Party: party, Err: fmt.Errorf(format, a...)}
}

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

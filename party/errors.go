package party

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies a failed session.
type Code string

const (
	CodeInvalidParams Code = "invalid_params" // bad session parameters, keys, roster, share or digest
	CodeProtocol      Code = "protocol"       // tss-lib refused a message or a proof (culprits named when tss-lib knows them)
	CodeSeal          Code = "seal"           // a forged, tampered, undecryptable or equivocating envelope (culprit = its claimed sender)
	CodeTimeout       Code = "timeout"        // the deadline passed (culprits = the parties still waited for)
	CodeCanceled      Code = "canceled"       // the caller cancelled
	CodeTransport     Code = "transport"      // sending failed or the incoming stream ended
	CodeVerify        Code = "verify"         // the result failed its final independent check
	// The trust model's refusals, all before any protocol message is sent
	// (culprit = the party whose roster entry failed; see package identity).
	CodeIdentity   Code = "identity"         // a roster entry fails its identity checks: certificate, signature, revocation, holder identity, or a roster substituted between parties
	CodeMismatch   Code = "session_mismatch" // a party's statement describes another session than this party's own view (threshold, parties, kinds, wallet, digest)
	CodePolicy     Code = "policy"           // the wallet's policy refuses this signing (no sign request from one of its clients)
	CodeStaleEpoch Code = "stale_epoch"      // a signer's share is of another epoch than this party's: the older one must recover or import a newer backup
	CodeRecovery   Code = "recovery_refused" // a recovery's authorization is missing, forged, expired, for another wallet, epoch or device, or of a kind the wallet's policy does not accept
	// One acknowledged run per epoch (docs/lifecycle.md): a holder of an
	// earlier run's pending share of the same epoch refuses a reshare...
	CodeRunComplete     Code = "run_complete"      // ...whose earlier run every new holder stored: that run is the one to activate, not to run again
	CodeRunNotAbandoned Code = "run_not_abandoned" // ...without another new holder's statement that it abandoned that run
	CodeRunFrozen       Code = "run_frozen"        // ...while an operator settles that run: this party froze it (tsskit settle), or a drop of it was cut short
	CodeSettle          Code = "settle_refused"    // settling a run in limbo is refused: a holder's frozen-run (or, for a thaw, activated-run) statement is missing or forged, the silent holders could sign with the run, or too few holders keep the active epoch's shares
)

// Error is the typed error of every engine failure. Culprits are party ids.
type Error struct {
	Code     Code
	Round    int      // protocol round the failure belongs to, 0 if unknown
	Culprits []string // parties to blame, sorted; empty if unknown
	Err      error
}

// FailureCode and FailureCulprits name the failure for tracing.
func (e *Error) FailureCode() string       { return string(e.Code) }
func (e *Error) FailureCulprits() []string { return e.Culprits }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "party: %s", e.Code)
	if e.Round > 0 {
		fmt.Fprintf(&b, " in round %d", e.Round)
	}
	if len(e.Culprits) > 0 {
		fmt.Fprintf(&b, " (culprits: %s)", strings.Join(e.Culprits, ", "))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same code: errors.Is(err, party.ErrTimeout).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Culprits == nil && t.Round == 0 && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidParams = &Error{Code: CodeInvalidParams}
	ErrProtocol      = &Error{Code: CodeProtocol}
	ErrSeal          = &Error{Code: CodeSeal}
	ErrTimeout       = &Error{Code: CodeTimeout}
	ErrCanceled      = &Error{Code: CodeCanceled}
	ErrTransport     = &Error{Code: CodeTransport}
	ErrVerify        = &Error{Code: CodeVerify}
	ErrIdentity      = &Error{Code: CodeIdentity}
	ErrMismatch      = &Error{Code: CodeMismatch}
	ErrPolicy        = &Error{Code: CodePolicy}
	ErrRecovery      = &Error{Code: CodeRecovery}
	ErrStaleEpoch    = &Error{Code: CodeStaleEpoch}
)

func invalid(format string, a ...any) *Error {
	return &Error{Code: CodeInvalidParams, Err: fmt.Errorf(format, a...)}
}

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

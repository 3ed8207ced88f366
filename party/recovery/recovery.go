// Package recovery authorizes handing a co-managed wallet to a new client
// device when its client is lost.
//
// What may authorize a recovery is the wallet's recovery policy
// (identity.Recovery): the client sets it at keygen and every holder
// writes it into its share record. Each server party checks an
// authorization itself, against its own record, before it takes part in
// the reshare that hands the wallet over; neither the coordinator nor any
// one service can recover a wallet on its own say-so. Two kinds of key
// may sign an authorization:
//
//   - KindKit, the wallet's recovery kit: a recovery code of 12 BIP39
//     English words, shown once at creation (NewCode), from which an
//     Ed25519 key bound to the wallet is derived (KitKey). Only the kit's
//     public key is kept, in the share records; whoever holds the words
//     may recover the wallet, and no one else.
//   - KindBackend, the app backend's recovery key: an Ed25519 key the
//     app's backend keeps, whose public half is in each server party's
//     configuration. The backend signs an approval once it has
//     re-authenticated the user by its own means; a wallet accepts such
//     approvals only if its policy says so.
//
// Both sign the same Authorization: "this wallet, recovered from this
// epoch, may be handed to this new client party, with this device
// identity key, until this time". Check verifies the signature and those
// facts; whether the signer is acceptable for the wallet is the caller's
// decision (the kit key in its share record, or one of its configured
// backend keys), since only the caller knows them.
//
// Encodings are canonical and versioned (see Authorization.Marshal): the
// binary form is what is signed and what travels in a protobuf bytes
// field (Encode); a JSON file form (MarshalFile) carries the same fields
// for a backend's approval handed to a user, or a kit authorization the
// CLI writes.
package recovery

import (
	"errors"
	"fmt"
)

// Kind is what signed an authorization.
type Kind byte

const (
	KindKit     Kind = 1 // the wallet's recovery kit (a key derived from the recovery code)
	KindBackend Kind = 2 // the app backend's recovery key
)

func (k Kind) String() string {
	switch k {
	case KindKit:
		return "kit"
	case KindBackend:
		return "backend"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// valid reports whether k is a known kind.
func (k Kind) valid() bool { return k == KindKit || k == KindBackend }

// ParseKind reads a kind's name: "kit" or "backend".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "kit":
		return KindKit, nil
	case "backend":
		return KindBackend, nil
	}
	return 0, errorf(CodeMalformed, "unknown kind %q; want kit or backend", s)
}

// Error codes: what went wrong, for a caller to act on (tests match the
// code, not the text).
const (
	// CodeBadCode: a recovery code that is not 12 words of the BIP39
	// English list with a valid checksum. The message names the position
	// of a wrong word, never the code.
	CodeBadCode = "recovery_code"
	// CodeMalformed: an authorization whose fields or encoding are not
	// valid (at Sign, Marshal, Decode or ParseFile).
	CodeMalformed = "recovery_malformed"
	// CodeForged: the signature does not verify under Signer.
	CodeForged = "recovery_forged"
	// CodeExpired: the authorization has expired, or it claims a life
	// longer than MaxLife.
	CodeExpired = "recovery_expired"
	// CodeOtherWallet: the authorization is for another wallet.
	CodeOtherWallet = "recovery_other_wallet"
	// CodeStale: the authorization recovers from another epoch of the
	// wallet than the shares of the checking party (it was made before
	// a reshare, or for a later one).
	CodeStale = "recovery_stale"
)

// Error is a refused recovery code or authorization.
type Error struct {
	Code string
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "recovery: " + e.Code
	}
	return fmt.Sprintf("recovery: %s: %v", e.Code, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrBadCode     = &Error{Code: CodeBadCode}
	ErrMalformed   = &Error{Code: CodeMalformed}
	ErrForged      = &Error{Code: CodeForged}
	ErrExpired     = &Error{Code: CodeExpired}
	ErrOtherWallet = &Error{Code: CodeOtherWallet}
	ErrStale       = &Error{Code: CodeStale}
)

func errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, a...)}
}

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

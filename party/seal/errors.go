package seal

import (
	"errors"
	"fmt"
)

// Code classifies why an envelope was refused.
type Code string

const (
	CodeMalformed     Code = "malformed"      // not decodable, bad sizes or fields
	CodeTooLarge      Code = "too_large"      // over MaxPayload / MaxEnvelope
	CodeWrongSession  Code = "wrong_session"  // belongs to another session
	CodeNotForMe      Code = "not_for_me"     // addressed to another party, or our own echo
	CodeUnknownSender Code = "unknown_sender" // sender not in the roster
	CodeBadSignature  Code = "bad_signature"  // forged or tampered in transit
	CodeDecrypt       Code = "decrypt"        // HPKE open failed (tampered or mis-sealed)
	CodeDuplicate     Code = "duplicate"      // same sender_seq and content seen before (replay)
	CodeEquivocation  Code = "equivocation"   // same sender_seq, different content, both validly signed
)

// Error is the typed error of this package. Sender is the claimed sender of
// the refused envelope (for a bad signature it is the party the envelope
// pretends to come from, which is what an operator needs to look at).
type Error struct {
	Code      Code
	Sender    string
	SenderSeq uint64
	Err       error
}

func (e *Error) Error() string {
	if e.Sender == "" {
		return fmt.Sprintf("seal: %s: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("seal: %s from %q (sender_seq %d): %v", e.Code, e.Sender, e.SenderSeq, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the same code, so callers can write
// errors.Is(err, seal.ErrBadSignature).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Sender == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels, one per code, for errors.Is.
var (
	ErrMalformed     = &Error{Code: CodeMalformed}
	ErrTooLarge      = &Error{Code: CodeTooLarge}
	ErrWrongSession  = &Error{Code: CodeWrongSession}
	ErrNotForMe      = &Error{Code: CodeNotForMe}
	ErrUnknownSender = &Error{Code: CodeUnknownSender}
	ErrBadSignature  = &Error{Code: CodeBadSignature}
	ErrDecrypt       = &Error{Code: CodeDecrypt}
	ErrDuplicate     = &Error{Code: CodeDuplicate}
	ErrEquivocation  = &Error{Code: CodeEquivocation}
)

func newError(code Code, sender string, seq uint64, err error) *Error {
	return &Error{Code: code, Sender: sender, SenderSeq: seq, Err: err}
}

func malformed(msg string) *Error { return newError(CodeMalformed, "", 0, errors.New(msg)) }

// Benign reports whether a refusal is harmless for the session: a replay, an
// envelope meant for someone else or another session. Every other refusal
// means a roster member's channel is compromised and the session should fail.
func Benign(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case CodeDuplicate, CodeNotForMe, CodeWrongSession:
		return true
	}
	return false
}

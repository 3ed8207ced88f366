package share

import (
	"errors"
	"fmt"
)

// Code classifies why a record was rejected.
type Code int

const (
	// CodeMalformed: not a record of this format — bad JSON, a value of the
	// wrong type, a missing, unknown or duplicate key, data after the
	// object, or a foreign format tag.
	CodeMalformed Code = iota + 1
	// CodeTruncated: the input ends inside the record.
	CodeTruncated
	// CodeTooLarge: the input is longer than MaxRecordSize.
	CodeTooLarge
	// CodeUnsupportedVersion: a version this package cannot read.
	CodeUnsupportedVersion
	// CodeInconsistent: well-formed, but the fields do not describe one
	// valid share (see Record.Validate).
	CodeInconsistent
)

// Sentinels for errors.Is: each *Error matches the one of its Code.
var (
	ErrMalformed          = errors.New("share: malformed record")
	ErrTruncated          = errors.New("share: truncated record")
	ErrTooLarge           = errors.New("share: record too large")
	ErrUnsupportedVersion = errors.New("share: unsupported record version")
	ErrInconsistent       = errors.New("share: inconsistent record")
)

// Error is the type of every error Encode, Decode and Validate return.
// Messages say what was expected and never contain secret values.
type Error struct {
	Code Code
	// Field is the JSON path of the offending value, e.g. "threshold" or
	// "save_data.BigXj[1]"; empty when the input as a whole is at fault.
	Field string
	// Version is the record's version; set with CodeUnsupportedVersion.
	Version int
	// Err says what was wrong or expected; it may wrap a cause.
	Err error
}

func (e *Error) sentinel() error {
	switch e.Code {
	case CodeMalformed:
		return ErrMalformed
	case CodeTruncated:
		return ErrTruncated
	case CodeTooLarge:
		return ErrTooLarge
	case CodeUnsupportedVersion:
		return ErrUnsupportedVersion
	case CodeInconsistent:
		return ErrInconsistent
	}
	return nil
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("share: error code %d", int(e.Code))
	if s := e.sentinel(); s != nil {
		msg = s.Error()
	}
	if e.Code == CodeUnsupportedVersion {
		msg += fmt.Sprintf(" %d (this package reads versions 1..%d)", e.Version, Version)
	}
	if e.Field != "" {
		msg += ": " + e.Field
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause, so errors.Is(err, io.ErrUnexpectedEOF) also works.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Code.
func (e *Error) Is(target error) bool {
	s := e.sentinel()
	return s != nil && target == s
}

func malformed(field string, err error) *Error {
	return &Error{Code: CodeMalformed, Field: field, Err: err}
}

func malformedf(field, format string, a ...any) *Error {
	return malformed(field, fmt.Errorf(format, a...))
}

func inconsistent(field, format string, a ...any) *Error {
	return &Error{Code: CodeInconsistent, Field: field, Err: fmt.Errorf(format, a...)}
}

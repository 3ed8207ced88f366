package preparams

import "fmt"

// ErrorCode classifies the errors returned by this package.
type ErrorCode int

const (
	// CodeInvalid: an argument or a set of pre-parameters is malformed or
	// fails a mathematical check.
	CodeInvalid ErrorCode = iota + 1
	// CodeNeedMorePrimes: Assemble found no pair of safe primes far enough
	// apart for the Paillier modulus; find one more safe prime and call
	// Assemble again with all of them.
	CodeNeedMorePrimes
	// CodeCancelled: the context was cancelled or its deadline passed. The
	// context's error is wrapped, so errors.Is(err, context.Canceled) works.
	CodeCancelled
	// CodeRandom: the source of randomness failed.
	CodeRandom
)

func (c ErrorCode) String() string {
	switch c {
	case CodeInvalid:
		return "invalid"
	case CodeNeedMorePrimes:
		return "need more primes"
	case CodeCancelled:
		return "cancelled"
	case CodeRandom:
		return "randomness failure"
	default:
		return fmt.Sprintf("code %d", int(c))
	}
}

// Error is the error type of this package. Match it by class with
// errors.Is(err, ErrInvalid) and friends, or inspect Code after errors.As.
type Error struct {
	Code ErrorCode
	Msg  string
	Err  error // underlying cause, may be nil
}

// Sentinels for errors.Is: an *Error matches the sentinel of its Code.
var (
	ErrInvalid        = &Error{Code: CodeInvalid}
	ErrNeedMorePrimes = &Error{Code: CodeNeedMorePrimes}
	ErrCancelled      = &Error{Code: CodeCancelled}
	ErrRandom         = &Error{Code: CodeRandom}
)

func (e *Error) Error() string {
	s := "preparams: " + e.Code.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so that every
// error of a class matches that class's sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func invalidf(format string, args ...any) error {
	return &Error{Code: CodeInvalid, Msg: fmt.Sprintf(format, args...)}
}

func cancelled(cause error) error {
	return &Error{Code: CodeCancelled, Msg: "safe prime search stopped", Err: cause}
}

func randomFailure(cause error) error {
	return &Error{Code: CodeRandom, Msg: "reading random bytes", Err: cause}
}

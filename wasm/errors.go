package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// Error is what JS receives as a rejected Promise or a thrown exception: an
// Error whose name is "TsskitError", with code, message and culprits.
type Error struct {
	Code     string
	Message  string
	Culprits []string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func argErr(format string, a ...any) *Error {
	return &Error{Code: "invalid_argument", Message: fmt.Sprintf(format, a...)}
}

// toError gives every error a code JS can switch on.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if pe, ok := party.AsError(err); ok {
		return &Error{Code: string(pe.Code), Message: err.Error(), Culprits: pe.Culprits}
	}
	var se *seal.Error
	if errors.As(err, &se) {
		return &Error{Code: "seal_" + string(se.Code), Message: err.Error()}
	}
	if re, ok := recovery.AsError(err); ok {
		return &Error{Code: re.Code, Message: err.Error()}
	}
	var she *share.Error
	if errors.As(err, &she) {
		return &Error{Code: "share_invalid", Message: err.Error()}
	}
	switch {
	case errors.Is(err, preparams.ErrNeedMorePrimes):
		return &Error{Code: "need_more_primes", Message: err.Error()}
	case errors.Is(err, preparams.ErrInvalid):
		return &Error{Code: "invalid_preparams", Message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, errCanceled):
		return &Error{Code: "canceled", Message: "canceled"}
	}
	return &Error{Code: "internal", Message: err.Error()}
}

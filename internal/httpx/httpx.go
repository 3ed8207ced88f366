// Package httpx holds the JSON conventions of tsskit's REST APIs: errors are
// {"error":{"code","message"}} with a fitting status, bodies are bounded,
// and nothing internal (a stack, a secret) reaches a response.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxBody bounds request bodies.
const MaxBody = 64 << 10

// Error is a REST error.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, if set, goes out as the Retry-After header (seconds)
	// and as "retry_after_ms" in the body.
	RetryAfter time.Duration `json:"-"`
	RetryMs    int64         `json:"retry_after_ms,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf makes an Error.
func Errorf(st int, code, format string, a ...any) *Error {
	return &Error{Status: st, Code: code, Message: fmt.Sprintf(format, a...)}
}

// WriteJSON writes v with status st.
func WriteJSON(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes an error body.
func WriteError(w http.ResponseWriter, st int, code, msg string) {
	WriteJSON(w, st, map[string]any{"error": &Error{Code: code, Message: msg}})
}

// Write writes err as ErrorOf maps it.
func Write(w http.ResponseWriter, err error) {
	e := ErrorOf(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		e.RetryMs = e.RetryAfter.Milliseconds()
	}
	WriteJSON(w, e.Status, map[string]any{"error": e})
}

// OverloadedReason is the gRPC ErrorInfo reason of a refusal for
// overload (the coordinator's admission control).
const OverloadedReason = "OVERLOADED"

// ErrorOf maps err to a REST error: an *Error as it is; a gRPC status by
// its code, an overload refusal (RESOURCE_EXHAUSTED with ErrorInfo
// OVERLOADED) as 503 "overloaded" with its RetryInfo as RetryAfter; and
// anything else as a 500 that says no more than "internal error".
func ErrorOf(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		c := *he
		return &c
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		e := FromGRPC(st.Code())
		e.Message = st.Message()
		if st.Code() == codes.ResourceExhausted {
			over, retry := false, time.Duration(0)
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					over = over || d.Reason == OverloadedReason
				case *errdetails.RetryInfo:
					retry = d.GetRetryDelay().AsDuration()
				}
			}
			if over {
				e.Status, e.Code, e.RetryAfter = http.StatusServiceUnavailable, "overloaded", max(retry, time.Second)
			}
		}
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

// FromGRPC maps a gRPC code to a REST status and code.
func FromGRPC(c codes.Code) *Error {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return &Error{Status: 400, Code: "invalid_argument"}
	case codes.Unauthenticated:
		return &Error{Status: 401, Code: "unauthorized"}
	case codes.PermissionDenied:
		return &Error{Status: 403, Code: "forbidden"}
	case codes.NotFound:
		return &Error{Status: 404, Code: "not_found"}
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		return &Error{Status: 409, Code: "conflict"}
	case codes.ResourceExhausted:
		return &Error{Status: 429, Code: "resource_exhausted"}
	case codes.Unavailable:
		return &Error{Status: 503, Code: "unavailable"}
	case codes.DeadlineExceeded, codes.Canceled:
		return &Error{Status: 504, Code: "deadline_exceeded"}
	}
	return &Error{Status: 500, Code: "internal"}
}

// Decode reads a JSON body into v: at most MaxBody bytes, one value. The
// Content-Type is not checked: callers of the seed API do not all set it.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	// A misspelt field is an error, not silently ignored: ignoring
	// "sharePassword" would hand a share back unencrypted.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(413, "too_large", "request body over %d bytes", MaxBody)
		}
		return Errorf(400, "invalid_json", "request body is not valid JSON: %s", jsonMsg(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(400, "invalid_json", "request body has data after the JSON object")
	}
	return nil
}

func jsonMsg(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed"
}

package participant

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// Overloaded reports whether err is the coordinator's refusal of a new
// session for overload (RESOURCE_EXHAUSTED carrying tsskit.v1.Overloaded
// or ErrorInfo "OVERLOADED"), and when a retry may be admitted.
func Overloaded(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return 0, false
	}
	var retry time.Duration
	found := false
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *tsskitv1.Overloaded:
			found, retry = true, time.Duration(d.RetryAfterMs)*time.Millisecond
		case *errdetails.ErrorInfo:
			found = found || d.Reason == "OVERLOADED"
		case *errdetails.RetryInfo:
			if retry == 0 {
				retry = d.GetRetryDelay().AsDuration()
			}
		}
	}
	return retry, found
}

// RetryOverloaded calls call, and again after a wait while it is refused
// for overload and attempts (the first included) remain: the server's
// retry time (at least 1 s), doubled each time, capped at maxDelay, times
// a random factor in [0.5, 1.5) so refused clients do not return together.
// onRetry, if set, hears of each wait. Other errors, the last refusal and
// the end of ctx are returned.
func RetryOverloaded(ctx context.Context, attempts int, maxDelay time.Duration, onRetry func(attempt int, wait time.Duration, err error), call func() error) error {
	for attempt := 1; ; attempt++ {
		err := call()
		retry, over := Overloaded(err)
		if err == nil || !over || attempt >= attempts {
			return err
		}
		wait := max(retry, time.Second)
		for i := 1; i < attempt && wait < maxDelay; i++ {
			wait *= 2 // doubled until the cap, never past it: no overflow
		}
		wait = min(wait, maxDelay)
		wait = time.Duration(float64(wait) * (0.5 + jitter()))
		if onRetry != nil {
			onRetry(attempt, wait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// jitter is uniform in [0, 1), from crypto/rand.
func jitter() float64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0.5
	}
	return float64(binary.LittleEndian.Uint64(b[:])>>11) / (1 << 53)
}

package participant

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

func refusal(t *testing.T, ms uint32) error {
	st, err := status.New(codes.ResourceExhausted, "overloaded: busy").WithDetails(&tsskitv1.Overloaded{RetryAfterMs: ms})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestRetryOverloaded(t *testing.T) {
	calls := 0
	var waits []time.Duration
	err := RetryOverloaded(context.Background(), 3, 1500*time.Millisecond, func(_ int, w time.Duration, _ error) { waits = append(waits, w) }, func() error {
		calls++
		if calls < 3 {
			return refusal(t, 10) // below the 1 s floor
		}
		return nil
	})
	if err != nil || calls != 3 || len(waits) != 2 {
		t.Fatalf("err %v, calls %d, waits %v", err, calls, waits)
	}
	// 1 s then 2 s capped at 1.5 s, each times [0.5, 1.5).
	if waits[0] < 500*time.Millisecond || waits[0] >= 1500*time.Millisecond || waits[1] < 750*time.Millisecond || waits[1] >= 2250*time.Millisecond {
		t.Fatalf("waits %v", waits)
	}

	// The last refusal comes back when attempts run out; other errors and
	// a quota refusal (no overload detail) at once.
	calls = 0
	if err := RetryOverloaded(context.Background(), 1, time.Second, nil, func() error { calls++; return refusal(t, 5000) }); calls != 1 {
		t.Fatalf("calls %d", calls)
	} else if d, ok := Overloaded(err); !ok || d != 5*time.Second {
		t.Fatalf("refusal %v: %v %v", err, d, ok)
	}
	quota := status.Error(codes.ResourceExhausted, "resource_exhausted: quota")
	calls = 0
	if err := RetryOverloaded(context.Background(), 5, time.Second, nil, func() error { calls++; return quota }); err != quota || calls != 1 {
		t.Fatalf("quota: %v after %d calls", err, calls)
	}
	if _, ok := Overloaded(errors.New("x")); ok {
		t.Fatal("a plain error is not a refusal")
	}

	// The context ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := RetryOverloaded(ctx, 5, time.Minute, nil, func() error { return refusal(t, 60000) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the deadline: %v", err)
	}
}

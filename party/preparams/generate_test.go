package preparams_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/party/preparams"
)

func TestGenerate(t *testing.T) {
	var mu sync.Mutex
	var last preparams.Progress
	inProgress := false
	o := &preparams.Options{Progress: func(p preparams.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if inProgress {
			t.Error("concurrent Progress calls")
		}
		inProgress = true
		last = p
		inProgress = false
	}}
	start := time.Now()
	pp, err := preparams.Generate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated in %v: %+v", time.Since(start), last)
	if last.PrimesFound < 4 || last.PrimesNeeded > last.PrimesFound || last.Tested == 0 {
		t.Fatalf("final progress %+v", last)
	}
	if err := preparams.ValidateWithProofs(pp, nil); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateSequential(t *testing.T) {
	yields := 0
	pp, err := preparams.Generate(context.Background(), &preparams.Options{Concurrency: 1, Yield: func() { yields++ }})
	if err != nil {
		t.Fatal(err)
	}
	if err := preparams.Validate(pp); err != nil {
		t.Fatal(err)
	}
	if yields == 0 {
		t.Fatal("Yield never called")
	}
}

func TestSafePrimeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := preparams.SafePrime(ctx, preparams.SafePrimeBits, nil)
	if !errors.Is(err, preparams.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: got %v", err)
	}

	// Cancel in the middle of a search that cannot finish in time: 4096-bit
	// safe primes take minutes.
	ctx, cancel = context.WithCancel(context.Background())
	var cancelledAt time.Time
	timer := time.AfterFunc(100*time.Millisecond, func() { cancelledAt = time.Now(); cancel() })
	defer timer.Stop()
	// Under GOOS=js the timer only fires when the search yields.
	_, err = preparams.SafePrime(ctx, 4096, &preparams.Options{Yield: runtime.Gosched})
	if !errors.Is(err, preparams.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v", err)
	}
	var perr *preparams.Error
	if !errors.As(err, &perr) || perr.Code != preparams.CodeCancelled {
		t.Fatalf("not a *preparams.Error with CodeCancelled: %#v", err)
	}
	if d := time.Since(cancelledAt); d > time.Second {
		t.Fatalf("returned %v after cancellation", d)
	}
}

func TestGenerateCancelled(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := preparams.Generate(ctx, &preparams.Options{Concurrency: 4, Yield: runtime.Gosched})
	if !errors.Is(err, preparams.ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("returned after %v", d)
	}
	// Timer callbacks of the context may still be finishing; the searches
	// themselves have ended when Generate returns.
	for deadline := time.Now().Add(time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before Generate, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pause gets each search's context, Generate's own: a search paused when
// the set is made is let go (its context ends), so Generate returns
// although one of its searches would pause for as long as its context
// lasts.
func TestGeneratePause(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("needs two searches at once; Generate runs one under GOOS=js")
	}
	var first atomic.Bool
	var mu sync.Mutex
	var seen []context.Context
	o := &preparams.Options{Concurrency: 2, Pause: func(ctx context.Context) {
		mu.Lock()
		seen = append(seen, ctx)
		mu.Unlock()
		// One search pauses until its context ends; the other finds the
		// primes.
		if first.CompareAndSwap(false, true) {
			<-ctx.Done()
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pp, err := preparams.Generate(ctx, o)
	if err != nil || !pp.ValidateWithProof() {
		t.Fatalf("Generate with one search paused: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("Pause was never called")
	}
	for _, c := range seen {
		if c.Err() == nil {
			t.Fatal("a search's context outlived Generate")
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the caller's context ended")
	}
}

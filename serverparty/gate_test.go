package serverparty

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// At most slots steps run at once; waiting steps go signings first, then
// by ticket, whatever order they arrived in.
func TestWorkGateOrder(t *testing.T) {
	g := newWorkGate(1)
	first := g.session(classKeygen)
	leave, err := first.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	oldKeygen := g.session(classKeygen)
	newKeygen := g.session(classKeygen)
	sign := g.session(classSign)
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(name string, s *sessionGate) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.Enter(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			l()
		}()
	}
	// A step that waits hears its position: behind nothing but the
	// running step, it is first.
	var pos []int
	var posMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		l, err := g.session(classKeygen).EnterQueued(context.Background(), func(p int) { posMu.Lock(); pos = append(pos, p); posMu.Unlock() })
		if err == nil {
			l()
		}
	}()
	waitQueued(t, g, 0, 1)
	// Arrive newest keygen first, then the sign, then the oldest keygen.
	start("new keygen", newKeygen)
	waitQueued(t, g, 0, 2)
	start("sign", sign)
	waitQueued(t, g, 1, 2)
	start("old keygen", oldKeygen)
	waitQueued(t, g, 1, 3)
	if g.Busy() != 1 {
		t.Fatalf("busy %d with one slot", g.Busy())
	}
	leave()
	leave() // a second call is a no-op
	wg.Wait()
	if len(pos) != 1 || pos[0] != 1 {
		t.Fatalf("positions heard %v, want [1]", pos)
	}
	want := []string{"sign", "old keygen", "new keygen"}
	if len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("order %v, want %v", order, want)
	}
	if g.Busy() != 0 {
		t.Fatalf("busy %d after all left", g.Busy())
	}
	if first.Held() <= 0 || sign.Held() < 5*time.Millisecond {
		t.Fatalf("held: first %v, sign %v", first.Held(), sign.Held())
	}
}

// A step whose context ends while it waits leaves the queue and takes no
// slot; the slots stay usable.
func TestWorkGateCancel(t *testing.T) {
	g := newWorkGate(2)
	a, b := g.session(classKeygen), g.session(classKeygen)
	la, _ := a.Enter(context.Background())
	lb, _ := b.Enter(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.session(classSign).Enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter past the deadline: %v", err)
	}
	if s, k := g.Queued(); s != 0 || k != 0 {
		t.Fatalf("queued %d %d after the waiter left", s, k)
	}
	la()
	lb()
	for range 3 {
		l, err := g.session(classSign).Enter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l()
	}
	if g.Busy() != 0 {
		t.Fatalf("busy %d", g.Busy())
	}
}

// Many sessions hammering a small gate never exceed its slots.
func TestWorkGateBound(t *testing.T) {
	g := newWorkGate(3)
	var mu sync.Mutex
	in, peak := 0, 0
	var wg sync.WaitGroup
	for i := range 40 {
		s := g.session(i % numClasses)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				l, err := s.Enter(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				in++
				peak = max(peak, in)
				mu.Unlock()
				time.Sleep(50 * time.Microsecond)
				mu.Lock()
				in--
				mu.Unlock()
				l()
			}
		}()
	}
	wg.Wait()
	if peak > 3 || peak < 1 || g.Busy() != 0 {
		t.Fatalf("peak %d busy %d with 3 slots", peak, g.Busy())
	}
}

func waitQueued(t *testing.T, g *workGate, sign, keygen int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, k := g.Queued()
		if s == sign && k == keygen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued %d/%d, want %d/%d", s, k, sign, keygen)
		}
		time.Sleep(time.Millisecond)
	}
}

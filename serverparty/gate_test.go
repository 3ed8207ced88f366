package serverparty

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// At most slots keygen/refill steps run at once; waiting ones go keygens
// before refills, then by ticket, whatever order they arrived in. A
// signing's step never waits for them: it has its own lane.
func TestWorkGateOrder(t *testing.T) {
	g := newWorkGate(1, 1)
	first := g.session(classKeygen)
	leave, err := first.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	oldKeygen := g.session(classKeygen)
	newKeygen := g.session(classKeygen)
	refill := g.session(classRefill)
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
	// running step, it is first; then each change of it, as older keygens
	// arrive ahead of it (the refill stays behind) and go.
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
	// Arrive refill first, then the newest keygen, then the oldest.
	start("refill", refill)
	waitQueued(t, g, 0, 1)
	start("new keygen", newKeygen)
	waitQueued(t, g, 0, 2)
	start("old keygen", oldKeygen)
	waitQueued(t, g, 0, 3)
	// Behind the two older keygens now: it hears that it moved back.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		posMu.Lock()
		last := pos[len(pos)-1]
		posMu.Unlock()
		if last == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions heard %v; want 3 once two older keygens wait ahead", pos)
		}
	}
	// Meanwhile a signing runs at once, beside the keygen step, and
	// another while the first is in: the sign lane has as many slots.
	sign := g.session(classSign)
	ls, err := sign.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if g.Busy() != 2 {
		t.Fatalf("busy %d with a keygen step and a signing step", g.Busy())
	}
	time.Sleep(5 * time.Millisecond)
	ls()
	leave()
	leave() // a second call is a no-op
	wg.Wait()
	// Changes that come faster than the waiting step looks may be heard
	// as one: what it hears starts first in line and goes back to 3, each
	// a change, never past the two keygens that arrive ahead of it, nor
	// back once they go.
	i3 := slices.Index(pos, 3)
	ok := pos[0] == 1 && i3 > 0 && slices.Max(pos) == 3 && slices.Min(pos) == 1
	for i := 1; i < len(pos); i++ {
		ok = ok && pos[i] != pos[i-1] && (i <= i3 || pos[i] < pos[i-1])
	}
	if !ok {
		t.Fatalf("positions heard %v, want 1, moving back to 3 as older keygens arrive, then only forward", pos)
	}
	want := []string{"old keygen", "new keygen", "refill"}
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

// Signings queue behind signings only, in ticket order, bounded by their
// lane's slots.
func TestWorkGateSignLane(t *testing.T) {
	g := newWorkGate(1, 1)
	kg, _ := g.session(classKeygen).Enter(context.Background())
	defer kg()
	s1 := g.session(classSign)
	l1, err := s1.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		l, err := g.session(classSign).Enter(context.Background())
		if err == nil {
			close(got)
			l()
		}
	}()
	waitQueued(t, g, 1, 0)
	select {
	case <-got:
		t.Fatal("a second signing step ran with one sign slot held")
	case <-time.After(20 * time.Millisecond):
	}
	l1()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting signing step did not get the freed sign slot")
	}
}

// A step whose context ends while it waits leaves the queue and takes no
// slot; the slots stay usable.
func TestWorkGateCancel(t *testing.T) {
	g := newWorkGate(2, 2)
	a, b := g.session(classKeygen), g.session(classKeygen)
	la, _ := a.Enter(context.Background())
	lb, _ := b.Enter(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.session(classRefill).Enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter past the deadline: %v", err)
	}
	if s, k := g.Queued(); s != 0 || k != 0 {
		t.Fatalf("queued %d %d after the waiter left", s, k)
	}
	la()
	lb()
	for range 3 {
		l, err := g.session(classRefill).Enter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		l()
	}
	if g.Busy() != 0 {
		t.Fatalf("busy %d", g.Busy())
	}
}

// Many sessions hammering a small gate never exceed its slots: slots
// keygen/refill steps and slots signing steps.
func TestWorkGateBound(t *testing.T) {
	g := newWorkGate(3, 3)
	var mu sync.Mutex
	in, peak := [2]int{}, [2]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		s := g.session(i % numClasses)
		l := lane(s.class)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				leave, err := s.Enter(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				in[l]++
				peak[l] = max(peak[l], in[l])
				mu.Unlock()
				time.Sleep(50 * time.Microsecond)
				mu.Lock()
				in[l]--
				mu.Unlock()
				leave()
			}
		}()
	}
	wg.Wait()
	if peak[laneSign] > 3 || peak[laneWork] > 3 || peak[laneWork] < 1 || g.Busy() != 0 {
		t.Fatalf("peak %v busy %d with 3 slots a lane", peak, g.Busy())
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

// A signing has the CPU first: from its first step (or its assignment,
// when the party calls Hold) no keygen step starts
// on the host, though a slot is free, until the signing is over, its hold
// ends (signFirst) or the hold has lasted maxHold — then keygen steps
// start freely for as long before a new hold begins. Steps already
// running go on.
func TestWorkGateSignFirst(t *testing.T) {
	enterAsync := func(sg *sessionGate) chan func() {
		got := make(chan func(), 1)
		go func() {
			l, err := sg.Enter(context.Background())
			if err == nil {
				got <- l
			}
		}()
		return got
	}
	waitGranted := func(t *testing.T, got chan func(), within time.Duration, what string) {
		t.Helper()
		select {
		case l := <-got:
			l()
		case <-time.After(within):
			t.Fatalf("%s: the keygen step did not start", what)
		}
	}
	notGranted := func(t *testing.T, got chan func(), what string) {
		t.Helper()
		select {
		case <-got:
			t.Fatalf("%s: a keygen step started while a signing had the CPU first", what)
		case <-time.After(50 * time.Millisecond):
		}
	}

	t.Run("until the signing is over", func(t *testing.T) {
		g := newWorkGate(2, 2)
		g.host.signFirst, g.host.maxHold, g.host.budget = time.Hour, time.Hour, time.Hour
		running, _ := g.session(classKeygen).Enter(context.Background())
		sign := g.session(classSign)
		if g.Queued(); true {
			// Before its first step a signing its party did not tell to
			// Hold holds nothing back (it may still be waiting for its
			// peers to join).
			l, _ := g.session(classKeygen).Enter(context.Background())
			l()
		}
		step, err := sign.Enter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		step() // between its steps too
		got := enterAsync(g.session(classKeygen))
		waitQueued(t, g, 0, 1)
		notGranted(t, got, "a free slot")
		running() // a running step's slot is not handed on either
		notGranted(t, got, "a freed slot")
		sign.Close()
		waitGranted(t, got, 5*time.Second, "signing over")
		sign.Close()
		if step, err := sign.Enter(context.Background()); err != nil {
			t.Fatal(err)
		} else {
			step() // a closed signing's step holds nothing back
		}
		l, _ := g.session(classKeygen).Enter(context.Background())
		l()
	})
	t.Run("from its assignment, when told to hold", func(t *testing.T) {
		g := newWorkGate(2, 2)
		g.host.signFirst, g.host.maxHold, g.host.budget = time.Hour, time.Hour, time.Hour
		sign := g.session(classSign)
		sign.Hold() // its assignment came; no step yet
		got := enterAsync(g.session(classKeygen))
		waitQueued(t, g, 0, 1)
		notGranted(t, got, "a signing not yet at its first step")
		sign.Close()
		waitGranted(t, got, 5*time.Second, "signing over")
		g.session(classKeygen).Hold() // a keygen's holds nothing back
		l, _ := g.session(classKeygen).Enter(context.Background())
		l()
	})
	t.Run("again from its first step, after a slow join", func(t *testing.T) {
		g := newWorkGate(2, 2)
		// Seconds, not milliseconds: a loaded machine may stall a
		// goroutine for a few hundred of them.
		g.host.signFirst, g.host.maxHold, g.host.budget = 2*time.Second, time.Hour, time.Hour
		sign := g.session(classSign)
		defer sign.Close()
		sign.Hold()
		time.Sleep(2200 * time.Millisecond) // its peers are slow: the hold from its assignment lapses
		waitGranted(t, enterAsync(g.session(classKeygen)), 5*time.Second, "the hold from the assignment over")
		step, err := sign.Enter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		step()
		got := enterAsync(g.session(classKeygen))
		notGranted(t, got, "the signing's first step came")
		waitGranted(t, got, 5*time.Second, "the hold from the first step over")
		step, _ = sign.Enter(context.Background()) // later steps do not restart it (that would hold 2 s)
		step()
		waitGranted(t, enterAsync(g.session(classKeygen)), time.Second, "a later step")
	})
	t.Run("for at most signFirst", func(t *testing.T) {
		g := newWorkGate(1, 1)
		g.host.signFirst, g.host.maxHold, g.host.budget = 500*time.Millisecond, time.Hour, time.Hour
		step, _ := g.session(classSign).Enter(context.Background())
		defer step()
		got := enterAsync(g.session(classKeygen))
		notGranted(t, got, "within signFirst")
		waitGranted(t, got, 5*time.Second, "after signFirst")
	})
	t.Run("holds last at most maxHold at a stretch, half the time in the long run", func(t *testing.T) {
		g := newWorkGate(1, 1)
		hold := time.Second
		g.host.signFirst, g.host.maxHold, g.host.budget = time.Hour, hold, hold
		step, _ := g.session(classSign).Enter(context.Background())
		defer step()
		start := time.Now()
		got := enterAsync(g.session(classKeygen))
		notGranted(t, got, "within maxHold")
		waitGranted(t, got, 5*time.Second, "after maxHold")
		if d := time.Since(start); d < hold-50*time.Millisecond {
			t.Fatalf("held %v, want maxHold %v", d, hold)
		}
		// The keygens' turn: a step starts at once though the signing
		// still runs.
		waitGranted(t, enterAsync(g.session(classKeygen)), 300*time.Millisecond, "the keygens' turn")
		// Once half of maxHold is earned back, the signing holds them
		// back again.
		for deadline := time.Now().Add(5 * time.Second); ; {
			h := g.host
			h.mu.Lock()
			h.spendLocked(h.now())
			earned := h.budget >= h.maxHold/2
			h.mu.Unlock()
			if earned {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the hold budget was not earned back")
			}
			time.Sleep(5 * time.Millisecond)
		}
		got = enterAsync(g.session(classKeygen))
		notGranted(t, got, "a new hold")
		waitGranted(t, got, 5*time.Second, "after the new hold")
	})
	t.Run("a signing that starts during a hold extends it", func(t *testing.T) {
		g := newWorkGate(1, 1)
		// A budget that one signFirst would bring below half of maxHold:
		// only the extension keeps the keygen step held.
		g.host.signFirst, g.host.maxHold, g.host.budget = time.Second, 1800*time.Millisecond, 1800*time.Millisecond
		a, _ := g.session(classSign).Enter(context.Background())
		a() // the signings stay open: they hold between their steps
		start := time.Now()
		got := enterAsync(g.session(classKeygen))
		notGranted(t, got, "the first signing's hold")
		time.Sleep(500*time.Millisecond - time.Since(start))
		b, _ := g.session(classSign).Enter(context.Background())
		b()
		time.Sleep(1150*time.Millisecond - time.Since(start))
		notGranted(t, got, "past the first signing's hold, within the second's")
		waitGranted(t, got, 5*time.Second, "after the second signing's hold")
	})
	t.Run("on every party of the host", func(t *testing.T) {
		host := NewHost()
		host.signFirst, host.maxHold, host.budget = time.Hour, time.Hour, time.Hour
		a, b := newHostGate(host, 1, 1), newHostGate(host, 1, 1)
		sign := a.session(classSign)
		step, _ := sign.Enter(context.Background())
		step()
		got := enterAsync(b.session(classKeygen))
		notGranted(t, got, "a signing on another party of the host")
		sign.Close()
		waitGranted(t, got, 5*time.Second, "signing over")
		// A gate on another host is not held back.
		step, _ = newWorkGate(1, 1).session(classSign).Enter(context.Background())
		step()
		waitGranted(t, enterAsync(newWorkGate(1, 1).session(classKeygen)), time.Second, "another host")
	})
}

// The signing lane has its own size: with one keygen slot (a party that
// shares its host's CPUs) and two signing slots, two signing steps run at
// once while a keygen step holds its slot, and a third waits.
func TestWorkGateSignSlots(t *testing.T) {
	g := newWorkGate(1, 2)
	ctx := context.Background()
	leaveKeygen, err := g.session(classKeygen).Enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer leaveKeygen()
	var leaves []func()
	for range 2 {
		l, err := g.session(classSign).Enter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
	}
	third := make(chan struct{})
	go func() {
		l, err := g.session(classSign).Enter(ctx)
		if err == nil {
			l()
		}
		close(third)
	}()
	waitQueued(t, g, 1, 0)
	select {
	case <-third:
		t.Fatal("a third signing step ran with two signing slots held")
	case <-time.After(50 * time.Millisecond):
	}
	leaves[0]()
	<-third
	leaves[1]()
}

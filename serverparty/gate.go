package serverparty

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Work classes, in the order the gate serves them: a signing's step never
// waits behind a keygen's (signings are short and someone waits on each),
// pre-parameters made for a keygen that found the pool empty count as that
// keygen's work, and refilling the pool comes last: it takes a slot only
// when no session's step waits for one.
const (
	classSign = iota
	classKeygen
	classRefill
	numClasses
)

// workGate bounds the protocol computation a server party runs at once
// (party.Gate): a step is tss-lib starting a session, or checking and
// taking one peer message. Keygen and refill steps share slots slots,
// served keygens first, then by the session's ticket (the order its
// assignment arrived), so the oldest session's work goes first and
// sessions finish in the order they came instead of all together at the
// end. Signing steps have a lane of their own, signSlots slots that no
// keygen takes: a signing never waits for a keygen's step to end (a
// keygen step can take seconds, and a signing has nine rounds). A session
// that waits for its peers holds no slot.
//
// A signing also has the CPU first: from its assignment (sessionGate.Hold)
// and again from its first step, for at most signFirst, no keygen or refill step starts on the host (every party
// sharing its CPUs: Host; the ones running finish), so its nine rounds do
// not each share the CPU with keygens (a signing takes well under a
// second alone, and someone waits on it) — as long as the host's hold
// budget lasts (Host.heldUntil): signings hold keygens back for at most
// maxHold at a stretch and half the time in the long run, so a steady
// stream of signings slows keygens but never stops them.
type workGate struct {
	slots     int
	signSlots int
	host      *Host

	mu      sync.Mutex
	busy    [2]int          // slots held per lane (laneSign, laneWork)
	waiting [2]waitHeap     // waiting steps per lane
	queued  [numClasses]int // waiting steps per class
	seq     uint64
	// wake is the timer that re-runs grantLocked when the host's hold on
	// work steps may end; nil when none is set.
	wake *time.Timer

	// observe, if set, sees every step's wait for a slot.
	observe func(class int, wait time.Duration)
}

const (
	laneSign = iota // signing steps
	laneWork        // keygen and refill steps
)

func lane(class int) int {
	if class == classSign {
		return laneSign
	}
	return laneWork
}

// newWorkGate is a gate of slots keygen/refill slots and signSlots for
// signings (each at least 1), on a host of its own.
func newWorkGate(slots, signSlots int) *workGate { return newHostGate(NewHost(), slots, signSlots) }

// newHostGate is a gate on host: the host's signings hold its keygen
// steps back.
func newHostGate(host *Host, slots, signSlots int) *workGate {
	g := &workGate{slots: max(slots, 1), signSlots: max(signSlots, 1), host: host}
	host.mu.Lock()
	host.gates = append(host.gates, g)
	host.mu.Unlock()
	return g
}

func (g *workGate) capacity(l int) int {
	if l == laneSign {
		return g.signSlots
	}
	return g.slots
}

// session returns the gate of one session of class: every step of the
// session enters through it, and it adds up the time the session held a
// slot.
func (g *workGate) session(class int) *sessionGate {
	g.mu.Lock()
	g.seq++
	t := g.seq
	g.mu.Unlock()
	return &sessionGate{g: g, class: class, ticket: t}
}

// Queued is the number of steps waiting for a slot, per class.
func (g *workGate) Queued() (sign, keygen int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queued[classSign], g.queued[classKeygen]
}

// Busy is the number of slots held, both lanes.
func (g *workGate) Busy() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy[laneSign] + g.busy[laneWork]
}

type waiter struct {
	class  int
	ticket uint64
	ready  chan struct{}
	// moved hears that the lane's queue changed (its place may have).
	moved chan struct{}
	index int // in the heap; -1 once granted
}

type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if h[i].class != h[j].class {
		return h[i].class < h[j].class
	}
	return h[i].ticket < h[j].ticket
}
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// enter takes a slot for a step of (class, ticket), waiting in order;
// queued, if set, hears the step's position when it has to wait, and
// again each time it changes (a step ahead granted or gone, a step of a
// higher class or an older ticket arrived) until the slot is granted.
func (g *workGate) enter(ctx context.Context, class int, ticket uint64, queued func(position int)) error {
	l := lane(class)
	g.mu.Lock()
	w := &waiter{class: class, ticket: ticket, ready: make(chan struct{}), moved: make(chan struct{}, 1)}
	heap.Push(&g.waiting[l], w)
	g.queued[class]++
	g.nudgeLocked(l)
	g.grantLocked(l)
	if w.index < 0 {
		g.mu.Unlock()
		if g.observe != nil {
			g.observe(class, 0)
		}
		return nil
	}
	pos := g.positionLocked(l, w)
	g.mu.Unlock()
	if queued != nil {
		queued(pos)
	}
	start := time.Now()
	for {
		select {
		case <-w.ready:
			if g.observe != nil {
				g.observe(class, time.Since(start))
			}
			return nil
		case <-w.moved:
			g.mu.Lock()
			now := pos
			if w.index >= 0 {
				now = g.positionLocked(l, w)
			}
			g.mu.Unlock()
			if now != pos && queued != nil {
				queued(now)
			}
			pos = now
		case <-ctx.Done():
			g.mu.Lock()
			if w.index >= 0 {
				heap.Remove(&g.waiting[l], w.index)
				g.queued[class]--
				g.nudgeLocked(l)
				g.mu.Unlock()
				return ctx.Err()
			}
			g.mu.Unlock()
			// Granted as the context ended: hand the slot on.
			g.leave(class)
			return ctx.Err()
		}
	}
}

// positionLocked is w's place in lane l's queue, from 1: the waiting
// steps that go before it, plus one.
func (g *workGate) positionLocked(l int, w *waiter) int {
	pos := 1
	for _, o := range g.waiting[l] {
		if o != w && (o.class < w.class || (o.class == w.class && o.ticket < w.ticket)) {
			pos++
		}
	}
	return pos
}

// nudgeLocked tells lane l's waiting steps that its queue changed.
func (g *workGate) nudgeLocked(l int) {
	for _, o := range g.waiting[l] {
		select {
		case o.moved <- struct{}{}:
		default:
		}
	}
}

// leave frees a slot of class's lane and gives it to that lane's first
// waiter that may have it.
func (g *workGate) leave(class int) {
	l := lane(class)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy[l]--
	g.grantLocked(l)
}

// grantLocked gives lane l's free slots to its waiters in order. A work
// step waits while the host's signings hold work back; a timer grants
// again when that may change.
func (g *workGate) grantLocked(l int) {
	for g.busy[l] < g.capacity(l) && g.waiting[l].Len() > 0 {
		w := g.waiting[l][0]
		if l == laneWork {
			now := g.host.now()
			if until := g.host.heldUntil(now); until.After(now) {
				g.wakeLocked(until.Sub(now))
				return
			}
		}
		heap.Pop(&g.waiting[l])
		g.queued[w.class]--
		g.busy[l]++
		close(w.ready)
		g.nudgeLocked(l)
	}
}

// wakeLocked sets the timer that grants work slots again after d.
func (g *workGate) wakeLocked(d time.Duration) {
	if g.wake != nil {
		g.wake.Stop()
	}
	g.wake = time.AfterFunc(d, g.grantWork)
}

// grantWork grants the work lane's free slots, if it may.
func (g *workGate) grantWork() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grantLocked(laneWork)
}

// sessionGate is one session's way through the gate (party.Gate).
type sessionGate struct {
	g      *workGate
	class  int
	ticket uint64
	held   atomic.Int64 // nanoseconds the session held a slot
	// Under the host's mu: the signing's hold began (its assignment or
	// its first step), its first step came (its hold began again then),
	// Close was called.
	started, stepped, closed bool
}

// Hold has a signing hold keygen steps back from now, before its first
// step (Host.signStarted): called when its assignment arrives, so that
// keygen steps that would start while it joins and waits for its peers
// do not run beside its first rounds. A no-op for other classes, and
// after the first call or Close.
func (s *sessionGate) Hold() {
	if s.class == classSign {
		s.g.host.signStarted(s, false)
	}
}

// Close tells the gate the session is over: a signing no longer holds
// keygen steps back. Safe to call more than once.
func (s *sessionGate) Close() {
	if s.class == classSign {
		s.g.host.signDone(s)
	}
}

// Enter implements party.Gate.
func (s *sessionGate) Enter(ctx context.Context) (func(), error) {
	return s.EnterQueued(ctx, nil)
}

// EnterQueued implements party.QueueGate.
func (s *sessionGate) EnterQueued(ctx context.Context, queued func(position int)) (func(), error) {
	if s.class == classSign {
		s.g.host.signStarted(s, true) // its hold begins again at its first step
	}
	if err := s.g.enter(ctx, s.class, s.ticket, queued); err != nil {
		return nil, err
	}
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.held.Add(int64(time.Since(start)))
			s.g.leave(s.class)
		})
	}, nil
}

// Held is how long the session has held a slot: its cost in slot time,
// which is wall time, so it grows when the machine is shared.
func (s *sessionGate) Held() time.Duration { return time.Duration(s.held.Load()) }

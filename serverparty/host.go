package serverparty

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Host counts the sessions of the server parties that share one machine's
// CPUs (the parties of one process: `tsskit dev` runs several, a
// deployment usually one). Background work — refilling a pre-parameter
// pool — waits for the sessions of all of them, not only its own
// party's: a party idle in a signing that two others run would otherwise
// refill beside it and take half the CPU from it. Config.Host shares one
// between parties; nil gives a party its own.
type Host struct {
	sessions atomic.Int32 // sessions running, any kind
	signs    atomic.Int32 // signings running

	mu sync.Mutex
	// holds are the signings holding work steps back, with the time
	// their hold began: their assignment, then their first step
	// (signStarted).
	holds map[*sessionGate]time.Time
	// The hold budget: budget is the time signings may still hold work
	// steps back, as of budgetAt; holding says a hold runs, until at
	// most holdEnd (the last signing's hold, as last seen).
	budget            time.Duration
	budgetAt, holdEnd time.Time
	holding           bool
	gates             []*workGate // woken when a signing ends

	// signFirst: how long one signing holds work steps back from its
	// assignment, and again from its first step; maxHold: the most the
	// budget holds (defaults defaultSignFirst, defaultMaxHold). now is
	// the clock.
	signFirst, maxHold time.Duration
	now                func() time.Time
}

const (
	// defaultSignFirst is how long a signing holds keygen steps back at
	// most: ten signings at once take 4–6 s on 2 cores, and a hold
	// shorter than that ended while the first of a burst still ran (the
	// hold budget bounds what a slow signing — a browser's — costs).
	defaultSignFirst = 8 * time.Second
	// defaultMaxHold is the longest signings hold keygen steps back at a
	// stretch: about what a burst of 20 signings, 5 at a time, takes
	// beside a keygen burst on 2 cores (12–16 s, `make load-overload`;
	// with 8 s the last five of them ran beside new keygen steps and took
	// 5.3–5.7 s). In the long run the hold still takes at most half the
	// time.
	defaultMaxHold = 16 * time.Second
)

// NewHost returns a Host for the parties of one process (the zero Host is
// not one).
func NewHost() *Host {
	return &Host{holds: map[*sessionGate]time.Time{}, signFirst: defaultSignFirst, maxHold: defaultMaxHold,
		budget: defaultMaxHold, budgetAt: time.Now(), now: time.Now}
}

// waitIdle waits until the host's parties run no session; false if ctx
// ended first.
func (h *Host) waitIdle(ctx context.Context) bool {
	return waitWhile(ctx, func() bool { return h.sessions.Load() > 0 })
}

// waitWhile looks every pollIdle until busy reports false; false if ctx
// ended first.
func waitWhile(ctx context.Context, busy func() bool) bool {
	for busy() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pollIdle):
		}
	}
	return true
}

// begin counts a session of class as running on party p and on its host
// until the returned function is called.
func (p *Party) begin(class int) (end func()) {
	p.running.Add(1)
	p.host.sessions.Add(1)
	if class == classSign {
		p.host.signs.Add(1)
	}
	return func() {
		if class == classSign {
			p.host.signs.Add(-1)
		}
		p.host.sessions.Add(-1)
		p.running.Add(-1)
	}
}

// signStarted has signing s hold work steps back for signFirst from now:
// from its assignment (Hold), then again from its first step (step), so
// that a signing whose peers were slow to join still has its hold when it
// computes; signDone ends that early, when it finishes.
func (h *Host) signStarted(s *sessionGate, step bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed || s.stepped || !step && s.started {
		return
	}
	s.started = true
	s.stepped = step
	now := h.now()
	h.holds[s] = now
	if h.holding {
		// A hold under way lasts for this signing too, as far as the
		// budget goes.
		h.spendLocked(now)
		if h.holding {
			h.holdEnd = h.holdEndLocked(now, now.Add(h.signFirst))
		}
	}
}

// holdEndLocked is when a hold running at now ends: at until (the last
// signing's hold), or when the budget runs out.
func (h *Host) holdEndLocked(now, until time.Time) time.Time {
	if last := now.Add(h.budget); last.Before(until) {
		return last
	}
	return until
}

func (h *Host) signDone(s *sessionGate) {
	h.mu.Lock()
	s.closed = true
	delete(h.holds, s)
	if h.holding {
		now := h.now()
		h.spendLocked(now)
		if h.holding {
			// The hold lasts for the signings left, if any.
			if until := h.lastHoldLocked(now); !until.IsZero() {
				h.holdEnd = h.holdEndLocked(now, until)
			} else {
				h.holding = false
			}
		}
	}
	gates := h.gates
	h.mu.Unlock()
	for _, g := range gates {
		g.grantWork()
	}
}

// spendLocked brings the budget to now: a hold spends it, up to the
// hold's end as last seen; time without one earns it back at the same
// rate, up to maxHold. So signings hold keygen steps back at most maxHold
// at a stretch and at most half the time in the long run.
func (h *Host) spendLocked(now time.Time) {
	if !now.After(h.budgetAt) {
		return
	}
	if h.holding {
		end := now
		if h.holdEnd.Before(now) {
			end = h.holdEnd
		}
		if end.After(h.budgetAt) {
			h.budget -= end.Sub(h.budgetAt)
			h.budgetAt = end
		}
		if now.After(end) { // the hold ended unseen (no step looked)
			h.holding = false
		}
	}
	if !h.holding {
		if earned := now.Sub(h.budgetAt); earned < h.maxHold {
			h.budget += earned
		} else {
			h.budget = h.maxHold
		}
	}
	h.budget = min(max(h.budget, 0), h.maxHold)
	h.budgetAt = now
}

// heldUntil is when the host's hold on work steps ends: the zero time, or
// a past one, when work steps may start now. Work steps are held while a
// signing's hold (signFirst from its assignment or its first step, or
// until it ends) runs
// and the budget lasts; once the budget is spent, a new hold begins only
// when half of maxHold is earned back, so holds do not flicker.
func (h *Host) heldUntil(now time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.spendLocked(now)
	until := h.lastHoldLocked(now)
	if until.IsZero() {
		h.holding = false
		return time.Time{}
	}
	if !h.holding && h.budget < h.maxHold/2 {
		return time.Time{} // the keygens' turn
	}
	if h.budget <= 0 {
		h.holding = false
		return time.Time{}
	}
	h.holding = true
	h.holdEnd = h.holdEndLocked(now, until)
	return h.holdEnd
}

// lastHoldLocked is when the last signing's hold ends (signFirst from
// when it began), forgetting the holds that ended by now; the zero time
// if none runs.
func (h *Host) lastHoldLocked(now time.Time) time.Time {
	var until time.Time
	for s, first := range h.holds {
		end := first.Add(h.signFirst)
		if !end.After(now) {
			delete(h.holds, s)
			continue
		}
		if end.After(until) {
			until = end
		}
	}
	return until
}

// holdingNow reports whether work steps are held back now.
func (h *Host) holdingNow() bool {
	now := h.now()
	return h.heldUntil(now).After(now)
}

// pollIdle is how often a paused generation looks whether it may go on.
const pollIdle = 50 * time.Millisecond

// refillPause is the Pause of a pool refill's generation: while any
// session runs on the host, the generation stops where it is, frees its
// work slot (a keygen step may then take it), and goes on once the host
// is idle again and it has its slot back, keeping the primes and the
// sieve it had. The searches of one generation call pause from their own
// goroutines; the first to see a session pauses for all of them (the
// others block on mu, or, seeing no slot held, wait for it). ctx is the
// generation's: it ends when the set is made, so no search stays paused
// after it.
type refillPause struct {
	host *Host
	gate *workGate

	mu     sync.Mutex
	held   atomic.Bool // the refill slot is held
	paused int         // pauses so far
}

func (r *refillPause) pause(ctx context.Context) {
	if r.host.sessions.Load() == 0 && r.held.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held.Load() {
		if r.host.sessions.Load() == 0 {
			return // another search paused and went on meanwhile
		}
		r.gate.leave(classRefill)
		r.held.Store(false)
		r.paused++
	}
	if !r.host.waitIdle(ctx) {
		return // the search sees ctx at its next tick
	}
	if r.gate.enter(ctx, classRefill, 0, nil) == nil {
		r.held.Store(true)
	}
}

// release frees the slot if the generation still holds it.
func (r *refillPause) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held.Load() {
		r.gate.leave(classRefill)
		r.held.Store(false)
	}
}

// signPause is the Pause of pre-parameters a keygen makes on the spot (its
// pool was empty): one generation is seconds of CPU, a single work step,
// so it pauses at its next Fermat test whenever the host's signings hold
// work steps back (Host.heldUntil: at most maxHold at a stretch, then the
// keygens' turn). The keygen keeps its work slot meanwhile. paused adds
// up the pauses: the signings' time, not the keygen's cost.
type signPause struct {
	host *Host

	mu     sync.Mutex
	paused time.Duration
}

func (s *signPause) pause(ctx context.Context) {
	if s.host.signs.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	defer func() { s.paused += time.Since(start) }()
	waitWhile(ctx, s.host.holdingNow)
}

package serverparty

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/serverparty/vault"
)

// A pool refill under way pauses while a session runs on its host — one
// of another party sharing the CPUs too — and frees its work slot
// meanwhile; once the host is idle it goes on and finishes a valid set.
func TestRefillPausesForHostSessions(t *testing.T) {
	host := NewHost()
	p := &Party{cfg: Config{GenConcurrency: 1}, host: host, gate: newHostGate(host, 1, 1)}
	other := &Party{host: host}
	refillIn := make(chan struct{}, 8)
	p.gate.observe = func(class int, _ time.Duration) {
		if class == classRefill {
			refillIn <- struct{}{}
		}
	}

	end := other.begin(classKeygen) // a keygen on the other party
	type result struct {
		ok     bool
		paused int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		pre, paused, err := p.generateRefill(context.Background())
		done <- result{pre != nil && pre.ValidateWithProof(), paused, err}
	}()

	// The refill took the slot, then frees it: a keygen step of this
	// party gets it.
	<-refillIn
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.gate.enter(ctx, classKeygen, 1, nil); err != nil {
		t.Fatalf("a keygen step waited for the paused refill's slot: %v", err)
	}
	select {
	case r := <-done:
		t.Fatalf("the refill went on while the host ran a session: %+v", r)
	case <-time.After(time.Second):
	}
	p.gate.leave(classKeygen)
	end()

	r := <-done
	if r.err != nil || !r.ok || r.paused < 1 {
		t.Fatalf("after the session: valid set %t, paused %d, err %v", r.ok, r.paused, r.err)
	}
	if p.gate.Busy() != 0 {
		t.Fatalf("the refill kept its slot: busy %d", p.gate.Busy())
	}
}

// A refill paused when its party stops ends with the context's error and
// holds no slot.
func TestRefillPausedStops(t *testing.T) {
	host := NewHost()
	p := &Party{cfg: Config{GenConcurrency: 1}, host: host, gate: newHostGate(host, 1, 1)}
	defer p.begin(classSign)()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		paused int
		err    error
	}
	done := make(chan result, 1)
	go func() { _, paused, err := p.generateRefill(ctx); done <- result{paused, err} }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) || r.paused != 1 {
			t.Fatalf("err %v, paused %d; want canceled after one pause", r.err, r.paused)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a paused refill did not stop with its context")
	}
	if p.gate.Busy() != 0 {
		t.Fatalf("busy %d after the refill stopped", p.gate.Busy())
	}
}

// Pre-parameters made on the spot for a keygen pause while the host's
// signings hold work steps back: at most maxHold at a stretch, then they
// run for the keygens' turn; a pause ends as soon as the signings do, and
// keygens elsewhere on the host alone do not pause them.
func TestSignPause(t *testing.T) {
	setup := func(maxHold time.Duration) (*Party, *signPause, func() time.Duration) {
		host := NewHost()
		host.signFirst, host.maxHold, host.budget = time.Hour, maxHold, maxHold
		p := &Party{host: host, gate: newHostGate(host, 1, 1)}
		s := &signPause{host: host}
		return p, s, func() time.Duration { start := time.Now(); s.pause(context.Background()); return time.Since(start) }
	}
	signing := func(p *Party) (end func()) {
		done := p.begin(classSign)
		sign := p.gate.session(classSign)
		step, _ := sign.Enter(context.Background())
		step()
		return func() { sign.Close(); done() }
	}

	p, _, took := setup(time.Second)
	if d := took(); d > 100*time.Millisecond {
		t.Fatalf("paused %v with no signing", d)
	}
	end := signing(p)
	if d := took(); d < 900*time.Millisecond || d > 4*time.Second {
		t.Fatalf("with a signing running: paused %v, want maxHold (1s)", d)
	}
	if d := took(); d > 100*time.Millisecond {
		t.Fatalf("paused again %v in the keygens' turn", d)
	}
	end()

	p, s, took := setup(10 * time.Second)
	end = signing(p)
	time.AfterFunc(200*time.Millisecond, end)
	if d := took(); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("paused %v; want until the signing ended (200ms)", d)
	}
	if s.paused < 150*time.Millisecond {
		t.Fatalf("paused time counted %v", s.paused)
	}
	// Without signings, keygens on the host do not pause it.
	defer p.begin(classKeygen)()
	if d := took(); d > 100*time.Millisecond {
		t.Fatalf("paused %v for a keygen", d)
	}
}

// A session whose party makes pre-parameters on the spot (the pool is
// empty) waits for a work slot before it joins: takePreParams says where
// the wait is, and that it ended, through its waiting callback (the
// session's round 0 at the coordinator).
func TestOnSpotPreParamsWaitReported(t *testing.T) {
	mk, err := vault.ParseMasterKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(t.TempDir(), mk)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	host := NewHost()
	p := &Party{cfg: Config{Vault: v, GenConcurrency: 1}, host: host, gate: newHostGate(host, 1, 1), log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Another session's step holds the one slot.
	if err := p.gate.enter(ctx, classKeygen, 0, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int
	reports := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := p.takePreParams(ctx, p.gate.session(classKeygen), func(q int) {
			mu.Lock()
			got = append(got, q)
			mu.Unlock()
		})
		done <- err
	}()
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(reports()) < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reports %v; want %d", reports(), n)
			}
		}
	}
	waitFor(1)
	p.gate.leave(classKeygen)
	waitFor(2)
	cancel() // (the generation itself is not this test's)
	<-done
	if r := reports(); !slices.Equal(r, []int{1, 0}) {
		t.Fatalf("reports %v; want [1 0]: first in line, then the wait's end", r)
	}
}

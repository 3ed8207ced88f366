package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"time"
)

// speedProbe gauges the machine's speed while the load runs: every
// interval it times one fixed modular exponentiation (2048-bit, the kind
// of work a keygen is made of) in CPU time of its own thread. A thread's
// CPU clock runs only while the thread runs, so the stack's load, which
// takes turns with it on the cores, leaves the figure alone as far as
// the turns themselves go (caches and a host's shared cores it may not);
// a slower machine raises it: a lower clock, or a host that takes the
// CPUs away for a while from a guest that reports no steal time (the
// guest then charges that time to whatever thread was running). A guest
// that reports steal time leaves it out of thread CPU time, and the probe
// sees only the clock. The overload criteria compare phases run minutes
// apart, on a machine whose speed moved by up to a third within ten
// minutes (docs/load.md); with the probe, each phase's wall time is taken
// at the run's mean speed, and the ratio as measured is checked too.
//
// It costs one exponentiation (about 3 ms) per interval, about 1.3% of
// one core at 250 ms.
type speedProbe struct {
	mu      sync.Mutex
	samples []probeSample
}

type probeSample struct {
	t  time.Time
	ns float64 // thread CPU ns of one exponentiation
}

// startSpeedProbe starts the probe until ctx ends; an error (and no
// probe) where a thread's CPU time cannot be read.
func startSpeedProbe(ctx context.Context, interval time.Duration) (*speedProbe, error) {
	if _, ok := threadCPU(); !ok {
		return nil, errors.New("a thread's CPU time cannot be read on this platform")
	}
	// Any odd 2048-bit modulus: Exp does the same Montgomery work for it
	// as for a prime, without a prime search at start.
	var b [256]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("making the probe's modulus: %w", err)
	}
	b[0] |= 0x80
	b[len(b)-1] |= 1
	mod := new(big.Int).SetBytes(b[:])
	base, _ := rand.Int(rand.Reader, mod)
	exp, _ := rand.Int(rand.Reader, mod)
	p := &speedProbe{}
	go func() {
		// One thread throughout, so that its CPU clock is this loop's.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var z big.Int
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			c0, ok0 := threadCPU()
			z.Exp(base, exp, mod)
			c1, ok1 := threadCPU()
			if ok0 && ok1 && c1 > c0 {
				p.mu.Lock()
				p.samples = append(p.samples, probeSample{time.Now(), float64(c1 - c0)})
				p.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p, nil
}

// between is the harmonic mean of the samples taken from a to b (the
// time one exponentiation took at the phase's mean speed), and their
// number; 0, 0 if there are none.
func (p *speedProbe) between(a, b time.Time) (float64, int) {
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var inv float64
	n := 0
	for _, s := range p.samples {
		if !s.t.Before(a) && !s.t.After(b) {
			inv += 1 / s.ns
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(n) / inv, n
}

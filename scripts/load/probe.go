package main

import (
	"context"
	"crypto/rand"
	"math/big"
	"runtime"
	"sync"
	"time"
)

// speedProbe gauges the machine's speed while the load runs: every
// interval it times one fixed modular exponentiation (2048-bit, the kind
// of work a keygen is made of) in CPU time of its own thread. The stack's
// load does not change that time — a thread's CPU time counts only while
// it runs — but a slower machine does: a virtual machine whose host takes
// its CPUs away for a while (the guest charges that time to whatever
// thread was running, as this one does) or lowers their clock. The
// overload criteria compare phases run minutes apart, on a machine whose
// speed moved by up to a third within ten minutes (docs/load.md); with the
// probe, each phase's wall time is taken at the run's mean speed.
//
// It costs one exponentiation (a few ms) per interval, about 2% of one
// core at 250 ms.
type speedProbe struct {
	mu      sync.Mutex
	samples []probeSample
}

type probeSample struct {
	t  time.Time
	ns float64 // thread CPU ns of one exponentiation
}

// startSpeedProbe starts the probe until ctx ends; nil where a thread's
// CPU time cannot be read.
func startSpeedProbe(ctx context.Context, interval time.Duration) *speedProbe {
	if _, ok := threadCPU(); !ok {
		return nil
	}
	mod, err := rand.Prime(rand.Reader, 2048)
	if err != nil {
		return nil
	}
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
	return p
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

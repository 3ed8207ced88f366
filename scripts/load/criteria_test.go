package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCapacityAndBurstSize(t *testing.T) {
	for _, tc := range []struct {
		tput     float64
		deadline time.Duration
		x        float64
		cap, n   int
	}{
		{0.137, 3 * time.Minute, 3, 24, 72}, // 24.66 keygens fit in 180 s
		{0.142, 3 * time.Minute, 3, 25, 75},
		{0.001, 3 * time.Minute, 3, 1, 3}, // at least one
		{0.137, 3 * time.Minute, 1.5, 24, 36},
		{0.2, time.Minute, 2.5, 12, 30},
	} {
		c := capacity(tc.tput, tc.deadline)
		if c != tc.cap {
			t.Errorf("capacity(%g, %s) = %d, want %d", tc.tput, tc.deadline, c, tc.cap)
		}
		if n := burstSize(tc.x, c); n != tc.n {
			t.Errorf("burstSize(%g, %d) = %d, want %d", tc.x, c, n, tc.n)
		}
	}
}

func TestOverloadCriteria(t *testing.T) {
	good := func() ([]*phase, *phase, *phase) {
		seq := &phase{Op: "sequential keygen", Count: 3, OK: 3, Throughput: 0.138}
		bs := &phase{Op: "burst sign", Count: 20, OK: 20, P99S: 4.4, WallS: 12}
		return []*phase{
			seq,
			{Op: "keygen", Count: 40, OK: 19, Throughput: 0.125, Refused: 21, RefusalMax: 0.06},
			{Op: "sign", Count: 20, OK: 20, Throughput: 2.7},
			{Op: "burst keygen", Count: 72, OK: 18, WallS: 138, Refused: 54, RefusalMax: 0.2},
			bs,
		}, seq, bs
	}
	ps, seq, bs := good()
	cs := overloadCriteria(ps, seq, ps[2], bs)
	if !allMet(cs) {
		t.Fatalf("a run within every limit is judged failing: %v", cs)
	}
	if len(cs) != 6 {
		t.Fatalf("%d criteria, want 6 (timeouts, other failures, refusal, two goodputs, burst signs): %v", len(cs), cs)
	}
	if _, err := json.Marshal(cs); err != nil {
		t.Fatalf("criteria do not marshal: %v", err)
	}

	for name, spoil := range map[string]func(ps []*phase, bs *phase) *phase{
		"a timed-out keygen": func(ps []*phase, _ *phase) *phase {
			ps[1].TimedOut, ps[1].Errors = 1, 1
			return ps[0]
		},
		"a failed check":             func(ps []*phase, _ *phase) *phase { ps[3].Errors = 1; return ps[0] },
		"a refusal of 1 s":           func(ps []*phase, _ *phase) *phase { ps[3].RefusalMax = 1.0; return ps[0] },
		"burst goodput 0.84":         func(ps []*phase, _ *phase) *phase { ps[3].OK = 15; return ps[0] },
		"the N keygens' goodput 0.8": func(ps []*phase, _ *phase) *phase { ps[1].Throughput = 0.8 * 0.138; return ps[0] },
		"no sequential phase":        func([]*phase, *phase) *phase { return nil },
		"burst sign p99 5 s":         func(ps []*phase, bs *phase) *phase { bs.P99S = 5.0; return ps[0] },
		"a burst sign refused": func(ps []*phase, bs *phase) *phase {
			bs.OK, bs.Refused = 19, 1
			return ps[0]
		},
		"no burst sign done": func(ps []*phase, bs *phase) *phase { bs.OK, bs.P99S = 0, 0; return ps[0] },
	} {
		ps, _, bs := good()
		seq := spoil(ps, bs)
		if cs := overloadCriteria(ps, seq, ps[2], bs); allMet(cs) {
			t.Errorf("%s: judged met: %v", name, cs)
		}
	}

	// Without signs in the burst there is no sign criterion to fail.
	ps, seq, _ = good()
	if cs := overloadCriteria(ps[:4], seq, ps[2], nil); !allMet(cs) || len(cs) != 5 {
		t.Errorf("a burst without signs: %v", cs)
	}
	if allMet(nil) {
		t.Error("no criteria judged met")
	}
}

// The burst's goodput at unloaded cost, on a PostgreSQL + Redis run's
// figures: 17 keygens and 20 signs in 138.01 s, against 0.143 keygens/s
// sequential and 2.703 signs/s alone: (17/0.143 + 20/2.703) / 138.01.
func TestBurstWork(t *testing.T) {
	seq := &phase{Throughput: 0.143}
	alone := &phase{Throughput: 2.703}
	keygens := &phase{OK: 17, WallS: 138.01}
	signs := &phase{OK: 20, WallS: 12.11}
	if got, want := burstWork(keygens, seq, alone, signs), (17/0.143+20/2.703)/138.01; math.Abs(got-want) > 1e-12 || math.Abs(got-0.9148) > 5e-4 {
		t.Fatalf("burstWork = %.4f, want %.4f", got, want)
	}
	// Signs that outlast the keygens stretch the wall.
	if got, want := burstWork(keygens, seq, alone, &phase{OK: 20, WallS: 150}), (17/0.143+20/2.703)/150; math.Abs(got-want) > 1e-12 {
		t.Fatalf("burstWork, signs last = %.4f, want %.4f", got, want)
	}
	// Without a sign phase to price them, keygens alone; without a
	// sequential phase, nothing.
	if got, want := burstWork(keygens, seq, nil, signs), 17/0.143/138.01; math.Abs(got-want) > 1e-12 {
		t.Fatalf("burstWork without a sign phase = %.4f, want %.4f", got, want)
	}
	if got := burstWork(keygens, nil, alone, signs); got != 0 {
		t.Fatalf("burstWork without a sequential phase = %v", got)
	}
}

func TestBracket(t *testing.T) {
	before := &phase{Op: "sequential keygen", Count: 4, OK: 4, WallS: 40, Throughput: 0.1}
	after := &phase{Op: "last sequential keygen", Count: 4, OK: 3, WallS: 20, Throughput: 0.15}
	ref := bracket(before, after)
	if ref.Count != 8 || ref.OK != 7 || ref.WallS != 60 || math.Abs(ref.Throughput-7.0/60) > 1e-12 {
		t.Errorf("bracket = %+v, want 7 of 8 in 60 s", *ref)
	}
	if ref := bracket(nil, after); ref.OK != 3 || math.Abs(ref.Throughput-0.15) > 1e-12 {
		t.Errorf("bracket(nil, after) = %+v, want the after phase alone", *ref)
	}
	if ref := bracket(nil, &phase{}); ref.Throughput != 0 {
		t.Errorf("bracket of nothing = %+v, want throughput 0", *ref)
	}
	// The criteria judge against the bracketed reference: the burst's 19
	// keygens in 180 s are 0.905 of both phases' 7/60 per second, and
	// short of the faster after phase alone.
	burst := &phase{Op: "burst keygen", Count: 60, OK: 19, WallS: 180, Throughput: 0.105}
	cs := overloadCriteria([]*phase{before, burst, after}, ref, nil, nil)
	if got := cs[len(cs)-1]; !got.Met || math.Abs(got.Value-19/(7.0/60)/180) > 1e-9 {
		t.Errorf("burst goodput criterion = %v, want met at 0.9", got)
	}
	if got := overloadCriteria([]*phase{before, burst, after}, after, nil, nil); got[len(got)-1].Met {
		t.Errorf("against the after phase alone the burst should miss: %v", got[len(got)-1])
	}
}

// The pool levels come from the stack's log: a put ("pre-params ready")
// and a take ("pre-params taken") each give the level after it, so after
// a take the level is the pool's, not the last put's.
func TestStackLogPoolLevels(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stack.log")
	lines := []string{
		`{"time":"2026-12-06T07:00:00Z","level":"INFO","msg":"server party ready","service":"serverparty","party":"server-1","preparams_ready":2}`,
		`{"time":"2026-12-06T07:00:01Z","level":"INFO","msg":"pre-params ready","service":"serverparty","party":"server-1","pool":3,"took":1000000000}`,
		`{"time":"2026-12-06T07:00:02Z","level":"INFO","msg":"pre-params taken","service":"serverparty","party":"server-1","pool":2}`,
		`{"time":"2026-12-06T07:00:03Z","level":"INFO","msg":"joined","service":"serverparty","party":"server-1","kind":1}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := newStackLog(file)
	l.setTarget(3, 1)
	st := l.poll()
	p := st.parties["server-1"]
	if p.level != 2 || !p.taken || st.fullAt.IsZero() {
		t.Fatalf("after a put to 3 and a take: %+v (full at %v); want level 2, taken, and the first fill recorded", p, st.fullAt)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-06T07:00:09Z","level":"INFO","msg":"pre-params ready","service":"serverparty","party":"server-1","pool":3,"took":1000000000}` + "\n")
	f.Close()
	if p := l.poll().parties["server-1"]; p.level != 3 {
		t.Fatalf("after the refill: %+v; want level 3", p)
	}
	// A corrupt entry the party set aside is a take too.
	f, err = os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-06T07:00:10Z","level":"ERROR","msg":"pre-params entry corrupt, set aside","service":"serverparty","party":"server-1","pool":2,"err":"x"}` + "\n")
	f.Close()
	if p := l.poll().parties["server-1"]; p.level != 2 {
		t.Fatalf("after a corrupt entry set aside: %+v; want level 2", p)
	}
}

// waitPools' decision for one party: when its logged level is trusted.
func TestPartyPoolFull(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	quiet := 10 * time.Second
	cases := []struct {
		name   string
		p      partyPool
		refill bool
		now    time.Time
		want   bool
	}{
		{"below target", partyPool{level: 2}, false, t0, false},
		{"first fill at target", partyPool{level: 3, putAt: t0}, false, t0, true},
		{"first fill: a join does not matter", partyPool{level: 3, putAt: t0, takeAt: t0.Add(time.Second)}, false, t0, true},
		{"refill: put after the last join", partyPool{level: 3, putAt: t0.Add(time.Second), takeAt: t0}, true, t0.Add(time.Second), true},
		{"refill: join after the put, not yet quiet", partyPool{level: 3, putAt: t0, takeAt: t0.Add(time.Second)}, true, t0.Add(10 * time.Second), false},
		{"refill: join after the put, quiet since", partyPool{level: 3, putAt: t0, takeAt: t0.Add(time.Second)}, true, t0.Add(11 * time.Second), true},
		{"refill: level logged at the take", partyPool{level: 3, putAt: t0, takeAt: t0.Add(time.Second), taken: true}, true, t0.Add(time.Second), true},
		{"refill: taken, below target", partyPool{level: 2, takeAt: t0, taken: true}, true, t0.Add(time.Hour), false},
	}
	for _, c := range cases {
		if got := c.p.full(3, c.refill, quiet, c.now); got != c.want {
			t.Errorf("%s: full %t, want %t", c.name, got, c.want)
		}
	}
}

// Phases taken at one machine speed: a phase the probe found slower would
// have taken less wall time at the reference speed, and the goodput
// criterion compares the phases so taken.
func TestAtSpeed(t *testing.T) {
	before := &phase{Op: "sequential keygen", OK: 4, WallS: 40, Throughput: 0.1, ProbeMs: 6}
	conc := &phase{Op: "keygen", OK: 12, WallS: 125, Throughput: 12.0 / 125, ProbeMs: 6}
	after := &phase{Op: "last sequential keygen", OK: 4, WallS: 28, Throughput: 4.0 / 28, ProbeMs: 4}
	phases := []*phase{before, conc, after}

	// As measured, the machine sped up by half, and the concurrent phase
	// ran while it was slow: against both sequential phases it misses.
	if r := conc.Throughput / bracket(before, after).Throughput; r >= 0.9 {
		t.Fatalf("as measured the ratio is %.3f; the test wants a miss", r)
	}
	a := atSpeed(phases, 4)
	if a == nil {
		t.Fatal("atSpeed: nil with every phase probed")
	}
	if got := a.of(before).WallS; math.Abs(got-40*4.0/6) > 1e-9 {
		t.Fatalf("the slow phase at the fast speed: wall %v, want %v", got, 40*4.0/6)
	}
	if got := a.of(after).WallS; got != 28 {
		t.Fatalf("a phase at the reference speed: wall %v, want 28", got)
	}
	if before.WallS != 40 || before.Throughput != 0.1 {
		t.Fatal("atSpeed changed the measured phase")
	}
	ref := bracket(a.of(before), a.of(after))
	ratio := a.of(conc).Throughput / ref.Throughput
	// 12 in 83.3 s against 8 in 54.7 s.
	if want := (12 / (125 * 4.0 / 6)) / (8 / (40*4.0/6 + 28)); math.Abs(ratio-want) > 1e-9 || ratio < 0.9 {
		t.Fatalf("at one speed the ratio is %.3f, want %.3f (>= 0.9)", ratio, want)
	}
	cs := overloadCriteria(a.all, ref, nil, nil)
	for _, c := range cs {
		if !c.Met {
			t.Fatalf("at one speed: %v not met", c)
		}
	}

	// The criteria so taken carry the ratio as measured, which must stay
	// above minMeasuredRatio: the correction excuses a drift, not a
	// collapse.
	got := withMeasured(cs, overloadCriteria(phases, bracket(before, after), nil, nil))
	var g criterion
	for _, c := range got {
		if strings.Contains(c.Name, "keygen goodput") {
			g = c
		}
	}
	if g.Measured == nil || math.Abs(*g.Measured-conc.Throughput/bracket(before, after).Throughput) > 1e-9 || !g.Met ||
		!strings.Contains(g.String(), "as measured") || !strings.Contains(g.Name, "mean speed") {
		t.Fatalf("goodput at speed with its measured ratio: %v", g)
	}
	slow := *conc
	slow.OK, slow.Throughput, slow.ProbeMs = 9, 9.0/125, 9 // the probe slowed as much as the stack
	b := atSpeed([]*phase{before, &slow, after}, 4)
	for _, c := range withMeasured(overloadCriteria(b.all, bracket(b.of(before), b.of(after)), nil, nil),
		overloadCriteria([]*phase{before, &slow, after}, bracket(before, after), nil, nil)) {
		if strings.Contains(c.Name, "keygen goodput") && (c.Value < 0.9 || c.Met) {
			t.Fatalf("a collapse excused by the probe: %v (want >= 0.9 at speed, and not met as measured)", c)
		}
	}

	// A phase the probe missed, or no reference: nothing is adjusted.
	if atSpeed(phases, 0) != nil {
		t.Fatal("atSpeed with no reference speed")
	}
	unprobed := *conc
	unprobed.ProbeMs = 0
	if atSpeed([]*phase{before, &unprobed, after}, 4) != nil {
		t.Fatal("atSpeed with a phase the probe missed")
	}
}

// The probe's figure for a span is the harmonic mean of its samples
// there: the time one exponentiation took at the span's mean speed.
func TestSpeedProbeBetween(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	p := &speedProbe{samples: []probeSample{
		{t0, 1e6}, {t0.Add(time.Second), 4e6}, {t0.Add(2 * time.Second), 4e6}, {t0.Add(3 * time.Second), 9e6},
	}}
	if ns, n := p.between(t0, t0.Add(2*time.Second)); n != 3 || math.Abs(ns-3/(1/1e6+2/4e6)) > 1e-6 {
		t.Fatalf("between: %v over %d samples, want %v over 3", ns, n, 3/(1/1e6+2/4e6))
	}
	if _, n := p.between(t0.Add(4*time.Second), t0.Add(5*time.Second)); n != 0 {
		t.Fatal("samples outside the span")
	}
	var none *speedProbe
	if _, n := none.between(t0, t0.Add(time.Hour)); n != 0 {
		t.Fatal("a nil probe has samples")
	}
}

// The running probe takes samples in its thread's CPU time.
func TestSpeedProbeRuns(t *testing.T) {
	if _, ok := threadCPU(); !ok {
		t.Skip("no thread CPU clock on this platform")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	p, err := startSpeedProbe(ctx, 10*time.Millisecond)
	if err != nil {
		t.Fatalf("startSpeedProbe where the thread CPU clock reads: %v", err)
	}
	for {
		ns, n := p.between(start, time.Now())
		if n >= 3 {
			if ns < 1e4 || ns > 5e9 {
				t.Fatalf("one exponentiation took %v ns of CPU", ns)
			}
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%d samples after 30 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

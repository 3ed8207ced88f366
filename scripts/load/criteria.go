package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The overload criteria (docs/load.md, "Overload"): under a burst past the
// stack's capacity every request either completes within its deadline or
// is refused at once, the burst's goodput stays near the unloaded
// throughput, and signs issued during the keygen burst stay fast.
const (
	maxRefusalS     = 1.0 // a refusal answers within this
	minGoodputRatio = 0.9 // burst goodput over the sequential throughput
	maxBurstSignP99 = 5.0 // p99 of the signs issued during the burst, seconds
)

// criterion is one overload criterion with its measured value.
type criterion struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Measured: for a goodput criterion taken at the run's mean speed,
	// its value as measured (withMeasured).
	Measured *float64 `json:"measured,omitempty"`
	Limit    string   `json:"limit"`
	Met      bool     `json:"met"`
}

func (c criterion) String() string {
	verdict := "met"
	if !c.Met {
		verdict = "NOT met"
	}
	v := trimFloat(c.Value)
	if c.Measured != nil {
		v += ", " + trimFloat(*c.Measured) + " as measured"
	}
	return fmt.Sprintf("%s: %s (want %s) — %s", c.Name, v, c.Limit, verdict)
}

// minMeasuredRatio bounds what the speed correction can excuse: a goodput
// criterion taken at the run's mean speed needs its ratio as measured to
// be at least this too. The probe's independence from the stack's own
// load is assumed (speedProbe), not shown; a stack whose load slowed the
// probe as much as itself would be excused by the correction, at most
// down to this.
const minMeasuredRatio = 0.8

// withMeasured is atSpeed's criteria (overloadCriteria of the phases at
// the run's mean speed) with each goodput one checked against measured's
// too (the same criteria of the phases as measured): met when its value
// at speed is at least minGoodputRatio and as measured at least
// minMeasuredRatio.
func withMeasured(atSpeed, measured []criterion) []criterion {
	out := slices.Clone(atSpeed)
	for i := range out {
		if i >= len(measured) || measured[i].Name != out[i].Name || !strings.Contains(out[i].Name, "goodput") {
			continue
		}
		m := measured[i].Value
		out[i].Name += ", each phase at the run's mean speed"
		out[i].Measured = &m
		out[i].Limit = fmt.Sprintf(">= %g, and >= %g as measured", minGoodputRatio, minMeasuredRatio)
		out[i].Met = out[i].Value >= minGoodputRatio && m >= minMeasuredRatio
	}
	return out
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// capacity is how many keygens the stack finishes within one API deadline
// when they run one after another at the sequential throughput: started
// together they share the CPU and finish together, so this is the most
// that can be admitted at once and all finish in time. At least 1.
func capacity(seqThroughput float64, deadline time.Duration) int {
	return max(1, int(math.Floor(seqThroughput*deadline.Seconds())))
}

// burstSize is x times capacity c, rounded up.
func burstSize(x float64, c int) int {
	return max(1, int(math.Ceil(x*float64(c))))
}

// overloadCriteria judges a run's phases: seq is the sequential phase
// (nil if none ran), whose throughput T_k the goodput of every concurrent
// keygen phase (the N at once, and the burst's) is compared with;
// signAlone the sign phase, whose throughput T_s is the machine's for
// signs with nothing beside them (nil if none ran); burstSigns the phase
// of the signs issued during the burst (nil if none). The burst's signs
// go before its keygens by design, and the time the machine gives them is
// work done, not lost: the burst's goodput counts each completed request
// at its kind's unloaded cost, (K/T_k + S/T_s) / wall, over 1 — the share
// of the machine's unloaded capacity that went into completed requests
// (burstWork; without a sign phase to price its signs, keygens alone).
func overloadCriteria(phases []*phase, seq, signAlone, burstSigns *phase) []criterion {
	timedOut, other := 0, 0
	maxRefusal := 0.0
	for _, p := range phases {
		timedOut += p.TimedOut
		other += p.Errors - p.TimedOut
		maxRefusal = max(maxRefusal, p.RefusalMax)
	}
	out := []criterion{
		{Name: "requests timed out", Value: float64(timedOut), Limit: "0", Met: timedOut == 0},
		{Name: "other failed requests", Value: float64(other), Limit: "0", Met: other == 0},
		{Name: "slowest refusal, s", Value: maxRefusal, Limit: fmt.Sprintf("< %g", maxRefusalS), Met: maxRefusal < maxRefusalS},
	}
	for _, p := range phases {
		var ratio float64
		var name string
		switch p.Op {
		case "keygen":
			name = "keygen goodput / sequential throughput"
			if seq != nil && seq.Throughput > 0 {
				ratio = p.Throughput / seq.Throughput
			}
		case "burst keygen":
			name = "burst goodput (keygens and signs at unloaded cost) / capacity"
			ratio = burstWork(p, seq, signAlone, burstSigns)
		default:
			continue
		}
		out = append(out, criterion{Name: name, Value: ratio, Limit: fmt.Sprintf(">= %g", minGoodputRatio), Met: ratio >= minGoodputRatio})
	}
	if burstSigns != nil {
		met := burstSigns.OK > 0 && burstSigns.OK == burstSigns.Count && burstSigns.P99S < maxBurstSignP99
		out = append(out, criterion{Name: "burst signs p99, s", Value: burstSigns.P99S, Limit: fmt.Sprintf("< %g, all completed", maxBurstSignP99), Met: met})
	}
	return out
}

// burstWork is the burst's goodput at unloaded cost (overloadCriteria):
// its completed keygens over the sequential throughput plus its
// completed signs over the sign phase's, per second of the burst's wall
// time (the longer of its keygens' and its signs'). 0 without a
// sequential phase.
func burstWork(keygens, seq, signAlone, signs *phase) float64 {
	if seq == nil || seq.Throughput <= 0 {
		return 0
	}
	work, wall := float64(keygens.OK)/seq.Throughput, keygens.WallS
	if signs != nil && signAlone != nil && signAlone.Throughput > 0 {
		work += float64(signs.OK) / signAlone.Throughput
		wall = max(wall, signs.WallS)
	}
	if wall <= 0 {
		return 0
	}
	return work / wall
}

// bracket is the sequential reference of a run with sequential keygens
// before and after its concurrent phases: every completed keygen of both
// over their wall time together (a missing side counts as nothing).
func bracket(before, after *phase) *phase {
	ref := &phase{Op: "sequential keygen (both)"}
	for _, p := range []*phase{before, after} {
		if p != nil {
			ref.Count += p.Count
			ref.OK += p.OK
			ref.WallS += p.WallS
		}
	}
	if ref.WallS > 0 {
		ref.Throughput = float64(ref.OK) / ref.WallS
	}
	return ref
}

func allMet(cs []criterion) bool {
	for _, c := range cs {
		if !c.Met {
			return false
		}
	}
	return len(cs) > 0
}

// probeInterval is how often the speed probe times its exponentiation.
const probeInterval = 250 * time.Millisecond

// adjusted is a run's phases each taken at one machine speed (atSpeed).
type adjusted struct {
	all []*phase
	by  map[*phase]*phase
}

// of is p so taken (nil for nil).
func (a *adjusted) of(p *phase) *phase { return a.by[p] }

// atSpeed takes each phase at the machine speed at which the probe's
// exponentiation takes refMs (speedProbe): a phase during which it took
// ProbeMs would have taken WallS × refMs / ProbeMs at that speed, and its
// throughput is OK over that. Latencies are left as measured. nil unless
// refMs and every phase's ProbeMs are known: phases compared at different
// speeds would tell the machine's drift, not the stack's.
func atSpeed(phases []*phase, refMs float64) *adjusted {
	if refMs <= 0 || len(phases) == 0 {
		return nil
	}
	a := &adjusted{by: map[*phase]*phase{}}
	for _, p := range phases {
		if p.ProbeMs <= 0 {
			return nil
		}
		q := *p
		q.WallS = p.WallS * refMs / p.ProbeMs
		q.Throughput = 0
		if q.WallS > 0 {
			q.Throughput = float64(q.OK) / q.WallS
		}
		a.all = append(a.all, &q)
		a.by[p] = &q
	}
	return a
}

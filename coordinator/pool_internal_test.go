package coordinator

import (
	"testing"
	"time"
)

// TestPickIgnoresSelfReportedLoad: a party that understates its load in
// its heartbeats is not preferred; the pool picks by its own count of the
// sessions it assigned.
func TestPickIgnoresSelfReportedLoad(t *testing.T) {
	p := newPool(time.Minute)
	now := time.Now()
	// "greedy" was assigned five sessions but says it runs none; "honest"
	// was assigned none and reports a busy machine.
	p.members["greedy"] = &member{id: "greedy", lastBeat: now, assigned: 5, running: 0}
	p.members["honest"] = &member{id: "honest", lastBeat: now, assigned: 0, running: 100}
	for range 20 {
		ids, err := p.pick(1, pickRule{})
		if err != nil {
			t.Fatal(err)
		}
		if ids[0] != "honest" {
			t.Fatalf("picked %s, which claims to be idle, over the party with fewer assigned sessions", ids[0])
		}
		p.release(ids)
	}
}

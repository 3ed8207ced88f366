package coordinator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator/store"
)

// TestPickIgnoresSelfReportedLoad: a party that understates its load in
// its heartbeats, or overstates its work slots, is not preferred; the pool
// picks by its own count of the sessions it assigned.
func TestPickIgnoresSelfReportedLoad(t *testing.T) {
	p := newPool(time.Minute)
	now := time.Now()
	// "greedy" was assigned five sessions but says it runs none on 64
	// slots; "honest" was assigned none and reports a busy machine.
	p.members["greedy"] = &member{id: "greedy", lastBeat: now, partyLoad: p.loadOf("greedy"), running: 0, slots: 64, preparams: 100}
	p.members["honest"] = &member{id: "honest", lastBeat: now, partyLoad: p.loadOf("honest"), running: 100, slots: 1}
	p.loads["greedy"].keygens = 5
	for range 20 {
		ids, err := p.pick(1, pickRule{kind: store.SessionKeygen, within: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if ids[0] != "honest" {
			t.Fatalf("picked %s, which claims to be idle, over the party with fewer assigned sessions", ids[0])
		}
		p.release(ids, store.SessionKeygen)
	}
}

// TestAdmission: with the default costs, sessions are admitted while the
// estimated finish fits 70% of the deadline, then refused with the time to
// retry after; signings are planned behind signings alone, so a keygen
// backlog does not refuse them; a finished session frees its room.
func TestAdmission(t *testing.T) {
	p := newPool(time.Minute)
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		p.members[id] = &member{id: id, lastBeat: now, slots: 2, preparams: 100, partyLoad: p.loadOf(id)}
	}
	c := p.costs.get()
	within := 60 * time.Second
	// Each keygen adds c.keygen/2 s of wait at each party: admitted while
	// n*c.keygen/2 + c.keygen <= 42 s.
	want := int((within.Seconds()*admitShare-c.keygen)/(c.keygen/2)) + 1
	n := 0
	for {
		_, err := p.pick(2, pickRule{kind: store.SessionKeygen, within: within})
		if err != nil {
			retry, ok := Overloaded(err)
			if !ok || retry < time.Second {
				t.Fatalf("refusal %v: overloaded %v, retry %v", err, ok, retry)
			}
			break
		}
		n++
		if n > 100 {
			t.Fatal("never refused")
		}
	}
	if n != want {
		t.Fatalf("admitted %d keygens, want %d", n, want)
	}
	// Signings still fit: only signings are ahead of them.
	for range 10 {
		if _, err := p.pick(2, pickRule{kind: store.SessionSign, within: within}); err != nil {
			t.Fatalf("a signing behind a keygen backlog: %v", err)
		}
	}
	for range 10 {
		p.release([]string{"a", "b"}, store.SessionSign)
	}
	// One keygen finishes: one more fits.
	p.release([]string{"a", "b"}, store.SessionKeygen)
	if _, err := p.pick(2, pickRule{kind: store.SessionKeygen, within: within}); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	// Without a deadline nothing is refused.
	if _, err := p.pick(2, pickRule{kind: store.SessionKeygen}); err != nil {
		t.Fatal(err)
	}
}

// Keygens beyond a party's ready pre-parameters cost pre-parameters too.
func TestAdmissionColdPool(t *testing.T) {
	p := newPool(time.Minute)
	p.members["a"] = &member{id: "a", lastBeat: time.Now(), slots: 1, preparams: 0, partyLoad: p.loadOf("a")}
	c := p.costs.get()
	m := p.members["a"]
	if got, want := m.finish(store.SessionKeygen, c), c.keygen+c.preparams; got != want {
		t.Fatalf("first keygen on an empty pool: %v s, want %v", got, want)
	}
	m.keygens = 2
	if got, want := m.finish(store.SessionKeygen, c), 2*(c.keygen+c.preparams)+c.keygen+c.preparams; got != want {
		t.Fatalf("third keygen: %v s, want %v", got, want)
	}
}

// A signing is planned over the party's signing lane as its heartbeat
// states it, and over its work slots when it states none (an older party).
func TestAdmissionSignLane(t *testing.T) {
	p := newPool(time.Minute)
	m := &member{id: "a", lastBeat: time.Now(), slots: 1, preparams: 9, partyLoad: p.loadOf("a")}
	m.keygens, m.signs = 3, 6
	c := p.costs.get()
	if got, want := m.finish(store.SessionSign, c), 6*c.sign/1+c.sign; got != want {
		t.Fatalf("no signing lane stated: %v s, want %v", got, want)
	}
	m.signSlots = 3
	if got, want := m.finish(store.SessionSign, c), 6*c.sign/3+c.sign; got != want {
		t.Fatalf("three signing slots: %v s, want %v", got, want)
	}
	// A keygen still waits behind all of it, over the work slots.
	if got, want := m.finish(store.SessionKeygen, c), 3*c.keygen+6*c.sign+c.keygen; got != want {
		t.Fatalf("keygen: %v s, want %v", got, want)
	}
	m.signSlots = 1000
	if got, want := m.finish(store.SessionSign, c), 6*c.sign/64+c.sign; got != want {
		t.Fatalf("an absurd lane: %v s, want %v", got, want)
	}
}

// The cost model follows reports, a factor of 4 at most per report.
func TestCostModel(t *testing.T) {
	m := newCostModel()
	m.observe(store.SessionKeygen, 8*time.Second, 0)
	if c := m.get(); c.keygen != 8 || c.preparams != defaultPreParamsCost {
		t.Fatalf("after one report: %+v", c)
	}
	m.observe(store.SessionKeygen, time.Hour, 0)
	if c := m.get(); c.keygen != 8+costWeight*(32-8) {
		t.Fatalf("an absurd report moved the average to %v", c.keygen)
	}
	m.observe(store.SessionSign, 0, 0) // reports nothing
	if c := m.get(); c.sign != defaultSignCost {
		t.Fatalf("sign %v", c.sign)
	}
	m.observe(store.SessionSign, 300*time.Millisecond, 0)
	m.observe(store.SessionKeygen, 0, 20*time.Second)
	if c := m.get(); c.sign != 0.3 || c.preparams != 20 {
		t.Fatalf("%+v", c)
	}
}

// A party that registers again keeps the load it was assigned: it cannot
// make itself look idle.
func TestLoadSurvivesRegistration(t *testing.T) {
	p := newPool(time.Minute)
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		p.members[id] = &member{id: id, lastBeat: now, partyLoad: p.loadOf(id)}
	}
	for range 3 {
		if _, err := p.pick(1, pickRule{among: []string{"a"}, restrict: true, kind: store.SessionKeygen}); err != nil {
			t.Fatal(err)
		}
	}
	// "a" registers again: a new member, the same load.
	p.members["a"] = &member{id: "a", lastBeat: now, partyLoad: p.loadOf("a")}
	ids, err := p.pick(1, pickRule{kind: store.SessionKeygen})
	if err != nil || ids[0] != "b" {
		t.Fatalf("picked %v (%v) over the idle party", ids, err)
	}
	if p.members["a"].keygens != 3 {
		t.Fatalf("a's keygens %d after registering again", p.members["a"].keygens)
	}
}

// A party that reports absurd costs, as often as it likes, moves each
// average at most to its cap; and parties with nothing assigned always
// take a session.
func TestCostModelCapped(t *testing.T) {
	p := newPool(time.Minute)
	for range 100 {
		p.costs.observe(store.SessionKeygen, 1000*time.Hour, 1000*time.Hour)
		p.costs.observe(store.SessionSign, 1000*time.Hour, 0)
	}
	c := p.costs.get()
	near := func(v, capv float64) bool { return v <= capv && v > 0.99*capv }
	if !near(c.keygen, defaultKeygenCost*costCap) || !near(c.sign, defaultSignCost*costCap) || !near(c.preparams, defaultPreParamsCost*costCap) {
		t.Fatalf("costs after absurd reports: %+v", c)
	}
	p.members["a"] = &member{id: "a", lastBeat: time.Now(), slots: 1, partyLoad: p.loadOf("a")}
	if _, err := p.pick(1, pickRule{kind: store.SessionKeygen, within: time.Second}); err != nil {
		t.Fatalf("an idle party refused a keygen: %v", err)
	}
	_, err := p.pick(1, pickRule{kind: store.SessionKeygen, within: time.Second})
	if retry, ok := Overloaded(err); !ok || retry > maxRetry {
		t.Fatalf("second keygen: %v (retry %v)", err, retry)
	}
	for range 100 {
		p.costs.observe(store.SessionKeygen, time.Nanosecond, 0)
	}
	if c := p.costs.get(); c.keygen < defaultKeygenCost/costCap || c.keygen > 1.01*defaultKeygenCost/costCap {
		t.Fatalf("keygen cost floor: %v", c.keygen)
	}
}

// An account keygen plans its user party on the user-API party too: it is
// counted there, and its load can refuse the keygen.
func TestAdmissionCountsUserParty(t *testing.T) {
	p := newPool(time.Minute)
	now := time.Now()
	for _, id := range []string{"a", "b", "api"} {
		p.members[id] = &member{id: id, lastBeat: now, slots: 1, preparams: 100, userAPI: id == "api", partyLoad: p.loadOf(id)}
	}
	ids, err := p.pick(2, pickRule{notUserAPI: true, withUser: true, kind: store.SessionKeygen, within: time.Hour})
	if err != nil || len(ids) != 3 || ids[2] != "api" || p.loads["api"].keygens != 1 {
		t.Fatalf("picked %v (%v), api load %+v", ids, err, p.loads["api"])
	}
	p.release(ids, store.SessionKeygen)
	if p.loads["api"].keygens != 0 || p.loads["a"].keygens != 0 {
		t.Fatalf("after release: %+v %+v", p.loads["api"], p.loads["a"])
	}
	// A backlog on the user-API party alone refuses account keygens.
	p.loads["api"].keygens = 100
	if _, err := p.pick(2, pickRule{notUserAPI: true, withUser: true, kind: store.SessionKeygen, within: time.Minute}); err == nil {
		t.Fatal("admitted behind the user-API party's backlog")
	} else if _, ok := Overloaded(err); !ok {
		t.Fatal(err)
	}
}

// TestProgressQueued: a server party's wait for a work slot and its end
// are relayed as session events, at round 0 (before its first step) too;
// a client party's queued figure is not (it has no work queue), and
// repeats are not news.
func TestProgressQueued(t *testing.T) {
	c, s := progressSession(store.SessionKeygen, store.StateRunning)
	type report struct{ party, round, queued uint32 }
	parties := []string{"server-1", "browser-1"}
	for _, r := range []report{
		{0, 0, 2}, // server-1 waits before its first step
		{0, 0, 2}, // the same: no event
		{0, 0, 1}, // moved up
		{0, 0, 0}, // its turn: the wait ends at round 0
		{0, 1, 0},
		{0, 1, 3}, // waits again within round 1
		{0, 2, 0}, // a new round ends it
		{1, 1, 4}, // a client's queued figure is dropped
	} {
		if err := c.progress(s.id, parties[r.party], r.round, keygenRounds, r.queued); err != nil {
			t.Fatalf("%s round %d queued %d: %v", parties[r.party], r.round, r.queued, err)
		}
	}
	got := progressEvents(s)
	want := []string{"server-1@0:2", "server-1@0:1", "server-1@0:0", "server-1@1:0", "server-1@1:3", "server-1@2:0", "browser-1@1:0"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v; want %v", got, want)
	}
	// Round 0 without a wait to end is not a round.
	for _, p := range parties {
		if err := c.progress(s.id, p, 0, keygenRounds, 0); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s at round 0, not queued: %v; want InvalidArgument", p, err)
		}
	}
	if err := c.progress(s.id, "browser-1", 0, keygenRounds, 5); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a client at round 0, queued: %v; want InvalidArgument", err)
	}
}

// progressSession is a session of kind in state, with a server party and
// a client, for progress reports.
func progressSession(kind store.SessionKind, state store.SessionState) (*Coordinator, *session) {
	c := &Coordinator{sessions: map[string]*session{}}
	s := c.newSession(kind, "wallet-p")
	s.add("server-1", store.HolderServer)
	s.add("browser-1", store.HolderClient)
	s.state = state
	c.sessions[s.id] = s
	return c, s
}

// progressEvents is s's progress events, as party@round:queued.
func progressEvents(s *session) []string {
	var got []string
	for _, ev := range s.events {
		p := ev.GetProgress()
		got = append(got, fmt.Sprintf("%s@%d:%d", p.PartyId, p.Round, p.Queued))
	}
	return got
}

// TestProgressQueuedBeforeJoin: a server party that makes pre-parameters
// on the spot waits for a work slot before it joins; that wait (round 0)
// and its end are relayed while the session still waits for its parties,
// later rounds are not (nothing runs yet), and nothing after the end.
func TestProgressQueuedBeforeJoin(t *testing.T) {
	c, s := progressSession(store.SessionReshare, store.StateWaiting)
	for _, r := range []struct{ round, queued uint32 }{{0, 3}, {0, 1}, {1, 0}, {0, 0}} {
		if err := c.progress(s.id, "server-1", r.round, reshareRounds, r.queued); err != nil {
			t.Fatalf("round %d queued %d: %v", r.round, r.queued, err)
		}
	}
	got := progressEvents(s)
	if want := []string{"server-1@0:3", "server-1@0:1", "server-1@0:0"}; !slices.Equal(got, want) {
		t.Fatalf("events %v; want %v", got, want)
	}
	s.state = store.StateFailed
	if err := c.progress(s.id, "server-1", 0, reshareRounds, 2); err != nil || len(s.events) != 3 {
		t.Fatalf("a wait reported after the end: %v, %d events", err, len(s.events))
	}
}

// TestJoinGraceForQueuedServer: when the join timeout comes, a session
// waits joinGrace more, once, if every party still missing is a healthy
// server party that reported a wait for a work slot before joining
// (pre-parameters made on the spot behind other sessions); not for a
// missing client, a server party that said nothing, or one that is not
// healthy.
func TestJoinGraceForQueuedServer(t *testing.T) {
	c, s := progressSession(store.SessionKeygen, store.StateWaiting)
	c.pool = newPool(time.Minute)
	c.pool.members["server-1"] = &member{id: "server-1", lastBeat: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.joinGraceLocked(s, []string{"server-1"}) {
		t.Fatal("grace for a server party that reported no wait")
	}
	c.mu.Unlock()
	err := c.progress(s.id, "server-1", 0, keygenRounds, 2)
	c.mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if c.joinGraceLocked(s, []string{"server-1", "browser-1"}) {
		t.Fatal("grace while a client is missing")
	}
	if !c.joinGraceLocked(s, []string{"server-1"}) {
		t.Fatal("no grace for a healthy server party waiting for a slot before it joins")
	}
	c.pool.members["server-1"].lastBeat = time.Now().Add(-time.Hour)
	if c.joinGraceLocked(s, []string{"server-1"}) {
		t.Fatal("grace for a server party that is not healthy")
	}
	c.pool.members["server-1"].lastBeat = time.Now()
	s.joinGraced = true
	if c.joinGraceLocked(s, []string{"server-1"}) {
		t.Fatal("grace twice")
	}
}

// TestStallWaitsForQueuedServer: a session idle past the stall timeout is
// not failed as stalled while a healthy server party of it still waits for
// a work slot; the check comes again a stall timeout later.
func TestStallWaitsForQueuedServer(t *testing.T) {
	c := &Coordinator{sessions: map[string]*session{}, cfg: Config{StallTimeout: time.Hour}, pool: newPool(time.Minute)}
	c.pool.members["server-1"] = &member{id: "server-1", lastBeat: time.Now()}
	s := c.newSession(store.SessionKeygen, "wallet-s")
	s.add("server-1", store.HolderServer)
	s.add("browser-1", store.HolderClient)
	s.state = store.StateRunning
	s.moved = time.Now().Add(-2 * time.Hour)
	s.queued["server-1"] = 1
	c.stallCheck(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.state != store.StateRunning || s.timer == nil {
		t.Fatalf("state %s, timer %v: a session waiting for a busy server party was ended as stalled", s.state, s.timer)
	}
	s.timer.Stop()
}

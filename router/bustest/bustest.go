// Package bustest is the conformance suite of router.Bus. Every Bus runs
// it, so the router behaves the same on each: Run covers the contract on
// one bus instance, RunShared what two instances sharing their storage
// (two router replicas on one Redis) must see of each other.
package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/router"
)

const (
	// patience is how long a test waits for what must happen.
	patience = 10 * time.Second
	// prompt bounds a wake-up: a blocked reader must hear of an append or a
	// close well before any polling fallback would notice.
	prompt = 2 * time.Second
	// settle is how long a reader must stay blocked to count as blocked.
	settle = 100 * time.Millisecond
)

type test struct {
	name string
	f    func(t *testing.T, b router.Bus)
}

// Run runs the suite, each test in parallel on a fresh bus from newBus.
func Run(t *testing.T, newBus func(t *testing.T) router.Bus) {
	tests := []test{
		{"OpenIsIdempotent", testOpenIsIdempotent},
		{"UnknownSession", testUnknownSession},
		{"AppendNumbersFromOne", testAppendNumbersFromOne},
		{"AppendCopiesData", testAppendCopiesData},
		{"RetryGetsSameSeq", testRetryGetsSameSeq},
		{"ConflictRefused", testConflictRefused},
		{"EnvelopeLimit", testEnvelopeLimit},
		{"ByteLimit", testByteLimit},
		{"ReadAfterAndMax", testReadAfterAndMax},
		{"ReadWaitsForAppend", testReadWaitsForAppend},
		{"ReadWakesOnClose", testReadWakesOnClose},
		{"ClosedIsRemembered", testClosedIsRemembered},
		{"Expiry", testExpiry},
		{"ExpiryWithoutReaders", testExpiryWithoutReaders},
		{"ReadHonoursContext", testReadHonoursContext},
		{"ConcurrentAppendsAndReads", testConcurrentAppendsAndReads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, newBus(t))
		})
	}
}

type sharedTest struct {
	name string
	f    func(t *testing.T, a, b router.Bus)
}

// RunShared runs the tests of two bus instances over the same storage,
// each in parallel on a fresh pair from newPair.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b router.Bus)) {
	tests := []sharedTest{
		{"OpenSeenByOther", testSharedOpen},
		{"AppendWakesOtherReader", testSharedAppendWakes},
		{"DedupeAcrossInstances", testSharedDedupe},
		{"CloseWakesOtherReader", testSharedCloseWakes},
		{"ExpirySeenByBoth", testSharedExpiry},
		{"ConcurrentAppendsOnBoth", testSharedConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t)
			tc.f(t, a, b)
		})
	}
}

// session is an open-for-an-hour session of parties a, b, c.
func session(id string) router.SessionInfo {
	return router.SessionInfo{ID: id, Parties: []string{"a", "b", "c"}, Expires: time.Now().Add(time.Hour), MaxBytes: 1 << 20, MaxEnvelopes: 1000}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, b router.Bus, s router.SessionInfo) {
	t.Helper()
	if err := b.Open(ctxT(t), s); err != nil {
		t.Fatalf("open %s: %v", s.ID, err)
	}
}

func entry(from, to string, senderSeq uint64, data string) router.Entry {
	return router.Entry{From: from, To: to, SenderSeq: senderSeq, Data: []byte(data)}
}

func mustAppend(t *testing.T, b router.Bus, session string, e router.Entry, want uint64) {
	t.Helper()
	seq, err := b.Append(ctxT(t), session, e)
	if err != nil || seq != want {
		t.Fatalf("append %s/%d: seq %d, %v; want seq %d", e.From, e.SenderSeq, seq, err, want)
	}
}

// read reads without waiting for more than patience.
func read(t *testing.T, b router.Bus, session string, after uint64, max int) []router.Entry {
	t.Helper()
	es, err := b.Read(ctxT(t), session, after, max)
	if err != nil {
		t.Fatalf("read %s after %d: %v", session, after, err)
	}
	return es
}

func sameEntry(got, want router.Entry) bool {
	return got.Seq == want.Seq && got.From == want.From && got.To == want.To &&
		got.SenderSeq == want.SenderSeq && bytes.Equal(got.Data, want.Data)
}

func checkEntries(t *testing.T, got []router.Entry, want ...router.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v, want %d", len(got), seqs(got), len(want))
	}
	for i := range want {
		if !sameEntry(got[i], want[i]) {
			t.Fatalf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func seqs(es []router.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func withSeq(e router.Entry, seq uint64) router.Entry {
	e.Seq = seq
	return e
}

// wantClosed fails unless err is a *ClosedError with reason.
func wantClosed(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var ce *router.ClosedError
	if !errors.Is(err, router.ErrSessionClosed) || !errors.As(err, &ce) || ce.Reason != reason {
		t.Fatalf("%s: got %v, want closed with reason %q", what, err, reason)
	}
}

// pending is a Read running in the background.
type pending struct {
	done    chan struct{}
	entries []router.Entry
	err     error
	took    time.Duration
}

func readAsync(ctx context.Context, b router.Bus, session string, after uint64, max int) *pending {
	p := &pending{done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(p.done)
		p.entries, p.err = b.Read(ctx, session, after, max)
		p.took = time.Since(start)
	}()
	return p
}

// blocked fails if the read returns within settle.
func (p *pending) blocked(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("read returned without waiting: %v, %v", seqs(p.entries), p.err)
	case <-time.After(settle):
	}
}

// result waits up to limit for the read.
func (p *pending) result(t *testing.T, limit time.Duration) ([]router.Entry, error) {
	t.Helper()
	select {
	case <-p.done:
		return p.entries, p.err
	case <-time.After(limit):
		t.Fatalf("read still waiting after %v", limit)
		return nil, nil
	}
}

func testOpenIsIdempotent(t *testing.T, b router.Bus) {
	s := session("s1")
	open(t, b, s)
	want := s
	want.Parties = slices.Clone(s.Parties)
	s.Parties[0] = "mutated" // the bus keeps its own copy
	other := router.SessionInfo{ID: "s1", Parties: []string{"x", "y"}, Expires: time.Now().Add(time.Minute), MaxBytes: 1, MaxEnvelopes: 1}
	open(t, b, other)
	got, err := b.Info(ctxT(t), "s1")
	if err != nil {
		t.Fatal(err)
	}
	sameInfo(t, got, want)
}

// sameInfo compares infos, expiry to the millisecond (what a bus may keep).
func sameInfo(t *testing.T, got, want router.SessionInfo) {
	t.Helper()
	d := got.Expires.Sub(want.Expires)
	if got.ID != want.ID || !slices.Equal(got.Parties, want.Parties) || got.MaxBytes != want.MaxBytes ||
		got.MaxEnvelopes != want.MaxEnvelopes || d <= -time.Millisecond || d >= time.Millisecond {
		t.Fatalf("info: got %+v, want %+v", got, want)
	}
}

func testUnknownSession(t *testing.T, b router.Bus) {
	open(t, b, session("known"))
	ctx := ctxT(t)
	if _, err := b.Info(ctx, "nope"); !errors.Is(err, router.ErrUnknownSession) {
		t.Fatalf("info: %v", err)
	}
	if _, err := b.Append(ctx, "nope", entry("a", "", 1, "x")); !errors.Is(err, router.ErrUnknownSession) {
		t.Fatalf("append: %v", err)
	}
	if _, err := b.Read(ctx, "nope", 0, 10); !errors.Is(err, router.ErrUnknownSession) {
		t.Fatalf("read: %v", err)
	}
	if err := b.Close(ctx, "nope", "done"); !errors.Is(err, router.ErrUnknownSession) {
		t.Fatalf("close: %v", err)
	}
	// Session ids are not prefixes of each other's storage.
	if _, err := b.Info(ctx, "know"); !errors.Is(err, router.ErrUnknownSession) {
		t.Fatalf("info of a prefix: %v", err)
	}
}

func testAppendNumbersFromOne(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	open(t, b, session("s2"))
	es := []router.Entry{
		entry("a", "", 1, "a-bcast"),
		entry("a", "b", 2, "a-to-b"),
		entry("b", "", 1, "b-bcast"),
		entry("c", "a", 1, "c-to-a"),
		entry("b", "c", 2, ""),
	}
	var want []router.Entry
	for i, e := range es {
		mustAppend(t, b, "s1", e, uint64(i+1))
		want = append(want, withSeq(e, uint64(i+1)))
	}
	// Each session counts its own.
	mustAppend(t, b, "s2", entry("a", "", 1, "other"), 1)
	checkEntries(t, read(t, b, "s1", 0, 100), want...)
	checkEntries(t, read(t, b, "s2", 0, 100), withSeq(entry("a", "", 1, "other"), 1))
}

func testAppendCopiesData(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	data := []byte("original")
	mustAppend(t, b, "s1", router.Entry{From: "a", SenderSeq: 1, Data: data}, 1)
	copy(data, "mutated!")
	checkEntries(t, read(t, b, "s1", 0, 10), withSeq(entry("a", "", 1, "original"), 1))
}

func testRetryGetsSameSeq(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	e1, e2, e3 := entry("a", "", 1, "x"), entry("b", "a", 1, "y"), entry("a", "c", 2, "")
	mustAppend(t, b, "s1", e1, 1)
	mustAppend(t, b, "s1", e2, 2)
	mustAppend(t, b, "s1", e3, 3)
	mustAppend(t, b, "s1", e1, 1)
	mustAppend(t, b, "s1", e3, 3)
	// A retry is recognised by (from, sender_seq) and data; To is not part of it.
	mustAppend(t, b, "s1", entry("b", "a", 1, "y"), 2)
	// Retries stored nothing: the next envelope is 4.
	e4 := entry("c", "", 1, "z")
	mustAppend(t, b, "s1", e4, 4)
	checkEntries(t, read(t, b, "s1", 0, 100), withSeq(e1, 1), withSeq(e2, 2), withSeq(e3, 3), withSeq(e4, 4))
}

func testConflictRefused(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	ctx := ctxT(t)
	mustAppend(t, b, "s1", entry("a", "", 1, "x"), 1)
	for _, data := range []string{"y", "x\x00", "", "xx"} {
		if _, err := b.Append(ctx, "s1", entry("a", "", 1, data)); !errors.Is(err, router.ErrConflict) {
			t.Fatalf("same sender_seq, data %q: %v", data, err)
		}
	}
	// The same sender_seq from another sender is another envelope, whatever
	// the ids look like.
	mustAppend(t, b, "s1", entry("b", "", 1, "y"), 2)
	mustAppend(t, b, "s1", entry("a|1", "", 1, "y"), 3)
	mustAppend(t, b, "s1", entry("a", "", 11, "y"), 4)
	mustAppend(t, b, "s1", entry("a:1", "", 1, "y"), 5)
	// The original is still the one stored, and still dedupes.
	mustAppend(t, b, "s1", entry("a", "", 1, "x"), 1)
	es := read(t, b, "s1", 0, 100)
	if len(es) != 5 || string(es[0].Data) != "x" {
		t.Fatalf("stored %v", es)
	}
}

func testEnvelopeLimit(t *testing.T, b router.Bus) {
	s := session("s1")
	s.MaxEnvelopes = 3
	open(t, b, s)
	for i := range 3 {
		mustAppend(t, b, "s1", entry("a", "", uint64(i+1), "x"), uint64(i+1))
	}
	if _, err := b.Append(ctxT(t), "s1", entry("a", "", 4, "x")); !errors.Is(err, router.ErrSessionFull) {
		t.Fatalf("4th of 3: %v", err)
	}
	// A retry of a stored envelope is still answered.
	mustAppend(t, b, "s1", entry("a", "", 2, "x"), 2)
	if es := read(t, b, "s1", 0, 100); len(es) != 3 {
		t.Fatalf("%d stored", len(es))
	}
}

func testByteLimit(t *testing.T, b router.Bus) {
	s := session("s1")
	s.MaxBytes = 10
	open(t, b, s)
	ctx := ctxT(t)
	mustAppend(t, b, "s1", entry("a", "", 1, "123456"), 1)
	if _, err := b.Append(ctx, "s1", entry("a", "", 2, "12345")); !errors.Is(err, router.ErrSessionFull) {
		t.Fatalf("11 of 10 bytes: %v", err)
	}
	mustAppend(t, b, "s1", entry("a", "", 2, "1234"), 2) // exactly 10
	if _, err := b.Append(ctx, "s1", entry("b", "", 1, "1")); !errors.Is(err, router.ErrSessionFull) {
		t.Fatalf("11 of 10 bytes: %v", err)
	}
	mustAppend(t, b, "s1", entry("b", "", 1, ""), 3) // empty data costs nothing
	if es := read(t, b, "s1", 0, 100); len(es) != 3 {
		t.Fatalf("%d stored", len(es))
	}
}

func testReadAfterAndMax(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	var all []router.Entry
	for i := range 10 {
		e := entry("a", "", uint64(i+1), fmt.Sprint("m", i+1))
		mustAppend(t, b, "s1", e, uint64(i+1))
		all = append(all, withSeq(e, uint64(i+1)))
	}
	cases := []struct {
		after uint64
		max   int
		want  []router.Entry
	}{
		{0, 3, all[0:3]},
		{3, 3, all[3:6]},
		{2, 1, all[2:3]},
		{8, 5, all[8:10]},
		{0, 100, all},
		{9, 1, all[9:10]},
	}
	for _, c := range cases {
		checkEntries(t, read(t, b, "s1", c.after, c.max), c.want...)
	}
	// Nothing after the last: Read waits, here until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if es, err := b.Read(ctx, "s1", 10, 5); !errors.Is(err, context.DeadlineExceeded) || len(es) != 0 {
		t.Fatalf("read after the last: %v, %v", seqs(es), err)
	}
}

func testReadWaitsForAppend(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	ctx := ctxT(t)
	p := readAsync(ctx, b, "s1", 0, 10)
	p.blocked(t)
	e1 := entry("a", "", 1, "first")
	mustAppend(t, b, "s1", e1, 1)
	es, err := p.result(t, prompt)
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, es, withSeq(e1, 1))
	// Several readers wait at once; one append wakes them all.
	var ps []*pending
	for range 3 {
		ps = append(ps, readAsync(ctx, b, "s1", 1, 10))
	}
	for _, p := range ps {
		p.blocked(t)
	}
	e2 := entry("b", "a", 1, "second")
	mustAppend(t, b, "s1", e2, 2)
	for _, p := range ps {
		es, err := p.result(t, prompt)
		if err != nil {
			t.Fatal(err)
		}
		checkEntries(t, es, withSeq(e2, 2))
	}
}

func testReadWakesOnClose(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	mustAppend(t, b, "s1", entry("a", "", 1, "x"), 1)
	mustAppend(t, b, "s1", entry("a", "", 2, "y"), 2)
	ctx := ctxT(t)
	at := readAsync(ctx, b, "s1", 2, 10)
	ahead := readAsync(ctx, b, "s1", 7, 10) // a reader ahead of the stream
	at.blocked(t)
	ahead.blocked(t)
	if err := b.Close(ctx, "s1", "completed"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*pending{at, ahead} {
		_, err := p.result(t, prompt)
		wantClosed(t, "blocked read", err, "completed")
	}
}

func testClosedIsRemembered(t *testing.T, b router.Bus) {
	s := session("s1")
	open(t, b, s)
	e := entry("a", "", 1, "x")
	mustAppend(t, b, "s1", e, 1)
	ctx := ctxT(t)
	const reason = "aborted: party b left"
	if err := b.Close(ctx, "s1", reason); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		_, err := b.Info(ctx, "s1")
		wantClosed(t, "info", err, reason)
		_, err = b.Append(ctx, "s1", e)
		wantClosed(t, "append retry", err, reason)
		_, err = b.Append(ctx, "s1", entry("a", "", 2, "y"))
		wantClosed(t, "append", err, reason)
		_, err = b.Read(ctx, "s1", 0, 10) // entries are gone with the session
		wantClosed(t, "read", err, reason)
		err = b.Open(ctx, s)
		wantClosed(t, "open again", err, reason)
	}
	check()
	// Closing again is a no-op: the first reason stays.
	if err := b.Close(ctx, "s1", "another reason"); err != nil {
		t.Fatalf("close again: %v", err)
	}
	check()
	// Other sessions are untouched.
	open(t, b, session("s2"))
	mustAppend(t, b, "s2", e, 1)
}

func testExpiry(t *testing.T, b router.Bus) {
	const life = 500 * time.Millisecond
	s := session("s1")
	s.Expires = time.Now().Add(life)
	open(t, b, s)
	mustAppend(t, b, "s1", entry("a", "", 1, "x"), 1)
	ctx := ctxT(t)
	p := readAsync(ctx, b, "s1", 1, 10)
	p.blocked(t)
	// The waiting reader learns of the expiry without anyone else calling.
	_, err := p.result(t, life+prompt)
	wantClosed(t, "read waiting at expiry", err, "session expired")
	if p.took < life/2 {
		t.Fatalf("read returned after %v, before the session expired", p.took)
	}
	_, err = b.Info(ctx, "s1")
	wantClosed(t, "info", err, "session expired")
	_, err = b.Append(ctx, "s1", entry("a", "", 2, "y"))
	wantClosed(t, "append", err, "session expired")
	_, err = b.Read(ctx, "s1", 0, 10)
	wantClosed(t, "read", err, "session expired")
	wantClosed(t, "open", b.Open(ctx, s), "session expired")
	if err := b.Close(ctx, "s1", "completed"); err != nil {
		t.Fatalf("close of an expired session: %v", err)
	}
	_, err = b.Info(ctx, "s1")
	wantClosed(t, "info after close", err, "session expired")
}

func testExpiryWithoutReaders(t *testing.T, b router.Bus) {
	ctx := ctxT(t)
	for _, first := range []string{"info", "append", "read", "open"} {
		s := session("s-" + first)
		s.Expires = time.Now().Add(200 * time.Millisecond)
		open(t, b, s)
		mustAppend(t, b, s.ID, entry("a", "", 1, "x"), 1)
		time.Sleep(300 * time.Millisecond)
		var err error
		switch first {
		case "info":
			_, err = b.Info(ctx, s.ID)
		case "append":
			_, err = b.Append(ctx, s.ID, entry("a", "", 2, "y"))
		case "read":
			_, err = b.Read(ctx, s.ID, 0, 10)
		case "open":
			err = b.Open(ctx, s)
		}
		wantClosed(t, first+" first after expiry", err, "session expired")
	}
}

func testReadHonoursContext(t *testing.T, b router.Bus) {
	open(t, b, session("s1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := readAsync(ctx, b, "s1", 0, 10)
	p.blocked(t)
	cancel()
	es, err := p.result(t, prompt)
	if !errors.Is(err, context.Canceled) || len(es) != 0 {
		t.Fatalf("cancelled read: %v, %v", seqs(es), err)
	}
	if p.took > settle+time.Second {
		t.Fatalf("cancelled read took %v", p.took)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer dcancel()
	p = readAsync(dctx, b, "s1", 0, 10)
	es, err = p.result(t, prompt)
	if !errors.Is(err, context.DeadlineExceeded) || len(es) != 0 {
		t.Fatalf("read past its deadline: %v, %v", seqs(es), err)
	}
	if p.took > 300*time.Millisecond+time.Second {
		t.Fatalf("read with a 300ms deadline took %v", p.took)
	}
	// The bus is fine afterwards.
	mustAppend(t, b, "s1", entry("a", "", 1, "x"), 1)
	checkEntries(t, read(t, b, "s1", 0, 10), withSeq(entry("a", "", 1, "x"), 1))
}

func testConcurrentAppendsAndReads(t *testing.T, b router.Bus) {
	concurrent(t, []router.Bus{b})
}

// concurrent has 8 senders append 40 envelopes each, every fifth twice
// (a retry racing the original), through buses in turn, while 4 readers
// on the buses in turn read from the start with small batches. Every
// append gets a distinct seq, the seqs are 1..320, and every reader reads
// each envelope exactly once, in order, as it was appended.
func concurrent(t *testing.T, buses []router.Bus) {
	const senders, each, readers = 8, 40, 4
	const total = senders * each
	s := session("s1")
	s.Parties = nil
	for i := range senders {
		s.Parties = append(s.Parties, fmt.Sprint("p", i))
	}
	open(t, buses[0], s)
	ctx := ctxT(t)

	var mu sync.Mutex
	bySeq := map[uint64]router.Entry{}
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var rwg sync.WaitGroup
	got := make([][]router.Entry, readers)
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			b := buses[r%len(buses)]
			var after uint64
			for after < total {
				es, err := b.Read(ctx, "s1", after, 7)
				if err != nil || len(es) == 0 {
					fail(fmt.Errorf("reader %d after %d: %d entries, %v", r, after, len(es), err))
					return
				}
				got[r] = append(got[r], es...)
				after = es[len(es)-1].Seq
			}
		}()
	}
	var wg sync.WaitGroup
	for i := range senders {
		from := fmt.Sprint("p", i)
		for j := range each {
			e := entry(from, "", uint64(j+1), fmt.Sprintf("%s-%d", from, j+1))
			if j%3 == 0 {
				e.To = fmt.Sprint("p", (i+1)%senders)
			}
			tries := 1
			if j%5 == 0 {
				tries = 2
			}
			for k := range tries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					seq, err := buses[(i+j+k)%len(buses)].Append(ctx, "s1", e)
					if err != nil {
						fail(fmt.Errorf("append %s/%d: %v", e.From, e.SenderSeq, err))
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if prev, ok := bySeq[seq]; ok && (prev.From != e.From || prev.SenderSeq != e.SenderSeq) {
						errs = append(errs, fmt.Errorf("seq %d given to %s/%d and %s/%d", seq, prev.From, prev.SenderSeq, e.From, e.SenderSeq))
					}
					bySeq[seq] = withSeq(e, seq)
				}()
			}
		}
	}
	wg.Wait()
	rwg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if len(bySeq) != total {
		t.Fatalf("%d distinct seqs for %d envelopes", len(bySeq), total)
	}
	stored := map[string]bool{}
	for seq := uint64(1); seq <= total; seq++ {
		e, ok := bySeq[seq]
		if !ok {
			t.Fatalf("seq %d was never given", seq)
		}
		k := fmt.Sprintf("%s/%d", e.From, e.SenderSeq)
		if stored[k] {
			t.Fatalf("%s stored twice", k)
		}
		stored[k] = true
	}
	for r, es := range got {
		if len(es) != total {
			t.Fatalf("reader %d read %d entries, want %d", r, len(es), total)
		}
		for i, e := range es {
			if want := bySeq[uint64(i+1)]; !sameEntry(e, want) {
				t.Fatalf("reader %d, entry %d: got %+v, want %+v", r, i, e, want)
			}
		}
	}
}

func testSharedOpen(t *testing.T, a, b router.Bus) {
	s := session("s1")
	open(t, a, s)
	got, err := b.Info(ctxT(t), "s1")
	if err != nil {
		t.Fatal(err)
	}
	sameInfo(t, got, s)
	open(t, b, session("s1")) // no-op on the other instance too
	mustAppend(t, b, "s1", entry("a", "", 1, "x"), 1)
	mustAppend(t, a, "s1", entry("b", "", 1, "y"), 2)
}

func testSharedAppendWakes(t *testing.T, a, b router.Bus) {
	open(t, a, session("s1"))
	ctx := ctxT(t)
	p := readAsync(ctx, b, "s1", 0, 10)
	p.blocked(t)
	e := entry("a", "c", 1, "through a")
	mustAppend(t, a, "s1", e, 1)
	es, err := p.result(t, prompt)
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, es, withSeq(e, 1))
	// And the other way round.
	p = readAsync(ctx, a, "s1", 1, 10)
	p.blocked(t)
	e2 := entry("b", "", 1, "through b")
	mustAppend(t, b, "s1", e2, 2)
	es, err = p.result(t, prompt)
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, es, withSeq(e2, 2))
}

func testSharedDedupe(t *testing.T, a, b router.Bus) {
	open(t, a, session("s1"))
	e := entry("a", "", 1, "x")
	mustAppend(t, a, "s1", e, 1)
	mustAppend(t, b, "s1", e, 1) // a retry reaching the other replica
	if _, err := b.Append(ctxT(t), "s1", entry("a", "", 1, "y")); !errors.Is(err, router.ErrConflict) {
		t.Fatalf("equivocation through the other instance: %v", err)
	}
	mustAppend(t, b, "s1", entry("a", "", 2, "z"), 2)
}

func testSharedCloseWakes(t *testing.T, a, b router.Bus) {
	open(t, a, session("s1"))
	mustAppend(t, a, "s1", entry("a", "", 1, "x"), 1)
	ctx := ctxT(t)
	p := readAsync(ctx, a, "s1", 1, 10)
	p.blocked(t)
	if err := b.Close(ctx, "s1", "completed"); err != nil {
		t.Fatal(err)
	}
	_, err := p.result(t, prompt)
	wantClosed(t, "read blocked on the other instance", err, "completed")
	_, err = a.Info(ctx, "s1")
	wantClosed(t, "info on the other instance", err, "completed")
	wantClosed(t, "open on the other instance", a.Open(ctx, session("s1")), "completed")
}

func testSharedExpiry(t *testing.T, a, b router.Bus) {
	s := session("s1")
	s.Expires = time.Now().Add(400 * time.Millisecond)
	open(t, a, s)
	ctx := ctxT(t)
	p := readAsync(ctx, a, "s1", 0, 10)
	p.blocked(t)
	_, err := p.result(t, 400*time.Millisecond+prompt)
	wantClosed(t, "read waiting at expiry", err, "session expired")
	_, err = b.Append(ctx, "s1", entry("a", "", 1, "x"))
	wantClosed(t, "append on the other instance", err, "session expired")
}

func testSharedConcurrent(t *testing.T, a, b router.Bus) {
	concurrent(t, []router.Bus{a, b})
}

package router

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"
)

// Bus stores each session's envelope stream and wakes readers. The memory
// bus (MemoryBus) keeps streams for the session's life in one process; the
// Redis Streams bus (RedisBus) lets router replicas share streams. Both
// pass the conformance suite in router/bustest.
//
// A session past its Expires is closed with reason "session expired" (a
// Read waiting then wakes); a closed session is remembered, as a
// *ClosedError with its reason (errors.Is ErrSessionClosed), until an hour
// past its expiry, and is unknown after that. Errors other than the ones
// below (storage unreachable) are the bus's own; the Service reports them
// as Unavailable, which clients retry.
type Bus interface {
	// Open makes a session known, with its limits. Opening an open session
	// again is a no-op; opening a closed one returns its *ClosedError.
	Open(ctx context.Context, s SessionInfo) error
	// Info returns an open session's info: ErrUnknownSession if it was never
	// opened (or is long gone), ErrSessionClosed if it was closed or expired.
	Info(ctx context.Context, session string) (SessionInfo, error)
	// Append stores e at the end of the stream and returns its seq: 1, 2, 3…
	// with no gaps. An entry with the same (From, SenderSeq) already stored
	// makes Append return that entry's seq if Data is identical (a retried
	// publish) and ErrConflict if not (an equivocation attempt). Limits:
	// ErrSessionFull for the session's, ErrBusFull for the bus's.
	Append(ctx context.Context, session string, e Entry) (uint64, error)
	// Read returns up to max entries with seq > after, in order, waiting
	// until there is at least one, the session closes or expires
	// (ErrSessionClosed) or ctx ends (ctx.Err()).
	Read(ctx context.Context, session string, after uint64, max int) ([]Entry, error)
	// Close ends a session: readers get ErrSessionClosed, entries are freed.
	// Closing a closed session is a no-op (the first reason stays); an
	// unknown one, ErrUnknownSession.
	Close(ctx context.Context, session, reason string) error
}

// SessionInfo is what the router knows of a session.
type SessionInfo struct {
	ID           string
	Parties      []string
	Expires      time.Time
	MaxBytes     int64 // total envelope bytes the stream may hold
	MaxEnvelopes int
}

// HasParty reports whether id is in the session.
func (s *SessionInfo) HasParty(id string) bool {
	for _, p := range s.Parties {
		if p == id {
			return true
		}
	}
	return false
}

// Entry is one stored envelope. Data is the envelope's protobuf encoding
// with seq unset; From/To/SenderSeq are copies for routing and dedupe.
type Entry struct {
	Seq       uint64
	From, To  string
	SenderSeq uint64
	Data      []byte
}

var (
	ErrUnknownSession = errors.New("router: unknown session")
	ErrSessionClosed  = errors.New("router: session closed")
	ErrConflict       = errors.New("router: a different envelope with this sender_seq exists")
	ErrSessionFull    = errors.New("router: session limit reached")
	ErrBusFull        = errors.New("router: the router holds as much as it may; try later")
)

// ClosedError carries the reason a session was closed.
type ClosedError struct{ Reason string }

func (e *ClosedError) Error() string        { return "router: session closed: " + e.Reason }
func (e *ClosedError) Is(target error) bool { return target == ErrSessionClosed }

// MemoryBus is the in-process Bus.
type MemoryBus struct {
	mu       sync.Mutex
	sessions map[string]*memStream
	// MaxBytes caps the envelope bytes of all sessions together, so many
	// sessions cannot add up to more memory than the process has (0: no cap).
	MaxBytes int64
	total    int64
	// closed sessions are remembered until they expire, so that late callers
	// hear "closed" and not "unknown".
	closed map[string]closedInfo
	now    func() time.Time
}

type closedInfo struct {
	reason  string
	expires time.Time
}

type memStream struct {
	info     SessionInfo
	entries  []Entry
	bytes    int64
	bySender map[senderKey]int // index into entries
	wake     chan struct{}     // closed and replaced on every append
}

type senderKey struct {
	from string
	seq  uint64
}

// DefaultMaxBytes is the memory bus's default cap on all sessions' bytes.
const DefaultMaxBytes = 1 << 30

// NewMemoryBus returns an empty in-memory bus capped at DefaultMaxBytes.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{sessions: map[string]*memStream{}, closed: map[string]closedInfo{}, now: time.Now, MaxBytes: DefaultMaxBytes}
}

func (b *MemoryBus) Open(_ context.Context, s SessionInfo) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked()
	if _, ok := b.sessions[s.ID]; ok {
		return nil
	}
	if c, ok := b.closed[s.ID]; ok {
		return &ClosedError{Reason: c.reason}
	}
	s.Parties = append([]string(nil), s.Parties...)
	b.sessions[s.ID] = &memStream{info: s, bySender: map[senderKey]int{}, wake: make(chan struct{})}
	return nil
}

func (b *MemoryBus) Info(_ context.Context, session string) (SessionInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.streamLocked(session)
	if err != nil {
		return SessionInfo{}, err
	}
	return st.info, nil
}

func (b *MemoryBus) streamLocked(session string) (*memStream, error) {
	if st, ok := b.sessions[session]; ok {
		if b.now().After(st.info.Expires) {
			b.closeLocked(session, "session expired")
		} else {
			return st, nil
		}
	}
	if c, ok := b.closed[session]; ok {
		return nil, &ClosedError{Reason: c.reason}
	}
	return nil, ErrUnknownSession
}

func (b *MemoryBus) Append(_ context.Context, session string, e Entry) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.streamLocked(session)
	if err != nil {
		return 0, err
	}
	k := senderKey{e.From, e.SenderSeq}
	if i, ok := st.bySender[k]; ok {
		if bytes.Equal(st.entries[i].Data, e.Data) {
			return st.entries[i].Seq, nil
		}
		return 0, ErrConflict
	}
	if len(st.entries)+1 > st.info.MaxEnvelopes || st.bytes+int64(len(e.Data)) > st.info.MaxBytes {
		return 0, ErrSessionFull
	}
	if b.MaxBytes > 0 && b.total+int64(len(e.Data)) > b.MaxBytes {
		return 0, ErrBusFull
	}
	b.total += int64(len(e.Data))
	e.Seq = uint64(len(st.entries) + 1)
	e.Data = bytes.Clone(e.Data)
	st.entries = append(st.entries, e)
	st.bytes += int64(len(e.Data))
	st.bySender[k] = len(st.entries) - 1
	close(st.wake)
	st.wake = make(chan struct{})
	return e.Seq, nil
}

func (b *MemoryBus) Read(ctx context.Context, session string, after uint64, max int) ([]Entry, error) {
	for {
		b.mu.Lock()
		st, err := b.streamLocked(session)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		if after < uint64(len(st.entries)) {
			end := min(uint64(len(st.entries)), after+uint64(max))
			out := append([]Entry(nil), st.entries[after:end]...)
			b.mu.Unlock()
			return out, nil
		}
		wake := st.wake
		expires := st.info.Expires
		b.mu.Unlock()
		t := time.NewTimer(time.Until(expires))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (b *MemoryBus) Close(_ context.Context, session, reason string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.sessions[session]; !ok {
		if _, ok := b.closed[session]; ok {
			return nil
		}
		return ErrUnknownSession
	}
	b.closeLocked(session, reason)
	return nil
}

func (b *MemoryBus) closeLocked(session, reason string) {
	st := b.sessions[session]
	delete(b.sessions, session)
	b.total -= st.bytes
	close(st.wake) // wake readers; they find the session closed
	b.closed[session] = closedInfo{reason: reason, expires: st.info.Expires.Add(time.Hour)}
}

// sweepLocked frees expired sessions and forgets old closed ones.
func (b *MemoryBus) sweepLocked() {
	now := b.now()
	for id, st := range b.sessions {
		if now.After(st.info.Expires) {
			b.closeLocked(id, "session expired")
		}
	}
	for id, c := range b.closed {
		if now.After(c.expires) {
			delete(b.closed, id)
		}
	}
}

// Stats reports what the bus holds (for /health).
func (b *MemoryBus) Stats() (sessions int, bytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, st := range b.sessions {
		bytes += st.bytes
	}
	return len(b.sessions), bytes
}

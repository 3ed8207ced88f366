// Package memnet is an in-memory message router for running several tsskit
// parties in one process (tests, benchmarks, `tsskit demo`). Delivery can be
// intercepted with a Hook to drop, duplicate, reorder, tamper with or forge
// envelopes, which is how the engine's fault handling is tested.
package memnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/rwadurian/tsskit/party/seal"
)

// Hook decides what reaches a recipient: it gets a private copy of each
// envelope on its way to `to` and returns what to deliver instead (nil to
// drop it, two entries to duplicate it, a modified copy to tamper with it).
type Hook func(to string, env *seal.Envelope) []*seal.Envelope

// Net is an in-memory router. Every envelope goes through the wire encoding,
// so parties never share memory.
type Net struct {
	Hook    Hook
	Shuffle bool // deliver each mailbox's pending envelopes in random order

	mu     sync.Mutex
	boxes  map[string]*mailbox
	closed bool
	stats  Stats
}

// Stats counts what crossed the network.
type Stats struct {
	Envelopes int
	Bytes     int64 // encoded envelope bytes, as a router would carry them
}

// NewNet makes a network for the given parties.
func NewNet(ids ...string) *Net {
	n := &Net{boxes: make(map[string]*mailbox)}
	for _, id := range ids {
		n.boxes[id] = newMailbox(n)
	}
	return n
}

// Transport returns the transport of party id.
func (n *Net) Transport(id string) *Transport { return &Transport{net: n, self: id} }

// Stats returns the counters so far.
func (n *Net) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Close stops delivery and closes every party's incoming channel.
func (n *Net) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	for _, b := range n.boxes {
		b.close()
	}
}

// Inject delivers env to `to` as it is, bypassing the hook (a forger's way in).
func (n *Net) Inject(to string, env *seal.Envelope) {
	if b := n.boxes[to]; b != nil {
		b.put(copyEnvelope(env))
	}
}

// Transport is one party's view of a Net.
type Transport struct {
	net  *Net
	self string
}

// Send routes env to its recipient, or to every other party if broadcast.
func (t *Transport) Send(ctx context.Context, env *seal.Envelope) error {
	wire, err := env.MarshalBinary()
	if err != nil {
		return err
	}
	n := t.net
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errors.New("memnet: network closed")
	}
	n.stats.Envelopes++
	n.stats.Bytes += int64(len(wire))
	var to []string
	if env.To != "" {
		to = []string{env.To}
	} else {
		for id := range n.boxes {
			if id != t.self {
				to = append(to, id)
			}
		}
	}
	hook := n.Hook
	n.mu.Unlock()
	for _, id := range to {
		b := n.boxes[id]
		if b == nil {
			continue
		}
		cp, err := seal.UnmarshalEnvelope(wire)
		if err != nil {
			return err
		}
		deliver := []*seal.Envelope{cp}
		if hook != nil {
			deliver = hook(id, cp)
		}
		for _, d := range deliver {
			b.put(d)
		}
	}
	return nil
}

// Incoming is this party's mailbox.
func (t *Transport) Incoming() <-chan *seal.Envelope { return t.net.boxes[t.self].out }

// mailbox is an unbounded queue with a pump, so a sender never blocks on a
// slow receiver (as with a real router).
type mailbox struct {
	net     *Net
	mu      sync.Mutex
	pending []*seal.Envelope
	wake    chan struct{}
	done    chan struct{}
	out     chan *seal.Envelope
}

func newMailbox(n *Net) *mailbox {
	b := &mailbox{net: n, wake: make(chan struct{}, 1), done: make(chan struct{}), out: make(chan *seal.Envelope)}
	go b.pump()
	return b
}

func (b *mailbox) put(e *seal.Envelope) {
	b.mu.Lock()
	b.pending = append(b.pending, e)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *mailbox) close() { close(b.done) }

func (b *mailbox) pump() {
	defer close(b.out)
	for {
		b.mu.Lock()
		var next *seal.Envelope
		if len(b.pending) > 0 {
			i := 0
			if b.net.Shuffle {
				i = rand.IntN(len(b.pending))
			}
			next = b.pending[i]
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
		}
		b.mu.Unlock()
		if next == nil {
			select {
			case <-b.wake:
				continue
			case <-b.done:
				return
			}
		}
		select {
		case b.out <- next:
		case <-b.done:
			return
		}
	}
}

func copyEnvelope(e *seal.Envelope) *seal.Envelope {
	cp := *e
	cp.Payload = append([]byte(nil), e.Payload...)
	cp.Signature = append([]byte(nil), e.Signature...)
	return &cp
}

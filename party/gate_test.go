package party_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
)

// oneSlot is a Gate of one slot that records how many steps ran and the
// most that ever ran at once.
type oneSlot struct {
	slot        chan struct{}
	mu          sync.Mutex
	in, peak, n int
}

func (g *oneSlot) Enter(ctx context.Context) (func(), error) {
	return g.EnterQueued(ctx, nil)
}

// EnterQueued says position 1 when the slot is taken.
func (g *oneSlot) EnterQueued(ctx context.Context, queued func(int)) (func(), error) {
	select {
	case g.slot <- struct{}{}:
	default:
		if queued != nil {
			queued(1)
		}
		select {
		case g.slot <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g.mu.Lock()
	g.in++
	g.n++
	g.peak = max(g.peak, g.in)
	g.mu.Unlock()
	// Steps that take a while make the two signers' steps meet at the gate.
	time.Sleep(5 * time.Millisecond)
	return func() {
		g.mu.Lock()
		g.in--
		g.mu.Unlock()
		<-g.slot
	}, nil
}

// TestGateHeldOnlyWhileComputing: every signer of a session shares one
// process-wide slot. Waiting for a peer's message must not hold it (the
// peer needs it to compute that message), so the signing completes, with
// every step through the gate and never two at once.
func TestGateHeldOnlyWhileComputing(t *testing.T) {
	shares := wallet2of3(t)[:2]
	digest := digestOf("one slot for everyone")
	gate := &oneSlot{slot: make(chan struct{}, 1)}
	ids := []string{shares[0].PartyID, shares[1].PartyID}
	spec := memnet.Spec{Kind: identity.SessionSign, ID: "gated-sign", WalletID: shares[0].WalletID, Threshold: shares[0].Threshold, Parties: ids, Digest: digest}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	queued := make([][]int, 2) // per signer
	outs, err := memnet.RunSession(ctx, nil, idents(t), spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (*party.Signature, error) {
			s.Gate = gate
			s.Progress = func(p party.Progress) {
				mu.Lock()
				queued[i] = append(queued[i], p.Queued)
				mu.Unlock()
			}
			return party.Sign(ctx, party.SignRequest{Session: s, Share: shares[i], Digest: digest}, tr)
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.ID, o.Err)
		}
		verifyIndependently(t, o.Result, digest, shares[0].PublicKey)
	}
	// Two signers: a start each and at least one step per message of nine
	// rounds from the other.
	if gate.peak != 1 || gate.n < 2+9 {
		t.Fatalf("steps %d, most at once %d", gate.n, gate.peak)
	}
	// A step that waited was reported queued, then not.
	ones, zerosAfter := 0, 0
	for _, reports := range queued {
		for i, q := range reports {
			if q == 1 {
				ones++
				if i+1 < len(reports) && reports[i+1] == 0 {
					zerosAfter++
				}
			}
		}
	}
	if ones == 0 || zerosAfter != ones {
		t.Fatalf("queued reports %v", queued)
	}
}

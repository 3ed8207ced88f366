package serverparty

import (
	"context"
	"testing"
	"time"
)

// A pool refill under way gives way as soon as a keygen session runs, and
// finishes a set when none does.
func TestRefillGivesWayToKeygen(t *testing.T) {
	p := &Party{cfg: Config{GenConcurrency: 1}}
	p.keygens.Store(1)
	start := time.Now()
	pre, yielded, err := p.generateRefill(context.Background())
	if !yielded || pre != nil || err != nil {
		t.Fatalf("with a keygen running: pre %v, yielded %t, err %v", pre != nil, yielded, err)
	}
	t.Logf("gave way after %v", time.Since(start))

	p.keygens.Store(0)
	pre, yielded, err = p.generateRefill(context.Background())
	if yielded || err != nil || pre == nil || !pre.ValidateWithProof() {
		t.Fatalf("idle: yielded %t, err %v, valid set %t", yielded, err, pre != nil && pre.ValidateWithProof())
	}

	// The party's own shutdown is not a yield.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, yielded, err := p.generateRefill(ctx); yielded || err == nil {
		t.Fatalf("canceled: yielded %t, err %v", yielded, err)
	}
}

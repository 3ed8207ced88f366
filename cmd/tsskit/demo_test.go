package main

import (
	"context"
	"testing"
	"time"
)

// The demo is what `make run` shows: it must work end to end, with the real
// pre-params generator, keygen and a verified signature.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real pre-params generator and a keygen")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := runDemo(ctx, []string{"-message", "test"}); err != nil {
		t.Fatal(err)
	}
}

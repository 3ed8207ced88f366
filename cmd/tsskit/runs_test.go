package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rwadurian/tsskit/party/identity"
)

// The CLI party's record of a refresh's runs: a run that never stored is
// abandoned, with a statement signed by the party's identity key, when a
// later run of the epoch is joined, and its share is refused from then
// on; a run that stored is never said abandoned.
func TestCLIRuns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "w.share")
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	join := func(s string) [][]byte {
		t.Helper()
		out, err := joinRun(file, 2, s, "w", "cli-1", k)
		if err != nil {
			t.Fatalf("join %s: %v", s, err)
		}
		return out
	}
	if got := join("rs-a"); len(got) != 0 {
		t.Fatalf("first run: %d statements", len(got))
	}
	if got := join("rs-b"); len(got) != 1 {
		t.Fatalf("second run: %d statements, want rs-a's", len(got))
	} else if a, err := identity.ParseAbandoned(got[0]); err != nil || !a.Verify(k.Public()) || a.SessionID != "rs-a" || a.Epoch != 2 || a.PartyID != "cli-1" || a.WalletID != "w" {
		t.Fatalf("statement %+v, %v", a, err)
	}
	if err := markStored(file, 2, "rs-a"); err == nil {
		t.Fatal("an abandoned run's share stored")
	}
	if _, err := joinRun(file, 2, "rs-a", "w", "cli-1", k); err == nil {
		t.Fatal("an abandoned run joined again")
	}
	if err := markStored(file, 2, "rs-b"); err != nil {
		t.Fatal(err)
	}
	got := join("rs-c")
	if len(got) != 1 {
		t.Fatalf("third run: %d statements, want rs-a's only (rs-b stored)", len(got))
	}
	if a, _ := identity.ParseAbandoned(got[0]); a == nil || a.SessionID != "rs-a" {
		t.Fatalf("third run's statement: %+v", a)
	}
}

func TestCLIRunsBound(t *testing.T) {
	file := filepath.Join(t.TempDir(), "w.share")
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for i := range identity.MaxAbandoned {
		if _, err := joinRun(file, 1, fmt.Sprintf("rs-%d", i), "w", "cli-1", k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := joinRun(file, 1, "rs-one-too-many", "w", "cli-1", k); err == nil {
		t.Fatal("a run past the bound recorded")
	}
	if out, err := joinRun(file, 1, "rs-0", "w", "cli-1", k); err == nil || out != nil {
		t.Fatalf("an abandoned run joined again: %v", err)
	}
}

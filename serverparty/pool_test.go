package serverparty

import (
	"context"
	"encoding/json"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// logLines is every JSON line logged so far.
func logLines(t *testing.T, logs *testkit.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// slowLines is a log handler that takes its time over a pool line: the
// widest gap between a count of the pool and its line.
type slowLines struct{ slog.Handler }

func (h slowLines) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "pre-params ready" || r.Message == "pre-params taken" {
		time.Sleep(time.Duration(5+mrand.IntN(20)) * time.Millisecond)
	}
	return h.Handler.Handle(ctx, r)
}

func poolParty(t *testing.T) (*Party, *testkit.LogBuffer, string) {
	t.Helper()
	mk, err := vault.ParseMasterKey(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	v, err := vault.Open(dir, mk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	logs := &testkit.LogBuffer{}
	host := NewHost()
	p := &Party{
		cfg:  Config{Vault: v, GenConcurrency: 1, PoolTarget: -1},
		host: host, gate: newHostGate(host, 1, 1), refill: make(chan struct{}, 1),
		log: slog.New(slowLines{slog.NewJSONHandler(logs, nil)}),
	}
	return p, logs, filepath.Join(dir, "preparams")
}

// A corrupt pool entry costs a keygen nothing: the vault sets it aside,
// the party logs it with the pool's level, and takes the next sound set.
func TestTakeSkipsCorruptPoolEntry(t *testing.T) {
	p, logs, dir := poolParty(t)
	pps, err := testkit.PreParamsSet(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range pps {
		if _, err := p.cfg.Vault.PutPreParams(pp); err != nil {
			t.Fatal(err)
		}
	}
	names, err := os.ReadDir(dir)
	if err != nil || len(names) != 2 {
		t.Fatalf("pool dir: %v, %d entries", err, len(names))
	}
	// The oldest entry (the first name) no longer opens.
	oldest := filepath.Join(dir, names[0].Name())
	if err := os.WriteFile(oldest, []byte(`{"not":"a record"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	pre, took, err := p.takePreParams(context.Background(), p.gate.session(classKeygen), nil)
	if err != nil || pre == nil || took != 0 {
		t.Fatalf("take past a corrupt entry: %v (set %t, made on the spot for %v)", err, pre != nil, took)
	}
	if pre.PaillierSK.N.Cmp(pps[1].PaillierSK.N) != 0 {
		t.Fatal("the take returned another set than the sound one")
	}
	if n := p.cfg.Vault.CountPreParams(); n != 0 {
		t.Fatalf("pool level %d after the take, want 0", n)
	}
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 1 || left[0].Name() != names[0].Name()+".corrupt" {
		t.Fatalf("pool dir after the take: %v %v; want only the corrupt entry, set aside", left, err)
	}
	var got []string
	for _, l := range logLines(t, logs) {
		if pool, ok := l["pool"].(float64); ok {
			got = append(got, l["level"].(string)+" "+l["msg"].(string)+" "+strings.Repeat("|", int(pool)))
		}
	}
	want := []string{"ERROR pre-params entry corrupt, set aside |", "INFO pre-params taken "}
	if !slices.Equal(got, want) {
		t.Fatalf("pool lines %q, want %q (each with the level after it)", got, want)
	}
}

// Takes and puts racing each other log their levels so that the last
// line logged gives the pool's level, however long a line takes to write.
func TestPoolLevelLoggedInOrder(t *testing.T) {
	p, logs, _ := poolParty(t)
	pps, err := testkit.PreParamsSet(4)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 6 {
		// Half the sets in the pool first, so that takes find some.
		for _, pp := range pps[:2] {
			if _, err := p.cfg.Vault.PutPreParams(pp); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for i, pp := range pps {
			if i%2 == round%2 {
				wg.Go(func() {
					if err := p.putInPool(pp, 0, 0); err != nil {
						t.Error(err)
					}
				})
			} else {
				wg.Go(func() { _, _ = p.takeFromPool() })
			}
		}
		wg.Wait()
		last := -1.0
		for _, l := range logLines(t, logs) {
			if v, ok := l["pool"].(float64); ok {
				last = v
			}
		}
		if n := p.cfg.Vault.CountPreParams(); float64(n) != last {
			t.Fatalf("round %d: the log's last level is %v, the pool holds %d", round, last, n)
		}
		for p.cfg.Vault.CountPreParams() > 0 {
			if _, err := p.takeFromPool(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

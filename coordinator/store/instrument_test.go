package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/coordinator/store/storetest"
)

// The instrumented store passes the whole store contract, and reports
// every call with its operation; a not-found answer (or an exists or
// reshare-conflict one) is not an error.
func TestInstrumented(t *testing.T) {
	var mu sync.Mutex
	ops := map[string]int{}
	errs := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		return store.Instrument(openFile(t, filepath.Join(t.TempDir(), "coordinator.db")), func(op string, took time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			ops[op]++
			if err != nil {
				errs++
			}
			if took < 0 {
				t.Errorf("%s took %v", op, took)
			}
		})
	})
	for _, op := range []string{"create_wallet", "get_wallet", "wallet_by_user", "list_wallets", "create_session", "update_session", "get_session", "fail_unfinished", "fail_stale",
		"begin_reshare", "activate_epoch", "abort_reshare"} {
		if ops[op] == 0 {
			t.Errorf("no %s call observed (saw %v)", op, ops)
		}
	}
	if errs == 0 {
		t.Error("the contract's invalid inputs were not observed as errors")
	}
}

// A reshare conflict, like not-found, is an answer: observed as no error.
func TestInstrumentedReshareConflict(t *testing.T) {
	var seen []error
	s := store.Instrument(openFile(t, store.MemoryPath), func(op string, took time.Duration, err error) { seen = append(seen, err) })
	defer s.Close()
	err := s.ActivateEpoch(context.Background(), "nope", "rs", 1, nil, nil)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ActivateEpoch(missing wallet) = %v", err)
	}
	w := testWallet()
	if err := s.CreateWallet(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	err = s.ActivateEpoch(context.Background(), w.ID, "rs", 1, nil, nil)
	if !errors.Is(err, store.ErrReshareConflict) {
		t.Fatalf("ActivateEpoch(nothing pending) = %v, want ErrReshareConflict", err)
	}
	if err := s.ActivateEpoch(context.Background(), w.ID, "", 1, nil, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("ActivateEpoch(no session) = %v, want ErrInvalid", err)
	}
	if len(seen) != 4 || seen[0] != nil || seen[1] != nil || seen[2] != nil || !errors.Is(seen[3], store.ErrInvalid) {
		t.Errorf("observed %v; want nil (not found), nil (create), nil (conflict), ErrInvalid", seen)
	}
}

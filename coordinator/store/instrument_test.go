package store_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/coordinator/store/storetest"
)

// The instrumented store passes the whole store contract, and reports
// every call with its operation; a not-found answer is not an error.
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
	for _, op := range []string{"create_wallet", "get_wallet", "wallet_by_user", "list_wallets", "create_session", "update_session", "get_session", "fail_unfinished", "fail_stale"} {
		if ops[op] == 0 {
			t.Errorf("no %s call observed (saw %v)", op, ops)
		}
	}
	if errs == 0 {
		t.Error("the contract's invalid inputs were not observed as errors")
	}
}

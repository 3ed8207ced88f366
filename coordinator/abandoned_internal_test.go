package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/identity"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// A join's abandoned-run statements are relayed only when they are about
// this reshare's wallet and new epoch, the joining party's or a party's
// not in the session (a recovering client's earlier attempt); their
// signatures are the holders' to check. Anything else is refused at the
// join, before the session starts.
func TestJoinAbandonedStatements(t *testing.T) {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{id: "rs-2", kind: store.SessionReshare, walletID: "w1", kinds: map[string]store.HolderKind{"a": store.HolderClient, "b": store.HolderServer},
		reshare: &identity.Reshare{Epoch: 3, OldThreshold: 2, Old: []string{"a", "b"}, New: []string{"a", "b"}}}
	keys := func(p string, stmts ...[]byte) *tsskitv1.PartyKeys {
		return &tsskitv1.PartyKeys{PartyId: p, Abandoned: stmts}
	}
	if err := s.checkAbandoned(keys("a", identity.SignAbandoned(k, "rs-1", "w1", "a", 3), identity.SignAbandoned(k, "rs-0", "w1", "a", 3))); err != nil {
		t.Fatalf("the party's own statements: %v", err)
	}
	if err := s.checkAbandoned(keys("a")); err != nil {
		t.Fatalf("none: %v", err)
	}
	if err := s.checkAbandoned(keys("a", identity.SignAbandoned(k, "rs-1", "w1", "earlier-attempt", 3))); err != nil {
		t.Fatalf("an earlier attempt's statement: %v", err)
	}
	many := make([][]byte, identity.MaxAbandoned+1)
	for i := range many {
		many[i] = identity.SignAbandoned(k, "rs-1", "w1", "a", 3)
	}
	for name, pk := range map[string]*tsskitv1.PartyKeys{
		"another party's of the session": keys("a", identity.SignAbandoned(k, "rs-1", "w1", "b", 3)),
		"another wallet's":               keys("a", identity.SignAbandoned(k, "rs-1", "w2", "a", 3)),
		"another epoch's":                keys("a", identity.SignAbandoned(k, "rs-1", "w1", "a", 2)),
		"this session's":                 keys("a", identity.SignAbandoned(k, "rs-2", "w1", "a", 3)),
		"malformed":                      keys("a", bytes.Repeat([]byte{1}, 10)),
		"too many":                       keys("a", many...),
	} {
		if err := s.checkAbandoned(pk); err == nil || !strings.Contains(err.Error(), "abandoned-run statements") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	sign := &session{id: "s-1", kind: store.SessionSign, walletID: "w1"}
	if err := sign.checkAbandoned(keys("a", identity.SignAbandoned(k, "rs-1", "w1", "a", 3))); err == nil {
		t.Error("a signing's join with abandoned-run statements: accepted")
	}
}

// A client reshare that fails blaming a dropped holder it seated (in the
// old committee only, to delete its share) makes the wallet's next ones
// leave the dropped holders out for a while: a holder that cannot take
// part would otherwise fail every shrink that drops it. A failure blamed
// on anyone else leaves them seated, so that they still delete their
// shares of the old epoch once a reshare completes.
func TestNoRetireBlamesRetirees(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := &Coordinator{store: st, sessions: map[string]*session{}, pool: newPool(time.Minute), log: slog.New(slog.DiscardHandler), cfg: Config{Router: closeOnly{}}}
	t.Cleanup(c.wg.Wait)
	for i, tc := range []struct {
		reporter string // "" for a failure the coordinator found
		code     string
		culprits []string
		noRetire bool
	}{
		{"browser-1", "canceled", []string{"browser-1"}, false}, // the client gave up
		{"browser-1", "canceled", nil, false},                   // the same, naming nobody
		{"server-1", "error", []string{"server-1"}, false},      // a kept holder
		{"", "stalled", []string{"server-1"}, false},
		{"", "error", nil, true}, // nobody named: it may have been the dropped holder
		{"", "stalled", []string{"server-1", "server-3"}, true},
		{"server-3", "error", []string{"browser-1"}, true}, // the dropped holder gives up, blaming the client
	} {
		s := c.newSession(store.SessionReshare, fmt.Sprintf("wallet-%d", i))
		for _, p := range []string{"browser-1", "server-1", "server-3"} {
			s.add(p, store.HolderServer)
		}
		s.retirees, s.state = []string{"server-3"}, store.StateRunning
		c.sessions[s.id] = s
		if tc.reporter != "" {
			// As report does: the reporter's own account of the failure.
			if err := c.report(context.Background(), &tsskitv1.ReportResultRequest{SessionId: s.id, PartyId: tc.reporter,
				Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: tc.code, Reason: "failed", Culprits: tc.culprits}}}); err != nil {
				t.Fatal(err)
			}
		} else {
			c.fail(s, tc.code, "failed", tc.culprits)
		}
		_, got := c.noRetire.Load(s.walletID)
		if got != tc.noRetire {
			t.Errorf("%+v: next reshares leave the dropped holder out: %v; want %v", tc, got, tc.noRetire)
		}
	}
}

// closeOnly is a RouterControl for sessions that never reach a router.
type closeOnly struct{}

func (closeOnly) Open(context.Context, string, []string, time.Time) error { return nil }
func (closeOnly) Close(context.Context, string, string) error             { return nil }

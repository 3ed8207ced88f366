package coordinator

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/identity"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// A join's abandoned-run statements are relayed only when they are the
// joining party's about this reshare's wallet and new epoch (their
// signatures are the holders' to check); anything else is refused at the
// join, before the session starts.
func TestJoinAbandonedStatements(t *testing.T) {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{id: "rs-2", kind: store.SessionReshare, walletID: "w1",
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
	many := make([][]byte, maxAbandoned+1)
	for i := range many {
		many[i] = identity.SignAbandoned(k, "rs-1", "w1", "a", 3)
	}
	for name, pk := range map[string]*tsskitv1.PartyKeys{
		"another party's":  keys("a", identity.SignAbandoned(k, "rs-1", "w1", "b", 3)),
		"another wallet's": keys("a", identity.SignAbandoned(k, "rs-1", "w2", "a", 3)),
		"another epoch's":  keys("a", identity.SignAbandoned(k, "rs-1", "w1", "a", 2)),
		"this session's":   keys("a", identity.SignAbandoned(k, "rs-2", "w1", "a", 3)),
		"malformed":        keys("a", bytes.Repeat([]byte{1}, 10)),
		"too many":         keys("a", many...),
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

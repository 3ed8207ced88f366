package hardening_test

// Regression tests for bugs the hardening tests found: each failed before
// its fix.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

func TestRegressions(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{AllowedIPs: "127.0.0.1"})
	h := &hq{q: q, conn: q.Conn(t), api: &rest{base: q.APIURL, key: q.APIKey}}
	h.coord = tsskitv1.NewCoordinatorServiceClient(h.conn.Coordinator)
	h.makeAccount(t)

	// tss-lib blames a party once per failed check; the engine used to
	// pass the list on with duplicates.
	t.Run("culprits listed once", func(t *testing.T) {
		_, s := h.signSession(t, "both proofs", h.servers[0])
		s.Out = func(_ *seat, m *outMsg) []*outMsg {
			if msgType(m.Payload) == "SignRound2Message" {
				m.Payload = rewrite(t, m.Payload, func(pm proto.Message) {
					r2 := pm.(*signing.SignRound2Message)
					r2.ProofBob[0] = bump(r2.ProofBob[0])
					r2.ProofBobWc[0] = bump(r2.ProofBobWc[0])
				})
			}
			return []*outMsg{m}
		}
		wantFailed(t, s.run(context.Background(), nil, h.user), "protocol", h.user.PartyID)
	})

	// A REST caller never learns the server's file system layout.
	t.Run("corrupt share reason has no server path", func(t *testing.T) {
		files := shareFiles(t, q, h.servers[0])
		orig, _ := os.ReadFile(files[0])
		defer os.WriteFile(files[0], orig, 0o600)
		var m map[string]any
		json.Unmarshal(orig, &m)
		ct, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
		ct[0] ^= 1
		m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
		b, _ := json.Marshal(m)
		os.WriteFile(files[0], b, 0o600)
		r := h.api.do(t, "POST", "/api/v1/accounts/"+h.account+"/sign", q.APIKey, `{"message":"`+hex.EncodeToString(digest("x"))+`"}`)
		wantError(t, r, 502, "session_failed")
		if strings.Contains(r.errMessage(), q.DataDir) || strings.Contains(r.errMessage(), "/vault/") {
			t.Fatalf("the REST reply quotes a server path: %s", r.errMessage())
		}
	})

	// A misspelt field used to be ignored; here it is the one that asks for
	// the user share to be encrypted.
	t.Run("unknown field refused", func(t *testing.T) {
		q.Reseed(t)
		before := walletCount(t, q)
		r := h.api.do(t, "POST", "/api/v1/accounts", q.APIKey, `{"user_id":"typo-user","sharePassword":"secret pw"}`)
		if r.status != 400 || r.errCode() != "invalid_json" {
			blob, _ := base64.StdEncoding.DecodeString(fmt.Sprint(r.body["user_share"]))
			t.Errorf("got %d, want 400 invalid_json; user_share starts %.40q", r.status, blob)
		}
		if n := walletCount(t, q); n != before {
			t.Fatalf("an account was created: %d -> %d wallets", before, n)
		}
	})
}

package coordinator_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// userToken asks the account API for a user token (as an app's backend
// does for its signed-in user).
func userToken(t *testing.T, q *quorumtest.Quorum, user, body string) grpc.CallOption {
	t.Helper()
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, out := api.do("POST", "/api/v1/users/"+user+"/tokens", q.APIKey, body)
	if code != 201 {
		t.Fatalf("user token for %s: %d %v", user, code, out)
	}
	exp, err := time.Parse(time.RFC3339, out["expires_at"].(string))
	if err != nil || time.Until(exp) < time.Minute || time.Until(exp) > 16*time.Minute {
		t.Fatalf("expires_at %v (%v)", out["expires_at"], err)
	}
	return grpc.PerRPCCredentials(serve.Bearer(out["token"].(string)))
}

// TestUserTokenEndpoint: the account API's user-token endpoint takes the
// API key, checks what it is asked for and says why it refuses.
func TestUserTokenEndpoint(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	for _, c := range []struct {
		name, user, key, body string
		status                int
		code                  string
	}{
		{"no key", "alice", "", `{"operations":["sign"]}`, 401, "unauthorized"},
		{"no operations", "alice", q.APIKey, `{}`, 400, "invalid_argument"},
		{"unknown operation", "alice", q.APIKey, `{"operations":["sign","close_session"]}`, 400, "invalid_argument"},
		{"ttl too long", "alice", q.APIKey, `{"operations":["sign"],"ttl_seconds":86400}`, 400, "invalid_argument"},
		{"ttl zero", "alice", q.APIKey, `{"operations":["sign"],"ttl_seconds":0}`, 400, "invalid_argument"},
		{"unknown field", "alice", q.APIKey, `{"operations":["sign"],"kind":"admin"}`, 400, "invalid_json"},
		{"long user id", strings.Repeat("u", 129), q.APIKey, `{"operations":["sign"]}`, 400, "invalid_argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := api.do("POST", "/api/v1/users/"+c.user+"/tokens", c.key, c.body)
			if code != c.status || body["error"].(map[string]any)["code"] != c.code {
				t.Fatalf("%d %v; want %d %s", code, body, c.status, c.code)
			}
		})
	}
	code, body := api.do("POST", "/api/v1/users/alice/tokens", q.APIKey, `{"operations":["list_wallets"],"ttl_seconds":60}`)
	if code != 201 {
		t.Fatalf("%d %v", code, body)
	}
	cl, err := auth.NewVerifier(q.Trust).Verify(body["token"].(string))
	if err != nil || cl.Kind != auth.KindUser || cl.Subject != "alice" || !slices.Equal(cl.Ops, []string{"list_wallets"}) ||
		cl.Expires.Sub(cl.IssuedAt) != time.Minute {
		t.Fatalf("claims %+v (%v)", cl, err)
	}
}

// TestAttackUserTokens: a user token acts for its user alone. Alice makes
// and signs with her co-managed wallet; Bob's token (and an admin-made or
// account wallet) gets nothing of hers: not listed, not found, not signed,
// and a token without an operation cannot do it.
func TestAttackUserTokens(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	ctx := context.Background()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	all := `{"operations":["create_wallet","sign","list_wallets"]}`
	alice, bob := userToken(t, q, "alice", all), userToken(t, q, "bob", all)
	const me = "browser-alice"

	// Alice's wallet, made with her token alone.
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{Name: "alice's", SignersNeeded: 2, Parties: 3,
		ClientPartyIds: []string{me}}, alice)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}
	var rec *share.Record
	out, err := participant.Keygen(ctx, conn, q.KeygenJob(t, resp, me, 2, 3), pre, func(r *share.Record) error { rec = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	wallet := resp.WalletId
	// An account wallet and an admin's wallet, which no user token owns.
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"alice","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("account: %d %v", code, acct)
	}
	account := acct["account_id"].(string)

	digest := sha256.Sum256([]byte("alice pays"))
	t.Run("alice lists, reads and signs her own wallet", func(t *testing.T) {
		l, err := coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{}, alice)
		if err != nil || len(l.Wallets) != 1 || l.Wallets[0].WalletId != wallet {
			t.Fatalf("alice's list: %v %v", l, err)
		}
		if _, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: wallet}, alice); err != nil {
			t.Fatal(err)
		}
		s, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: wallet, Digest: digest[:], ClientPartyIds: []string{me}}, alice)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := participant.Sign(ctx, conn, q.SignJob(t, s, rec, digest[:]), rec)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := secp256k1.ParsePubKey(out.PublicKey)
		parsed, err := ecdsa.ParseDERSignature(sig.DER)
		if err != nil || !parsed.Verify(digest[:], pub) {
			t.Fatalf("signature does not verify (decred): %v", err)
		}
		if _, err := coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: s.SessionId}, alice); err != nil {
			t.Fatalf("alice's own session: %v", err)
		}
	})
	t.Run("bob sees and signs nothing of alice's", func(t *testing.T) {
		l, err := coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{}, bob)
		if err != nil || len(l.Wallets) != 0 {
			t.Fatalf("bob's list: %v %v", l, err)
		}
		_, err = coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{UserId: "alice"}, bob)
		wantCode(t, err, codes.PermissionDenied)
		_, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: wallet}, bob)
		wantCode(t, err, codes.NotFound)
		_, err = coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: wallet, Digest: digest[:], ClientPartyIds: []string{me}}, bob)
		wantCode(t, err, codes.NotFound)
		_, err = coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: resp.SessionId}, bob)
		wantCode(t, err, codes.NotFound)
		// Nor can bob watch alice's sessions or close anything.
		w, err := coord.WatchSession(ctx, &tsskitv1.WatchSessionRequest{SessionId: resp.SessionId}, bob)
		if err == nil {
			_, err = w.Recv()
		}
		wantCode(t, err, codes.PermissionDenied)
		rc := tsskitv1.NewRouterServiceClient(conn.Router)
		_, err = rc.CloseSession(ctx, &tsskitv1.CloseSessionRequest{SessionId: resp.SessionId, Reason: "bob"}, bob)
		wantCode(t, err, codes.PermissionDenied)
		// The pool is for server parties.
		_, err = tsskitv1.NewPoolServiceClient(conn.Coordinator).Challenge(ctx, &tsskitv1.ChallengeRequest{PartyId: "server-1"}, bob)
		wantCode(t, err, codes.PermissionDenied)
	})
	t.Run("no user token signs an account wallet or an admin's", func(t *testing.T) {
		for _, tok := range []grpc.CallOption{alice, bob} {
			_, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: account, Digest: digest[:]}, tok)
			wantCode(t, err, codes.NotFound)
			_, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: account}, tok)
			wantCode(t, err, codes.NotFound)
		}
		// The account API's user_id is not a user token's to use.
		_, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, UserId: "bob", ClientPartyIds: []string{"b"}}, bob)
		wantCode(t, err, codes.PermissionDenied)
		// A user's wallet always has a client: servers alone never sign it.
		_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3}, bob)
		wantCode(t, err, codes.InvalidArgument)
		// Nor does a user token take every server party's seat at once.
		_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 6, ClientPartyIds: []string{"b"}}, bob)
		wantCode(t, err, codes.InvalidArgument)
	})
	t.Run("operations and wallets limit a token", func(t *testing.T) {
		listOnly := userToken(t, q, "alice", `{"operations":["list_wallets"]}`)
		_, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: wallet, Digest: digest[:], ClientPartyIds: []string{me}}, listOnly)
		wantCode(t, err, codes.PermissionDenied)
		_, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me}}, listOnly)
		wantCode(t, err, codes.PermissionDenied)
		signOnly := userToken(t, q, "alice", `{"operations":["sign"]}`)
		_, err = coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{}, signOnly)
		wantCode(t, err, codes.PermissionDenied)
		b, _ := json.Marshal(map[string]any{"operations": []string{"list_wallets", "sign"}, "wallets": []string{"another-wallet"}})
		other := userToken(t, q, "alice", string(b))
		l, err := coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{}, other)
		if err != nil || len(l.Wallets) != 0 {
			t.Fatalf("a token for another wallet lists %v (%v)", l, err)
		}
		_, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: wallet}, other)
		wantCode(t, err, codes.NotFound)
		// Nor its sessions: the keygen, or a signing of another wallet.
		_, err = coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: resp.SessionId}, other)
		wantCode(t, err, codes.NotFound)
		// A page token names one of the caller's own wallets, or is not
		// found: bob cannot learn that alice's exists.
		_, err = coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{PageToken: wallet}, bob)
		wantCode(t, err, codes.NotFound)
		if _, err := coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{PageToken: wallet}, alice); err != nil {
			t.Fatalf("alice pages after her own wallet: %v", err)
		}
	})
	t.Run("only the server-party API's party claims a user party", func(t *testing.T) {
		f := q.FakeServer(t, "server-claimer")
		pool := tsskitv1.NewPoolServiceClient(conn.Coordinator)
		reg := f.Registration(t, pool)
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		stream, err := pool.Register(rctx, reg, f.Creds)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := stream.Recv(); err != nil {
					return
				}
			}
		}()
		for end := time.Now().Add(10 * time.Second); !slices.Contains(q.Coordinator.HealthyParties(), f.ID); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("the claimer never registered")
			}
		}
		_, err = pool.ClaimUserParty(ctx, &tsskitv1.ClaimUserPartyRequest{SessionId: resp.SessionId}, f.Creds)
		wantCode(t, err, codes.PermissionDenied)
	})
	t.Run("tampered and expired user tokens", func(t *testing.T) {
		tok, _ := q.Minter.MintUser("alice", auth.Ops, nil, time.Minute)
		parts := strings.Split(tok, ".")
		claims := []byte(parts[1])
		claims[len(claims)/2] ^= 1
		tampered := parts[0] + "." + string(claims) + "." + parts[2]
		past := *q.Minter
		past.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		expired, _ := past.MintUser("alice", auth.Ops, nil, time.Minute)
		for _, bad := range []string{tampered, expired} {
			_, err := coord.ListWallets(ctx, &tsskitv1.ListWalletsRequest{}, grpc.PerRPCCredentials(serve.Bearer(bad)))
			wantCode(t, err, codes.Unauthenticated)
		}
	})
}

// TestSessionQuota: a burst of session creations past a token holder's
// quota is refused with ResourceExhausted before any server party is
// picked: no session is recorded and no server party is assigned one.
func TestSessionQuota(t *testing.T) {
	// Four seats at once: two sessions of two server parties each.
	q := quorumtest.Start(t, quorumtest.Options{SessionQuota: &auth.RateLimit{PerSecond: 1.0 / 60, Burst: 4}})
	ctx := context.Background()
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	alice := userToken(t, q, "alice", `{"operations":["create_wallet","sign","list_wallets"]}`)
	create := func(tok grpc.CallOption) error {
		_, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"c"}}, tok)
		return err
	}
	for range 2 {
		if err := create(alice); err != nil {
			t.Fatal(err)
		}
	}
	running := func() float64 {
		_, body := (&apiClient{t: t, base: q.APIURL, key: q.APIKey}).do("GET", "/api/v1/health", q.APIKey, "")
		return body["components"].(map[string]any)["sessions"].(map[string]any)["running"].(float64)
	}
	before := running()
	for range 10 {
		err := create(alice)
		wantCode(t, err, codes.ResourceExhausted)
		if !strings.Contains(err.Error(), "resource_exhausted") || !strings.Contains(err.Error(), "retry in") {
			t.Fatalf("quota refusal says %q", err)
		}
	}
	// A new token of the same user shares the quota.
	err := create(userToken(t, q, "alice", `{"operations":["create_wallet"]}`))
	wantCode(t, err, codes.ResourceExhausted)
	if after := running(); after != before {
		t.Fatalf("sessions running: %v before the burst, %v after", before, after)
	}
	// Another holder has a quota of its own.
	if err := create(q.Admin(t)); err != nil {
		t.Fatalf("the admin's own quota: %v", err)
	}
}

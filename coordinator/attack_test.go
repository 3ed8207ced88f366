package coordinator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	_ "modernc.org/sqlite"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testdb"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// register sends req with creds and returns the stream's first error, nil
// if the pool kept it open.
func register(t *testing.T, pool tsskitv1.PoolServiceClient, req *tsskitv1.RegisterRequest, creds grpc.CallOption) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	stream, err := pool.Register(ctx, req, creds)
	if err == nil {
		_, err = stream.Recv()
	}
	// Still registered when the test let go: the stream outlived its
	// deadline (gRPC may report that as DeadlineExceeded a moment before
	// the context's own timer says so).
	if ctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded {
		return nil
	}
	return err
}

// selfMinted is a service token for id minted with key, certified by
// signer as id's over [from, from+life): what a server party makes.
func selfMinted(t *testing.T, id string, signer, key *identity.Key, from time.Time, life time.Duration) grpc.CallOption {
	t.Helper()
	c, err := identity.Issue(signer, identity.KindServer, id, key.Public(), from, from.Add(life))
	if err != nil {
		t.Fatal(err)
	}
	m, err := auth.NewMinter(key, []*identity.Certificate{c})
	if err != nil {
		t.Fatal(err)
	}
	m.Now = func() time.Time { return from.Add(time.Second) } // minted while the certificate was valid
	tok, err := m.MintService(id, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok))
}

// TestAttackPoolAdmission: the pool admits a server party only on a
// service token minted with a key the deployment root certified for that
// party id, and only when the party answers a fresh challenge with that
// key. Nothing else — another root's certificate, an expired or revoked
// one, a certificate for another id, a coordinator's own service token, a
// recording of an earlier registration — gets it picked for a wallet.
func TestAttackPoolAdmission(t *testing.T) {
	revokedKey, _ := identity.GenerateKey()
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2, Revoked: []identity.PublicKey{revokedKey.Public()}})
	pool := tsskitv1.NewPoolServiceClient(q.Conn(t).Coordinator)
	other, _ := identity.GenerateKey()
	mine, _ := identity.GenerateKey()
	now := time.Now()
	coordTok, _ := q.Minter.MintService("evil-5", time.Minute)
	for _, c := range []struct {
		name  string
		id    string
		creds grpc.CallOption
		code  codes.Code
		want  string
	}{
		{"another root", "evil-1", selfMinted(t, "evil-1", other, mine, now.Add(-time.Minute), time.Hour), codes.Unauthenticated, "untrusted"},
		{"expired", "evil-2", selfMinted(t, "evil-2", q.Root, mine, now.Add(-2*time.Hour), time.Hour), codes.Unauthenticated, "expired"},
		{"revoked", "evil-3", selfMinted(t, "evil-3", q.Root, revokedKey, now.Add(-time.Minute), time.Hour), codes.Unauthenticated, "revoked"},
		{"a certificate for another party id", "evil-4", func() grpc.CallOption {
			c, _ := identity.Issue(q.Root, identity.KindServer, "evil-44", mine.Public(), now.Add(-time.Minute), now.Add(time.Hour))
			m, _ := auth.NewMinter(mine, []*identity.Certificate{c})
			tok, _ := m.MintService("evil-4", time.Minute)
			return grpc.PerRPCCredentials(serve.Bearer(tok))
		}(), codes.Unauthenticated, "may not mint"},
		{"a coordinator's service token", "evil-5", grpc.PerRPCCredentials(serve.Bearer(coordTok)), codes.PermissionDenied, "service token of a server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := pool.Challenge(context.Background(), &tsskitv1.ChallengeRequest{PartyId: c.id}, c.creds)
			wantCode(t, err, c.code)
			req := &tsskitv1.RegisterRequest{PartyId: c.id}
			err = register(t, pool, req, c.creds)
			wantCode(t, err, c.code)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refusal %q does not say %q", err, c.want)
			}
			if slices.Contains(q.Coordinator.HealthyParties(), c.id) {
				t.Fatal("admitted to the pool")
			}
		})
	}

	// A certified party that answers its challenge is admitted.
	good := q.FakeServer(t, "good-1")
	recorded := good.Registration(t, pool)
	if err := register(t, pool, recorded, good.Creds); err != nil {
		t.Fatalf("a certified party: %v", err)
	}
	// Someone who recorded that registration (and its token) on the
	// network cannot play it again: the challenge was used up, and a new
	// one is not the one the recording answers.
	t.Run("a recorded registration", func(t *testing.T) {
		err := register(t, pool, recorded, good.Creds)
		wantCode(t, err, codes.FailedPrecondition)
		if _, err := pool.Challenge(context.Background(), &tsskitv1.ChallengeRequest{PartyId: "good-1"}, good.Creds); err != nil {
			t.Fatal(err)
		}
		err = register(t, pool, recorded, good.Creds)
		wantCode(t, err, codes.PermissionDenied)
		if !strings.Contains(err.Error(), "another challenge") {
			t.Fatalf("refusal %q does not say the challenge differs", err)
		}
	})
	// A proof by another key than the certified one.
	t.Run("someone else's certificate", func(t *testing.T) {
		f := q.FakeServer(t, "evil-6")
		req := f.Registration(t, pool)
		f.Key = mine
		forged := f.Registration(t, pool)
		forged.Certificates = req.Certificates
		err := register(t, pool, forged, f.Creds)
		wantCode(t, err, codes.PermissionDenied)
		if !strings.Contains(err.Error(), "wrong_subject") {
			t.Fatalf("refusal %q does not say wrong_subject", err)
		}
	})
}

// attackerServer registers, with a coordinator that admits it, a server
// party certified by another root than the deployment's, and takes its
// seats in keygens as an honest-looking server would.
func attackerServer(t *testing.T, q *quorumtest.Quorum, root *identity.Key, id string) {
	t.Helper()
	key, _ := identity.GenerateKey()
	c, err := identity.Issue(root, identity.KindServer, id, key.Public(), time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chain := []*identity.Certificate{c}
	trust, _ := identity.NewTrust([]identity.PublicKey{root.Public(), q.Root.Public()}, nil)
	m, err := auth.NewMinter(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := m.MintService(id, time.Hour)
	creds := grpc.PerRPCCredentials(serve.Bearer(tok))
	conn := q.Conn(t)
	pool := tsskitv1.NewPoolServiceClient(conn.Coordinator)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := pool.Challenge(ctx, &tsskitv1.ChallengeRequest{PartyId: id}, creds)
	if err != nil {
		t.Fatal(err)
	}
	proof, sig := identity.SignRegistration(key, id, ch.Challenge)
	stream, err := pool.Register(ctx, &tsskitv1.RegisterRequest{PartyId: id, Certificates: identity.EncodeChain(chain), Proof: proof, ProofSignature: sig}, creds)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			_, _ = pool.Heartbeat(ctx, &tsskitv1.HeartbeatRequest{PartyId: id}, creds)
			time.Sleep(time.Second)
		}
	}()
	go func() {
		for {
			a, err := stream.Recv()
			if err != nil {
				return
			}
			pre, _ := testkit.PreParams(4)
			job := participant.Job{SessionID: a.SessionId, PartyID: id, Token: a.Token, Identity: key, Chain: chain, Kind: identity.KindServer,
				Trust: trust, WalletID: a.WalletId, Parties: a.Parties, Threshold: int(a.SignersNeeded)}
			go func() { _, _ = participant.Keygen(ctx, conn, job, pre, nil) }()
		}
	}()
	q.WaitHealthy(t, 2)
}

// TestAttackUncertifiedServerInRoster: a coordinator that admits a server
// party of another root (misconfigured, or compromised) puts it in a
// co-managed wallet's keygen. The client and the honest server check the
// roster themselves: the session fails before round 1, naming it.
func TestAttackUncertifiedServerInRoster(t *testing.T) {
	attackerRoot, _ := identity.GenerateKey()
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 1, CoordinatorRoots: []identity.PublicKey{attackerRoot.Public()}})
	attackerServer(t, q, attackerRoot, "server-evil")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"browser-v"}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(resp.Parties, "server-evil") {
		t.Fatalf("the attacker is not in the session: %v", resp.Parties)
	}
	pre, _ := testkit.PreParams(3)
	var progressed bool
	job := q.KeygenJob(t, resp, "browser-v", 2, 3)
	job.Event = func(ev *tsskitv1.SessionEvent) { progressed = progressed || ev.GetProgress() != nil }
	_, err = participant.Keygen(ctx, q.Conn(t), job, pre, nil)
	if err == nil || !strings.Contains(err.Error(), "server-evil") || !strings.Contains(err.Error(), "untrusted") {
		t.Fatalf("client: %v", err)
	}
	s := waitFinal(t, q, resp.SessionId)
	if s.State != tsskitv1.SessionState_SESSION_STATE_FAILED || !slices.Equal(s.Culprits, []string{"server-evil"}) || progressed {
		t.Fatalf("session %v %q culprits %v, progress %t", s.State, s.Reason, s.Culprits, progressed)
	}
}

func waitFinal(t *testing.T, q *quorumtest.Quorum, id string) *tsskitv1.Session {
	t.Helper()
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	for end := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		got, err := coord.GetSession(context.Background(), &tsskitv1.GetSessionRequest{SessionId: id}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		if st := got.Session.State; st == tsskitv1.SessionState_SESSION_STATE_FAILED || st == tsskitv1.SessionState_SESSION_STATE_COMPLETED || time.Now().After(end) {
			return got.Session
		}
	}
}

// TestAttackStoreFlip: the co-managed rule as the coordinator's database
// holds it is one row. Flipped so the wallet's client holder reads as a
// server (or as an account's user), the coordinator starts signings with
// server parties alone — and each of them refuses: its own share record
// requires a sign request from the client. On SQLite and PostgreSQL.
func TestAttackStoreFlip(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			o := quorumtest.Options{ServerParties: 2}
			if backend == "postgres" {
				o.DatabaseURL = testdb.Postgres(t)
			}
			q := quorumtest.Start(t, o)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			conn := q.Conn(t)
			coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
			const me = "browser-flip"
			rec := q.ClientWallet(ctx, t, conn, me, 4)
			wallet := rec.WalletID
			digest := sha256.Sum256([]byte("flip"))
			// Before the flip, servers alone are refused by the coordinator.
			_, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: wallet, Digest: digest[:]}, q.Admin(t))
			wantCode(t, err, codes.PermissionDenied)

			for _, kind := range []string{"server", "user"} {
				flip(t, q, o.DatabaseURL, wallet, me, kind)
				var sessionID string
				if kind == "server" {
					// The coordinator now starts a signing of the two servers.
					s, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: wallet, Digest: digest[:]}, q.Admin(t))
					if err != nil {
						t.Fatal(err)
					}
					sessionID = s.SessionId
				} else {
					// The account API now takes it for an account and signs it with its servers.
					api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
					code, body := api.do("POST", "/api/v1/accounts/"+wallet+"/sign", q.APIKey, `{"message":"`+digestOf("flip")+`"}`)
					if code != 502 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "policy") {
						t.Fatalf("account API after the flip: %d %v", code, body)
					}
					continue
				}
				s := waitFinal(t, q, sessionID)
				if s.State != tsskitv1.SessionState_SESSION_STATE_FAILED || !strings.Contains(s.Reason, "policy") || s.Reason == "" {
					t.Fatalf("flipped to %s: session %v %q", kind, s.State, s.Reason)
				}
			}
			// The client still signs: the wallet works as its holders recorded it.
			flip(t, q, o.DatabaseURL, wallet, me, "client")
			s, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: wallet, Digest: digest[:], ClientPartyIds: []string{me}}, q.Admin(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := participant.Sign(ctx, conn, q.SignJob(t, s, rec, digest[:]), rec); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// flip rewrites the holder kind of party in the coordinator's store (and,
// for "user", makes the wallet an account of user "mallory").
func flip(t *testing.T, q *quorumtest.Quorum, dbURL, walletID, party, kind string) {
	t.Helper()
	user := ""
	if kind == "user" {
		user = "mallory"
	}
	stmts := []struct {
		sql  string
		args []any
	}{
		{`UPDATE wallet_holders SET kind = $1 WHERE wallet_id = $2 AND party_id = $3`, []any{kind, walletID, party}},
		{`UPDATE wallets SET user_id = $1 WHERE id = $2`, []any{user, walletID}},
	}
	if dbURL != "" {
		c, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		for _, s := range stmts {
			if tag, err := c.Exec(context.Background(), s.sql, s.args...); err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("flip: %v", err)
			}
		}
		return
	}
	// Wait for the coordinator's own writes, as it waits for others'.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(q.DataDir, "coordinator.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if res, err := db.Exec(s.sql, s.args...); err != nil {
			t.Fatalf("flip: %v", err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("flip: %d rows", n)
		}
	}
}

// TestAttackPartyAPICredential: the server party that serves the
// server-party API is handed, for each account keygen, a credential it
// could replay. It must not work on the account API (before, it was the
// account API's own key, and replaying it signed any account wallet), nor
// on the server-party API for another session.
func TestAttackPartyAPICredential(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	var mu sync.Mutex
	var captured []http.Header
	target, _ := url.Parse(q.PartyAPIURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	// A server party of the session (which holds a party token for it,
	// as every seat does, and so does the router that sees it) races the
	// coordinator's call with its own token and a password of its own.
	var raced []int
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req struct {
			SessionID string `json:"session_id"`
		}
		_ = json.Unmarshal(body, &req)
		for _, seat := range []string{"server-2", "server-3"} {
			tok, err := q.Minter.MintParty(req.SessionID, seat, time.Minute)
			if err != nil {
				t.Error(err)
				continue
			}
			ar, _ := http.NewRequest("POST", q.PartyAPIURL+"/api/v1/shares/generate",
				strings.NewReader(`{"session_id":"`+req.SessionID+`","share_password":"attacker chosen 7 pw"}`))
			ar.Header.Set("Authorization", "Bearer "+tok)
			resp, err := quorumtest.HTTPClient.Do(ar)
			if err != nil {
				t.Error(err)
				continue
			}
			resp.Body.Close()
			raced = append(raced, resp.StatusCode)
		}
		mu.Lock()
		captured = append(captured, r.Header.Clone())
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer recorder.Close()
	api := httptest.NewServer(q.Coordinator.AccountAPI(coordinator.AccountConfig{APIKey: q.APIKey, PartyAPIURL: recorder.URL}))
	defer api.Close()

	code, acct := quorumtest.CallAPI(t, api.URL, "POST", "/api/v1/accounts", q.APIKey, "", `{"user_id":"victim","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, acct)
	}
	id := acct["account_id"].(string)
	if len(raced) != 2 || raced[0] != http.StatusForbidden || raced[1] != http.StatusForbidden {
		t.Fatalf("a server party's own token on the server-party API: %v, want 403s", raced)
	}
	// The user share came back to the coordinator's caller, under its password.
	blob, err := base64.StdEncoding.DecodeString(acct["user_share"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := share.Unprotect(blob, []byte(testPassword)); err != nil {
		t.Fatalf("the user share: %v", err)
	}
	mu.Lock()
	if len(captured) != 1 {
		t.Fatalf("%d calls to the server-party API", len(captured))
	}
	stolen := captured[0]
	mu.Unlock()
	if stolen.Get("X-API-Key") != "" || strings.Contains(strings.Join(slices.Concat(slices.Collect(maps.Values(stolen))...), " "), q.APIKey) {
		t.Fatal("the server-party API was sent the account API's key")
	}
	replay := func(base, method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		for k, v := range stolen {
			req.Header[k] = v
		}
		resp, err := quorumtest.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	d := sha256.Sum256([]byte("drain the account"))
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/accounts/" + id + "/sign", `{"message":"` + hex.EncodeToString(d[:]) + `"}`},
		{"POST", "/api/v1/accounts", `{"user_id":"mallory","share_password":"` + testPassword + `"}`},
		{"POST", "/api/v1/users/victim/tokens", `{"operations":["sign"]}`},
		{"GET", "/api/v1/accounts/" + id, ""},
	} {
		if code := replay(api.URL, c.method, c.path, c.body); code != http.StatusUnauthorized {
			t.Errorf("account API %s %s with the server-party API's credential: %d, want 401", c.method, c.path, code)
		}
	}
	// Nor does it start the user party of another session.
	if code := replay(q.PartyAPIURL, "POST", "/api/v1/shares/generate", `{"session_id":"another","share_password":"`+testPassword+`"}`); code != http.StatusForbidden {
		t.Errorf("server-party API, another session: %d, want 403", code)
	}
	if code := replay(q.PartyAPIURL, "GET", "/api/v1/health", ""); code != http.StatusForbidden {
		t.Errorf("server-party API details with a party token: %d, want 403", code)
	}
}

// lyingReports is a coordinator connection whose keygen result reports
// a chain code with its first byte flipped, or (drop) none, as a party
// older than chain codes does.
type lyingReports struct {
	grpc.ClientConnInterface
	drop bool
}

func (l lyingReports) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if r, ok := args.(*tsskitv1.ReportResultRequest); ok && len(r.ChainCode) > 0 {
		r.ChainCode = slices.Clone(r.ChainCode)
		r.ChainCode[0] ^= 1
		if l.drop {
			r.ChainCode = nil
		}
	}
	return l.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

// TestAttackChainCodeDisagreement: a party that reports a chain code
// other than the one every other holder recorded (to have the
// coordinator serve addresses no holder signs for) fails the keygen;
// no wallet is recorded.
func TestAttackChainCodeDisagreement(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute) // two keygens on a loaded machine
	defer cancel()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	const me = "browser-cc"
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := testkit.PreParams(4)
	lying := conn
	lying.Coordinator = lyingReports{ClientConnInterface: conn.Coordinator}
	_, err = participant.Keygen(ctx, lying, q.KeygenJob(t, resp, me, 2, 3), pre, nil)
	if err == nil || !strings.Contains(err.Error(), "different chain codes") {
		t.Fatalf("keygen with a lying party: %v", err)
	}
	s := waitFinal(t, q, resp.SessionId)
	if s.State != tsskitv1.SessionState_SESSION_STATE_FAILED || !strings.Contains(s.Reason, "chain codes") {
		t.Fatalf("session %v %q", s.State, s.Reason)
	}
	_, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, q.Admin(t))
	wantCode(t, err, codes.NotFound)

	// A client older than chain codes (it reports none) with server
	// parties that record one: the holders would derive different child
	// keys, so no wallet is made, and the session says which party to
	// upgrade.
	q.Reseed(t) // the server parties' pre-parameters, spent by the first keygen
	resp, err = coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pre, _ = testkit.PreParams(3)
	lying.Coordinator = lyingReports{ClientConnInterface: conn.Coordinator, drop: true}
	_, err = participant.Keygen(ctx, lying, q.KeygenJob(t, resp, me, 2, 3), pre, nil)
	if err == nil || !strings.Contains(err.Error(), me+" reported no chain code") {
		t.Fatalf("keygen with an outdated client: %v", err)
	}
	if s := waitFinal(t, q, resp.SessionId); s.State != tsskitv1.SessionState_SESSION_STATE_FAILED || !slices.Equal(s.Culprits, []string{me}) {
		t.Fatalf("session %v %q culprits %v", s.State, s.Reason, s.Culprits)
	}
	_, err = coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, q.Admin(t))
	wantCode(t, err, codes.NotFound)
}

// TestLegacyKeygen: parties that all predate chain codes (none reports
// one) make a wallet on the legacy rule, as each of them records it: the
// coordinator serves the legacy rule's xpub and child keys.
func TestLegacyKeygen(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 0})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := q.Conn(t)
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	ids := []string{"old-a", "old-b", "old-c"}
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: ids}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	old := conn
	old.Coordinator = lyingReports{ClientConnInterface: conn.Coordinator, drop: true}
	// (Each party here records the keygen's chain code in its share, as
	// this version does; only what the coordinator is told is old. The
	// wallet is for this check only.)
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		pre, err := testkit.PreParams(i)
		if err != nil {
			t.Fatal(err)
		}
		job := q.KeygenJob(t, resp, id, 2, 3)
		for _, other := range ids {
			job.Kinds[other] = identity.KindClient
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = participant.Keygen(ctx, old, job, pre, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", ids[i], err)
		}
	}
	got, err := coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	w := got.Wallet
	legacy := hd.LegacyChainCode(w.WalletId, w.PublicKey)
	want, _ := hd.ExtendedPublicKey(w.PublicKey, legacy)
	if !bytes.Equal(w.ChainCode, legacy) || w.Xpub != want {
		t.Fatalf("chain code %x, xpub %s; want the legacy rule's %x, %s", w.ChainCode, w.Xpub, legacy, want)
	}
}

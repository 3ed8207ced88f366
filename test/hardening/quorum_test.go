package hardening_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

const (
	sharePassword = "correct horse battery staple"
	accountUser   = "hardening-user"
)

// hq is the quorum of TestQuorumHardening and what its subtests share.
type hq struct {
	q       *quorumtest.Quorum
	conn    participant.Conn
	coord   tsskitv1.CoordinatorServiceClient
	api     *rest
	account string // account (wallet) id
	pub     []byte // its public key
	user    *share.Record
	blob    []byte   // the user share backup the account API returned
	servers []string // its server holders
}

// bump adds one to a big-endian number: a proof value that no longer
// verifies.
func bump(b []byte) []byte { return new(big.Int).Add(new(big.Int).SetBytes(b), big.NewInt(1)).Bytes() }

// TestQuorumHardening runs one quorum (three server parties, the account
// and server-party APIs allowing 127.0.0.1 only) through the bad inputs
// that need a wallet or a live session: a keygen with a malicious party,
// then an account, then REST refusals, a wrong backup password, malicious
// signers (replays, reordering, bad signatures, tampered ciphertext,
// envelopes of another session, invalid tss-lib content) and a corrupt
// share at rest. Two keygens in all, and the malicious one stops in round
// 2; every signing is a 2-party one (≈0.3 s of CPU).
func TestQuorumHardening(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{AllowedIPs: "127.0.0.1"})
	h := &hq{q: q, conn: q.Conn(t), api: &rest{base: q.APIURL, key: q.APIKey}}
	h.coord = tsskitv1.NewCoordinatorServiceClient(h.conn.Coordinator)

	t.Run("keygen with a wrong proof", func(t *testing.T) { testKeygenWrongProof(t, h) })
	q.Reseed(t) // the failed keygen took pre-params from the server parties' pools
	// (c) for the malicious keygen: the next keygen, an account, succeeds.
	h.makeAccount(t)

	t.Run("rest", func(t *testing.T) { testREST(t, h) })
	t.Run("wrong backup password", func(t *testing.T) { testBackupPassword(t, h) })
	t.Run("replayed envelopes", func(t *testing.T) { testReplay(t, h) })
	t.Run("reordered rounds", func(t *testing.T) { testReorder(t, h) })
	t.Run("bad signature", func(t *testing.T) { testBadSignature(t, h) })
	t.Run("tampered ciphertext", func(t *testing.T) { testTamperedCiphertext(t, h) })
	t.Run("envelope for another session", func(t *testing.T) { testOtherSession(t, h) })
	t.Run("invalid tss-lib content", func(t *testing.T) { testInvalidContent(t, h) })
	t.Run("corrupt share at rest", func(t *testing.T) { testCorruptShare(t, h) })

	// Whatever came before, the quorum still signs, and nothing is left
	// running.
	h.restSign(t, "the end")
	waitIdle(t, q)
	if n := walletCount(t, q); n != 1 {
		t.Fatalf("%d wallets, want the account only", n)
	}
}

// testKeygenWrongProof: a client party whose engine sends a round-1
// message with a broken DLN proof (validly sealed and signed with its real
// session key). The honest server parties refuse it in round 2, the
// coordinator fails the session with code "protocol" naming that party,
// and nothing is stored: no wallet, no share on any server party.
func testKeygenWrongProof(t *testing.T, h *hq) {
	ctx := context.Background()
	const mallory = "mallory-client"
	resp, err := h.coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{
		Name: "malicious", SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{mallory},
	}, h.q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	s := newSeat(t, h.conn, resp, mallory, nil, h.q.Trust)
	tampered := false
	s.Out = func(s *seat, m *outMsg) []*outMsg {
		if msgType(m.Payload) == "KGRound1Message" {
			m.Payload = rewrite(t, m.Payload, func(pm proto.Message) {
				r1 := pm.(*keygen.KGRound1Message)
				last := len(r1.Dlnproof_1) - 1
				r1.Dlnproof_1[last] = bump(r1.Dlnproof_1[last])
			})
			tampered = true
		}
		return []*outMsg{m}
	}
	s.Deaf = true // it only has to send round 1
	pre, err := testkit.PreParams(4)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := s.run(ctx, pre, nil)
	f := wantFailed(t, res, "protocol", mallory)
	if !tampered || !strings.Contains(f.Reason, "dln proof") {
		t.Fatalf("reason %q (tampered: %v)", f.Reason, tampered)
	}
	t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), f.Reason)

	// (b) No wallet, no share, and the store keeps the verdict.
	_, err = h.coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: resp.WalletId}, h.q.Admin(t))
	wantStatus(t, err, codes.NotFound, "")
	if n := walletCount(t, h.q); n != 0 {
		t.Fatalf("%d wallets after a failed keygen", n)
	}
	waitIdle(t, h.q)
	for _, p := range h.q.Parties {
		if files := shareFiles(t, h.q, p.ID()); len(files) != 0 {
			t.Fatalf("%s kept %d share files of a failed keygen", p.ID(), len(files))
		}
	}
	got := storedSession(t, h, resp.SessionId)
	if got.State != tsskitv1.SessionState_SESSION_STATE_FAILED || fmt.Sprint(got.Culprits) != fmt.Sprint([]string{mallory}) {
		t.Fatalf("stored session: %v", got)
	}
}

// storedSession reads a session record once its final state is written.
func storedSession(t *testing.T, h *hq, id string) *tsskitv1.Session {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := h.coord.GetSession(context.Background(), &tsskitv1.GetSessionRequest{SessionId: id}, h.q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		st := got.Session.State
		if st == tsskitv1.SessionState_SESSION_STATE_FAILED || st == tsskitv1.SessionState_SESSION_STATE_COMPLETED || time.Now().After(deadline) {
			return got.Session
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// makeAccount creates the account every later subtest uses, with its user
// share in the password backup format.
func (h *hq) makeAccount(t *testing.T) {
	start := time.Now()
	r := h.api.do(t, "POST", "/api/v1/accounts", h.q.APIKey, `{"user_id":"`+accountUser+`","share_password":"`+sharePassword+`"}`)
	if r.status != 201 {
		t.Fatalf("create account: %d %s", r.status, r.raw)
	}
	t.Logf("account keygen took %v", time.Since(start).Round(time.Millisecond))
	h.account = r.body["account_id"].(string)
	h.pub = hexb(t, r.body["public_key"].(string))
	var err error
	if h.blob, err = base64.StdEncoding.DecodeString(r.body["user_share"].(string)); err != nil {
		t.Fatal(err)
	}
	if h.user, err = share.Unprotect(h.blob, []byte(sharePassword)); err != nil {
		t.Fatal(err)
	}
	w, err := h.coord.GetWallet(context.Background(), &tsskitv1.GetWalletRequest{WalletId: h.account}, h.q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range w.Wallet.Holders {
		if x.Kind == tsskitv1.HolderKind_HOLDER_KIND_SERVER {
			h.servers = append(h.servers, x.PartyId)
		}
	}
	if len(h.servers) != 2 {
		t.Fatalf("holders %v", w.Wallet.Holders)
	}
}

// restSignErr signs through the account API and checks the signature; it
// may run on any goroutine.
func (h *hq) restSignErr(msg string) error {
	dg := digest(msg)
	body := `{"message":"` + hex.EncodeToString(dg) + `"}`
	resp, raw, err := send(from("127.0.0.1"), func() (*http.Request, error) {
		return newJSONRequest("POST", h.api.base+"/api/v1/accounts/"+h.account+"/sign", body, h.q.APIKey)
	})
	if err != nil {
		return err
	}
	var out struct {
		DER string `json:"der"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("sign: status %d: %s", resp.StatusCode, raw)
	}
	der, err := hex.DecodeString(out.DER)
	if err != nil {
		return err
	}
	return checkDER(h.pub, dg, der)
}

func (h *hq) restSign(t *testing.T, msg string) {
	t.Helper()
	if err := h.restSignErr(msg); err != nil {
		t.Fatal(err)
	}
}

// testREST: bad JSON, hex and lengths, unknown accounts, wrong API keys
// and a caller outside ALLOWED_IPS. Each gets its status and JSON error
// code; afterwards no wallet was added, no session is left running, and a
// valid signing from an allowed address succeeds.
func testREST(t *testing.T, h *hq) {
	q, key := h.q, h.q.APIKey
	d := hex.EncodeToString(digest("rest"))
	acct := "/api/v1/accounts"
	sign := acct + "/" + h.account + "/sign"
	outside := &rest{base: q.APIURL, key: key, client: from("127.0.0.2")}
	// The server-party API takes the coordinator's token for one
	// session's user party, never the API key.
	partyAPI := &rest{base: q.PartyAPIURL}
	partyAPIOutside := &rest{base: q.PartyAPIURL, client: from("127.0.0.2")}
	ptok, err := q.Minter.MintParty("no-such-session", "user-x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	bearer := []string{"Authorization: Bearer " + ptok}
	wallets := walletCount(t, q)
	cases := []struct {
		class, name  string
		c            *rest
		method, path string
		key, body    string
		headers      []string
		status       int
		code         string
	}{
		{"bad json", "truncated", h.api, "POST", acct, key, `{"user_id":`, nil, 400, "invalid_json"},
		{"bad json", "empty body", h.api, "POST", acct, key, ``, nil, 400, "invalid_json"},
		{"bad json", "array", h.api, "POST", acct, key, `["alice"]`, nil, 400, "invalid_json"},
		{"bad json", "wrong type", h.api, "POST", acct, key, `{"user_id":7}`, nil, 400, "invalid_json"},
		{"bad json", "password wrong type", h.api, "POST", acct, key, `{"user_id":"bob","share_password":1}`, nil, 400, "invalid_json"},
		{"bad json", "two objects", h.api, "POST", acct, key, `{"user_id":"bob"}{"user_id":"eve"}`, nil, 400, "invalid_json"},
		{"bad json", "not json", h.api, "POST", acct, key, `user_id=bob`, nil, 400, "invalid_json"},
		{"bad json", "sign truncated", h.api, "POST", sign, key, `{"message":"` + d, nil, 400, "invalid_json"},
		{"bad json", "sign message number", h.api, "POST", sign, key, `{"message":12}`, nil, 400, "invalid_json"},
		{"bad json", "oversized body", h.api, "POST", acct, key, `{"user_id":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "too_large"},
		{"bad json", "server-party api", partyAPI, "POST", "/api/v1/shares/generate", "", `{"session_id":`, bearer, 400, "invalid_json"},
		{"bad lengths", "no user id", h.api, "POST", acct, key, `{}`, nil, 400, "invalid_argument"},
		{"bad lengths", "null body", h.api, "POST", acct, key, `null`, nil, 400, "invalid_argument"},
		{"bad lengths", "blank user id", h.api, "POST", acct, key, `{"user_id":"   "}`, nil, 400, "invalid_argument"},
		{"bad lengths", "user id 129 bytes", h.api, "POST", acct, key, `{"user_id":"` + strings.Repeat("u", 129) + `"}`, nil, 400, "invalid_argument"},
		{"bad lengths", "empty password", h.api, "POST", acct, key, `{"user_id":"bob","share_password":""}`, nil, 400, "invalid_argument"},
		{"bad lengths", "existing user", h.api, "POST", acct, key, `{"user_id":"` + accountUser + `","share_password":"` + sharePassword + `"}`, nil, 409, "conflict"},
		{"bad lengths", "no share password", h.api, "POST", acct, key, `{"user_id":"bob"}`, nil, 400, "invalid_argument"},
		{"bad lengths", "weak share password", h.api, "POST", acct, key, `{"user_id":"bob","share_password":"password1"}`, nil, 400, "weak_password"},
		{"bad lengths", "digest 31 bytes", h.api, "POST", sign, key, `{"message":"` + d[:62] + `"}`, nil, 400, "invalid_argument"},
		{"bad lengths", "digest 33 bytes", h.api, "POST", sign, key, `{"message":"` + d + `00"}`, nil, 400, "invalid_argument"},
		{"bad lengths", "digest 64 bytes", h.api, "POST", sign, key, `{"message":"` + d + d + `"}`, nil, 400, "invalid_argument"},
		{"bad lengths", "no message", h.api, "POST", sign, key, `{}`, nil, 400, "invalid_argument"},
		{"bad lengths", "server-party api no session", partyAPI, "POST", "/api/v1/shares/generate", "", `{"session_id":" "}`, bearer, 400, "invalid_argument"},
		{"bad hex", "not hex", h.api, "POST", sign, key, `{"message":"zz"}`, nil, 400, "invalid_argument"},
		{"bad hex", "odd length", h.api, "POST", sign, key, `{"message":"` + d[:63] + `"}`, nil, 400, "invalid_argument"},
		{"bad hex", "leading space", h.api, "POST", sign, key, `{"message":" ` + d + `"}`, nil, 400, "invalid_argument"},
		{"bad hex", "0x only", h.api, "POST", sign, key, `{"message":"0x"}`, nil, 400, "invalid_argument"},
		{"bad hex", "non-ascii", h.api, "POST", sign, key, `{"message":"` + d[:62] + `é"}`, nil, 400, "invalid_argument"},
		{"unknown account", "get", h.api, "GET", acct + "/00000000-0000-4000-8000-000000000000", key, ``, nil, 404, "not_found"},
		{"unknown account", "sign", h.api, "POST", acct + "/00000000-0000-4000-8000-000000000000/sign", key, `{"message":"` + d + `"}`, nil, 404, "not_found"},
		{"unknown account", "escaped garbage id", h.api, "POST", acct + "/%00%ff/sign", key, `{"message":"` + d + `"}`, nil, 404, "not_found"},
		{"unknown account", "no such endpoint", h.api, "DELETE", acct + "/" + h.account, key, ``, nil, 404, "not_found"},
		{"unknown account", "server-party api unknown session", partyAPI, "POST", "/api/v1/shares/generate", "", `{"session_id":"no-such-session","share_password":"` + sharePassword + `"}`, bearer, 404, "not_found"},
		{"wrong api key", "missing", h.api, "POST", sign, "", `{"message":"` + d + `"}`, nil, 401, "unauthorized"},
		{"wrong api key", "wrong", h.api, "POST", sign, "0123456789abcdef0123456789abcdef", `{"message":"` + d + `"}`, nil, 401, "unauthorized"},
		{"wrong api key", "one character short", h.api, "POST", sign, key[:len(key)-1], `{"message":"` + d + `"}`, nil, 401, "unauthorized"},
		{"wrong api key", "sent twice", h.api, "POST", sign, key, `{"message":"` + d + `"}`, []string{"X-API-Key: " + key}, 401, "unauthorized"},
		{"wrong api key", "as a bearer token", h.api, "POST", sign, "", `{"message":"` + d + `"}`, []string{"Authorization: Bearer " + key}, 401, "unauthorized"},
		{"wrong api key", "create", h.api, "POST", acct, "nope", `{"user_id":"mallory"}`, nil, 401, "unauthorized"},
		{"wrong api key", "get", h.api, "GET", acct + "/" + h.account, "nope", ``, nil, 401, "unauthorized"},
		{"wrong api key", "server-party api", partyAPI, "POST", "/api/v1/shares/generate", "wrong-key-wrong-key", `{"session_id":"x"}`, nil, 401, "unauthorized"},
		{"wrong api key", "server-party api with the account api key", partyAPI, "POST", "/api/v1/shares/generate", key, `{"session_id":"x"}`, nil, 401, "unauthorized"},
		{"wrong api key", "server-party api token for another session", partyAPI, "POST", "/api/v1/shares/generate", "", `{"session_id":"x","share_password":"` + sharePassword + `"}`, bearer, 403, "forbidden"},
		{"disallowed ip", "create", outside, "POST", acct, key, `{"user_id":"mallory"}`, nil, 403, "forbidden_ip"},
		{"disallowed ip", "sign", outside, "POST", sign, key, `{"message":"` + d + `"}`, nil, 403, "forbidden_ip"},
		{"disallowed ip", "get", outside, "GET", acct + "/" + h.account, key, ``, nil, 403, "forbidden_ip"},
		{"disallowed ip", "spoofed forwarding headers", outside, "POST", sign, key, `{"message":"` + d + `"}`,
			[]string{"X-Forwarded-For: 127.0.0.1", "X-Real-IP: 127.0.0.1", "Forwarded: for=127.0.0.1"}, 403, "forbidden_ip"},
		{"disallowed ip", "server-party api", partyAPIOutside, "POST", "/api/v1/shares/generate", "", `{"session_id":"x"}`, bearer, 403, "forbidden_ip"},
	}
	for _, c := range cases {
		t.Run(c.class+"/"+c.name, func(t *testing.T) {
			wantError(t, c.c.do(t, c.method, c.path, c.key, c.body, c.headers...), c.status, c.code)
		})
	}
	// /health stays open to every address.
	if r := outside.do(t, "GET", "/health", "", ""); r.status != 200 {
		t.Fatalf("health from outside: %d %s", r.status, r.raw)
	}
	// (b) Nothing was created, nothing is left running.
	if n := walletCount(t, q); n != wallets {
		t.Fatalf("wallets %d -> %d after refused requests", wallets, n)
	}
	waitIdle(t, q)
	// (c) A valid request right after is served.
	h.restSign(t, "after the refusals")
	if r := h.api.do(t, "GET", acct+"/"+h.account, key, ""); r.status != 200 || r.body["account_id"] != h.account {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
}

// testBackupPassword: the account API's user share, opened with wrong
// passwords or after tampering, gives typed errors and no record; the
// backup is not altered by the attempts, and the right password opens it
// and the share signs.
func testBackupPassword(t *testing.T, h *hq) {
	orig := bytes.Clone(h.blob)
	for _, pw := range []string{"Tr0ub4dor&3", sharePassword + " ", strings.ToUpper(sharePassword)} {
		r, err := share.Unprotect(h.blob, []byte(pw))
		if r != nil || !errors.Is(err, share.ErrWrongPassword) {
			t.Fatalf("password %q: %v, %v; want ErrWrongPassword", pw, r, err)
		}
		if strings.Contains(err.Error(), pw) {
			t.Fatal("the error quotes the password")
		}
	}
	if r, err := share.Unprotect(h.blob, nil); r != nil || !errors.Is(err, share.ErrEmptyPassword) {
		t.Fatalf("empty password: %v, %v", r, err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(h.blob, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	// A backup edited to ask for fewer PBKDF2 iterations is refused before
	// any key is derived; a flipped ciphertext byte reads as a wrong
	// password; a truncated backup is a typed decoding error.
	weak := edit(func(m map[string]any) { m["iterations"] = 1000 })
	if r, err := share.Unprotect(weak, []byte(sharePassword)); r != nil || !errors.Is(err, share.ErrMalformed) {
		t.Fatalf("weakened backup: %v, %v", r, err)
	}
	flipped := edit(func(m map[string]any) {
		ct, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
		ct[len(ct)/2] ^= 1
		m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	})
	if r, err := share.Unprotect(flipped, []byte(sharePassword)); r != nil || !errors.Is(err, share.ErrWrongPassword) {
		t.Fatalf("tampered backup: %v, %v", r, err)
	}
	if r, err := share.Unprotect(h.blob[:len(h.blob)/2], []byte(sharePassword)); r != nil || err == nil {
		t.Fatalf("truncated backup: %v, %v", r, err)
	} else if _, ok := errors.AsType[*share.Error](err); !ok {
		t.Fatalf("truncated backup: %T %v, want *share.Error", err, err)
	}
	// (b) The backup is as it was.
	if !bytes.Equal(h.blob, orig) {
		t.Fatal("the backup changed")
	}
	// (c) The right password opens it and the share signs with a server
	// holder, through the coordinator, as a client party does.
	rec, err := share.Unprotect(h.blob, []byte(sharePassword))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.coord.CreateSignSession(context.Background(), &tsskitv1.CreateSignSessionRequest{
		WalletId: h.account, Digest: digest("backup"), ClientPartyIds: []string{rec.PartyID}, ServerPartyIds: []string{h.servers[0]},
	}, h.q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := participant.Sign(context.Background(), h.conn, h.q.SignJob(t, resp, rec, digest("backup")), rec)
	if err != nil {
		t.Fatal(err)
	}
	verifyDER(t, h.pub, digest("backup"), sig.DER)
}

// testCorruptShare: one server holder's share file is damaged on disk.
// Signing fails with a reason naming the corruption (REST: 502
// session_failed; gRPC: the failed event), the file is left exactly as it
// was found (not deleted, not replaced), the other holder still signs with
// the user share, and once the file is restored the account signs again.
func testCorruptShare(t *testing.T, h *hq) {
	victim := h.servers[0]
	files := shareFiles(t, h.q, victim)
	if len(files) != 1 {
		t.Fatalf("%s has %d share files", victim, len(files))
	}
	orig, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(orig, &m); err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
	ct[len(ct)/3] ^= 0x01
	m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	damaged, _ := json.Marshal(m)
	if err := os.WriteFile(files[0], damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(files[0], orig, 0o600) })

	dg := hex.EncodeToString(digest("corrupt"))
	r := h.api.do(t, "POST", "/api/v1/accounts/"+h.account+"/sign", h.q.APIKey, `{"message":"`+dg+`"}`)
	wantError(t, r, 502, "session_failed")
	if !strings.Contains(r.errMessage(), "corrupt") || !strings.Contains(r.errMessage(), victim) {
		t.Fatalf("message %q does not name the corruption and the party", r.errMessage())
	}

	_, s := h.signSession(t, "corrupt grpc", victim)
	f := wantFailed(t, s.run(context.Background(), nil, h.user), "share_corrupt", victim)
	if !strings.Contains(f.Reason, "corrupt") {
		t.Fatalf("failed event %q does not name the corruption", f.Reason)
	}

	// (b) The damaged file is still there, byte for byte, and alone.
	now, err := os.ReadFile(files[0])
	if err != nil || !bytes.Equal(now, damaged) {
		t.Fatalf("the damaged share file was changed or removed (%v)", err)
	}
	if got := shareFiles(t, h.q, victim); len(got) != 1 || got[0] != files[0] {
		t.Fatalf("share files now %v", got)
	}
	// (c) The other holder is unaffected; restored, the victim signs again.
	_, s = h.signSession(t, "other holder", h.servers[1])
	h.wantSigned(t, s.run(context.Background(), nil, h.user), "other holder")
	if err := os.WriteFile(files[0], orig, 0o600); err != nil {
		t.Fatal(err)
	}
	h.restSign(t, "restored")
}

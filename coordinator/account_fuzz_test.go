package coordinator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/identity"
)

// nopRouter is a RouterControl that is never reached here: no server party
// is registered, so no session gets as far as opening a stream.
type nopRouter struct{}

func (nopRouter) Open(context.Context, string, []string, time.Time) error { return nil }
func (nopRouter) Close(context.Context, string, string) error             { return nil }

const (
	fuzzAPIKey   = "fuzz-api-key-0123456789abcdef"
	fuzzWalletID = "7d1f3c2a-9b8e-4f6d-a5c4-3b2a1f0e9d8c"
	fuzzDigest   = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

// fuzzAccountAPI is the account REST handler of a coordinator with an
// in-memory store holding one account (user "alice") and an empty pool.
func fuzzAccountAPI(f *testing.F) http.Handler {
	f.Helper()
	st, err := store.OpenSQLite(store.MemoryPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	ctx := context.Background()
	err = st.CreateWallet(ctx, &store.Wallet{
		ID: fuzzWalletID, UserID: "alice", SignersNeeded: 2,
		Holders:   []store.Holder{{PartyID: "server-1", Kind: store.HolderServer}, {PartyID: "server-2", Kind: store.HolderServer}, {PartyID: "user-1", Kind: store.HolderUser}},
		PublicKey: append([]byte{2}, bytes.Repeat([]byte{1}, 32)...),
		Address:   "0x" + strings.Repeat("ab", 20),
	})
	if err != nil {
		f.Fatal(err)
	}
	root, _ := identity.GenerateKey()
	trust, _ := identity.NewTrust([]identity.PublicKey{root.Public()}, nil)
	ck, _ := identity.GenerateKey()
	cc, err := identity.Issue(root, identity.KindCoordinator, "coordinator", ck.Public(), time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	minter, err := auth.NewMinter(ck, []*identity.Certificate{cc})
	if err != nil {
		f.Fatal(err)
	}
	c, err := coordinator.New(ctx, coordinator.Config{Minter: minter, Store: st, Router: nopRouter{}, Log: slog.New(slog.DiscardHandler), Trust: trust})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.Stop)
	return c.AccountAPI(coordinator.AccountConfig{
		APIKey: fuzzAPIKey, PartyAPIURL: "http://127.0.0.1:1", Timeout: 5 * time.Second,
		RateLimit: &auth.RateLimit{}, // the fuzzer is one fast client: limiting would hide the handler
	})
}

// FuzzAccountAPI sends arbitrary bodies (and account ids in the path) to
// the account REST API. Whatever comes in, the handler must not panic and
// must answer JSON: 2xx, or a 4xx with {"error":{"code","message"}}; the
// only 5xx allowed is 503, which a request that passes every check gets
// here because no server party is registered (or 504 should a deadline
// pass). No response may contain the API key.
func FuzzAccountAPI(f *testing.F) {
	h := fuzzAccountAPI(f)
	// route: 0 create, 1 get, 2 sign, 3 health, else the id is the path.
	f.Add(uint8(0), true, "", []byte(`{"user_id":"bob","share_password":"hunter2"}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":"alice"}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":"  "}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":"bob","share_password":""}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":7}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":"`+strings.Repeat("x", 129)+`"}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":"bob"} {}`))
	f.Add(uint8(0), true, "", []byte(`{"user_id":"\u0000\ud800"}`))
	f.Add(uint8(0), false, "", []byte(`{"user_id":"bob"}`))
	f.Add(uint8(1), true, fuzzWalletID, []byte{})
	f.Add(uint8(1), true, "nope", []byte{})
	f.Add(uint8(1), true, strings.Repeat("x", 200), []byte{})
	f.Add(uint8(2), true, fuzzWalletID, []byte(`{"message":"0x`+fuzzDigest+`"}`))
	f.Add(uint8(2), true, fuzzWalletID, []byte(`{"message":"`+fuzzDigest[:62]+`"}`))
	f.Add(uint8(2), true, fuzzWalletID, []byte(`{"message":"zz"}`))
	f.Add(uint8(2), true, "00000000-0000-4000-8000-000000000000", []byte(`{"message":"`+fuzzDigest+`"}`))
	f.Add(uint8(2), true, fuzzWalletID, []byte(`[`))
	f.Add(uint8(3), false, "", []byte{})
	f.Add(uint8(4), true, "api/v1/nothing", []byte{})
	f.Add(uint8(5), true, "api/v1/accounts/"+fuzzWalletID+"/sign", []byte(`{"message":"`+fuzzDigest+`"}`))
	f.Fuzz(func(t *testing.T, route uint8, withKey bool, id string, body []byte) {
		method, path := http.MethodPost, "/api/v1/accounts"
		switch route % 8 {
		case 0:
		case 1:
			method, path = http.MethodGet, "/api/v1/accounts/"+url.PathEscape(id)
		case 2:
			path = "/api/v1/accounts/" + url.PathEscape(id) + "/sign"
		case 3:
			method, path = http.MethodGet, "/health"
		default:
			// Any path, with each method.
			method = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}[route%4]
			path = "/" + id
		}
		req, err := http.NewRequest(method, "http://api.test"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header.Set("Content-Type", "application/json")
		if withKey {
			req.Header.Set("X-API-Key", fuzzAPIKey)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		code, raw := w.Code, w.Body.Bytes()
		if code >= 500 && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			t.Fatalf("%s %s %q: %d %s", method, path, body, code, raw)
		}
		if bytes.Contains(raw, []byte(fuzzAPIKey)) {
			t.Fatalf("response contains the API key: %s", raw)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %s: %d with content type %q: %s", method, path, code, ct, raw)
		}
		var out struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %q", method, path, code, raw)
		}
		if code >= 400 && (out.Error == nil || out.Error.Code == "" || out.Error.Message == "") {
			t.Fatalf("%s %s: %d without an error code and message: %s", method, path, code, raw)
		}
		if code < 400 && out.Error != nil {
			t.Fatalf("%s %s: %d with an error: %s", method, path, code, raw)
		}
	})
}

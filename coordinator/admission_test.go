package coordinator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/internal/quorumtest"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// TestAdmissionRefusesFast: once the server parties hold more keygen work
// than a new keygen could wait behind within its deadline, new keygens are
// refused at once — gRPC RESOURCE_EXHAUSTED with the time to retry, REST
// 503 "overloaded" with Retry-After — while a signing, planned behind
// signings alone, is admitted and completes.
//
// The backlog is keygens whose client never joins: by the coordinator's
// count they are work the server parties owe, though none computes yet.
func TestAdmissionRefusesFast(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{APITimeout: 3 * time.Minute, AdmitWithin: 5 * time.Minute})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"before-the-burst","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("account before the burst: %d %v", code, acct)
	}
	id, pub := acct["account_id"].(string), acct["public_key"].(string)

	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	ctx := context.Background()
	admitted := 0
	var refusal error
	for i := range 60 {
		start := time.Now()
		_, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3,
			ClientPartyIds: []string{"absent-" + strconv.Itoa(i)}}, q.Admin(t))
		if err == nil {
			admitted++
			continue
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("refusal took %v", took)
		}
		refusal = err
		break
	}
	if refusal == nil || admitted == 0 {
		t.Fatalf("admitted %d waiting keygens, refusal %v", admitted, refusal)
	}
	retry, ok := coordinator.Overloaded(refusal)
	if st, _ := status.FromError(refusal); !ok || st.Code() != codes.ResourceExhausted || retry < time.Second || !strings.HasPrefix(st.Message(), "overloaded:") {
		t.Fatalf("refusal %v: overloaded %v, retry %v", refusal, ok, retry)
	}
	t.Logf("admitted %d waiting keygens, then: %v", admitted, refusal)

	// REST: an account keygen is refused the same way.
	start := time.Now()
	req, _ := http.NewRequest("POST", q.APIURL+"/api/v1/accounts", strings.NewReader(`{"user_id":"in-the-burst","share_password":"`+testPassword+`"}`))
	req.Header.Set("X-API-Key", q.APIKey)
	resp, err := quorumtest.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			RetryMs int64  `json:"retry_after_ms"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 503 || body.Error.Code != "overloaded" || ra < 1 || body.Error.RetryMs < 1000 || time.Since(start) > time.Second {
		t.Fatalf("REST keygen in the burst: %d Retry-After %q after %v: %s", resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start), raw)
	}

	// A signing is not planned behind keygens: it is admitted and signs.
	d := digestOf("paid during a keygen burst")
	code, sig := api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, `{"message":"`+d+`"}`)
	if code != 200 {
		t.Fatalf("sign during the burst: %d %v", code, sig)
	}
	verifySig(t, pub, d, sig)
}

// TestAdmissionSignWithin: with a sign latency target (--sign-within), a
// signing that could not finish well within it is refused at once,
// overloaded with the time to retry, instead of waiting behind the work
// its server holders already have — here one keygen whose client never
// joins, which leaves them busy by the coordinator's count. With nothing
// assigned, a signing is admitted whatever the estimate says.
func TestAdmissionSignWithin(t *testing.T) {
	// 300 ms: below one signing's default cost (0.5 s), so that any
	// signing at a busy party is refused, and an idle party's is not.
	q := quorumtest.Start(t, quorumtest.Options{APITimeout: 3 * time.Minute, SignWithin: 300 * time.Millisecond})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"sign-within","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("account: %d %v", code, acct)
	}
	id, pub := acct["account_id"].(string), acct["public_key"].(string)
	signOnce := func(what string) (int, map[string]any, time.Duration) {
		d := digestOf(what)
		start := time.Now()
		code, body := api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, `{"message":"`+d+`"}`)
		if code == 200 {
			verifySig(t, pub, d, body)
		}
		return code, body, time.Since(start)
	}
	// The server parties' reports of the keygen may still be on their
	// way: a signing is admitted once the coordinator counts them idle.
	var code2 int
	var body map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if code2, body, _ = signOnce("idle parties"); code2 == 200 || time.Now().After(deadline) {
			break
		}
	}
	if code2 != 200 {
		t.Fatalf("a signing at idle parties: %d %v; want it admitted", code2, body)
	}

	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	if _, err := coord.CreateKeygenSession(context.Background(), &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3,
		ClientPartyIds: []string{"absent"}}, q.Admin(t)); err != nil {
		t.Fatal(err)
	}
	code, body, took := signOnce("busy parties")
	e, _ := body["error"].(map[string]any)
	if code != 503 || e["code"] != "overloaded" || took > time.Second {
		t.Fatalf("a signing past --sign-within: %d %v after %v; want 503 overloaded at once", code, body, took)
	}
	if ms, _ := e["retry_after_ms"].(float64); ms < 1000 {
		t.Fatalf("a signing past --sign-within: retry after %v ms", e["retry_after_ms"])
	}
}

package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestAdmissionSignWithin: with a sign latency target (--sign-within),
// each server party takes as many signings at once as their observed
// latency allows: signings slower than the target lower that limit, down
// to one per party, and a signing past it is refused at once, overloaded
// with the time to retry, instead of waiting behind the others.
func TestAdmissionSignWithin(t *testing.T) {
	// 300 ms: below any signing's latency, so that every signing lowers
	// the limit.
	q := quorumtest.Start(t, quorumtest.Options{APITimeout: 3 * time.Minute, SignWithin: 300 * time.Millisecond})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"sign-within","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("account: %d %v", code, acct)
	}
	id, pub := acct["account_id"].(string), acct["public_key"].(string)
	type answer struct {
		code int
		body map[string]any
		took time.Duration
	}
	signOnce := func(what string) answer {
		d := digestOf(what)
		start := time.Now()
		code, body := api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, `{"message":"`+d+`"}`)
		if code == 200 {
			verifySig(t, pub, d, body)
		}
		return answer{code, body, time.Since(start)}
	}
	// One at a time, every signing is admitted; each is slower than the
	// target: 4 × 0.75^5 < 1.
	for i := range 5 {
		if a := signOnce(fmt.Sprintf("one at a time %d", i)); a.code != 200 {
			t.Fatalf("signing %d alone: %d %v", i, a.code, a.body)
		}
	}
	// Now one signing per party: of six at once, at most one per server
	// party is admitted, and the others are refused at once.
	answers := make(chan answer, 6)
	for i := range 6 {
		go func() { answers <- signOnce(fmt.Sprintf("at once %d", i)) }()
	}
	done, refused := 0, 0
	for range 6 {
		a := <-answers
		switch e, _ := a.body["error"].(map[string]any); {
		case a.code == 200:
			done++
		case a.code == 503 && e["code"] == "overloaded" && a.took < time.Second:
			if ms, _ := e["retry_after_ms"].(float64); ms < 1000 {
				t.Errorf("refusal advises a retry after %v ms", e["retry_after_ms"])
			}
			refused++
		default:
			t.Errorf("a signing at once: %d %v after %v; want it signed, or refused as overloaded at once", a.code, a.body, a.took)
		}
	}
	if done < 1 || done > 3 || refused != 6-done {
		t.Fatalf("six signings at once with one per party: %d signed, %d refused", done, refused)
	}
	t.Logf("six signings at once: %d signed, %d refused", done, refused)
}

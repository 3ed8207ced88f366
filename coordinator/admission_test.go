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

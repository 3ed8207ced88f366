package coordinator_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
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

// TestAttackHeartbeatOverstatesSlots: a certified server party that lies
// in its heartbeat — more work slots, signing slots and ready
// pre-parameters than any machine has — is not picked for more sessions
// than its honest peers (picking goes by the coordinator's own count),
// and cannot make admission take more work than an honest party's
// stated slots allow: every keygen counts an honest party, and none of
// them is planned past the budget. The backlog is keygens whose client
// never joins, as in TestAdmissionRefusesFast.
func TestAttackHeartbeatOverstatesSlots(t *testing.T) {
	const slots, within = 2, 2 * time.Minute
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2, WorkSlots: slots, AdmitWithin: within})
	conn := q.Conn(t).Coordinator
	pool := tsskitv1.NewPoolServiceClient(conn)
	liar := q.FakeServer(t, "liar-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := pool.Register(ctx, liar.Registration(t, pool), liar.Creds)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // take its seats, and never join
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	lie := &tsskitv1.HeartbeatRequest{PartyId: liar.ID, WorkSlots: math.MaxUint32, SignSlots: math.MaxUint32, PreparamsReady: math.MaxUint32}
	beat := func() {
		if _, err := pool.Heartbeat(ctx, lie, liar.Creds); err != nil && ctx.Err() == nil {
			t.Errorf("heartbeat: %v", err)
		}
	}
	// The stream is open before the coordinator has the registration.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := pool.Heartbeat(ctx, lie, liar.Creds)
		if err == nil {
			break
		}
		if status.Code(err) != codes.NotFound || time.Now().After(deadline) {
			t.Fatalf("first heartbeat: %v", err)
		}
	}
	go func() {
		for ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			beat()
		}
	}()
	q.WaitHealthy(t, 3)

	coord := tsskitv1.NewCoordinatorServiceClient(conn)
	seats := map[string]int{}
	var refusal error
	for i := range 60 {
		start := time.Now()
		resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3,
			ClientPartyIds: []string{"absent-" + strconv.Itoa(i)}}, q.Admin(t))
		if err != nil {
			if took := time.Since(start); took > time.Second {
				t.Errorf("refusal took %v", took)
			}
			refusal = err
			break
		}
		for _, p := range resp.Parties {
			if !strings.HasPrefix(p, "absent-") {
				seats[p]++
			}
		}
	}
	if _, ok := coordinator.Overloaded(refusal); !ok {
		t.Fatalf("no overload refusal after %v: %v", seats, refusal)
	}
	// An honest party with k keygens ahead of a new one and r pre-parameter
	// sets ready plans it to finish at (docs/scaling.md, default costs
	// c_keygen 4 s, c_preparams 15 s)
	//   (k·c_keygen + max(0, k−r)·c_preparams)/slots + c_keygen + (k ≥ r ? c_preparams : 0)
	// and admits it while that is at most 70% of the deadline. The quorum
	// seeds at most 2 sets per party (r ≤ 2): bound is the most keygens an
	// honest party can be given, whatever the liar says.
	finish := func(k, r int) float64 {
		f := (4*float64(k)+15*float64(max(0, k-r)))/slots + 4
		if k >= r {
			f += 15
		}
		return f
	}
	bound := 0
	for finish(bound, 2) <= within.Seconds()*0.7 {
		bound++
	}
	honest := []string{}
	for p := range seats {
		if p != liar.ID {
			honest = append(honest, p)
		}
	}
	if len(honest) != 2 {
		t.Fatalf("seats %v: want the two honest parties in them", seats)
	}
	for _, p := range honest {
		if seats[p] > bound {
			t.Errorf("honest party %s was given %d keygens; its stated %d slots allow %d", p, seats[p], slots, bound)
		}
		if seats[liar.ID] > seats[p]+1 {
			t.Errorf("the liar was picked for %d keygens, honest %s for %d: picking took its word", seats[liar.ID], p, seats[p])
		}
	}
	t.Logf("seats before the refusal: %v (an honest party's bound: %d); then: %v", seats, bound, refusal)
}

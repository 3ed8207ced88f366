package coordinator_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// TestStallDeadlineIsProgressBased: a running session whose parties keep
// reaching new rounds outlives the stall timeout several times over; once
// they stop, it fails within about the stall timeout, naming the party that
// is gone (here: the one with no open event stream).
func TestStallDeadlineIsProgressBased(t *testing.T) {
	const stall = 1500 * time.Millisecond // a loaded machine delays a report by a few hundred ms
	q := quorumtest.Start(t, quorumtest.Options{ServerParties: 2, StallTimeout: stall})
	ctx := context.Background()
	coord := tsskitv1.NewCoordinatorServiceClient(q.Conn(t).Coordinator)
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{
		SignersNeeded: 2, Parties: 2, ClientPartyIds: []string{"slow-a", "slow-b"},
	}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]grpc.CallOption{}
	for _, tk := range resp.Tokens {
		creds[tk.PartyId] = grpc.PerRPCCredentials(serve.Bearer(tk.Token))
	}
	// slow-a watches (it is connected); slow-b never does.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch, err := coord.WatchSession(wctx, &tsskitv1.WatchSessionRequest{SessionId: resp.SessionId}, creds["slow-a"])
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan *tsskitv1.SessionEvent_Failed, 1)
	var failedAt time.Time
	go func() {
		for {
			ev, err := watch.Recv()
			if err != nil {
				return
			}
			if f := ev.GetFailed(); f != nil {
				failedAt = time.Now()
				failed <- f
				return
			}
		}
	}()
	for _, p := range []string{"slow-a", "slow-b"} {
		k := q.JoinKeys(t, resp, p, nil)
		if _, err := coord.Join(ctx, &tsskitv1.JoinRequest{SessionId: resp.SessionId, Keys: k}, creds[p]); err != nil {
			t.Fatal(err)
		}
	}
	// Eight steps of progress, a third of the stall timeout apart: the
	// session runs for more than twice the stall timeout.
	started := time.Now()
	var last time.Time
	for round := uint32(1); round <= 4; round++ {
		for _, p := range []string{"slow-a", "slow-b"} {
			time.Sleep(stall / 3)
			// Taken before the call: the coordinator records the progress
			// later than this, so a failure before last+stall is early.
			sent := time.Now()
			if _, err := coord.ReportProgress(ctx, &tsskitv1.ReportProgressRequest{SessionId: resp.SessionId, PartyId: p, Round: round, Rounds: 4}, creds[p]); err != nil {
				t.Fatal(err)
			}
			last = sent
			select {
			case f := <-failed:
				t.Fatalf("a progressing session failed after %s: %v", time.Since(started), f)
			default:
			}
		}
	}
	if time.Since(started) < 2*stall {
		t.Fatalf("progress took only %s", time.Since(started))
	}
	select {
	case f := <-failed:
		if idle := failedAt.Sub(last); idle < stall {
			t.Fatalf("failed %s after the last progress, before the stall timeout %s", idle, stall)
		}
		if f.Code != "stalled" || !slices.Equal(f.Culprits, []string{"slow-b"}) {
			t.Fatalf("failed %q %q culprits %v; want stalled naming slow-b", f.Code, f.Reason, f.Culprits)
		}
		t.Logf("stalled session failed %s after its last progress: %s", failedAt.Sub(last).Round(time.Millisecond), f.Reason)
	case <-time.After(10 * stall):
		t.Fatal("a stalled session was not failed")
	}
}

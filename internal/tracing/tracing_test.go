package tracing_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/tracing"
	"github.com/rwadurian/tsskit/party"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

func install(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); tp.Shutdown(context.Background()) })
	return exp
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// waitSpans waits until the spans of trace tid satisfy done (spans end as
// sessions wind down, a little after the API answers, and each party's seat
// ends on its own time).
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, tid trace.TraceID, done func(tracetest.SpanStubs) bool) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var in tracetest.SpanStubs
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID() == tid {
				in = append(in, s)
			}
		}
		if done(in) || time.Now().After(deadline) {
			return in
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// named reports whether spans hold at least n spans named name.
func named(name string, n int) func(tracetest.SpanStubs) bool {
	return func(spans tracetest.SpanStubs) bool {
		c := 0
		for _, s := range spans {
			if s.Name == name {
				c++
			}
		}
		return c >= n
	}
}

// One trace per session: an account keygen and a signing through the
// account API, each one trace that holds the coordinator's root span, every
// server party's seat with a span per protocol round, and the router's
// publishes, all under the root whose ids the session id gives.
func TestOneTracePerSession(t *testing.T) {
	exp := install(t)
	q := quorumtest.Start(t, quorumtest.Options{})
	code, acct := quorumtest.CallAPI(t, q.APIURL, "POST", "/api/v1/accounts", q.APIKey, "", `{"user_id":"traced","share_password":"trace pw 9 cobalt"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, acct)
	}
	d := sha256.Sum256([]byte("traced"))
	code, sig := quorumtest.CallAPI(t, q.APIURL, "POST", "/api/v1/accounts/"+acct["account_id"].(string)+"/sign", q.APIKey, "", `{"message":"`+hex.EncodeToString(d[:])+`"}`)
	if code != 200 {
		t.Fatalf("sign: %d %v", code, sig)
	}

	roots := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if strings.HasPrefix(s.Name, "tsskit.session ") {
			roots[attr(s, "tsskit.session.kind")] = s
		}
	}
	for kind, rounds := range map[string]int{"keygen": 4, "sign": 10} {
		root, ok := roots[kind]
		if !ok {
			t.Fatalf("no %s session span among %d spans", kind, len(exp.GetSpans()))
		}
		sid := attr(root, "tsskit.session.id")
		tid, rootID := tracing.SessionIDs(sid)
		if root.SpanContext.TraceID() != tid || root.SpanContext.SpanID() != rootID || root.Parent.IsValid() {
			t.Fatalf("%s root span: trace %s span %s parent %v; want the ids of session %s", kind, root.SpanContext.TraceID(), root.SpanContext.SpanID(), root.Parent, sid)
		}
		if root.Status.Code == codes.Error {
			t.Fatalf("%s root failed: %v", kind, root.Status)
		}
		// Both server seats end their last round and their seat span.
		spans := waitSpans(t, exp, tid, func(in tracetest.SpanStubs) bool {
			seatSpans := 0
			for _, s := range in {
				if strings.HasPrefix(s.Name, "tsskit.party ") {
					seatSpans++
				}
			}
			return seatSpans >= 2 && named("round "+strconv.Itoa(rounds), 2)(in)
		})
		seats, publishes := map[string]bool{}, 0
		roundsSeen := map[string]map[string]bool{}
		byID := map[trace.SpanID]tracetest.SpanStub{}
		for _, s := range spans {
			byID[s.SpanContext.SpanID()] = s
		}
		for _, s := range spans {
			switch {
			case strings.HasPrefix(s.Name, "tsskit.party "):
				if s.Parent.SpanID() != rootID {
					t.Errorf("%s seat span's parent is %s, not the session root", kind, s.Parent.SpanID())
				}
				seats[attr(s, "tsskit.party")] = true
			case s.Name == "tsskit.router.publish":
				publishes++
				if s.Parent.SpanID() != rootID {
					t.Errorf("publish span's parent is not the session root")
				}
			case strings.HasPrefix(s.Name, "round "):
				seat := byID[s.Parent.SpanID()]
				p := attr(seat, "tsskit.party")
				if roundsSeen[p] == nil {
					roundsSeen[p] = map[string]bool{}
				}
				roundsSeen[p][s.Name] = true
			}
		}
		// The account keygen's two server holders run as server parties
		// (the user party runs inside the server-party API); the signing's
		// two server holders too.
		if len(seats) != 2 || publishes == 0 {
			t.Fatalf("%s trace: seats %v, %d publishes (%d spans)", kind, seats, publishes, len(spans))
		}
		for p := range seats {
			if len(roundsSeen[p]) != rounds {
				t.Errorf("%s: %s has round spans %v, want %d", kind, p, roundsSeen[p], rounds)
			}
		}
	}
}

// A failed session's root span carries the code and culprits, and a
// party's seat span the engine's.
func TestFailureOnSpans(t *testing.T) {
	exp := install(t)
	q := quorumtest.Start(t, quorumtest.Options{})
	conn := q.Conn(t)
	ctx := context.Background()
	coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
	resp, err := coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{Name: "x", SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{"client-1"}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = coord.ReportResult(ctx, &tsskitv1.ReportResultRequest{SessionId: resp.SessionId, PartyId: "client-1",
		Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: "protocol", Reason: "gave up"}}},
		grpc.PerRPCCredentials(serve.Bearer(resp.Tokens[0].Token)))
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := tracing.SessionIDs(resp.SessionId)
	spans := waitSpans(t, exp, tid, named("tsskit.session keygen", 1))
	var root *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == "tsskit.session keygen" {
			root = &spans[i]
		}
	}
	if root == nil || root.Status.Code != codes.Error || attr(*root, "tsskit.failure.code") != "protocol" || attr(*root, "tsskit.failure.culprits") != `["client-1"]` {
		t.Fatalf("failed root span: %+v", root)
	}

	// A seat's failure keeps the engine's code and culprits.
	ps := tracing.StartParty(ctx, "s-1", "server-1", "sign")
	ps.Round(1)
	ps.Round(3)
	ps.Fail(&party.Error{Code: party.CodeSeal, Culprits: []string{"server-2"}})
	ps.End()
	var seat tracetest.SpanStub
	var rounds []string
	for _, s := range exp.GetSpans() {
		if s.Name == "tsskit.party sign" {
			seat = s
		}
		if strings.HasPrefix(s.Name, "round ") && attr(s, "tsskit.round") != "" {
			if p := s.Parent.SpanID(); p.IsValid() {
				rounds = append(rounds, s.Name)
			}
		}
	}
	if attr(seat, "tsskit.failure.code") != "seal" || attr(seat, "tsskit.failure.culprits") != `["server-2"]` || seat.Status.Code != codes.Error {
		t.Fatalf("seat span: %+v", seat)
	}
	if !slices.Contains(rounds, "round 1") || !slices.Contains(rounds, "round 3") || slices.Contains(rounds, "round 2") {
		t.Fatalf("round spans %v", rounds)
	}
}

package router_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/auth"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// FuzzPublish decodes arbitrary bytes as a PublishRequest, as gRPC does
// with what a client sends, and calls Publish with the verified claims of
// party "a" of session "s" (parties a, b, c). Publish must never panic and
// must refuse with a client-side status (never Internal, Unknown or
// Unavailable, which would blame the router or its bus). What it stores
// must be an envelope of the token's session and party, for another party
// of the session or for all, with sender_seq ≥ 1, and its stored bytes
// must decode to the published envelope without seq and be canonical
// (deterministic protobuf). Publishing the same request again (a retry)
// must give the same seq.
func FuzzPublish(f *testing.F) {
	payload := make([]byte, 64)
	sig := make([]byte, 64)
	for _, e := range []*tsskitv1.Envelope{
		{SessionId: "s", From: "a", Round: 1, SenderSeq: 1, Payload: payload, Signature: sig},
		{SessionId: "s", From: "a", To: "b", Round: 2, SenderSeq: 2, Payload: payload, Signature: sig, Seq: 99},
		{SessionId: "s", From: "a", To: "a", Round: 2, SenderSeq: 3},
		{SessionId: "s", From: "a", To: "x", Round: 2, SenderSeq: 3},
		{SessionId: "s", From: "a", SenderSeq: 0},
		{SessionId: "s", From: "b", SenderSeq: 1},
		{SessionId: "t", From: "a", SenderSeq: 1},
		{SessionId: "s", From: "a", SenderSeq: 1, Payload: make([]byte, router.DefaultLimits.MaxEnvelope)},
	} {
		b, err := proto.Marshal(&tsskitv1.PublishRequest{Envelope: e})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})                                     // no envelope
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x80})               // truncated envelope
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x01, 's', 0x68, 1}) // an unknown field inside the envelope
	log := slog.New(slog.DiscardHandler)
	claims := &auth.Claims{Kind: auth.KindParty, Subject: "a", Session: "s", Expires: time.Now().Add(time.Hour)}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(tsskitv1.PublishRequest)
		if err := proto.Unmarshal(data, req); err != nil {
			return // gRPC refuses it before the handler runs
		}
		ctx := auth.NewContext(context.Background(), claims)
		bus := router.NewMemoryBus()
		if err := bus.Open(ctx, router.SessionInfo{ID: "s", Parties: []string{"a", "b", "c"}, Expires: time.Now().Add(time.Hour),
			MaxBytes: router.DefaultLimits.MaxSessionBytes, MaxEnvelopes: router.DefaultLimits.MaxSessionEnvs}); err != nil {
			t.Fatal(err)
		}
		svc := router.New(bus, router.DefaultLimits, log)
		resp, err := svc.Publish(ctx, req)
		if err != nil {
			st, ok := status.FromError(err)
			if !ok {
				t.Fatalf("Publish error is not a gRPC status: %v", err)
			}
			switch st.Code() {
			case codes.InvalidArgument, codes.PermissionDenied, codes.ResourceExhausted, codes.NotFound,
				codes.FailedPrecondition, codes.AlreadyExists, codes.Unauthenticated:
			default:
				t.Fatalf("Publish refused with %v", err)
			}
			return
		}
		env := req.GetEnvelope()
		if env.SessionId != "s" || env.From != "a" || env.SenderSeq == 0 || !(env.To == "" || env.To == "b" || env.To == "c") {
			t.Fatalf("Publish accepted %v", env)
		}
		if resp.Seq != 1 {
			t.Fatalf("first envelope of a session stored at seq %d", resp.Seq)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second) // Read waits for a first entry
		defer cancel()
		entries, err := bus.Read(rctx, "s", 0, 10)
		if err != nil || len(entries) != 1 {
			t.Fatalf("stored entries %v, %v", entries, err)
		}
		e := entries[0]
		if e.Seq != resp.Seq || e.From != env.From || e.To != env.To || e.SenderSeq != env.SenderSeq {
			t.Fatalf("stored entry %+v for %v", e, env)
		}
		stored := new(tsskitv1.Envelope)
		if err := proto.Unmarshal(e.Data, stored); err != nil {
			t.Fatalf("stored data does not decode: %v", err)
		}
		want := proto.Clone(env).(*tsskitv1.Envelope)
		want.Seq = 0
		if !proto.Equal(stored, want) {
			t.Fatalf("stored %v; published %v", stored, env)
		}
		if again, err := (proto.MarshalOptions{Deterministic: true}).Marshal(stored); err != nil || string(again) != string(e.Data) {
			t.Fatalf("stored data is not canonical (err %v)", err)
		}
		if resp2, err := svc.Publish(ctx, req); err != nil || resp2.Seq != resp.Seq {
			t.Fatalf("retried publish: %v, %v; want seq %d", resp2, err, resp.Seq)
		}
	})
}

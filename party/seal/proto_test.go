package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/party/seal"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// The hand-written codec and the generated one agree, both ways.
func TestProtoMatchesGenerated(t *testing.T) {
	for _, e := range []*seal.Envelope{
		{SessionID: "s", From: "a", To: "b", Round: 3, SenderSeq: 7, Payload: []byte("p"), Signature: bytes.Repeat([]byte{9}, 64), Seq: 12},
		{SessionID: "s", From: "a", Round: 1, SenderSeq: 1, Payload: bytes.Repeat([]byte{1}, 70000), Signature: []byte{1}},
	} {
		ours, err := e.MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		gen := &tsskitv1.Envelope{SessionId: e.SessionID, From: e.From, To: e.To, Round: e.Round, SenderSeq: e.SenderSeq, Payload: e.Payload, Signature: e.Signature, Seq: e.Seq}
		theirs, err := proto.MarshalOptions{Deterministic: true}.Marshal(gen)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Fatal("encodings differ")
		}
		back, err := seal.UnmarshalProto(theirs)
		if err != nil {
			t.Fatal(err)
		}
		if back.SessionID != e.SessionID || back.From != e.From || back.To != e.To || back.Round != e.Round ||
			back.SenderSeq != e.SenderSeq || back.Seq != e.Seq || !bytes.Equal(back.Payload, e.Payload) || !bytes.Equal(back.Signature, e.Signature) {
			t.Fatalf("round trip: %+v", back)
		}
	}
}

func TestProtoRejects(t *testing.T) {
	good, _ := (&seal.Envelope{SessionID: "s", From: "a", Round: 1, SenderSeq: 1, Payload: []byte("p"), Signature: []byte("x")}).MarshalProto()
	// An unknown field is skipped.
	withUnknown := append(append([]byte(nil), good...), 0x4a, 0x01, 0x00) // field 9, bytes, len 1
	if _, err := seal.UnmarshalProto(withUnknown); err != nil {
		t.Fatalf("unknown field: %v", err)
	}
	for name, data := range map[string][]byte{
		"truncated":       good[:len(good)-1],
		"wrong wire type": append([]byte{0x08, 0x01}, good...), // field 1 as varint
		"no session":      {0x12, 0x01, 'a'},
		"bad tag":         {0xff},
		"too large":       make([]byte, seal.MaxEnvelope+1),
	} {
		_, err := seal.UnmarshalProto(data)
		if !errors.Is(err, seal.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzUnmarshalProto(f *testing.F) {
	good, _ := (&seal.Envelope{SessionID: "s", From: "a", To: "b", Round: 1, SenderSeq: 1, Payload: []byte("p"), Signature: []byte("x"), Seq: 3}).MarshalProto()
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := seal.UnmarshalProto(data)
		if err != nil {
			return
		}
		again, err := e.MarshalProto()
		if err != nil {
			t.Fatalf("decoded envelope does not encode: %v", err)
		}
		e2, err := seal.UnmarshalProto(again)
		if err != nil || e2.SessionID != e.SessionID || !bytes.Equal(e2.Payload, e.Payload) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

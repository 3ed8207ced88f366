package seal

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// Fuzz targets for the two envelope codecs and for Channel.Open. FuzzOpen
// (fuzz_test.go) and FuzzUnmarshalProto (proto_test.go) cover the basics;
// these add the properties between the codecs and the paths after the
// signature check, which a fuzzer cannot reach by mutating signed bytes.

// sameEnvelope reports whether a and b have equal fields (nil and empty
// byte slices are equal: neither codec tells them apart).
func sameEnvelope(a, b *Envelope) bool {
	return a.SessionID == b.SessionID && a.From == b.From && a.To == b.To && a.Round == b.Round &&
		a.SenderSeq == b.SenderSeq && a.Seq == b.Seq &&
		bytes.Equal(a.Payload, b.Payload) && bytes.Equal(a.Signature, b.Signature)
}

// checkSealError fails unless err is an *Error with one of the package's
// codes.
func checkSealError(t *testing.T, what string, err error) *Error {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("%s: error %T %v is not a *seal.Error", what, err, err)
	}
	switch e.Code {
	case CodeMalformed, CodeTooLarge, CodeWrongSession, CodeNotForMe, CodeUnknownSender,
		CodeBadSignature, CodeDecrypt, CodeDuplicate, CodeEquivocation:
	default:
		t.Fatalf("%s: unknown code %q", what, e.Code)
	}
	return e
}

// FuzzProtoEnvelope feeds arbitrary bytes to UnmarshalProto, the decoder of
// what the router delivers (and of what JavaScript hands the wasm engine).
// Whatever it accepts must
//   - re-encode (MarshalProto) to bytes that decode to the same envelope,
//     and re-encoding those gives the same bytes (the encoding is canonical);
//   - survive the compact binary codec unchanged: both codecs accept the
//     same envelopes;
//   - be refused by Channel.Open with a classified *Error (nobody but the
//     roster's members can sign), never a panic.
func FuzzProtoEnvelope(f *testing.F) {
	tr := newTrio(f, "fuzz-session")
	for _, to := range []string{"", "b", "c"} {
		e := mustSeal(f, tr.ch["a"], to, 2, []byte("seed payload"))
		e.Seq = 9
		b, err := e.MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// Fields out of order, repeated, and an unknown field: all legal
		// protobuf that the generated code would accept too.
		f.Add(append(append([]byte{0x40, 0x01, 0x0a, 0x01, 'x'}, b...), 0x4a, 0x01, 0x00))
	}
	f.Add([]byte{0x0a, 0x01, 's', 0x12, 0x01, 'a'})                                     // session and sender only
	f.Add([]byte{0x0a, 0x01, 's', 0x12, 0x01, 'a', 0x20, 0x80, 0x80, 0x80, 0x80, 0x10}) // round 2^32
	f.Add([]byte{0x0a, 0x01, 's', 0x12, 0x01, 'a', 0x3a, 0x41})                         // truncated signature
	f.Add([]byte{0x0a, 0x80, 0x01})                                                     // session of 128 bytes, absent
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := UnmarshalProto(data)
		if err != nil {
			if e != nil {
				t.Fatal("UnmarshalProto returned an envelope and an error")
			}
			checkSealError(t, "UnmarshalProto", err)
			return
		}
		enc, err := e.MarshalProto()
		if err != nil {
			t.Fatalf("a decoded envelope does not encode: %v", err)
		}
		back, err := UnmarshalProto(enc)
		if err != nil || !sameEnvelope(back, e) {
			t.Fatalf("proto round trip: %+v, %v; want %+v", back, err, e)
		}
		if enc2, err := back.MarshalProto(); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("proto encoding is not canonical (err %v)", err)
		}

		bin, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("an envelope UnmarshalProto accepts does not MarshalBinary: %v", err)
		}
		fromBin, err := UnmarshalEnvelope(bin)
		if err != nil {
			t.Fatalf("UnmarshalEnvelope refuses what UnmarshalProto accepted (%+v): %v", e, err)
		}
		if !sameEnvelope(fromBin, e) {
			t.Fatalf("binary round trip: %+v; want %+v", fromBin, e)
		}

		ch, err := NewChannel("fuzz-session", "b", tr.keys["b"], tr.roster)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := ch.Open(e)
		if err == nil {
			// Only a seed, signed by a, can get here: its bytes came from
			// Seal, so the signature covers exactly these fields.
			if e.From != "a" || !ed25519.Verify(tr.roster["a"].Ed25519, e.SignedBytes(), e.Signature) {
				t.Fatalf("Open accepted an envelope a did not sign: %+v", e)
			}
			if e.To == "" && !bytes.Equal(pt, e.Payload) {
				t.Fatal("broadcast opened to something else than its payload")
			}
			return
		}
		checkSealError(t, "Open", err)
	})
}

// FuzzEnvelopeFields builds envelopes from arbitrary fields. Each encoder
// must either refuse the envelope or produce bytes its decoder gives back
// unchanged ("never write what the decoder refuses"), and the two encoders
// must agree on which envelopes they accept.
func FuzzEnvelopeFields(f *testing.F) {
	f.Add("s", "a", "b", uint32(2), uint64(1), uint64(7), []byte("payload"), bytes.Repeat([]byte{1}, 64))
	f.Add("s", "a", "", uint32(1), uint64(1<<63), uint64(0), []byte{}, []byte{})
	f.Add("", "a", "", uint32(0), uint64(0), uint64(0), []byte(nil), []byte(nil))
	f.Add("s", "a", "b", uint32(1<<32-1), uint64(1), uint64(1), []byte("p"), bytes.Repeat([]byte{2}, 65))
	f.Add(string(bytes.Repeat([]byte{'x'}, MaxIDLen+1)), "a", "", uint32(0), uint64(0), uint64(0), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, session, from, to string, round uint32, senderSeq, seq uint64, payload, sig []byte) {
		e := &Envelope{SessionID: session, From: from, To: to, Round: round, SenderSeq: senderSeq, Seq: seq, Payload: payload, Signature: sig}
		pb, perr := e.MarshalProto()
		bin, berr := e.MarshalBinary()
		if (perr == nil) != (berr == nil) {
			t.Fatalf("MarshalProto error %v, MarshalBinary error %v", perr, berr)
		}
		if perr != nil {
			checkSealError(t, "MarshalProto", perr)
			checkSealError(t, "MarshalBinary", berr)
			return
		}
		if d, err := UnmarshalProto(pb); err != nil || !sameEnvelope(d, e) {
			t.Fatalf("UnmarshalProto(MarshalProto(%+v)) = %+v, %v", e, d, err)
		}
		if d, err := UnmarshalEnvelope(bin); err != nil || !sameEnvelope(d, e) {
			t.Fatalf("UnmarshalEnvelope(MarshalBinary(%+v)) = %+v, %v", e, d, err)
		}
	})
}

// FuzzOpenSigned opens envelopes that a roster member really signed but
// whose fields and payload are arbitrary: what a compromised or buggy peer
// can send. The fuzzer cannot forge a signature, so without signing here it
// would never reach the checks after it (sender_seq, replay, HPKE). Open
// must never panic, must accept a broadcast for b of its own session and
// return its payload, must refuse a point-to-point payload that Seal did
// not make (the AEAD does not authenticate it), and must report a second
// Open of the same envelope as a duplicate.
func FuzzOpenSigned(f *testing.F) {
	tr := newTrio(f, "fuzz-session")
	// A real sealed payload for b, to start the fuzzer from a ciphertext.
	sealed := mustSeal(f, tr.ch["a"], "b", 2, []byte("a share for b"))
	f.Add("fuzz-session", "b", uint32(2), uint64(1), sealed.Payload)
	f.Add("fuzz-session", "", uint32(1), uint64(2), []byte("commitment"))
	f.Add("fuzz-session", "c", uint32(1), uint64(3), []byte("for c"))
	f.Add("fuzz-session", "b", uint32(1), uint64(0), []byte("seq 0"))
	f.Add("other-session", "", uint32(1), uint64(1), []byte("x"))
	f.Add("fuzz-session", "b", uint32(3), uint64(4), []byte("short"))
	f.Fuzz(func(t *testing.T, session, to string, round uint32, senderSeq uint64, payload []byte) {
		e := &Envelope{SessionID: session, From: "a", To: to, Round: round, SenderSeq: senderSeq, Payload: payload}
		e.Signature = ed25519.Sign(tr.keys["a"].ed, e.SignedBytes())
		ch, err := NewChannel("fuzz-session", "b", tr.keys["b"], tr.roster)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := ch.Open(e)
		valid := e.checkSizes() == nil && session == "fuzz-session" && (to == "" || to == "b") && senderSeq != 0
		if err != nil {
			se := checkSealError(t, "Open", err)
			if valid && to == "" {
				t.Fatalf("a validly signed broadcast was refused: %v", err)
			}
			if valid && se.Code != CodeDecrypt {
				t.Fatalf("a validly signed envelope for b was refused with %v, want a decrypt error", err)
			}
			if se.Code != CodeMalformed && se.Code != CodeTooLarge && se.Sender != "a" {
				t.Fatalf("refusal names sender %q, want a", se.Sender)
			}
			return
		}
		if !valid {
			t.Fatalf("Open accepted an invalid envelope %+v", e)
		}
		if to == "" && !bytes.Equal(pt, payload) {
			t.Fatal("broadcast opened to something else than its payload")
		}
		if to == "b" && !bytes.Equal(payload, sealed.Payload) {
			t.Fatalf("a point-to-point payload Seal did not make was opened: %x", payload)
		}
		if _, err := ch.Open(e); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("second Open of the same envelope: %v, want a duplicate", err)
		}
	})
}

package seal

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary bytes through the wire decoder and Channel.Open.
// Neither may panic, and anything Open accepts must re-encode to an envelope
// that decodes to the same fields.
func FuzzOpen(f *testing.F) {
	tr := newTrio(f, "fuzz-session")
	for _, to := range []string{"", "b", "c"} {
		e := mustSeal(f, tr.ch["a"], to, 1, []byte("seed payload"))
		b, _ := e.MarshalBinary()
		f.Add(b)
		b2 := append([]byte(nil), b...)
		b2[len(b2)/2] ^= 0xff
		f.Add(b2)
	}
	f.Add([]byte("TE\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := UnmarshalEnvelope(data)
		if err != nil {
			return
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded envelope does not re-encode: %v", err)
		}
		if again, err := UnmarshalEnvelope(b); err != nil || !bytes.Equal(again.SignedBytes(), e.SignedBytes()) {
			t.Fatalf("re-encoding changed the envelope: %v", err)
		}
		// A fresh channel each time: replay state must not depend on the
		// order the fuzzer runs inputs in.
		ch, err := NewChannel("fuzz-session", "b", tr.keys["b"], tr.roster)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := ch.Open(e); err == nil && e.To == "b" && bytes.Equal(pt, e.Payload) {
			t.Fatal("sealed payload opened to its own ciphertext")
		}
	})
}

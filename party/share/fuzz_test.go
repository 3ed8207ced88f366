package share

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// FuzzDecode checks that Decode never panics, that it fails only with an
// *Error of a known Code, and that whatever it accepts survives Encode and
// Decode unchanged.
func FuzzDecode(f *testing.F) {
	// Seeded from the golden record, not a keygen: fuzzing restarts its
	// worker processes often, and each would run the keygen again.
	valid := readGolden(f)
	for _, s := range [][]byte{
		valid,
		valid[:len(valid)/2],
		append(slices.Clip(valid), " {}"...),
		bytes.Replace(valid, []byte(`"version":1`), []byte(`"version":2`), 1),
		bytes.Replace(valid, []byte(`"threshold":2`), []byte(`"threshold":4`), 1),
		bytes.Replace(valid, []byte(`"Curve":"secp256k1"`), []byte(`"Curve":"ed25519"`), 1),
		[]byte(`{"format":"tsskit.share","version":1}`),
		[]byte(`{"format":"tsskit.share","version":1,"save_data":{"BigXj":[{"Curve":"ed25519","Coords":[1,2]}]}}`),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); !ok || e.sentinel() == nil || r != nil {
				t.Fatalf("Decode returned (%v, %v); want (nil, a classified *Error)", r, err)
			}
			return
		}
		enc, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode of a decoded record: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode of a re-encoded record: %v", err)
		}
		// Encode is deterministic, so equal encodings mean equal records.
		if enc2, err := Encode(again); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("record changed in a round trip (err %v)", err)
		}
	})
}

package recovery

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

// Under plain `go test` these run their seeds only; fuzz with
// go test ./party/recovery -run '^$' -fuzz FuzzDecode (or FuzzParseFile).

// FuzzDecode: Decode never panics, and what it accepts is canonical — it
// encodes back to the very bytes — and agrees with the file form.
func FuzzDecode(f *testing.F) {
	for _, av := range loadVectors(f).Authorization {
		b, _ := hex.DecodeString(av.Wire)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(b, 0))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(b)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(a.Encode(), b) {
			t.Fatalf("Decode accepted a non-canonical encoding %x", b)
		}
		fb, err := a.MarshalFile()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseFile(fb)
		if err != nil || !bytes.Equal(p.Encode(), b) {
			t.Fatalf("file form of %x: %v", b, err)
		}
		_ = a.Check(a.WalletID, a.Epoch, time.UnixMilli(0))
	})
}

// FuzzParseFile: ParseFile never panics, and what it accepts has a valid
// wire form that decodes to the same authorization.
func FuzzParseFile(f *testing.F) {
	for _, av := range loadVectors(f).Authorization {
		f.Add([]byte(av.File))
		f.Add([]byte(av.File[:len(av.File)/2]))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"tsskit-recovery-authorization","version":1,"format":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseFile(b)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		w := a.Encode()
		d, err := Decode(w)
		if err != nil || !sameAuthorization(a, d) {
			t.Fatalf("wire form of a parsed file: %v", err)
		}
		fb, err := a.MarshalFile()
		if err != nil {
			t.Fatal(err)
		}
		if p, err := ParseFile(fb); err != nil || !sameAuthorization(a, p) {
			t.Fatalf("file form round trip: %v", err)
		}
	})
}

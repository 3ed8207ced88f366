package preparams_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/rwadurian/tsskit/party/preparams"
)

// FuzzUnmarshal feeds arbitrary bytes to Unmarshal, which reads
// pre-parameters from a vault file or from JavaScript. It must never
// panic and must fail only with ErrInvalid; whatever it accepts must pass
// Validate, and its Marshal form must be accepted again and re-encode to
// the same bytes.
//
// Seeds: the first set of the shared fixture (valid: each run of it costs
// a Validate, about a tenth of a second) and variants of it that fail at
// each stage: JSON, unknown or missing fields, trailing data, values of the
// wrong type or sign, and a valid shape with numbers that are not primes.
func FuzzUnmarshal(f *testing.F) {
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		f.Fatal(err)
	}
	var sets []json.RawMessage
	if err := json.Unmarshal(raw, &sets); err != nil || len(sets) == 0 {
		f.Fatalf("fixture %s: %v", fixturePath, err)
	}
	pp, err := preparams.Unmarshal(sets[0])
	if err != nil {
		f.Fatal(err)
	}
	valid, err := preparams.Marshal(pp)
	if err != nil {
		f.Fatal(err)
	}
	small := []byte(`{"PaillierSK":{"N":35,"LambdaN":12,"PhiN":24,"P":5,"Q":7},"NTildei":77,"H1i":4,"H2i":9,"Alpha":3,"Beta":5,"P":2,"Q":3}`)
	for _, s := range [][]byte{
		valid,
		sets[0], // indented, as the fixture keeps it
		valid[:len(valid)/2],
		append(bytes.Clone(valid), `{}`...),
		bytes.Replace(valid, []byte(`"Alpha"`), []byte(`"Gamma"`), 1),
		bytes.Replace(valid, []byte(`"PaillierSK":{`), []byte(`"PaillierSK":null,"X":{`), 1),
		bytes.Replace(valid, []byte(`"H1i":`), []byte(`"H1i":-`), 1),
		bytes.Replace(valid, []byte(`"Beta":`), []byte(`"Beta":"1",`+`"B":`), 1),
		small,
		[]byte(`{}`),
		[]byte(`{"PaillierSK":{}}`),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(``),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pp, err := preparams.Unmarshal(data)
		if err != nil {
			if pp != nil || !errors.Is(err, preparams.ErrInvalid) {
				t.Fatalf("Unmarshal = %v, %v; want nil and ErrInvalid", pp, err)
			}
			return
		}
		if err := preparams.Validate(pp); err != nil {
			t.Fatalf("Unmarshal accepted pre-parameters Validate refuses: %v", err)
		}
		enc, err := preparams.Marshal(pp)
		if err != nil {
			t.Fatalf("accepted pre-parameters do not marshal: %v", err)
		}
		again, err := preparams.Unmarshal(enc)
		if err != nil {
			t.Fatalf("Unmarshal refuses Marshal's output: %v", err)
		}
		if enc2, err := preparams.Marshal(again); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("Marshal(Unmarshal(Marshal(x))) differs from Marshal(x) (err %v)", err)
		}
	})
}

package preparams

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// Marshal encodes pre-parameters as JSON: keygen.LocalPreParams with its
// field names and the integers as decimal numbers, the shape tss-lib's own
// fixtures use. It only checks that no field is missing; Unmarshal
// validates.
func Marshal(pp *keygen.LocalPreParams) ([]byte, error) {
	if err := checkFields(pp); err != nil {
		return nil, err
	}
	return json.Marshal(pp)
}

// Unmarshal decodes what Marshal encodes and runs Validate on it. Unknown
// fields and trailing data are rejected.
func Unmarshal(data []byte) (*keygen.LocalPreParams, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pp keygen.LocalPreParams
	if err := dec.Decode(&pp); err != nil {
		return nil, &Error{Code: CodeInvalid, Msg: "decoding pre-parameters", Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalidf("trailing data after the pre-parameters")
	}
	if err := Validate(&pp); err != nil {
		return nil, err
	}
	return &pp, nil
}

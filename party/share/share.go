package share

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/sha3"
)

const (
	// Format is the tag every record carries in its "format" key.
	Format = "tsskit.share"
	// Version is the format version Encode writes.
	Version = 1
	// MaxRecordSize bounds an encoding in bytes; Decode rejects longer input
	// before parsing it. A 16-party record is about 50 KiB.
	MaxRecordSize = 1 << 20
)

// Record is one party's key share of one wallet.
type Record struct {
	// WalletID identifies the wallet (a UUID).
	WalletID string
	// PartyID is the owner of this share; it is one of Parties.
	PartyID string
	// Threshold is the number of signers needed, e.g. 2 for 2-of-3.
	// tss-lib's threshold parameter is Threshold-1.
	Threshold int
	// Parties is the keygen roster in roster.Key order, the order of
	// SaveData.Ks. Encode does not sort it: a roster in another order means
	// the caller mixed up its data, and Encode says so rather than guess.
	// roster.New(ids).IDs() returns the right order.
	Parties []string
	// PublicKey is the wallet public key, 33-byte compressed SEC1.
	PublicKey []byte
	// SaveData is tss-lib's keygen output for PartyID. It is secret.
	SaveData *keygen.LocalPartySaveData
}

// PublicKeyHex returns the wallet public key as lowercase hex.
func (r *Record) PublicKeyHex() string { return hex.EncodeToString(r.PublicKey) }

// Address returns the wallet's Ethereum address (see package-level
// Address). It returns "" if PublicKey is not a secp256k1 point, which
// cannot happen for a record that passed Validate.
func (r *Record) Address() string { return Address(r.PublicKey) }

// Address returns the Ethereum address of a secp256k1 public key (SEC1,
// compressed or not): "0x" and the last 20 bytes of Keccak-256 of the
// uncompressed point X||Y, in lowercase hex (no EIP-55 checksum), or "" if
// the bytes are not a point on the curve.
func Address(publicKey []byte) string {
	pub, err := secp256k1.ParsePubKey(publicKey)
	if err != nil {
		return ""
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:]) // drop the 0x04 prefix
	return "0x" + hex.EncodeToString(h.Sum(nil)[12:])
}

// recordV1 is the version 1 encoding.
type recordV1 struct {
	Format    string          `json:"format"`
	Version   int             `json:"version"`
	WalletID  string          `json:"wallet_id"`
	PartyID   string          `json:"party_id"`
	Threshold int             `json:"threshold"`
	Parties   []string        `json:"parties"`
	PublicKey string          `json:"public_key"`
	SaveData  json.RawMessage `json:"save_data"`
}

// Encode validates r and returns its encoding in the current Version.
func Encode(r *Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	sd, err := json.Marshal(r.SaveData)
	if err != nil {
		return nil, malformed("save_data", err)
	}
	b, err := json.Marshal(recordV1{
		Format:    Format,
		Version:   Version,
		WalletID:  r.WalletID,
		PartyID:   r.PartyID,
		Threshold: r.Threshold,
		Parties:   r.Parties,
		PublicKey: hex.EncodeToString(r.PublicKey),
		SaveData:  sd,
	})
	if err != nil {
		return nil, malformed("", err)
	}
	// Never write what Decode would refuse.
	if len(b) > MaxRecordSize {
		return nil, tooLarge(len(b))
	}
	return b, nil
}

// Decode parses and validates a record of any supported version.
func Decode(b []byte) (*Record, error) {
	if len(b) > MaxRecordSize {
		return nil, tooLarge(len(b))
	}
	fields, err := readObject(b)
	if err != nil {
		return nil, err
	}
	version, err := readHeader(fields)
	if err != nil {
		return nil, err
	}
	var r *Record
	switch version {
	case 1:
		r, err = decodeV1(fields)
	default:
		return nil, &Error{Code: CodeUnsupportedVersion, Field: "version", Version: version}
	}
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func tooLarge(n int) *Error {
	return &Error{Code: CodeTooLarge, Err: fmt.Errorf("%d bytes; want at most %d", n, MaxRecordSize)}
}

// readObject splits b, which must be exactly one JSON object, into the raw
// values of its keys. It walks the tokens itself because encoding/json
// alone matches keys case-insensitively and lets a duplicate key win
// silently.
func readObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	if tok != json.Delim('{') {
		return nil, malformedf("", "want a JSON object")
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, malformedf("", "want a string key")
		}
		if _, dup := fields[key]; dup {
			return nil, malformedf(key, "duplicate key")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxError(err)
		}
		fields[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformedf("", "data after the record")
	}
	return fields, nil
}

// syntaxError classifies a JSON decoding error: input that ends early is
// truncated, anything else is malformed.
func syntaxError(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Code: CodeTruncated, Err: io.ErrUnexpectedEOF}
	}
	return malformed("", err)
}

// readHeader checks the format tag and returns the version.
func readHeader(fields map[string]json.RawMessage) (int, error) {
	var format string
	if err := field(fields, "format", &format); err != nil {
		return 0, err
	}
	if format != Format {
		return 0, malformedf("format", "want %q", Format)
	}
	var version int
	if err := field(fields, "version", &version); err != nil {
		return 0, err
	}
	return version, nil
}

// field decodes the value of key into v; a missing key or a null value is
// malformed. Only for values that are not secret: math/big's errors
// quote the input.
func field(fields map[string]json.RawMessage, key string, v any) error {
	raw, ok := fields[key]
	if !ok {
		return malformedf(key, "missing")
	}
	if string(raw) == "null" {
		return malformedf(key, "null; want a value")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed(key, typeError(err))
	}
	return nil
}

// typeError replaces a *json.UnmarshalTypeError by the type that was
// expected: its own message quotes the offending value, which may be long.
func typeError(err error) error {
	typ, ok := errors.AsType[*json.UnmarshalTypeError](err)
	if !ok {
		return err
	}
	if typ.Field == "" {
		return fmt.Errorf("want %s", typ.Type)
	}
	return fmt.Errorf("%s: want %s", typ.Field, typ.Type)
}

// v1Field is a version 1 key and where its value goes.
type v1Field struct {
	key string
	dst any
}

func decodeV1(fields map[string]json.RawMessage) (*Record, error) {
	var v recordV1
	values := []v1Field{
		{"format", &v.Format},
		{"version", &v.Version},
		{"wallet_id", &v.WalletID},
		{"party_id", &v.PartyID},
		{"threshold", &v.Threshold},
		{"parties", &v.Parties},
		{"public_key", &v.PublicKey},
		{"save_data", &v.SaveData},
	}
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		if !slices.ContainsFunc(values, func(f v1Field) bool { return f.key == key }) {
			return nil, malformedf(key, "unknown key")
		}
	}
	for _, f := range values {
		if err := field(fields, f.key, f.dst); err != nil {
			return nil, err
		}
	}
	pub, err := hex.DecodeString(v.PublicKey)
	if err != nil {
		return nil, malformed("public_key", err)
	}
	sd, err := decodeSaveData(v.SaveData)
	if err != nil {
		return nil, err
	}
	return &Record{
		WalletID:  v.WalletID,
		PartyID:   v.PartyID,
		Threshold: v.Threshold,
		Parties:   v.Parties,
		PublicKey: pub,
		SaveData:  sd,
	}, nil
}

// decodeSaveData decodes tss-lib's JSON of LocalPartySaveData. Errors are
// reported without their text where it could quote a secret value.
func decodeSaveData(raw json.RawMessage) (sd *keygen.LocalPartySaveData, err error) {
	// tss-lib's unmarshalers (points, curves) are third-party code run on
	// untrusted input. They were read and fuzzed and do not panic; should a
	// later version do so, the record is reported malformed rather than
	// crash the caller. The checks in Validate do not rely on this.
	defer func() {
		if recover() != nil {
			sd, err = nil, malformedf("save_data", "tss-lib cannot decode it")
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sd); err != nil {
		return nil, malformed("save_data", saveDataError(err))
	}
	return sd, nil
}

// saveDataError describes a save_data decoding error. math/big's errors
// quote the offending text, which may be a secret (Xi, a Paillier prime), so
// only errors known to carry no values keep their text.
func saveDataError(err error) error {
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return typeError(err)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") ||
		strings.HasPrefix(msg, "ECPoint.UnmarshalJSON: ") {
		return errors.New(strings.TrimSpace(msg))
	}
	return errors.New("want tss-lib's JSON of keygen.LocalPartySaveData")
}

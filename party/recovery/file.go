package recovery

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
)

const (
	// FileFormat is the "format" of an authorization's file form.
	FileFormat = "tsskit-recovery-authorization"
	// FileVersion is the "version" of the file form.
	FileVersion = 1
	// MaxFileSize bounds a file ParseFile reads.
	MaxFileSize = 4096
	// fileTime is expires_at's layout: RFC 3339 in UTC, milliseconds.
	fileTime = "2006-01-02T15:04:05.000Z07:00"
)

// file is the file form, in its key order:
//
//	{
//	  "format": "tsskit-recovery-authorization",
//	  "version": 1,
//	  "kind": "kit" | "backend",
//	  "wallet_id": "…",
//	  "epoch": 0,
//	  "party_id": "…",
//	  "identity": "<64 hex>",
//	  "expires_at": "2026-01-02T03:04:05.678Z",
//	  "signer": "<64 hex>",
//	  "signature": "<128 hex>"
//	}
//
// It carries the same fields as the wire form, and the signature covers
// the same canonical encoding (Marshal), so a file and its Encode are the
// same authorization.
type file struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	Kind      string `json:"kind"`
	WalletID  string `json:"wallet_id"`
	Epoch     int    `json:"epoch"`
	PartyID   string `json:"party_id"`
	Identity  string `json:"identity"`
	ExpiresAt string `json:"expires_at"`
	Signer    string `json:"signer"`
	Signature string `json:"signature"`
}

// MarshalFile is a signed authorization's file form: an indented JSON
// object (see ParseFile) and a newline. The backend hands its approvals
// to users in this form; the CLI writes a kit authorization in it.
func (a *Authorization) MarshalFile() ([]byte, error) {
	if a.Encode() == nil {
		if _, err := a.Marshal(); err != nil {
			return nil, err
		}
		return nil, errorf(CodeMalformed, "the authorization is not signed")
	}
	f := file{
		Format: FileFormat, Version: FileVersion, Kind: a.Kind.String(), WalletID: a.WalletID, Epoch: a.Epoch, PartyID: a.PartyID,
		Identity: a.Identity.String(), ExpiresAt: a.Expires.UTC().Format(fileTime), Signer: a.Signer.String(),
		Signature: hex.EncodeToString(a.Signature),
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseFile reads MarshalFile's form and checks its fields, but not its
// signature (Check does). It is strict: one JSON object with exactly the
// keys of the form, each once and of its type (no nulls); format
// "tsskit-recovery-authorization" and version 1; hex keys of 32 bytes and
// a signature of 64; expires_at in RFC 3339 with at most millisecond
// precision; nothing after the object. Refusals are CodeMalformed.
func ParseFile(b []byte) (*Authorization, error) {
	if len(b) > MaxFileSize {
		return nil, errorf(CodeMalformed, "file of %d bytes; at most %d", len(b), MaxFileSize)
	}
	fields, err := readObject(b)
	if err != nil {
		return nil, err
	}
	var f file
	type field struct {
		key string
		v   any
	}
	dst := []field{
		{"format", &f.Format}, {"version", &f.Version}, {"kind", &f.Kind}, {"wallet_id", &f.WalletID}, {"epoch", &f.Epoch},
		{"party_id", &f.PartyID}, {"identity", &f.Identity}, {"expires_at", &f.ExpiresAt}, {"signer", &f.Signer},
		{"signature", &f.Signature},
	}
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		if !slices.ContainsFunc(dst, func(d field) bool { return d.key == key }) {
			return nil, errorf(CodeMalformed, "file: unknown key %q", key)
		}
	}
	for _, d := range dst {
		raw, ok := fields[d.key]
		if !ok {
			return nil, errorf(CodeMalformed, "file: no %q", d.key)
		}
		if bytes.Equal(raw, []byte("null")) {
			return nil, errorf(CodeMalformed, "file: %q is null", d.key)
		}
		if err := json.Unmarshal(raw, d.v); err != nil {
			what := "a string"
			if _, ok := d.v.(*int); ok {
				what = "an integer"
			}
			return nil, errorf(CodeMalformed, "file: %q: want %s", d.key, what)
		}
		if d.key == "format" && f.Format != FileFormat {
			return nil, errorf(CodeMalformed, "file: format %q; want %q", f.Format, FileFormat)
		}
		if d.key == "version" && f.Version != FileVersion {
			return nil, errorf(CodeMalformed, "file: version %d; this reads version %d", f.Version, FileVersion)
		}
	}
	a := &Authorization{WalletID: f.WalletID, Epoch: f.Epoch, PartyID: f.PartyID}
	if a.Kind, err = ParseKind(f.Kind); err != nil {
		return nil, err
	}
	if a.Identity, err = hexKey(f.Identity, "identity"); err != nil {
		return nil, err
	}
	if a.Signer, err = hexKey(f.Signer, "signer"); err != nil {
		return nil, err
	}
	if a.Signature, err = hex.DecodeString(f.Signature); err != nil || len(a.Signature) != ed25519.SignatureSize {
		return nil, errorf(CodeMalformed, "file: signature: want %d hex characters", 2*ed25519.SignatureSize)
	}
	t, err := time.Parse(time.RFC3339, f.ExpiresAt)
	if err != nil || t.Nanosecond()%int(time.Millisecond) != 0 {
		return nil, errorf(CodeMalformed, "file: expires_at: want an RFC 3339 time, at most to the millisecond")
	}
	a.Expires = time.UnixMilli(t.UnixMilli())
	if err := a.check(); err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	if a.Signer.IsZero() {
		return nil, errorf(CodeMalformed, "file: no signer")
	}
	return a, nil
}

func hexKey(s, name string) (identity.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != identity.KeySize {
		return identity.PublicKey{}, errorf(CodeMalformed, "file: %s: want %d hex characters", name, 2*identity.KeySize)
	}
	return identity.PublicKey(b), nil
}

// readObject reads one JSON object's members, refusing a key given twice
// and anything after the object.
func readObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errorf(CodeMalformed, "file: want a JSON object")
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errorf(CodeMalformed, "file: want a string key")
		}
		if _, dup := fields[key]; dup {
			return nil, errorf(CodeMalformed, "file: %q twice", key)
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
		return nil, errorf(CodeMalformed, "file: data after the object")
	}
	return fields, nil
}

func syntaxError(err error) *Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(CodeMalformed, "file: truncated")
	}
	return errorf(CodeMalformed, "file: %v", err)
}

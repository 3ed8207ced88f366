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

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
)

const (
	// Format is the tag every record carries in its "format" key.
	Format = "tsskit.share"
	// Version is the format version Encode writes.
	Version = 3
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
	// Parties is the holders' roster in roster.KeyAt(id, Epoch) order, the
	// order of SaveData.Ks. Encode does not sort it: a roster in another order means
	// the caller mixed up its data, and Encode says so rather than guess.
	// roster.NewAt(ids, Epoch).IDs() returns the right order.
	Parties []string
	// PublicKey is the wallet public key, 33-byte compressed SEC1.
	PublicKey []byte
	// SaveData is tss-lib's keygen output for PartyID. It is secret.
	SaveData *keygen.LocalPartySaveData

	// Epoch counts the wallet's reshares (refreshes included): 0 for the
	// shares keygen made. The parties' tss-lib keys depend on it
	// (roster.KeyAt).
	Epoch int
	// Holders are the parties of the wallet, in Parties order, with the
	// kind and identity key each joined the keygen with. Nil for a record
	// of version 1, which recorded none: see Legacy.
	Holders []Holder
	// Policy is the wallet's signing policy, as every holder records it.
	Policy Policy
	// IdentitySeed is this party's device identity private key (the
	// Ed25519 seed) for a client or user holder; server parties keep their
	// identity in their vault, not in each record. It is secret.
	IdentitySeed []byte
	// ChainCode is the wallet's BIP32 chain code (32 bytes, public): every
	// holder records the same (package hd). Records of versions 1 and 2
	// carried none and decode with hd.LegacyChainCode.
	ChainCode []byte
}

// Holder is one party of a wallet as the share records know it.
type Holder struct {
	PartyID  string
	Kind     identity.Kind // server, client or user
	Identity identity.PublicKey
}

// Policy is what every holder enforces when asked to sign.
type Policy struct {
	// ClientRequired: the wallet signs only when one of its client
	// holders takes part, its signed join statement serving as the sign
	// request (co-managed wallets). Account API wallets (a user holder
	// whose share is handed to the API's caller) do not require it: their
	// server parties sign on the API key's authority.
	ClientRequired bool
	// Recovery is what may authorize handing the wallet to a new client
	// (identity.Recovery): set by the client at keygen, carried by every
	// reshare.
	Recovery identity.Recovery
}

// Legacy reports whether the record names no holders' identities: it was
// made before identities existed (version 1). Its wallet signs under the
// rules of that time — server parties must still be certified, but the
// other parties' identities and the policy are not pinned — until a
// refresh writes new records.
func (r *Record) Legacy() bool { return len(r.Holders) == 0 }

// Own is this party's holder entry (the zero Holder for a legacy record).
func (r *Record) Own() Holder {
	for _, h := range r.Holders {
		if h.PartyID == r.PartyID {
			return h
		}
	}
	return Holder{PartyID: r.PartyID}
}

// HolderView is the holders as identity.View takes them.
func (r *Record) HolderView() map[string]identity.Holder {
	m := make(map[string]identity.Holder, len(r.Parties))
	for _, id := range r.Parties {
		m[id] = identity.Holder{}
	}
	for _, h := range r.Holders {
		m[h.PartyID] = identity.Holder{Kind: h.Kind, Identity: h.Identity}
	}
	return m
}

// IdentityKey is this party's device identity key, or nil if the record
// has none (a server party's, or a legacy record).
func (r *Record) IdentityKey() (*identity.Key, error) {
	if len(r.IdentitySeed) == 0 {
		return nil, nil
	}
	return identity.KeyFromSeed(r.IdentitySeed)
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

// recordV2 is the version 2 encoding: version 1 and the epoch, the holders'
// identities, the policy and the party's own identity key. Version 3 adds
// "chain_code" (64 hex) before "save_data".
type recordV2 struct {
	Format    string     `json:"format"`
	Version   int        `json:"version"`
	WalletID  string     `json:"wallet_id"`
	PartyID   string     `json:"party_id"`
	Threshold int        `json:"threshold"`
	Parties   []string   `json:"parties"`
	PublicKey string     `json:"public_key"`
	Epoch     int        `json:"epoch"`
	Holders   []holderV2 `json:"holders"`
	Policy    policyV2   `json:"policy"`
	// Identity is the hex of IdentitySeed, or "".
	Identity string `json:"identity"`
	// ChainCode: version 3 only.
	ChainCode string          `json:"chain_code,omitempty"`
	SaveData  json.RawMessage `json:"save_data"`
}

type holderV2 struct {
	PartyID     string `json:"party_id"`
	Kind        string `json:"kind"`
	IdentityKey string `json:"identity_key"`
}

type policyV2 struct {
	ClientRequired bool `json:"client_required"`
	// Both absent when no recovery is allowed.
	RecoveryKit     string `json:"recovery_kit,omitempty"` // hex of the kit's public key
	RecoveryBackend bool   `json:"recovery_backend,omitempty"`
}

func policyOf(p Policy) policyV2 {
	out := policyV2{ClientRequired: p.ClientRequired, RecoveryBackend: p.Recovery.Backend}
	if !p.Recovery.Kit.IsZero() {
		out.RecoveryKit = p.Recovery.Kit.String()
	}
	return out
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
	holders := make([]holderV2, len(r.Holders))
	for i, h := range r.Holders {
		holders[i] = holderV2{PartyID: h.PartyID, Kind: h.Kind.String(), IdentityKey: h.Identity.String()}
	}
	b, err := json.Marshal(recordV2{
		Format:    Format,
		Version:   Version,
		WalletID:  r.WalletID,
		PartyID:   r.PartyID,
		Threshold: r.Threshold,
		Parties:   r.Parties,
		PublicKey: hex.EncodeToString(r.PublicKey),
		Epoch:     r.Epoch,
		Holders:   holders,
		Policy:    policyOf(r.Policy),
		Identity:  hex.EncodeToString(r.IdentitySeed),
		ChainCode: hex.EncodeToString(r.ChainCode),
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
	case 2, 3:
		r, err = decodeV2(fields, version)
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

// keyDst is a key of an object and where its value goes.
type keyDst struct {
	key string
	dst any
}

// readFields decodes exactly the keys of values from fields: an unknown
// key or a missing one is malformed. prefix names the object in errors.
func readFields(fields map[string]json.RawMessage, prefix string, values []keyDst) error {
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		if !slices.ContainsFunc(values, func(f keyDst) bool { return f.key == key }) {
			return malformedf(prefix+key, "unknown key")
		}
	}
	for _, f := range values {
		if err := field(fields, f.key, f.dst); err != nil {
			if e, ok := err.(*Error); ok {
				e.Field = prefix + e.Field
			}
			return err
		}
	}
	return nil
}

func decodeV1(fields map[string]json.RawMessage) (*Record, error) {
	var v recordV1
	if err := readFields(fields, "", []keyDst{
		{"format", &v.Format},
		{"version", &v.Version},
		{"wallet_id", &v.WalletID},
		{"party_id", &v.PartyID},
		{"threshold", &v.Threshold},
		{"parties", &v.Parties},
		{"public_key", &v.PublicKey},
		{"save_data", &v.SaveData},
	}); err != nil {
		return nil, err
	}
	pub, err := hex.DecodeString(v.PublicKey)
	if err != nil {
		return nil, malformed("public_key", err)
	}
	sd, err := decodeSaveData(v.SaveData)
	if err != nil {
		return nil, err
	}
	// Version 1 recorded no holders, policy or epoch: the record migrates
	// to a legacy one (see Record.Legacy).
	return &Record{
		WalletID:  v.WalletID,
		PartyID:   v.PartyID,
		Threshold: v.Threshold,
		Parties:   v.Parties,
		PublicKey: pub,
		SaveData:  sd,
		ChainCode: hd.LegacyChainCode(v.WalletID, pub),
	}, nil
}

func decodeV2(fields map[string]json.RawMessage, version int) (*Record, error) {
	var v recordV2
	var rawHolders []json.RawMessage
	var rawPolicy json.RawMessage
	keys := []keyDst{
		{"format", &v.Format},
		{"version", &v.Version},
		{"wallet_id", &v.WalletID},
		{"party_id", &v.PartyID},
		{"threshold", &v.Threshold},
		{"parties", &v.Parties},
		{"public_key", &v.PublicKey},
		{"epoch", &v.Epoch},
		{"holders", &rawHolders},
		{"policy", &rawPolicy},
		{"identity", &v.Identity},
		{"save_data", &v.SaveData},
	}
	if version >= 3 {
		keys = append(keys, keyDst{"chain_code", &v.ChainCode})
	}
	if err := readFields(fields, "", keys); err != nil {
		return nil, err
	}
	pub, err := hex.DecodeString(v.PublicKey)
	if err != nil {
		return nil, malformed("public_key", err)
	}
	r := &Record{WalletID: v.WalletID, PartyID: v.PartyID, Threshold: v.Threshold, Parties: v.Parties, PublicKey: pub, Epoch: v.Epoch}
	if version >= 3 {
		if r.ChainCode, err = hex.DecodeString(v.ChainCode); err != nil || len(r.ChainCode) != hd.ChainCodeSize {
			return nil, malformedf("chain_code", "want %d hex characters", 2*hd.ChainCodeSize)
		}
	} else {
		// Records before version 3 carried no chain code: the legacy rule.
		r.ChainCode = hd.LegacyChainCode(r.WalletID, pub)
	}
	for i, raw := range rawHolders {
		name := fmt.Sprintf("holders[%d].", i)
		obj, err := readObject(raw)
		if err != nil {
			return nil, prefixed(err, name)
		}
		var h holderV2
		if err := readFields(obj, name, []keyDst{{"party_id", &h.PartyID}, {"kind", &h.Kind}, {"identity_key", &h.IdentityKey}}); err != nil {
			return nil, err
		}
		kind, err := identity.ParseKind(h.Kind)
		if err != nil {
			return nil, malformedf(name+"kind", "want server, client or user")
		}
		key, err := identity.ParsePublicKey(h.IdentityKey)
		if err != nil {
			return nil, malformedf(name+"identity_key", "want 64 hex characters")
		}
		r.Holders = append(r.Holders, Holder{PartyID: h.PartyID, Kind: kind, Identity: key})
	}
	pol, err := readObject(rawPolicy)
	if err != nil {
		return nil, prefixed(err, "policy.")
	}
	var p policyV2
	polKeys := []keyDst{{"client_required", &p.ClientRequired}}
	// The recovery keys are optional: present only when set.
	if _, ok := pol["recovery_kit"]; ok {
		polKeys = append(polKeys, keyDst{"recovery_kit", &p.RecoveryKit})
	}
	if _, ok := pol["recovery_backend"]; ok {
		polKeys = append(polKeys, keyDst{"recovery_backend", &p.RecoveryBackend})
	}
	if err := readFields(pol, "policy.", polKeys); err != nil {
		return nil, err
	}
	r.Policy.ClientRequired, r.Policy.Recovery.Backend = p.ClientRequired, p.RecoveryBackend
	if _, ok := pol["recovery_kit"]; ok {
		if r.Policy.Recovery.Kit, err = identity.ParsePublicKey(p.RecoveryKit); err != nil || r.Policy.Recovery.Kit.IsZero() {
			return nil, malformedf("policy.recovery_kit", "want 64 hex characters of a key")
		}
	}
	if _, ok := pol["recovery_backend"]; ok && !p.RecoveryBackend {
		return nil, malformedf("policy.recovery_backend", "present only when true")
	}
	if v.Identity != "" {
		// The identity key is secret: its decoding error says nothing of it.
		seed, err := hex.DecodeString(v.Identity)
		if err != nil || len(seed) != identity.KeySize {
			return nil, malformedf("identity", "want %d hex characters or none", 2*identity.KeySize)
		}
		r.IdentitySeed = seed
	}
	if r.SaveData, err = decodeSaveData(v.SaveData); err != nil {
		return nil, err
	}
	return r, nil
}

// prefixed puts prefix before the Field of a nested object's error.
func prefixed(err error, prefix string) error {
	if e, ok := err.(*Error); ok {
		e.Field = prefix + e.Field
		e.Field = strings.TrimSuffix(e.Field, ".")
	}
	return err
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

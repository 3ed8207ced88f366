package recovery

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
)

const (
	// Version is the authorization format version.
	Version = 1
	// Domain separates an authorization's signature from every other
	// signature an Ed25519 key of tsskit makes: the signed message is
	// Domain || Marshal().
	Domain = "tsskit/v1 recovery\x00"
	// MaxLife bounds how far ahead of its signing an authorization may
	// expire: an approval is a short-lived grant for one device, not a
	// standing credential.
	MaxLife = 7 * 24 * time.Hour
	// ClockSkew is the allowance Check makes for the signer's clock and
	// the checking party's disagreeing, at both ends of the life.
	ClockSkew = time.Minute
	// MaxEpoch bounds an epoch (identity.MaxEpoch).
	MaxEpoch = identity.MaxEpoch
	// MaxEncodedSize bounds Encode's form: the longest ids give
	// 1+1+(2+128)+4+(2+128)+32+8 bytes of fields, then the signer and the
	// signature.
	MaxEncodedSize = 306 + identity.KeySize + ed25519.SignatureSize
	// maxExpires is 9999-12-31T23:59:59.999Z in Unix milliseconds: the
	// last time the file form (RFC 3339) can write.
	maxExpires = 253402300799999
)

// Authorization is a recovery's grant, signed by the wallet's recovery
// kit or by the app backend's recovery key: wallet WalletID, recovered
// from its shares of Epoch, may be handed to the new client party PartyID
// whose device identity key is Identity, until Expires.
//
// The signed encoding (Marshal), every integer big-endian:
//
//	version    1 byte  = 1
//	kind       1 byte  kit 1 | backend 2
//	wallet_id  2-byte length + bytes (1..128, UTF-8)
//	epoch      4 bytes, the epoch of the shares handed over (0..2^31-1)
//	party_id   2-byte length + bytes (1..128, a party id: printable,
//	           no spaces; roster.CheckID)
//	identity   32 bytes, the new client's device identity public key
//	           (not zero)
//	expires    8 bytes, Unix milliseconds (1 .. 253402300799999, the
//	           end of the year 9999: RFC 3339's range)
//
// The signature is Ed25519 by Signer over "tsskit/v1 recovery\x00" || the
// encoding. The wire form (Encode) is the encoding, then signer (32
// bytes), then signature (64 bytes); nothing is optional and every
// decoder refuses anything else.
type Authorization struct {
	Kind     Kind
	WalletID string
	// Epoch is the wallet's epoch the recovery starts from: the shares
	// handed over are this epoch's, and the new ones Epoch+1's. An
	// authorization may be retried until it expires, but serves one
	// recovery only: once its reshare has run, the holders' shares are of
	// a later epoch and Check refuses it (CodeStale).
	Epoch    int
	PartyID  string             // the new client party
	Identity identity.PublicKey // the new client's device identity key
	// Expires is at most MaxLife after the signing; Sign truncates it to
	// the millisecond, as the encoding does.
	Expires   time.Time
	Signer    identity.PublicKey // the kit key or the backend key
	Signature []byte             // Ed25519 by Signer over Domain || Marshal()
}

// check checks the signed fields (not the expiry against a clock).
func (a *Authorization) check() error {
	switch {
	case !a.Kind.valid():
		return fmt.Errorf("unknown kind %d", byte(a.Kind))
	case a.WalletID == "" || len(a.WalletID) > roster.MaxIDLen || !utf8.ValidString(a.WalletID):
		return fmt.Errorf("wallet id must be 1..%d bytes of UTF-8", roster.MaxIDLen)
	case a.Epoch < 0 || a.Epoch > MaxEpoch:
		return fmt.Errorf("epoch %d; want 0..%d", a.Epoch, MaxEpoch)
	case a.Identity.IsZero():
		return errors.New("no identity key for the new client")
	case a.Expires.UnixMilli() <= 0 || a.Expires.UnixMilli() > maxExpires:
		return errors.New("no expiry, or one outside the years 1970..9999")
	}
	if err := roster.CheckID(a.PartyID); err != nil {
		return fmt.Errorf("party id: %w", err)
	}
	return nil
}

// Marshal checks a's signed fields and returns their canonical encoding,
// the bytes the signature covers (after Domain).
func (a *Authorization) Marshal() ([]byte, error) {
	if a == nil {
		return nil, errorf(CodeMalformed, "no authorization")
	}
	if err := a.check(); err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	b := make([]byte, 0, MaxEncodedSize)
	b = append(b, Version, byte(a.Kind))
	b = appendStr16(b, a.WalletID)
	b = binary.BigEndian.AppendUint32(b, uint32(a.Epoch))
	b = appendStr16(b, a.PartyID)
	b = append(b, a.Identity[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Expires.UnixMilli()))
	return b, nil
}

// Sign signs a with k at the current time: see SignAt.
func Sign(k *identity.Key, a *Authorization) error { return SignAt(k, a, time.Now()) }

// SignAt checks a's fields, truncates a.Expires to the millisecond, and
// sets a.Signer to k's public key and a.Signature to k's signature. The
// expiry must be after now and at most MaxLife after it. On error a is
// unchanged.
func SignAt(k *identity.Key, a *Authorization, now time.Time) error {
	if k == nil || a == nil {
		return errorf(CodeMalformed, "sign: no key or no authorization")
	}
	s := *a
	s.Expires = time.UnixMilli(a.Expires.UnixMilli())
	if !s.Expires.After(now) || s.Expires.Sub(now) > MaxLife {
		return errorf(CodeMalformed, "expires %s: want after now and within %v", s.Expires.UTC().Format(time.RFC3339), MaxLife)
	}
	m, err := s.Marshal()
	if err != nil {
		return err
	}
	seed := k.Seed()
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	s.Signer = k.Public()
	s.Signature = ed25519.Sign(priv, append([]byte(Domain), m...))
	*a = s
	return nil
}

// Encode is the wire form of a signed authorization: Marshal() || signer
// (32 bytes) || signature (64 bytes). It is nil if a's fields are not
// valid or a is not signed (no signer, or a signature not of 64 bytes).
func (a *Authorization) Encode() []byte {
	m, err := a.Marshal()
	if err != nil || a.Signer.IsZero() || len(a.Signature) != ed25519.SignatureSize {
		return nil
	}
	m = append(m, a.Signer[:]...)
	return append(m, a.Signature...)
}

// Decode reads Encode's form and checks its fields, but not its signature
// (Check does). It refuses an unknown version or kind, any length out of
// range, a truncation and bytes after the end, with CodeMalformed.
func Decode(b []byte) (*Authorization, error) {
	if len(b) > MaxEncodedSize {
		return nil, errorf(CodeMalformed, "%d bytes; an authorization has at most %d", len(b), MaxEncodedSize)
	}
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != Version {
		return nil, errorf(CodeMalformed, "version %d; this reads version %d", v, Version)
	}
	a := &Authorization{Kind: Kind(r.u8())}
	if r.err == nil && !a.Kind.valid() {
		return nil, errorf(CodeMalformed, "unknown kind %d", byte(a.Kind))
	}
	a.WalletID = r.str16()
	a.Epoch = int(r.u32())
	a.PartyID = r.str16()
	copy(a.Identity[:], r.take(identity.KeySize))
	a.Expires = time.UnixMilli(int64(r.u64()))
	copy(a.Signer[:], r.take(identity.KeySize))
	a.Signature = bytes.Clone(r.take(ed25519.SignatureSize))
	if err := r.done(); err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	if err := a.check(); err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	if a.Signer.IsZero() {
		return nil, errorf(CodeMalformed, "no signer")
	}
	return a, nil
}

// Check verifies that a is signed by a.Signer, is for wallet walletID
// recovered from its shares of epoch, and is valid at now (expires after
// now, within ClockSkew; and not more than MaxLife ahead, within
// ClockSkew). It returns a *Error: CodeMalformed, CodeForged,
// CodeOtherWallet, CodeStale or CodeExpired.
//
// Check does not decide whether a.Signer may authorize a recovery of the
// wallet: the caller must compare it (identity.PublicKey.Equal) with the
// kit key in its own share record for KindKit, or with its configured
// backend keys for KindBackend if the wallet's policy accepts them.
func (a *Authorization) Check(walletID string, epoch int, now time.Time) error {
	m, err := a.Marshal()
	if err != nil {
		return err
	}
	if a.Signer.IsZero() || len(a.Signature) != ed25519.SignatureSize ||
		!ed25519.Verify(ed25519.PublicKey(a.Signer[:]), append([]byte(Domain), m...), a.Signature) {
		return errorf(CodeForged, "the authorization is not signed by its signer %s", a.Signer.Short())
	}
	switch {
	case a.WalletID != walletID:
		return errorf(CodeOtherWallet, "the authorization is for wallet %q, not %q", a.WalletID, walletID)
	case a.Epoch != epoch:
		return errorf(CodeStale, "the authorization recovers from epoch %d; the shares are of epoch %d", a.Epoch, epoch)
	case !now.Before(a.Expires.Add(ClockSkew)):
		return errorf(CodeExpired, "the authorization expired at %s", a.Expires.UTC().Format(time.RFC3339))
	case a.Expires.Sub(now) > MaxLife+ClockSkew:
		return errorf(CodeExpired, "the authorization expires at %s, more than %v ahead", a.Expires.UTC().Format(time.RFC3339), MaxLife)
	}
	return nil
}

func appendStr16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// reader reads the encoding; the first short read sets err and every
// later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = errors.New("truncated")
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str16() string {
	b := r.take(2)
	if b == nil {
		return ""
	}
	return string(r.take(int(binary.BigEndian.Uint16(b))))
}

// done reports a short read or bytes left over.
func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d bytes after the end", len(r.b))
	}
	return nil
}

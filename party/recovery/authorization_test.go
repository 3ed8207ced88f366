package recovery

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
)

func mustKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	e, ok := AsError(err)
	if !ok || e.Code != code {
		t.Errorf("%s: %v; want %s", what, err, code)
	}
}

// signed is a fresh authorization signed by a new key at now.
func signed(t testing.TB, kind Kind, now time.Time) (*Authorization, *identity.Key) {
	t.Helper()
	k := mustKey(t)
	a := &Authorization{Kind: kind, WalletID: "8d5e3f0c-2b7a-4c1e-9a55-1f0e6c3b2d71", Epoch: 2, PartyID: "browser-new",
		Identity: mustKey(t).Public(), Expires: now.Add(24 * time.Hour)}
	if err := SignAt(k, a, now); err != nil {
		t.Fatal(err)
	}
	return a, k
}

func sameAuthorization(a, b *Authorization) bool {
	return a.Kind == b.Kind && a.WalletID == b.WalletID && a.Epoch == b.Epoch && a.PartyID == b.PartyID &&
		a.Identity == b.Identity && a.Expires.Equal(b.Expires) && a.Signer == b.Signer && bytes.Equal(a.Signature, b.Signature)
}

// TestAuthorizationVectors checks the encoding and signature against
// testdata/vectors.json (testdata/vectors.py): there the encoding is built
// field by field from Authorization's documented layout and signed by the
// Python cryptography package's Ed25519, so these bytes do not come from
// this package. Ed25519 is deterministic: Go's signature of the same
// bytes under the same seed must be the same.
func TestAuthorizationVectors(t *testing.T) {
	v := loadVectors(t)
	if len(v.Authorization) < 2 {
		t.Fatalf("%d authorization vectors", len(v.Authorization))
	}
	for _, av := range v.Authorization {
		seed, _ := hex.DecodeString(av.SignerSeed)
		k, err := identity.KeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		kind, err := ParseKind(av.Kind)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := identity.ParsePublicKey(av.Identity)
		exp := time.UnixMilli(av.ExpiresMS)
		a := &Authorization{Kind: kind, WalletID: av.WalletID, Epoch: av.Epoch, PartyID: av.PartyID, Identity: id, Expires: exp}
		m, err := a.Marshal()
		if err != nil || hex.EncodeToString(m) != av.Encoding {
			t.Fatalf("%s: Marshal = %x, %v; want %s", av.Kind, m, err, av.Encoding)
		}
		now := exp.Add(-time.Hour)
		if err := SignAt(k, a, now); err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(a.Signature) != av.Signature {
			t.Errorf("%s: signature %x; want %s", av.Kind, a.Signature, av.Signature)
		}
		if hex.EncodeToString(a.Encode()) != av.Wire {
			t.Errorf("%s: Encode = %x; want %s", av.Kind, a.Encode(), av.Wire)
		}
		wire, _ := hex.DecodeString(av.Wire)
		d, err := Decode(wire)
		if err != nil || !sameAuthorization(a, d) {
			t.Fatalf("%s: Decode = %+v, %v", av.Kind, d, err)
		}
		if err := d.Check(av.WalletID, av.Epoch, now); err != nil {
			t.Errorf("%s: Check of the Python-signed authorization: %v", av.Kind, err)
		}
		f, err := ParseFile([]byte(av.File))
		if err != nil || !sameAuthorization(a, f) {
			t.Fatalf("%s: ParseFile = %+v, %v", av.Kind, f, err)
		}
		if b, err := a.MarshalFile(); err != nil || string(b) != av.File {
			t.Errorf("%s: MarshalFile = %s, %v; want Python's\n%s", av.Kind, b, err, av.File)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	now := time.Now()
	for _, kind := range []Kind{KindKit, KindBackend} {
		a, k := signed(t, kind, now)
		if !a.Signer.Equal(k.Public()) || len(a.Signature) != 64 {
			t.Fatalf("Sign set signer %s, signature of %d bytes", a.Signer.Short(), len(a.Signature))
		}
		if err := a.Check(a.WalletID, a.Epoch, now); err != nil {
			t.Fatal(err)
		}
		d, err := Decode(a.Encode())
		if err != nil || !sameAuthorization(a, d) || !bytes.Equal(d.Encode(), a.Encode()) {
			t.Fatalf("Decode(Encode()) = %+v, %v", d, err)
		}
		b, err := a.MarshalFile()
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseFile(b)
		if err != nil || !sameAuthorization(a, f) {
			t.Fatalf("ParseFile(MarshalFile()) = %+v, %v", f, err)
		}
		if err := f.Check(a.WalletID, a.Epoch, now); err != nil {
			t.Fatal(err)
		}
	}
	// The longest ids and epoch: MaxEncodedSize.
	k := mustKey(t)
	a := &Authorization{Kind: KindKit, WalletID: strings.Repeat("w", 128), Epoch: MaxEpoch, PartyID: strings.Repeat("p", 128),
		Identity: k.Public(), Expires: now.Add(MaxLife)}
	if err := SignAt(k, a, now); err != nil {
		t.Fatal(err)
	}
	if n := len(a.Encode()); n != MaxEncodedSize {
		t.Errorf("the longest encoding is %d bytes; MaxEncodedSize is %d", n, MaxEncodedSize)
	}
	if _, err := Decode(a.Encode()); err != nil {
		t.Error(err)
	}
}

func TestSignTruncatesExpiry(t *testing.T) {
	now := time.Now()
	a := &Authorization{Kind: KindKit, WalletID: "w", PartyID: "p", Identity: mustKey(t).Public(), Expires: now.Add(time.Hour + 123456789)}
	if err := SignAt(mustKey(t), a, now); err != nil {
		t.Fatal(err)
	}
	if a.Expires.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("Expires %v is not truncated to the millisecond", a.Expires)
	}
	d, _ := Decode(a.Encode())
	if !d.Expires.Equal(a.Expires) {
		t.Errorf("decoded expiry %v; signed %v", d.Expires, a.Expires)
	}
}

func TestSignRefuses(t *testing.T) {
	now := time.Now()
	k := mustKey(t)
	good := Authorization{Kind: KindBackend, WalletID: "wallet-1", Epoch: 0, PartyID: "browser-2", Identity: mustKey(t).Public(), Expires: now.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		edit func(*Authorization)
	}{
		{"kind 0", func(a *Authorization) { a.Kind = 0 }},
		{"kind 3", func(a *Authorization) { a.Kind = 3 }},
		{"no wallet id", func(a *Authorization) { a.WalletID = "" }},
		{"wallet id of 129 bytes", func(a *Authorization) { a.WalletID = strings.Repeat("w", 129) }},
		{"wallet id not UTF-8", func(a *Authorization) { a.WalletID = "w\xff" }},
		{"no party id", func(a *Authorization) { a.PartyID = "" }},
		{"party id with a space", func(a *Authorization) { a.PartyID = "browser 2" }},
		{"party id of 129 bytes", func(a *Authorization) { a.PartyID = strings.Repeat("p", 129) }},
		{"epoch -1", func(a *Authorization) { a.Epoch = -1 }},
		{"epoch 2^31", func(a *Authorization) { a.Epoch = MaxEpoch + 1 }},
		{"no identity", func(a *Authorization) { a.Identity = identity.PublicKey{} }},
		{"expired", func(a *Authorization) { a.Expires = now.Add(-time.Millisecond) }},
		{"expires now", func(a *Authorization) { a.Expires = now }},
		{"no expiry", func(a *Authorization) { a.Expires = time.Time{} }},
		{"beyond MaxLife", func(a *Authorization) { a.Expires = now.Add(MaxLife + time.Millisecond) }},
	} {
		a := good
		tc.edit(&a)
		before := a
		wantCode(t, tc.name, SignAt(k, &a, now), CodeMalformed)
		if !sameAuthorization(&a, &before) {
			t.Errorf("%s: SignAt changed the authorization it refused", tc.name)
		}
	}
	a := good
	a.Expires = now.Add(MaxLife)
	if err := SignAt(k, &a, now); err != nil {
		t.Errorf("expiry of exactly MaxLife: %v", err)
	}
	wantCode(t, "no key", SignAt(nil, &a, now), CodeMalformed)
	wantCode(t, "no authorization", SignAt(k, nil, now), CodeMalformed)
	// Sign uses the clock.
	a = good
	a.Expires = time.Now().Add(-time.Second)
	wantCode(t, "Sign, expired", Sign(k, &a), CodeMalformed)
	a.Expires = time.Now().Add(time.Minute)
	if err := Sign(k, &a); err != nil {
		t.Error(err)
	}
}

func TestEncodeUnsigned(t *testing.T) {
	a, _ := signed(t, KindKit, time.Now())
	u := *a
	u.Signature = nil
	if u.Encode() != nil {
		t.Error("Encode of an unsigned authorization")
	}
	u = *a
	u.Signer = identity.PublicKey{}
	if u.Encode() != nil {
		t.Error("Encode without a signer")
	}
	u = *a
	u.PartyID = ""
	if u.Encode() != nil {
		t.Error("Encode of an invalid authorization")
	}
	for _, b := range []*Authorization{&u, {Kind: KindKit}} {
		if _, err := b.MarshalFile(); !errors.Is(err, ErrMalformed) {
			t.Errorf("MarshalFile of an invalid authorization: %v", err)
		}
	}
	u = *a
	u.Signature = nil
	if _, err := u.MarshalFile(); !errors.Is(err, ErrMalformed) {
		t.Errorf("MarshalFile of an unsigned authorization: %v", err)
	}
	var nilA *Authorization
	if nilA.Encode() != nil {
		t.Error("Encode of nil")
	}
	wantCode(t, "Check of nil", nilA.Check("w", 0, time.Now()), CodeMalformed)
}

func TestCheckRefuses(t *testing.T) {
	now := time.Now()
	a, _ := signed(t, KindKit, now)
	w, e := a.WalletID, a.Epoch
	if err := a.Check(w, e, now); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "another wallet", a.Check("wallet-other", e, now), CodeOtherWallet)
	wantCode(t, "a later epoch", a.Check(w, e+1, now), CodeStale)
	wantCode(t, "an earlier epoch", a.Check(w, e-1, now), CodeStale)
	// Expiry: ClockSkew's allowance at both ends.
	wantCode(t, "expired", a.Check(w, e, a.Expires.Add(ClockSkew)), CodeExpired)
	wantCode(t, "expired long ago", a.Check(w, e, a.Expires.Add(MaxLife)), CodeExpired)
	if err := a.Check(w, e, a.Expires.Add(ClockSkew-time.Millisecond)); err != nil {
		t.Errorf("within the clock skew after expiry: %v", err)
	}
	wantCode(t, "longer than MaxLife ahead", a.Check(w, e, a.Expires.Add(-MaxLife-ClockSkew-time.Millisecond)), CodeExpired)
	if err := a.Check(w, e, a.Expires.Add(-MaxLife-ClockSkew)); err != nil {
		t.Errorf("MaxLife ahead, within the clock skew: %v", err)
	}
	if !errors.Is(a.Check(w, e, a.Expires.Add(time.Hour)), ErrExpired) || errors.Is(a.Check(w, e, now), ErrExpired) {
		t.Error("errors.Is with the sentinel")
	}

	// A forged authorization, by field: every signed field, the signer
	// and the signature.
	other := mustKey(t)
	for _, tc := range []struct {
		name string
		edit func(*Authorization)
	}{
		{"kind", func(a *Authorization) { a.Kind = KindBackend }},
		{"wallet", func(a *Authorization) { a.WalletID += "x" }},
		{"epoch", func(a *Authorization) { a.Epoch++ }},
		{"party", func(a *Authorization) { a.PartyID = "browser-evil" }},
		{"identity", func(a *Authorization) { a.Identity = other.Public() }},
		{"expiry", func(a *Authorization) { a.Expires = a.Expires.Add(time.Millisecond) }},
		{"signer", func(a *Authorization) { a.Signer = other.Public() }},
		{"no signer", func(a *Authorization) { a.Signer = identity.PublicKey{} }},
		{"signature", func(a *Authorization) { a.Signature = bytes.Clone(a.Signature); a.Signature[5] ^= 1 }},
		{"short signature", func(a *Authorization) { a.Signature = a.Signature[:63] }},
		{"no signature", func(a *Authorization) { a.Signature = nil }},
	} {
		f := *a
		tc.edit(&f)
		wantCode(t, "forged "+tc.name, f.Check(f.WalletID, f.Epoch, now), CodeForged)
	}
	// Signed by another key under the same claims: Check passes — the
	// signer's standing is the caller's to judge, and it sees the signer.
	f := *a
	if err := SignAt(other, &f, now); err != nil || f.Check(w, e, now) != nil || f.Signer.Equal(a.Signer) {
		t.Error("re-signing by another key")
	}
}

// TestBitFlips flips every bit of an encoding: each flip in the signed
// fields, the signer or the signature is refused by Decode (malformed) or
// by Check (forged).
func TestBitFlips(t *testing.T) {
	now := time.Now()
	for _, kind := range []Kind{KindKit, KindBackend} {
		a, _ := signed(t, kind, now)
		b := a.Encode()
		decoded := 0
		for i := range 8 * len(b) {
			c := bytes.Clone(b)
			c[i/8] ^= 0x80 >> (i % 8)
			d, err := Decode(c)
			if err != nil {
				wantCode(t, "Decode", err, CodeMalformed)
				continue
			}
			decoded++
			wantCode(t, "Check after a flip of bit "+strconv.Itoa(i), d.Check(d.WalletID, d.Epoch, now), CodeForged)
		}
		if decoded < 8*len(b)/2 {
			t.Errorf("only %d of %d flips decode: the flips test little", decoded, 8*len(b))
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	now := time.Now()
	a, _ := signed(t, KindBackend, now)
	b := a.Encode()
	// Every prefix, the empty one included.
	for n := range len(b) {
		if _, err := Decode(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode of a %d-byte prefix of %d: %v", n, len(b), err)
		}
	}
	set := func(i int, v byte) []byte { c := bytes.Clone(b); c[i] = v; return c }
	for _, tc := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"trailing byte", append(bytes.Clone(b), 0), "after the end"},
		{"trailing bytes", append(bytes.Clone(b), b...), "bytes"},
		{"version 0", set(0, 0), "version 0"},
		{"version 2", set(0, 2), "version 2"},
		{"version 255", set(0, 255), "version 255"},
		{"kind 0", set(1, 0), "kind 0"},
		{"kind 3", set(1, 3), "kind 3"},
		{"too long", make([]byte, MaxEncodedSize+1), "bytes"},
		{"wallet id length 0", bytes.Join([][]byte{b[:2], {0, 0}, b[4+len(a.WalletID):]}, nil), ""},
	} {
		_, err := Decode(tc.b)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %s (%s)", tc.name, err, CodeMalformed, tc.msg)
		}
	}
	// Fields out of range, re-signed so only the field is wrong.
	k := mustKey(t)
	for _, tc := range []struct {
		name string
		edit func(m []byte) []byte
	}{
		{"epoch 2^31", func(m []byte) []byte {
			i := 4 + len(a.WalletID)
			copy(m[i:], []byte{0x80, 0, 0, 0})
			return m
		}},
		{"party id with a space", func(m []byte) []byte { return bytes.Replace(m, []byte("browser-new"), []byte("browser new"), 1) }},
		{"zero identity", func(m []byte) []byte {
			i := len(m) - 8 - 32
			copy(m[i:i+32], make([]byte, 32))
			return m
		}},
		{"expiry 0", func(m []byte) []byte { copy(m[len(m)-8:], make([]byte, 8)); return m }},
		{"negative expiry", func(m []byte) []byte { m[len(m)-8] = 0x80; return m }},
		{"expiry after 9999", func(m []byte) []byte { binary.BigEndian.PutUint64(m[len(m)-8:], maxExpires+1); return m }},
	} {
		m, _ := a.Marshal()
		m = tc.edit(m)
		pub := k.Public()
		wire := append(append(m, pub[:]...), signRaw(k, m)...)
		if _, err := Decode(wire); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v; want %s", tc.name, err, CodeMalformed)
		}
	}
	// The last expiry RFC 3339 can write decodes (and is too far ahead).
	m, _ := a.Marshal()
	binary.BigEndian.PutUint64(m[len(m)-8:], maxExpires)
	pub := k.Public()
	d, err := Decode(append(append(m, pub[:]...), signRaw(k, m)...))
	if err != nil {
		t.Fatalf("expiry at the end of 9999: %v", err)
	}
	wantCode(t, "expiry at the end of 9999", d.Check(d.WalletID, d.Epoch, now), CodeExpired)
	// A zero signer.
	c := bytes.Clone(b)
	copy(c[len(c)-96:len(c)-64], make([]byte, 32))
	if _, err := Decode(c); !errors.Is(err, ErrMalformed) {
		t.Errorf("zero signer: %v", err)
	}
}

// signRaw signs an encoding as it is, for tests that need a signed
// encoding Marshal would refuse.
func signRaw(k *identity.Key, m []byte) []byte {
	return ed25519.Sign(ed25519.NewKeyFromSeed(k.Seed()), append([]byte(Domain), m...))
}

func TestKindNames(t *testing.T) {
	for _, k := range []Kind{KindKit, KindBackend} {
		if p, err := ParseKind(k.String()); err != nil || p != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), p, err)
		}
	}
	if KindKit.String() != "kit" || KindBackend.String() != "backend" || Kind(9).String() != "kind(9)" {
		t.Error("Kind.String")
	}
	for _, s := range []string{"", "Kit", "kind(1)", "user"} {
		if _, err := ParseKind(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseKind(%q): %v", s, err)
		}
	}
}

func TestErrorType(t *testing.T) {
	err := error(errorf(CodeForged, "x"))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeForged || e.Unwrap() == nil || !errors.Is(err, ErrForged) || errors.Is(err, ErrStale) {
		t.Fatal("Error: As, Is, Unwrap")
	}
	if err.Error() != "recovery: recovery_forged: x" || ErrForged.Error() != "recovery: recovery_forged" {
		t.Errorf("Error() = %q, %q", err.Error(), ErrForged.Error())
	}
}

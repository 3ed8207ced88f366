package share

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Every Protect and every Unprotect that gets as far as decrypting derives
// a key with 600,000 PBKDF2 iterations (about 0.1 s); the tests below do
// that 14 times. The other cases must fail before the derivation, which
// keeps them fast: a missing check shows up as a slow test that fails with
// ErrWrongPassword.

// goldenBackup is a password backup of the record in goldenV1, a test
// vector shared with the TypeScript SDK (see testdata/README.md):
//
//   - password: goldenPassword, its UTF-8 bytes;
//   - salt and nonce: the first 16 and the next 12 bytes of
//     SHA-256("tsskit.share.backup test vector" || uint32 0, big-endian);
//   - plaintext: the bytes of goldenV1 exactly (Encode is deterministic);
//   - AAD: goldenAAD.
//
// Protect of the golden record with that randomness writes it byte for
// byte. Rewrite it with -update-backup after a deliberate change of the
// format; -update, which makes a new goldenV1, rewrites it as well.
const (
	goldenBackup   = "testdata/backup_v1.json"
	goldenPassword = "correct horse battery staple"
	goldenAAD      = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f|server-2|1"
	vectorSeed     = "tsskit.share.backup test vector"
)

var updateBackup = flag.Bool("update-backup", false, "rewrite "+goldenBackup+" from "+goldenV1)

// vectorRand is the deterministic randomness of goldenBackup: the blocks
// SHA-256(vectorSeed || uint32 i, big-endian) for i = 0, 1, ...
type vectorRand struct {
	i   uint32
	buf []byte
}

func (r *vectorRand) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		h := sha256.Sum256(binary.BigEndian.AppendUint32([]byte(vectorSeed), r.i))
		r.buf = append(r.buf, h[:]...)
		r.i++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func readGoldenBackup(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(goldenBackup)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// goldenRecord returns a fresh copy of the record in goldenV1.
func goldenRecord(tb testing.TB) *Record {
	tb.Helper()
	r, err := Decode(readGolden(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// goldenKey is the key of goldenBackup, derived once.
var goldenKey = sync.OnceValues(func() ([]byte, error) {
	b, err := os.ReadFile(goldenBackup)
	if err != nil {
		return nil, err
	}
	h, err := ReadBackupHeader(b)
	if err != nil {
		return nil, err
	}
	return pbkdf2.Key(sha256.New, goldenPassword, h.Salt, h.Iterations, 32)
})

// sealGolden returns goldenBackup with its ciphertext replaced by plain
// sealed under the golden key, nonce and the given AAD, and with edit
// applied to its keys.
func sealGolden(t *testing.T, plain []byte, aad string, edit func(m map[string]any)) []byte {
	t.Helper()
	key, err := goldenKey()
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadBackupHeader(readGoldenBackup(t))
	if err != nil {
		t.Fatal(err)
	}
	ct := aead.Seal(nil, h.Nonce, plain, []byte(aad))
	return editJSON(t, readGoldenBackup(t), func(m map[string]any) {
		m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
		edit(m)
	})
}

func TestBackupGolden(t *testing.T) {
	src := readGolden(t)
	if *update {
		src = testEncodings(t)[0] // what TestGoldenV1 writes to goldenV1
	}
	rec, err := Decode(src)
	if err != nil {
		t.Fatal(err)
	}
	// The vector's plaintext is the version 1 record's bytes as stored;
	// Protect would encode the record in the current version, so the
	// sealing step is checked on those bytes.
	want, err := protectEncoded(src, rec.WalletID, rec.PartyID, []byte(goldenPassword), MinIterations, new(vectorRand))
	if err != nil {
		t.Fatal(err)
	}
	if *update || *updateBackup {
		if err := os.WriteFile(goldenBackup, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := readGoldenBackup(t)
	if !bytes.Equal(b, want) {
		t.Errorf("Protect with the vector's randomness no longer writes %s", goldenBackup)
	}

	h, err := ReadBackupHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	rnd := make([]byte, 28)
	new(vectorRand).Read(rnd)
	if h.Version != 1 || h.WalletID != testWalletID || h.PartyID != "server-2" || h.KDF != "pbkdf2-sha256" ||
		h.Iterations != 600_000 || !bytes.Equal(h.Salt, rnd[:16]) || h.Cipher != "aes-256-gcm" || !bytes.Equal(h.Nonce, rnd[16:]) {
		t.Errorf("header %+v", h)
	}

	r, err := Unprotect(b, []byte(goldenPassword))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Encode(r); err != nil || !bytes.Equal(again, mustEncode(t, rec)) {
		t.Errorf("%s does not decrypt to the record of %s (err %v)", goldenBackup, goldenV1, err)
	}
	if r.PublicKeyHex() != goldenPublicKey || r.Address() != goldenAddress {
		t.Errorf("wallet %s %s; want %s %s", r.PublicKeyHex(), r.Address(), goldenPublicKey, goldenAddress)
	}

	// The construction, spelled out as a browser does it: PBKDF2 of the
	// password's bytes, AES-256-GCM with the tag after the ciphertext and
	// the AAD written out.
	key, err := goldenKey()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCMWithTagSize(block, 16)
	var v struct{ Ciphertext []byte } // encoding/json reads std base64
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	plain, err := aead.Open(nil, rnd[16:], v.Ciphertext, []byte(goldenAAD))
	if err != nil || !bytes.Equal(plain, src) {
		t.Errorf("the ciphertext is not AES-256-GCM of %s under the documented key and AAD (err %v)", goldenV1, err)
	}
}

// TestBackupRoundTrip also checks a wrong password.
func TestBackupRoundTrip(t *testing.T) {
	rec := goldenRecord(t)
	b, err := Protect(rec, []byte("pässwörd ✓"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The layout: keys in the documented order, two-space indent, a
	// trailing newline, what JSON.stringify(v, null, 2) + "\n" writes.
	lines := strings.Split(string(b), "\n")
	keys := []string{"format", "version", "wallet_id", "party_id", "kdf", "iterations", "salt", "cipher", "nonce", "ciphertext"}
	if len(lines) != len(keys)+3 || lines[0] != "{" || lines[len(lines)-2] != "}" || lines[len(lines)-1] != "" {
		t.Fatalf("layout:\n%s", b)
	}
	for i, k := range keys {
		if !strings.HasPrefix(lines[i+1], `  "`+k+`": `) {
			t.Errorf("line %d = %q; want key %q", i+2, lines[i+1], k)
		}
	}
	for _, l := range []string{`  "format": "tsskit.share.backup",`, `  "version": 1,`, `  "kdf": "pbkdf2-sha256",`, `  "iterations": 600000,`, `  "cipher": "aes-256-gcm",`} {
		if !slices.Contains(lines, l) {
			t.Errorf("no line %q", l)
		}
	}

	h, err := ReadBackupHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.WalletID != rec.WalletID || h.PartyID != rec.PartyID || h.Iterations != MinIterations || len(h.Salt) != 16 || len(h.Nonce) != 12 {
		t.Errorf("header %+v", h)
	}
	gh, _ := ReadBackupHeader(readGoldenBackup(t))
	if bytes.Equal(h.Salt, gh.Salt) || bytes.Equal(h.Nonce, gh.Nonce) {
		t.Error("salt or nonce not from crypto/rand")
	}

	// A wrong password: the same one in another Unicode normal form (the
	// password's bytes are used as given).
	r, err := Unprotect(b, []byte("pa\u0308sswo\u0308rd ✓"))
	if r != nil || !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("decomposed password: Unprotect = %v, %v; want %v", r, err, ErrWrongPassword)
	}
	if err.Error() != "share: wrong password or corrupted backup" {
		t.Errorf("message %q", err)
	}

	r, err = Unprotect(b, []byte("pässwörd ✓"))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := Encode(rec)
	if again, err := Encode(r); err != nil || !bytes.Equal(again, enc) {
		t.Errorf("record changed in the round trip (err %v)", err)
	}

}

// editBase64 returns b with the bytes of the base64 value of key changed by f.
func editBase64(t *testing.T, b []byte, key string, f func(v []byte)) []byte {
	t.Helper()
	return editJSON(t, b, func(m map[string]any) {
		v, err := base64.StdEncoding.DecodeString(m[key].(string))
		if err != nil {
			t.Fatal(err)
		}
		f(v)
		m[key] = base64.StdEncoding.EncodeToString(v)
	})
}

func TestBackupTampered(t *testing.T) {
	b := readGoldenBackup(t)
	set := func(key string, v any) []byte { return editJSON(t, b, func(m map[string]any) { m[key] = v }) }
	flip := func(i int) func(v []byte) { return func(v []byte) { v[i] ^= 1 } }
	for name, in := range map[string][]byte{
		"ciphertext": editBase64(t, b, "ciphertext", flip(7)),
		"nonce":      editBase64(t, b, "nonce", flip(11)),
		"salt":       editBase64(t, b, "salt", flip(0)),
		"iterations": set("iterations", MinIterations+1),
		// The AAD binds the ids: a header claiming another wallet or
		// another party of it does not decrypt.
		"wallet_id": set("wallet_id", "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e40"),
		"party_id":  set("party_id", "server-1"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadBackupHeader(in); err != nil {
				t.Fatalf("header: %v", err)
			}
			r, err := Unprotect(in, []byte(goldenPassword))
			if r != nil || err != ErrWrongPassword {
				t.Fatalf("Unprotect = %v, %v; want %v", r, err, ErrWrongPassword)
			}
		})
	}
}

func TestBackupOfAnotherRecord(t *testing.T) {
	// Authentic backups (sealed under the key, with the AAD of the header)
	// whose header names another wallet or party than the record inside.
	const otherWallet = "00000000-0000-4000-8000-000000000000"
	for _, c := range []struct {
		field, aad string
		edit       func(m map[string]any)
	}{
		{"wallet_id", otherWallet + "|server-2|1", func(m map[string]any) { m["wallet_id"] = otherWallet }},
		{"party_id", testWalletID + "|server-1|1", func(m map[string]any) { m["party_id"] = "server-1" }},
	} {
		in := sealGolden(t, readGolden(t), c.aad, c.edit)
		r, err := Unprotect(in, []byte(goldenPassword))
		if r != nil {
			t.Fatal("decrypted")
		}
		wantError(t, err, ErrInconsistent, c.field)
	}
}

func TestBackupEmptyPassword(t *testing.T) {
	rec := goldenRecord(t)
	for _, pw := range [][]byte{nil, {}} {
		if b, err := Protect(rec, pw, nil); b != nil || err != ErrEmptyPassword {
			t.Errorf("Protect = %q, %v; want %v", b, err, ErrEmptyPassword)
		}
		if r, err := Unprotect(readGoldenBackup(t), pw); r != nil || err != ErrEmptyPassword {
			t.Errorf("Unprotect = %v, %v; want %v", r, err, ErrEmptyPassword)
		}
	}
}

func TestProtectRefuses(t *testing.T) {
	rec := goldenRecord(t)
	pw := []byte(goldenPassword)
	for _, n := range []int{1, -1, MinIterations - 1, MaxIterations + 1} {
		b, err := Protect(rec, pw, &BackupOptions{Iterations: n})
		if b != nil {
			t.Fatalf("%d iterations: written", n)
		}
		wantError(t, err, ErrMalformed, "iterations")
	}

	_, err := Protect(nil, pw, nil)
	wantError(t, err, ErrInconsistent, "")
	bad := goldenRecord(t)
	bad.Threshold = 4
	_, err = Protect(bad, pw, nil)
	wantError(t, err, ErrInconsistent, "threshold")

	for _, n := range []int{0, 15, 27} {
		b, err := Protect(rec, pw, &BackupOptions{Rand: bytes.NewReader(make([]byte, n))})
		if b != nil || !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d random bytes: %q, %v; want a read error", n, b, err)
		}
	}
}

func TestBackupTooLarge(t *testing.T) {
	b := readGoldenBackup(t)
	pad := func(n int) []byte { return append(slices.Clip(b), bytes.Repeat([]byte{' '}, n-len(b))...) }
	if _, err := ReadBackupHeader(pad(MaxBackupSize)); err != nil {
		t.Fatalf("backup of MaxBackupSize bytes: %v", err)
	}
	big := pad(MaxBackupSize + 1)
	_, err := ReadBackupHeader(big)
	wantError(t, err, ErrTooLarge, "")
	_, err = Unprotect(big, []byte(goldenPassword))
	wantError(t, err, ErrTooLarge, "")
}

func TestBackupUnsupportedVersion(t *testing.T) {
	for _, v := range []int{0, -1, 2} {
		in := editJSON(t, readGoldenBackup(t), func(m map[string]any) {
			m["version"] = v
			m["argon2_memory"] = 65536 // not judged: the version is unknown
		})
		_, err := Unprotect(in, []byte(goldenPassword))
		if e := wantError(t, err, ErrUnsupportedVersion, "version"); e.Version != v {
			t.Errorf("version %d: Error.Version = %d", v, e.Version)
		}
	}
}

func TestBackupMalformed(t *testing.T) {
	b := readGoldenBackup(t)
	edit := func(f func(m map[string]any)) []byte { return editJSON(t, b, f) }
	set := func(key string, v any) []byte { return edit(func(m map[string]any) { m[key] = v }) }
	del := func(key string) []byte { return edit(func(m map[string]any) { delete(m, key) }) }
	b64 := base64.StdEncoding.EncodeToString
	gh, err := ReadBackupHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	salt := b64(gh.Salt)
	cases := []struct {
		name  string
		in    []byte
		err   error
		field string
	}{
		{"not JSON", []byte("tsskit.share.backup"), ErrMalformed, ""},
		{"array", []byte("[]"), ErrMalformed, ""},
		{"null", []byte("null"), ErrMalformed, ""},
		{"empty", nil, ErrTruncated, ""},
		{"truncated", b[:len(b)/2], ErrTruncated, ""},
		{"trailing data", append(slices.Clip(b), "{}"...), ErrMalformed, ""},
		{"empty object", []byte("{}"), ErrMalformed, "format"},
		{"a record", readGolden(t), ErrMalformed, "format"},
		{"other format", set("format", "tsskit.share"), ErrMalformed, "format"},
		{"no version", del("version"), ErrMalformed, "version"},
		{"version a string", set("version", "1"), ErrMalformed, "version"},
		{"duplicate key", append([]byte(`{"salt":"AAAAAAAAAAAAAAAAAAAAAA==",`), b[1:]...), ErrMalformed, "salt"},
		{"unknown key", set("comment", "x"), ErrMalformed, "comment"},
		{"key in other case", edit(func(m map[string]any) { m["Salt"] = m["salt"]; delete(m, "salt") }), ErrMalformed, "Salt"},
		{"no wallet_id", del("wallet_id"), ErrMalformed, "wallet_id"},
		{"no party_id", del("party_id"), ErrMalformed, "party_id"},
		{"no kdf", del("kdf"), ErrMalformed, "kdf"},
		{"no iterations", del("iterations"), ErrMalformed, "iterations"},
		{"no salt", del("salt"), ErrMalformed, "salt"},
		{"no cipher", del("cipher"), ErrMalformed, "cipher"},
		{"no nonce", del("nonce"), ErrMalformed, "nonce"},
		{"no ciphertext", del("ciphertext"), ErrMalformed, "ciphertext"},
		{"null ciphertext", set("ciphertext", nil), ErrMalformed, "ciphertext"},
		{"empty wallet_id", set("wallet_id", ""), ErrInconsistent, "wallet_id"},
		{"wallet_id with a space", set("wallet_id", "my wallet"), ErrInconsistent, "wallet_id"},
		{"wallet_id not a string", set("wallet_id", 7), ErrMalformed, "wallet_id"},
		{"long party_id", set("party_id", strings.Repeat("p", 200)), ErrInconsistent, "party_id"},
		{"party_id with a newline", set("party_id", "server\n2"), ErrInconsistent, "party_id"},
		{"other kdf", set("kdf", "pbkdf2-sha1"), ErrMalformed, "kdf"},
		{"kdf in other case", set("kdf", "PBKDF2-SHA256"), ErrMalformed, "kdf"},
		{"other cipher", set("cipher", "aes-128-gcm"), ErrMalformed, "cipher"},
		{"one iteration", set("iterations", 1), ErrMalformed, "iterations"},
		{"iterations below the minimum", set("iterations", MinIterations-1), ErrMalformed, "iterations"},
		{"iterations above the maximum", set("iterations", MaxIterations+1), ErrMalformed, "iterations"},
		{"negative iterations", set("iterations", -MinIterations), ErrMalformed, "iterations"},
		{"fractional iterations", set("iterations", json.Number("600000.5")), ErrMalformed, "iterations"},
		{"huge iterations", set("iterations", json.Number("1"+strings.Repeat("0", 30))), ErrMalformed, "iterations"},
		{"iterations a string", set("iterations", "600000"), ErrMalformed, "iterations"},
		{"salt not base64", set("salt", "not base64!"), ErrMalformed, "salt"},
		{"salt unpadded", set("salt", strings.TrimRight(salt, "=")), ErrMalformed, "salt"},
		{"salt URL-safe", set("salt", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 16))), ErrMalformed, "salt"},
		{"salt with a line break", set("salt", salt[:8]+"\n"+salt[8:]), ErrMalformed, "salt"},
		{"salt with nonzero padding bits", set("salt", salt[:len(salt)-3]+"B=="), ErrMalformed, "salt"},
		{"short salt", set("salt", b64(make([]byte, 15))), ErrMalformed, "salt"},
		{"long salt", set("salt", b64(make([]byte, 32))), ErrMalformed, "salt"},
		{"nonce not base64", set("nonce", "%%%%"), ErrMalformed, "nonce"},
		{"nonce of 16 bytes", set("nonce", b64(make([]byte, 16))), ErrMalformed, "nonce"},
		{"empty nonce", set("nonce", ""), ErrMalformed, "nonce"},
		{"ciphertext not base64", set("ciphertext", "a b"), ErrMalformed, "ciphertext"},
		{"ciphertext shorter than the tag", set("ciphertext", b64(make([]byte, 15))), ErrMalformed, "ciphertext"},
		{"empty ciphertext", set("ciphertext", ""), ErrMalformed, "ciphertext"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := ReadBackupHeader(c.in)
			if h != nil {
				t.Fatal("header read")
			}
			wantError(t, err, c.err, c.field)
			r, err := Unprotect(c.in, []byte(goldenPassword))
			if r != nil {
				t.Fatal("decrypted")
			}
			wantError(t, err, c.err, c.field)
		})
	}
}

// FuzzReadBackupHeader checks that ReadBackupHeader never panics and fails
// only with an *Error of a known Code. It stops short of Unprotect, whose
// key derivation would make each input cost a tenth of a second.
func FuzzReadBackupHeader(f *testing.F) {
	valid := readGoldenBackup(f)
	for _, s := range [][]byte{
		valid,
		valid[:len(valid)/2],
		bytes.Replace(valid, []byte(`"version": 1`), []byte(`"version": 2`), 1),
		bytes.Replace(valid, []byte(`"iterations": 600000`), []byte(`"iterations": 1`), 1),
		bytes.Replace(valid, []byte(`==`), []byte(`=`), 1),
		readGolden(f),
		[]byte(`{"format":"tsskit.share.backup","version":1}`),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadBackupHeader(b)
		if err != nil {
			if e, ok := errors.AsType[*Error](err); !ok || e.sentinel() == nil || h != nil {
				t.Fatalf("ReadBackupHeader returned (%v, %v); want (nil, a classified *Error)", h, err)
			}
			return
		}
		if len(h.Salt) != 16 || len(h.Nonce) != 12 || h.Iterations < MinIterations || h.Iterations > MaxIterations {
			t.Fatalf("accepted header %+v", h)
		}
	})
}

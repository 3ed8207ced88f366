package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const testKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestParseMasterKey(t *testing.T) {
	k, err := ParseMasterKey(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(testKeyHex)
	sum := sha256.Sum256(append([]byte("tsskit master key id v1"), raw...))
	if want := hex.EncodeToString(sum[:8]); k.ID() != want {
		t.Fatalf("ID %s, want %s", k.ID(), want)
	}

	upper, err := ParseMasterKey(strings.ToUpper(testKeyHex))
	if err != nil {
		t.Fatalf("uppercase hex refused: %v", err)
	}
	if upper.ID() != k.ID() || upper.b != k.b {
		t.Fatal("uppercase hex parsed to another key")
	}

	_, err = ParseMasterKey("")
	if !errors.Is(err, ErrNoMasterKey) || errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("empty: got %v, want ErrNoMasterKey", err)
	}
	if !strings.HasPrefix(err.Error(), "CRYPTO_MASTER_KEY is not set: ") {
		t.Fatalf("empty: message %q", err)
	}

	bad := map[string]string{
		"63 chars":       testKeyHex[:63],
		"65 chars":       testKeyHex + "a",
		"62 chars":       testKeyHex[:62],
		"128 chars":      testKeyHex + testKeyHex,
		"non-hex":        "zz" + testKeyHex[2:],
		"space":          " " + testKeyHex[1:],
		"newline":        testKeyHex[:63] + "\n",
		"0x prefix":      "0x" + testKeyHex[2:],
		"base64-ish":     strings.Repeat("A+/=", 16),
		"32 raw bytes":   string(raw),
		"multibyte rune": "é" + testKeyHex[2:],
	}
	for name, s := range bad {
		_, err := ParseMasterKey(s)
		if !errors.Is(err, ErrBadMasterKey) {
			t.Errorf("%s: got %v, want ErrBadMasterKey", name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "64 hex characters") {
			t.Errorf("%s: message %q does not say what was expected", name, msg)
		}
		if len(s) >= 8 && strings.Contains(msg, s[2:10]) {
			t.Errorf("%s: message %q echoes the value", name, msg)
		}
	}
}

func TestMasterKeyNeverPrinted(t *testing.T) {
	k, err := ParseMasterKey(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		for _, arg := range []any{k, *k} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(strings.ToLower(out), "0102030405") || strings.Contains(out, "\x01\x02\x03") || strings.Contains(out, "1 2 3 4") {
				t.Errorf("%s of %T prints the key: %q", verb, arg, out)
			}
		}
	}
	if s := fmt.Sprint(k); !strings.Contains(s, k.ID()) {
		t.Errorf("%q does not name the key id", s)
	}
}

func TestGenerateMasterKey(t *testing.T) {
	a, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated keys are equal")
	}
	if !isLowerHex(a, 64) {
		t.Fatalf("generated key is not 64 lowercase hex characters (%d chars)", len(a))
	}
	ka, err := ParseMasterKey(a)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := ParseMasterKey(b)
	if ka.ID() == kb.ID() || len(ka.ID()) != 16 {
		t.Fatalf("key ids %q, %q", ka.ID(), kb.ID())
	}
}

package recovery

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// The BIP39 English word list's well-known SHA-256: the same for
// bitcoin/bips bip-0039/english.txt and trezor/python-mnemonic
// src/mnemonic/wordlist/english.txt (and the value BIP39 libraries such as
// bitcoinjs/bip39 and tyler-smith/go-bip39 pin).
const englishSHA256 = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"

func TestWordList(t *testing.T) {
	if got := sha256.Sum256([]byte(english)); hex.EncodeToString(got[:]) != englishSHA256 {
		t.Fatalf("english.txt SHA-256 = %x; want %s", got, englishSHA256)
	}
	w := words().words
	if len(w) != 2048 || !slices.IsSorted(w) || w[0] != "abandon" || w[2047] != "zoo" {
		t.Fatalf("word list: %d words, sorted %t, %q..%q", len(w), slices.IsSorted(w), w[0], w[len(w)-1])
	}
	// BIP39's English list: 3 to 8 lowercase letters, unique in their first
	// four (which the list promises; a typist may rely on it).
	prefix := map[string]bool{}
	for _, s := range w {
		if len(s) < 3 || len(s) > 8 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("word %q", s)
		}
		p := s[:min(4, len(s))]
		if prefix[p] {
			t.Fatalf("prefix %q twice", p)
		}
		prefix[p] = true
	}
}

// bip39Vectors are the English entries of BIP39's reference vectors
// (trezor/python-mnemonic vectors.json; see testdata/README.md) with 128
// bits of entropy: a recovery code's size.
var bip39Vectors = []struct{ entropy, code string }{
	{"00000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"},
	{"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "legal winner thank year wave sausage worth useful legal winner thank yellow"},
	{"80808080808080808080808080808080", "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"},
	{"ffffffffffffffffffffffffffffffff", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"},
	{"9e885d952ad362caeb4efe34a8e91bd2", "ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic"},
	{"c0ba5a8e914111210f2bd131f3d5e08d", "scheme spot photo card baby mountain device kick cradle pact join borrow"},
	{"23db8160a31d3e0dca3688ed941adbf3", "cat swing flag economy stadium alone churn speed unique patch report train"},
	{"f30f8c1da665478f49b001d94c5fc452", "vessel ladder alter error federal sibling chat ability sun glass valve picture"},
}

func TestCodeVectors(t *testing.T) {
	for _, v := range bip39Vectors {
		e, _ := hex.DecodeString(v.entropy)
		if got := strings.Join(encodeMnemonic(e), " "); got != v.code {
			t.Errorf("encode %s = %q; want %q", v.entropy, got, v.code)
		}
		got, err := ParseCode(v.code)
		if err != nil || !bytes.Equal(got, e) {
			t.Errorf("ParseCode(%q) = %x, %v; want %s", v.code, got, err, v.entropy)
		}
	}
}

// TestBIP39File runs every English vector of the reference file, of every
// length, through the encoder and decoder: a cross-check of the embedded
// word list beyond its hash. 128-bit ones go through ParseCode too.
func TestBIP39File(t *testing.T) {
	b, err := os.ReadFile("testdata/bip39-english-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ English [][]string }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.English) != 24 {
		t.Fatalf("%d English vectors; the reference file has 24", len(f.English))
	}
	n := 0
	for _, v := range f.English {
		e, _ := hex.DecodeString(v[0])
		if got := strings.Join(encodeMnemonic(e), " "); got != v[1] {
			t.Errorf("encode %s = %q; want %q", v[0], got, v[1])
		}
		got, err := decodeMnemonic(strings.Fields(v[1]))
		if err != nil || !bytes.Equal(got, e) {
			t.Errorf("decode %q = %x, %v; want %s", v[1], got, err, v[0])
		}
		if len(e) == EntropySize {
			n++
			if got, err := ParseCode(v[1]); err != nil || !bytes.Equal(got, e) {
				t.Errorf("ParseCode(%q) = %x, %v", v[1], got, err)
			}
			if !slices.ContainsFunc(bip39Vectors, func(x struct{ entropy, code string }) bool { return x.entropy == v[0] && x.code == v[1] }) {
				t.Errorf("vector %s is not in bip39Vectors", v[0])
			}
		} else if _, err := ParseCode(v[1]); !errors.Is(err, ErrBadCode) {
			t.Errorf("ParseCode of %d words: %v; want %s", len(strings.Fields(v[1])), err, CodeBadCode)
		}
	}
	if n != len(bip39Vectors) {
		t.Errorf("%d vectors of 128 bits in the file; bip39Vectors has %d", n, len(bip39Vectors))
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if w := strings.Split(c, " "); len(w) != CodeWords || c != strings.ToLower(c) {
			t.Fatalf("NewCode = %q", c)
		}
		e, err := ParseCode(c)
		if err != nil || len(e) != EntropySize || strings.Join(encodeMnemonic(e), " ") != c {
			t.Fatalf("ParseCode(NewCode()) = %x, %v", e, err)
		}
		if seen[c] {
			t.Fatal("NewCode repeated a code")
		}
		seen[c] = true
	}
}

func TestParseCodeNormalises(t *testing.T) {
	want, _ := hex.DecodeString("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f")
	for _, c := range []string{
		"Legal WINNER thank year wave sausage worth useful legal winner thank Yellow",
		"  legal winner  thank year\twave sausage\nworth useful legal winner thank yellow \n",
		"legal\r\nwinner thank year wave sausage worth useful legal winner thank yellow\u00a0",
	} {
		got, err := ParseCode(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseCode(%q) = %x, %v", c, got, err)
		}
	}
}

func TestParseCodeRefuses(t *testing.T) {
	good := strings.Fields(bip39Vectors[1].code)
	with := func(i int, w string) string {
		c := slices.Clone(good)
		c[i] = w
		return strings.Join(c, " ")
	}
	for _, tc := range []struct {
		name, code, msg string
	}{
		{"11 words", strings.Join(good[:11], " "), "11 words"},
		{"13 words", strings.Join(append(slices.Clone(good), "abandon"), " "), "13 words"},
		{"24 words", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art", "24 words"},
		{"empty", "  ", "0 words"},
		{"unknown word", with(2, "thanks"), "word 3 is not"},
		{"misspelt last word", with(11, "yelow") + " ", "word 12 is not"},
		{"unknown words", strings.Replace(with(0, "legl"), "wave", "wav", 1), "words 1, 5 are not"},
		{"punctuation", with(3, "year,"), "word 4 is not"},
		// Each of these is a list word in the wrong place: only the
		// checksum can tell.
		{"wrong word", with(11, "yard"), "checksum"},
		{"wrong last word", with(11, "zoo"), "checksum"},
		{"swapped words", "winner legal thank year wave sausage worth useful legal winner thank yellow", "checksum"},
	} {
		_, err := ParseCode(tc.code)
		e, ok := AsError(err)
		if !ok || e.Code != CodeBadCode || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %s (%s)", tc.name, err, CodeBadCode, tc.msg)
			continue
		}
		// A refusal never repeats the code, nor any word of it.
		for _, w := range strings.Fields(tc.code) {
			if len(w) > 2 && strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error %q repeats %q", tc.name, err, w)
			}
		}
	}
	// Every single-word substitution by another list word that fails the
	// checksum is refused (and about 1/16 of them pass: BIP39's 4 bits).
	pass, n := 0, 0
	for i := range good {
		for _, w := range words().words[:200] {
			if w == good[i] {
				continue
			}
			n++
			if _, err := ParseCode(with(i, w)); err == nil {
				pass++
			} else if !errors.Is(err, ErrBadCode) {
				t.Fatal(err)
			}
		}
	}
	if pass == 0 || pass > n/8 {
		t.Errorf("%d of %d substitutions pass the checksum; want about 1/16", pass, n)
	}
}

// TestKitKeyVectors checks KitKey against testdata/vectors.json, written
// by testdata/vectors.py: HKDF-SHA256 in Python's standard library (and
// cross-checked with the cryptography package's HKDF), the public key by
// the cryptography package's Ed25519. The derivation is, in Python:
//
//	import hashlib, hmac
//	def hkdf_sha256(ikm, salt, info, length):
//	    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
//	    okm, t, i = b"", b"", 1
//	    while len(okm) < length:
//	        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
//	        okm, i = okm + t, i + 1
//	    return okm[:length]
//	seed = hkdf_sha256(bytes.fromhex("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f"),
//	                   b"tsskit/v1 recovery kit",
//	                   b"8d5e3f0c-2b7a-4c1e-9a55-1f0e6c3b2d71", 32)
//	# b4598d3a6d60d88ad10c3c9f76a3baf27c4c51538188452b2ca5bc89bd59a567
//	from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
//	Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw().hex()
//	# 969e424ab7a03b7535cfd5524ac32ca11a733a406aaf2dfdd361cc7aabd42c2b
func TestKitKeyVectors(t *testing.T) {
	v := loadVectors(t)
	if len(v.Kit) < 3 {
		t.Fatalf("%d kit vectors", len(v.Kit))
	}
	if v.Kit[0].Seed != "b4598d3a6d60d88ad10c3c9f76a3baf27c4c51538188452b2ca5bc89bd59a567" ||
		v.Kit[0].PublicKey != "969e424ab7a03b7535cfd5524ac32ca11a733a406aaf2dfdd361cc7aabd42c2b" {
		t.Fatal("testdata/vectors.json is not the vector of this test's comment")
	}
	for _, kv := range v.Kit {
		if e, err := ParseCode(kv.Code); err != nil || hex.EncodeToString(e) != kv.Entropy {
			t.Errorf("code of %s: %x, %v", kv.Entropy, e, err)
		}
		k, err := KitKey(kv.Code, kv.WalletID)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(k.Seed()) != kv.Seed || k.Public().String() != kv.PublicKey {
			t.Errorf("KitKey(%s, %q) = seed %x, key %s; want %s, %s", kv.Entropy, kv.WalletID, k.Seed(), k.Public(), kv.Seed, kv.PublicKey)
		}
		// As typed by a person: the same key.
		k2, err := KitKey("  "+strings.ToUpper(kv.Code)+"\n", kv.WalletID)
		if err != nil || !k2.Public().Equal(k.Public()) {
			t.Errorf("KitKey of the code in upper case: %v", err)
		}
	}
	if v.Kit[0].PublicKey == v.Kit[1].PublicKey {
		t.Error("one code gives one key for two wallets")
	}
}

func TestKitKeyRefuses(t *testing.T) {
	code := bip39Vectors[1].code
	for _, w := range []string{"", strings.Repeat("w", 129)} {
		if _, err := KitKey(code, w); !errors.Is(err, ErrMalformed) {
			t.Errorf("KitKey with wallet id of %d bytes: %v", len(w), err)
		}
	}
	if _, err := KitKey(strings.Replace(code, "yellow", "yard", 1), "wallet-1"); !errors.Is(err, ErrBadCode) {
		t.Errorf("KitKey with a bad code: %v", err)
	}
	if _, err := KitKey(code, strings.Repeat("w", 128)); err != nil {
		t.Errorf("KitKey with a wallet id of 128 bytes: %v", err)
	}
}

// vectors is testdata/vectors.json.
type vectors struct {
	Kit []struct {
		Entropy   string `json:"entropy"`
		Code      string `json:"code"`
		WalletID  string `json:"wallet_id"`
		Seed      string `json:"seed"`
		PublicKey string `json:"public_key"`
	} `json:"kit"`
	Authorization []struct {
		SignerSeed string `json:"signer_seed"`
		Kind       string `json:"kind"`
		WalletID   string `json:"wallet_id"`
		Epoch      int    `json:"epoch"`
		PartyID    string `json:"party_id"`
		Identity   string `json:"identity"`
		ExpiresMS  int64  `json:"expires_ms"`
		Encoding   string `json:"encoding"`
		Signature  string `json:"signature"`
		Wire       string `json:"wire"`
		File       string `json:"file"`
	} `json:"authorization"`
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return &v
}

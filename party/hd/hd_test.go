package hd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/ckd"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// BIP-0032 test vector 2: the non-hardened steps, parent xpub → child xpub.
var bip32Vector2 = []struct{ parent, child string }{
	{ // m → m/0
		"xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
		"xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
	},
	{ // m/0/2147483647H → m/0/2147483647H/1
		"xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
		"xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
	},
	{ // m/0/2147483647H/1/2147483646H → …/2
		"xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
		"xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
	},
}

var childIndex = []uint32{0, 1, 2}

func TestDeriveBIP32Vector2(t *testing.T) {
	for i, v := range bip32Vector2 {
		parent, err := ckd.NewExtendedKeyFromString(v.parent, tss.S256())
		if err != nil {
			t.Fatal(err)
		}
		want, err := ckd.NewExtendedKeyFromString(v.child, tss.S256())
		if err != nil {
			t.Fatal(err)
		}
		c, err := Derive(Compress(parent.X, parent.Y), parent.ChainCode, Path{childIndex[i]})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !bytes.Equal(c.PublicKey, Compress(want.X, want.Y)) || !bytes.Equal(c.ChainCode, want.ChainCode) {
			t.Errorf("step %d: child %x / %x, want %x / %x", i, c.PublicKey, c.ChainCode, Compress(want.X, want.Y), want.ChainCode)
		}
		// The delta is IL: child = parent + delta·G.
		var d secp256k1.ModNScalar
		d.SetByteSlice(c.Delta.Bytes())
		var dG, p, sum secp256k1.JacobianPoint
		secp256k1.ScalarBaseMultNonConst(&d, &dG)
		pk, _ := secp256k1.ParsePubKey(Compress(parent.X, parent.Y))
		pk.AsJacobian(&p)
		secp256k1.AddNonConst(&p, &dG, &sum)
		sum.ToAffine()
		if got := secp256k1.NewPublicKey(&sum.X, &sum.Y).SerializeCompressed(); !bytes.Equal(got, c.PublicKey) {
			t.Errorf("step %d: parent + delta·G = %x, want %x", i, got, c.PublicKey)
		}
	}
	// The depth-0 xpub of vector 2's master serializes back to itself.
	m, _ := ckd.NewExtendedKeyFromString(bip32Vector2[0].parent, tss.S256())
	if got, err := ExtendedPublicKey(Compress(m.X, m.Y), m.ChainCode); err != nil || got != bip32Vector2[0].parent {
		t.Errorf("ExtendedPublicKey = %q, %v; want %q", got, err, bip32Vector2[0].parent)
	}
}

func TestDeriveMultiLevelAddsDeltas(t *testing.T) {
	m, _ := ckd.NewExtendedKeyFromString(bip32Vector2[0].parent, tss.S256())
	pub := Compress(m.X, m.Y)
	a, err := Derive(pub, m.ChainCode, Path{0, 5, 7})
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := Derive(pub, m.ChainCode, Path{0})
	b2, _ := Derive(b1.PublicKey, b1.ChainCode, Path{5})
	b3, _ := Derive(b2.PublicKey, b2.ChainCode, Path{7})
	if !bytes.Equal(a.PublicKey, b3.PublicKey) {
		t.Fatalf("m/0/5/7 in one go %x, step by step %x", a.PublicKey, b3.PublicKey)
	}
	n := tss.S256().Params().N
	sum := new(big.Int).Add(b1.Delta, b2.Delta)
	sum.Add(sum, b3.Delta).Mod(sum, n)
	if sum.Cmp(a.Delta) != 0 {
		t.Errorf("delta of m/0/5/7 is not the sum of the steps'")
	}
	e, err := Derive(pub, m.ChainCode, Path{})
	if err != nil || e.Delta != nil || !bytes.Equal(e.PublicKey, pub) {
		t.Errorf("empty path: %+v, %v", e, err)
	}
}

func TestParsePath(t *testing.T) {
	good := map[string]string{"m": "m", "M": "m", "m/0": "m/0", "m/0/5": "m/0/5", "0/5": "m/0/5", "m/2147483647": "m/2147483647", "m/44/60/0/0/7": "m/44/60/0/0/7"}
	for in, want := range good {
		p, err := ParsePath(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePath(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	bad := map[string]string{
		"":                                     "empty",
		"m/":                                   "component 1 is empty",
		"m//1":                                 "component 1 is empty",
		"m/0'":                                 "hardened",
		"m/0h":                                 "hardened",
		"m/44H/0":                              "hardened",
		"m/2147483648":                         "hardened",
		"m/4294967296":                         "out of range",
		"m/01":                                 "leading zero",
		"m/-1":                                 "not a decimal",
		"m/1a":                                 "not a decimal",
		"x/1":                                  "not a decimal",
		"m/ 1":                                 "not a decimal",
		"m/1/":                                 "component 2 is empty",
		"m/" + strings.Repeat("1/", 255) + "1": "at most 255",
	}
	for in, want := range bad {
		_, err := ParsePath(in)
		var he *Error
		if !errors.As(err, &he) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePath(%q) = %v; want an *Error saying %q", in, err, want)
		}
		if want == "hardened" && !errors.Is(err, ErrHardened) {
			t.Errorf("ParsePath(%q): not ErrHardened", in)
		}
	}
	if err := (Path{1, Hardened}).Check(); !errors.Is(err, ErrHardened) {
		t.Errorf("Check of a hardened index: %v", err)
	}
	if _, err := Derive(make([]byte, 33), make([]byte, 32), Path{1}); err == nil {
		t.Error("Derive accepted a public key that is not a point")
	}
	g := secp256k1.NewPrivateKey(new(secp256k1.ModNScalar).SetInt(1)).PubKey().SerializeCompressed()
	if _, err := Derive(g, make([]byte, 31), Path{1}); err == nil {
		t.Error("Derive accepted a 31-byte chain code")
	}
}

// The legacy rule's vector, shared with the SDK's tests.
func TestLegacyChainCodeVector(t *testing.T) {
	g := secp256k1.NewPrivateKey(new(secp256k1.ModNScalar).SetInt(1)).PubKey().SerializeCompressed()
	if hex.EncodeToString(g) != "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" {
		t.Fatal("G")
	}
	got := hex.EncodeToString(LegacyChainCode("00000000-0000-4000-8000-000000000001", g))
	t.Logf("legacy chain code vector: %s", got)
	if got != legacyVector {
		t.Errorf("LegacyChainCode = %s, want %s", got, legacyVector)
	}
}

// legacyVector is SHA-256 of the rule's bytes computed outside Go (Python's
// hashlib) for the wallet id and public key above.
const legacyVector = "a2c2c0aeab525d2e8f403a6228d8704847b76ac3b71c509b1308eaabe2dd88e8"

package identity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// RFC 8032 §7.1, TEST 1 and TEST 2: the seed, public key and signatures
// come from outside this project, so KeyFromSeed, Public and sign are
// checked against the standard, not against themselves.
func TestRFC8032Vectors(t *testing.T) {
	for _, v := range []struct{ seed, pub, msg, sig string }{
		{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
			"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
		{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
			"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	} {
		seed, _ := hex.DecodeString(v.seed)
		k, err := KeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		if k.Public().String() != v.pub {
			t.Fatalf("public key %s, want %s", k.Public(), v.pub)
		}
		msg, _ := hex.DecodeString(v.msg)
		if got := hex.EncodeToString(k.sign(msg)); got != v.sig {
			t.Fatalf("signature %s, want %s", got, v.sig)
		}
		if !bytes.Equal(k.Seed(), seed) {
			t.Fatal("seed does not round-trip")
		}
		back, err := ParsePrivateKey(MarshalPrivateKey(k))
		if err != nil || back.Public() != k.Public() {
			t.Fatalf("private key text form: %v", err)
		}
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	k := mustKey(t)
	good := MarshalPrivateKey(k)
	for name, b := range map[string][]byte{
		"empty":       nil,
		"other type":  bytes.Replace(good, []byte("TSSKIT PRIVATE KEY"), []byte("PRIVATE KEY"), 2),
		"two blocks":  append(append([]byte(nil), good...), good...),
		"trailing":    append(append([]byte(nil), good...), "junk"...),
		"certificate": MarshalChain([]*Certificate{mustIssue(t, k, KindServer, "server-1", k.Public(), time.Now(), time.Hour)}),
	} {
		if _, err := ParsePrivateKey(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	k := mustKey(t)
	got, err := ParsePublicKey(strings.ToUpper(k.Public().String()))
	if err != nil || got != k.Public() {
		t.Fatalf("round trip: %v", err)
	}
	for _, s := range []string{"", "00", k.Public().String() + "00", "zz" + k.Public().String()[2:]} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParseTrust(t *testing.T) {
	a, b := mustKey(t).Public(), mustKey(t).Public()
	tr, err := ParseTrust(a.String()+", "+b.String(), b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Roots()) != 2 || !tr.Revoked(b) || tr.Revoked(a) {
		t.Fatalf("roots %v", tr.Roots())
	}
	if _, err := ParseTrust("", ""); err == nil {
		t.Fatal("no root accepted")
	}
	if _, err := ParseTrust(a.String(), "nothex"); err == nil {
		t.Fatal("bad revoked key accepted")
	}
}

func mustKey(t testing.TB) *Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustIssue(t testing.TB, issuer *Key, kind Kind, id string, key PublicKey, from time.Time, life time.Duration) *Certificate {
	t.Helper()
	c, err := Issue(issuer, kind, id, key, from, from.Add(life))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantCode(t *testing.T, err error, code Code, party string) {
	t.Helper()
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("got %v, want an identity error %s", err, code)
	}
	if e.Code != code || e.Party != party {
		t.Fatalf("got %s naming %q (%v), want %s naming %q", e.Code, e.Party, err, code, party)
	}
	if !errors.Is(err, &Error{Code: code}) {
		t.Fatal("errors.Is does not match the sentinel")
	}
}

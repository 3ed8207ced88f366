package identity

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCertificateRoundTrip(t *testing.T) {
	root, party := mustKey(t), mustKey(t)
	now := time.Now()
	c := mustIssue(t, root, KindServer, "server-1", party.Public(), now, 24*time.Hour)
	back, err := ParseCertificate(c.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if back.Kind != KindServer || back.PartyID != "server-1" || back.Key != party.Public() || back.Issuer != root.Public() ||
		!back.NotBefore.Equal(now.Truncate(time.Second)) || !back.NotAfter.Equal(now.Add(24*time.Hour).Truncate(time.Second)) {
		t.Fatalf("round trip changed the certificate: %+v", back)
	}
	chain, err := ParseChain(MarshalChain([]*Certificate{c}))
	if err != nil || len(chain) != 1 || !bytes.Equal(chain[0].Bytes(), c.Bytes()) {
		t.Fatalf("text form: %v", err)
	}
	if s := c.String(); !strings.Contains(s, "server-1") || !strings.Contains(s, party.Public().String()) {
		t.Fatalf("String: %s", s)
	}
}

// The committed vector pins the encoding: a certificate made from fixed
// seeds and times must keep these bytes (Ed25519 signatures are
// deterministic), and the committed bytes must keep verifying.
func TestCertificateGolden(t *testing.T) {
	root, _ := KeyFromSeed(bytes.Repeat([]byte{1}, 32))
	party, _ := KeyFromSeed(bytes.Repeat([]byte{2}, 32))
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := mustIssue(t, root, KindServer, "server-1", party.Public(), from, 365*24*time.Hour)
	if os.Getenv("TSSKIT_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile("testdata/server-1.cert", MarshalChain([]*Certificate{c}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/server-1.cert")
	if err != nil {
		t.Fatal(err)
	}
	if got := MarshalChain([]*Certificate{c}); !bytes.Equal(got, want) {
		t.Fatalf("encoding changed:\n%s\nwant\n%s", got, want)
	}
	chain, err := ParseChain(want)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := NewTrust([]PublicKey{root.Public()}, nil)
	if err := tr.Verify(chain, "server-1", KindServer, party.Public(), from.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Layout, byte by byte, as the package comment documents it.
	raw := c.Bytes()
	if raw[0] != 1 || raw[1] != byte(KindServer) || raw[2] != 8 || string(raw[3:11]) != "server-1" ||
		!bytes.Equal(raw[11:43], party.Public().Bytes()) || hex.EncodeToString(raw[43:51]) != "000000006955b900" {
		t.Fatalf("layout: %x", raw)
	}
}

func (k PublicKey) Bytes() []byte { return k[:] }

func TestParseCertificateRefuses(t *testing.T) {
	root := mustKey(t)
	good := mustIssue(t, root, KindServer, "server-1", mustKey(t).Public(), time.Now(), time.Hour).Bytes()
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, b := range map[string][]byte{
		"empty":        nil,
		"truncated":    good[:len(good)-1],
		"trailing":     append(bytes.Clone(good), 0),
		"version 2":    mod(func(b []byte) []byte { b[0] = 2; return b }),
		"client kind":  mod(func(b []byte) []byte { b[1] = byte(KindClient); return b }),
		"kind 0":       mod(func(b []byte) []byte { b[1] = 0; return b }),
		"space in id":  mod(func(b []byte) []byte { b[3+6] = ' '; return b }),
		"id too long":  mod(func(b []byte) []byte { b[2] = 9; return b }),
		"empty window": mod(func(b []byte) []byte { copy(b[11+32+8:], b[11+32:11+32+8]); return b }),
	} {
		if _, err := ParseCertificate(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantCode(t, err, CodeMalformed, "")
		}
	}
	if _, err := ParseChain([]byte("-----BEGIN TSSKIT CERTIFICATE-----\n-----END TSSKIT CERTIFICATE-----\n")); err == nil {
		t.Error("empty PEM certificate accepted")
	}
	if _, err := ParseChain(nil); err == nil {
		t.Error("empty chain accepted")
	}
	three := MarshalChain([]*Certificate{mustIssue(t, root, KindServer, "s", root.Public(), time.Now(), time.Hour)})
	if _, err := ParseChain(bytes.Repeat(three, 3)); err == nil {
		t.Error("chain of three accepted")
	}
}

func TestIssueRefuses(t *testing.T) {
	root := mustKey(t)
	now := time.Now()
	for name, f := range map[string]func() error{
		"client kind": func() error {
			_, err := Issue(root, KindClient, "c", root.Public(), now, now.Add(time.Hour))
			return err
		},
		"empty id": func() error {
			_, err := Issue(root, KindServer, "", root.Public(), now, now.Add(time.Hour))
			return err
		},
		"backwards": func() error {
			_, err := Issue(root, KindServer, "s", root.Public(), now, now.Add(-time.Hour))
			return err
		},
		"long issuer": func() error {
			_, err := Issue(root, KindIssuer, "s-", root.Public(), now, now.Add(MaxIssuerLifetime+time.Hour))
			return err
		},
		"zero key": func() error { _, err := Issue(root, KindServer, "s", PublicKey{}, now, now.Add(time.Hour)); return err },
		"sub-second gap": func() error {
			_, err := Issue(root, KindServer, "s", root.Public(), now, now.Add(time.Millisecond))
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

// TestAttackCertificates: what an attacker with no root key can present
// instead of a server party's certificate, and the code each gets.
func TestAttackCertificates(t *testing.T) {
	root, other, party := mustKey(t), mustKey(t), mustKey(t)
	now := time.Now()
	tr, _ := NewTrust([]PublicKey{root.Public()}, nil)
	good := mustIssue(t, root, KindServer, "server-1", party.Public(), now.Add(-time.Hour), 2*time.Hour)
	if err := tr.Verify([]*Certificate{good}, "server-1", KindServer, party.Public(), now); err != nil {
		t.Fatal(err)
	}
	forged := func() *Certificate {
		c, _ := ParseCertificate(good.Bytes())
		raw := c.Bytes()
		raw[len(raw)-1] ^= 1
		c, _ = ParseCertificate(raw)
		return c
	}()
	issuer := mustKey(t)
	issCert := mustIssue(t, root, KindIssuer, "server-", issuer.Public(), now.Add(-time.Hour), 24*time.Hour)
	viaIssuer := mustIssue(t, issuer, KindServer, "server-9", party.Public(), now.Add(-time.Minute), time.Hour)
	for _, c := range []struct {
		name  string
		chain []*Certificate
		id    string
		kind  Kind
		key   PublicKey
		trust *Trust
		code  Code
	}{
		{"none", nil, "server-1", KindServer, party.Public(), tr, CodeNoCertificate},
		{"another root", []*Certificate{mustIssue(t, other, KindServer, "server-1", party.Public(), now.Add(-time.Hour), 2*time.Hour)}, "server-1", KindServer, party.Public(), tr, CodeUntrusted},
		{"self-signed", []*Certificate{mustIssue(t, party, KindServer, "server-1", party.Public(), now.Add(-time.Hour), 2*time.Hour)}, "server-1", KindServer, party.Public(), tr, CodeUntrusted},
		{"expired", []*Certificate{mustIssue(t, root, KindServer, "server-1", party.Public(), now.Add(-2*time.Hour), time.Hour)}, "server-1", KindServer, party.Public(), tr, CodeExpired},
		{"not yet valid", []*Certificate{mustIssue(t, root, KindServer, "server-1", party.Public(), now.Add(time.Hour), time.Hour)}, "server-1", KindServer, party.Public(), tr, CodeExpired},
		{"revoked", []*Certificate{good}, "server-1", KindServer, party.Public(), mustTrust(t, root, party.Public()), CodeRevoked},
		{"revoked root", []*Certificate{good}, "server-1", KindServer, party.Public(), mustTrust(t, root, root.Public()), CodeRevoked},
		{"other party", []*Certificate{good}, "server-2", KindServer, party.Public(), tr, CodeWrongSubject},
		{"other key", []*Certificate{good}, "server-1", KindServer, other.Public(), tr, CodeWrongSubject},
		{"other kind", []*Certificate{good}, "server-1", KindCoordinator, party.Public(), tr, CodeWrongSubject},
		{"tampered signature", []*Certificate{forged}, "server-1", KindServer, party.Public(), tr, CodeBadSignature},
		{"issuer outside prefix", []*Certificate{mustIssue(t, issuer, KindServer, "evil-1", party.Public(), now, time.Hour), issCert}, "evil-1", KindServer, party.Public(), tr, CodeUntrusted},
		{"issuer certifies a coordinator", []*Certificate{mustIssue(t, issuer, KindCoordinator, "server-c", party.Public(), now, time.Hour), issCert}, "server-c", KindCoordinator, party.Public(), tr, CodeUntrusted},
		{"leaf outlives issuer", []*Certificate{mustIssue(t, issuer, KindServer, "server-9", party.Public(), now, 48*time.Hour), issCert}, "server-9", KindServer, party.Public(), tr, CodeUntrusted},
		{"issuer of another root", []*Certificate{viaIssuer, mustIssue(t, other, KindIssuer, "server-", issuer.Public(), now.Add(-time.Hour), 24*time.Hour)}, "server-9", KindServer, party.Public(), tr, CodeUntrusted},
		{"server as issuer", []*Certificate{viaIssuer, mustIssue(t, root, KindServer, "server-", issuer.Public(), now.Add(-time.Hour), 24*time.Hour)}, "server-9", KindServer, party.Public(), tr, CodeUntrusted},
		{"revoked issuer", []*Certificate{viaIssuer, issCert}, "server-9", KindServer, party.Public(), mustTrust(t, root, issuer.Public()), CodeRevoked},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.trust.Verify(c.chain, c.id, c.kind, c.key, now), c.code, c.id)
		})
	}
	if err := tr.Verify([]*Certificate{viaIssuer, issCert}, "server-9", KindServer, party.Public(), now); err != nil {
		t.Fatalf("root → issuer → party: %v", err)
	}
}

func mustTrust(t *testing.T, root *Key, revoked ...PublicKey) *Trust {
	t.Helper()
	tr, err := NewTrust([]PublicKey{root.Public()}, revoked)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func FuzzParseCertificate(f *testing.F) {
	root := mustKey(f)
	f.Add(mustIssue(f, root, KindServer, "server-1", root.Public(), time.Now(), time.Hour).Bytes())
	f.Add(mustIssue(f, root, KindIssuer, "p-", root.Public(), time.Now(), time.Hour).Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatal("a parsed certificate does not re-encode to its bytes")
		}
		back, err := ParseCertificate(c.tbsWithSig())
		if err != nil || !bytes.Equal(back.Bytes(), b) {
			t.Fatalf("re-encoding from fields differs: %v", err)
		}
	})
}

func (c *Certificate) tbsWithSig() []byte { return append(c.tbs(), c.Signature...) }

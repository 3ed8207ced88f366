package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for what auth parses from outside: allowlists and secrets
// from the environment, bearer headers and tokens from the network.
// FuzzVerify (internal_test.go) throws arbitrary tokens at Verify; as the
// MAC stops nearly all of them, FuzzVerifyPayload signs what it verifies.

// fzNow is the fixed clock of the token targets.
var fzNow = time.Unix(1_750_000_000, 0)

func fzSigner() *Signer {
	return &Signer{key: []byte(strings.Repeat("k", 32)), Now: func() time.Time { return fzNow }}
}

// fzCheckError fails unless err is an *Error of one of codes, or of any
// code but those about the secret when codes is empty (Verify's refusals
// are classified finer as the package grows; their code is its business).
func fzCheckError(t *testing.T, what string, err error, codes ...Code) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("%s: %T %v is not an *auth.Error", what, err, err)
	}
	if len(codes) == 0 {
		if e.Code == "" || e.Code == CodeMissingSecret || e.Code == CodeWeakSecret {
			t.Fatalf("%s: code %q", what, e.Code)
		}
		return
	}
	for _, c := range codes {
		if e.Code == c {
			return
		}
	}
	t.Fatalf("%s: code %q, want one of %q", what, e.Code, codes)
}

// FuzzParseAllowlist: an accepted list prints in canonical form
// (String), which parses back to the same list, and every entry allows its
// own address; a blank input allows all and nothing else does.
func FuzzParseAllowlist(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1, 192.168.0.0/16, ::1",
		"::ffff:10.0.0.1, ::ffff:10.0.0.0/104, 2001:db8::/32",
		"0.0.0.0/0",
		" \t\n",
		"10.0.0.1,,10.0.0.2",
		"fe80::1%eth0",
		"10.1.2.3/8",
		"1.2.3.4/33",
		"::ffff:1.2.3.4/95",
		"01.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllowlist(s)
		if err != nil {
			if a != nil {
				t.Fatal("ParseAllowlist returned a list and an error")
			}
			return
		}
		if a.AllowsAll() != (strings.TrimSpace(s) == "") {
			t.Fatalf("ParseAllowlist(%q).AllowsAll() = %v", s, a.AllowsAll())
		}
		canon := a.String()
		b, err := ParseAllowlist(canon)
		if err != nil {
			t.Fatalf("String() = %q does not parse: %v", canon, err)
		}
		if b.String() != canon || len(b.prefixes) != len(a.prefixes) {
			t.Fatalf("canonical form %q parses to %q", canon, b.String())
		}
		for i, p := range a.prefixes {
			if p != b.prefixes[i] || p.Masked() != p || !a.Allows(p.Addr()) || p.Addr().Is4In6() {
				t.Fatalf("entry %d: %v (reparsed %v)", i, p, b.prefixes[i])
			}
			if p.Addr().Is4() && !a.Allows(netip.AddrFrom16(p.Addr().As16())) {
				t.Fatalf("entry %v does not allow its IPv4-mapped form", p)
			}
		}
	})
}

// FuzzParseSecret: an accepted secret is at least 32 bytes, is the trimmed
// input or its hex decoding, and its hex form parses back to it; refusals
// are ErrMissingSecret or ErrWeakSecret.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("ab", 32),
		strings.Repeat("AB", 32) + "\n",
		strings.Repeat("ab", 32) + "a",
		strings.Repeat("x", 32),
		strings.Repeat("x", 31),
		strings.Repeat("ab", 31),
		"   ",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseSecret(s)
		if err != nil {
			fzCheckError(t, "ParseSecret", err, CodeMissingSecret, CodeWeakSecret, CodeMalformed)
			return
		}
		if len(key) < minSecretLen {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		trimmed := strings.TrimSpace(s)
		if string(key) != trimmed {
			if d, err := hex.DecodeString(trimmed); err != nil || !bytes.Equal(d, key) {
				t.Fatalf("key is neither the input nor its hex decoding")
			}
		}
		if again, err := ParseSecret(hex.EncodeToString(key)); err != nil || !bytes.Equal(again, key) {
			t.Fatalf("the hex form of the key does not parse back to it: %v", err)
		}
		if _, err := NewSigner(key); err != nil {
			t.Fatalf("NewSigner refuses a parsed secret: %v", err)
		}
	})
}

// FuzzBearerToken: an accepted header yields a non-empty token without
// whitespace that "Bearer " + token gives back.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc.def.ghi", "bearer   x", "BEARER x y", "Bearer ", "Basic x", "Bearer\tx", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := BearerToken(h)
		if !ok {
			if tok != "" {
				t.Fatal("refused header gave a token")
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || !strings.HasSuffix(h, tok) {
			t.Fatalf("BearerToken(%q) = %q", h, tok)
		}
		if again, ok := BearerToken("Bearer " + tok); !ok || again != tok {
			t.Fatalf("token %q does not round-trip", tok)
		}
	})
}

// FuzzMintVerify mints arbitrary claims. Mint refuses or makes a token
// that Verify accepts with exactly the minted claims (times in whole
// seconds), unless it is expired or issued more than a minute ahead, which
// Verify must then say.
func FuzzMintVerify(f *testing.F) {
	f.Add(KindParty, "server-1", "session-1", int64(0), int64(600))
	f.Add(KindAdmin, "admin", "", int64(-3600), int64(7200))
	f.Add(KindService, "coordinator", "", int64(-10), int64(5))
	f.Add(KindService, "coordinator", "", int64(61), int64(5))
	f.Add(KindParty, "p\u2028<&>\"", "s\\", int64(0), int64(1))
	f.Add(KindAdmin, "a", "x", int64(0), int64(60))
	f.Add("other", "a", "", int64(0), int64(60))
	f.Add(KindAdmin, "a", "", int64(1<<62), int64(1<<62))
	f.Fuzz(func(t *testing.T, kind, subject, session string, iatOffset, ttl int64) {
		s := fzSigner()
		// Within ±35,000 years: time.Unix wraps around near the int64
		// limits; FuzzVerifyPayload covers tokens with such dates.
		iatOffset, ttl = iatOffset%(1<<40), ttl%(1<<40)
		iat := time.Unix(fzNow.Unix()+iatOffset, 0)
		c := Claims{Kind: kind, Subject: subject, Session: session, IssuedAt: iat, Expires: time.Unix(iat.Unix()+ttl, 0)}
		tok, err := s.Mint(c)
		if err != nil {
			fzCheckError(t, "Mint", err, CodeMalformed)
			return
		}
		got, err := s.Verify(tok)
		switch {
		case c.IssuedAt.After(fzNow.Add(maxFutureIat)) || !fzNow.Before(c.Expires):
			if err == nil {
				t.Fatalf("Verify accepted a token issued in the future or expired: %+v", c)
			}
			fzCheckError(t, "Verify of a token issued in the future or expired", err)
		case err != nil:
			t.Fatalf("Verify refuses a minted token for %+v: %v", c, err)
		case got.Kind != c.Kind || got.Subject != c.Subject || got.Session != c.Session ||
			got.IssuedAt.Unix() != c.IssuedAt.Unix() || got.Expires.Unix() != c.Expires.Unix():
			t.Fatalf("Verify = %+v; minted %+v", got, c)
		}
	})
}

// FuzzVerifyPayload signs an arbitrary header and payload with the
// signer's key, so that every input reaches the claim checks behind the
// MAC. Verify must refuse with an *Error, or return
// claims that are valid, unexpired, not issued in the future, and that
// Mint turns into a token Verify gives back unchanged: Verify accepts
// nothing Mint would not write.
func FuzzVerifyPayload(f *testing.F) {
	hdr := `{"alg":"HS256","typ":"JWT"}`
	for _, p := range []string{
		`{"iss":"tsskit","knd":"party","sub":"p","sid":"s","iat":1750000000,"exp":1750000600}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","exp":1750003600}`,
		`{"iss":"tsskit","aud":"tsskit","knd":"admin","sub":"a","exp":1750003600}`,
		`{"iss":"tsskit","aud":["tsskit"],"knd":"admin","sub":"a","exp":1750003600}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","nbf":9223372036854775807,"exp":1750003600}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","iat":1749999000,"nbf":1750000030,"exp":1750003600}`,
		`{"iss":"tsskit","knd":"service","sub":"c","iat":9223372036854775807,"exp":1750003600}`,
		`{"iss":"tsskit","knd":"service","sub":"c","exp":9223372036854775807}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","exp":-9223372036854775808}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","exp":1750003600,"x":1}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","exp":1750003600,"sub":"b"}`,
		`{"iss":"tsskit","knd":"admin","sub":"a","exp":1.75e9}`,
		`{"iss":"tsskit","knd":"party","sub":"p","sid":"","exp":1750003600}`,
		`{"iss":"other","knd":"admin","sub":"a","exp":1750003600}`,
		`[]`,
	} {
		f.Add(hdr, p)
	}
	f.Add(`{"alg":"none","typ":"JWT"}`, `{"iss":"tsskit","knd":"admin","sub":"a","exp":1750003600}`)
	f.Add(`{"typ":"JWT","alg":"HS256"}`, `{"iss":"tsskit","knd":"admin","sub":"a","exp":1750003600}`)
	f.Add(`{"alg":"HS256","typ":"JWT","kid":"1"}`, `{"iss":"tsskit","knd":"admin","sub":"a","exp":1750003600}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		s := fzSigner()
		input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
		tok := input + "." + b64.EncodeToString(s.mac(input))
		c, err := s.Verify(tok)
		if err != nil {
			if c != nil {
				t.Fatal("Verify returned claims and an error")
			}
			fzCheckError(t, "Verify", err)
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted invalid claims %+v: %v", c, err)
		}
		if !fzNow.Before(c.Expires) || c.IssuedAt.After(fzNow.Add(maxFutureIat)) {
			t.Fatalf("accepted claims out of their time %+v", c)
		}
		// The same rules on the numbers as written, without time.Time.
		m, err := decodeObject([]byte(payload))
		if err != nil {
			t.Fatalf("accepted a payload that is no JSON object: %v", err)
		}
		now, skew := fzNow.Unix(), int64(maxFutureIat/time.Second)
		date := func(name string) (int64, bool) {
			raw, ok := m[name]
			if !ok {
				return 0, false
			}
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				t.Fatalf("accepted %s = %s", name, raw)
			}
			return n, true
		}
		exp, _ := date("exp")
		if exp <= now {
			t.Fatalf("accepted exp %d at %d", exp, now)
		}
		for _, name := range []string{"iat", "nbf"} {
			if n, ok := date(name); ok && (n > now+skew || n >= exp) {
				t.Fatalf("accepted %s %d with exp %d at %d", name, n, exp, now)
			}
		}
		re, err := s.Mint(*c)
		if err != nil {
			t.Fatalf("Verify accepted claims Mint refuses, %+v: %v", c, err)
		}
		want := *c
		if want.IssuedAt.IsZero() {
			want.IssuedAt = fzNow // Mint fills it in
		}
		again, err := s.Verify(re)
		if err != nil || again.Kind != want.Kind || again.Subject != want.Subject || again.Session != want.Session ||
			!again.IssuedAt.Equal(want.IssuedAt) || !again.Expires.Equal(want.Expires) {
			t.Fatalf("re-minted claims verify as %+v, %v; want %+v", again, err, want)
		}
	})
}

package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeObject(t *testing.T) {
	tests := []struct {
		in   string
		keys int
		ok   bool
	}{
		{`{}`, 0, true},
		{` {"a":1, "b":"x"} `, 2, true},
		{`{"a":{"b":1,"b":2}}`, 1, true}, // only top-level members are checked
		{`{"a":1,"a":1}`, 0, false},
		{`{"a":1,"\u0061":1}`, 0, false},
		{`{"a":1}{}`, 0, false},
		{`{"a":1} x`, 0, false},
		{`{"a":1`, 0, false},
		{`{"a"}`, 0, false},
		{`[]`, 0, false},
		{`null`, 0, false},
		{`"x"`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		m, err := decodeObject([]byte(tt.in))
		if (err == nil) != tt.ok || tt.ok && len(m) != tt.keys {
			t.Errorf("decodeObject(%q) = %v, %v", tt.in, m, err)
		}
	}
}

func TestIsB64URL(t *testing.T) {
	for s, want := range map[string]bool{
		"":          false,
		"abcXYZ09":  true,
		"-_":        true,
		"ab=":       false,
		"a+b":       false,
		"a/b":       false,
		"ab\n":      false,
		"a b":       false,
		"a.b":       false,
		"\u00e9abc": false,
	} {
		if got := isB64URL(s); got != want {
			t.Errorf("isB64URL(%q) = %v", s, got)
		}
	}
}

func TestDateMember(t *testing.T) {
	m, err := decodeObject([]byte(`{"a":1750000000,"b":-5,"c":1.5,"d":1e9,"e":"1","f":null,"g":99999999999999999999,"h":true}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"a": 1750000000, "b": -5} {
		got, err := dateMember(m, name, true)
		if err != nil || got.Unix() != want {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
	for _, name := range []string{"c", "d", "e", "f", "g", "h", "missing"} {
		if _, err := dateMember(m, name, true); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
	if got, err := dateMember(m, "missing", false); err != nil || !got.IsZero() {
		t.Errorf("optional missing: %v, %v", got, err)
	}
}

func TestHeaderConstant(t *testing.T) {
	h, err := b64.DecodeString(headerB64)
	if err != nil || checkHeader(h) != nil {
		t.Fatalf("minted header refused: %s %v", h, err)
	}
}

// FuzzVerify checks that Verify never panics, returns only *Error, and that
// whatever it accepts has valid, unexpired claims.
func FuzzVerify(f *testing.F) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_750_000_000, 0)
	s := &Signer{key: key, Now: func() time.Time { return now }}
	for _, c := range []Claims{
		{Kind: KindParty, Subject: "p", Session: "s", Expires: now.Add(time.Minute)},
		{Kind: KindAdmin, Subject: "a", Expires: now.Add(time.Hour)},
	} {
		tok, err := s.Mint(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || c != nil {
				t.Fatalf("Verify = %v, %T %v", c, err, err)
			}
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted invalid claims %+v: %v", c, err)
		}
		if !now.Before(c.Expires) {
			t.Fatalf("accepted expired claims %+v", c)
		}
	})
}

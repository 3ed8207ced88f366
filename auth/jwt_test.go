package auth_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	t0          = time.Unix(1_750_000_000, 0)
)

func newSigner(t *testing.T, secret []byte, now time.Time) *auth.Signer {
	t.Helper()
	s, err := auth.NewSigner(secret)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	s.Now = func() time.Time { return now }
	return s
}

var enc = base64.RawURLEncoding

// handToken builds and signs a token from raw header and payload JSON.
func handToken(secret []byte, header, payload string) string {
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

const goodHeader = `{"alg":"HS256","typ":"JWT"}`

func payloadAt(now time.Time, extra string) string {
	return fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"coordinator","iat":%d,"exp":%d%s}`,
		now.Unix(), now.Add(time.Hour).Unix(), extra)
}

func TestRoundTrip(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	tests := []struct {
		name string
		mint func() (string, error)
		want auth.Claims
	}{
		{"party", func() (string, error) { return s.MintParty("sess-1", "server-1", time.Minute) },
			auth.Claims{Kind: auth.KindParty, Subject: "server-1", Session: "sess-1", IssuedAt: t0, Expires: t0.Add(time.Minute)}},
		{"service", func() (string, error) { return s.MintService("coordinator", time.Hour) },
			auth.Claims{Kind: auth.KindService, Subject: "coordinator", IssuedAt: t0, Expires: t0.Add(time.Hour)}},
		{"admin", func() (string, error) { return s.MintAdmin("alice", 24*time.Hour) },
			auth.Claims{Kind: auth.KindAdmin, Subject: "alice", IssuedAt: t0, Expires: t0.Add(24 * time.Hour)}},
		{"mint with explicit times", func() (string, error) {
			return s.Mint(auth.Claims{Kind: auth.KindAdmin, Subject: "ops", IssuedAt: t0.Add(-time.Minute), Expires: t0.Add(time.Minute)})
		}, auth.Claims{Kind: auth.KindAdmin, Subject: "ops", IssuedAt: t0.Add(-time.Minute), Expires: t0.Add(time.Minute)}},
		{"mint fills iat", func() (string, error) {
			return s.Mint(auth.Claims{Kind: auth.KindService, Subject: "router", Expires: t0.Add(time.Minute)})
		}, auth.Claims{Kind: auth.KindService, Subject: "router", IssuedAt: t0, Expires: t0.Add(time.Minute)}},
		{"sub-second times truncated", func() (string, error) {
			return s.Mint(auth.Claims{Kind: auth.KindService, Subject: "x", IssuedAt: t0.Add(900 * time.Millisecond), Expires: t0.Add(5*time.Second + 900*time.Millisecond)})
		}, auth.Claims{Kind: auth.KindService, Subject: "x", IssuedAt: t0, Expires: t0.Add(5 * time.Second)}},
		{"unicode subject", func() (string, error) { return s.MintParty("séance", "派对-1", time.Minute) },
			auth.Claims{Kind: auth.KindParty, Subject: "派对-1", Session: "séance", IssuedAt: t0, Expires: t0.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.mint()
			if err != nil {
				t.Fatalf("mint: %v", err)
			}
			if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, "=+/") {
				t.Fatalf("token is not compact unpadded base64url: %s", tok)
			}
			c, err := s.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Kind != tt.want.Kind || c.Subject != tt.want.Subject || c.Session != tt.want.Session ||
				!c.IssuedAt.Equal(tt.want.IssuedAt) || !c.Expires.Equal(tt.want.Expires) {
				t.Fatalf("claims = %+v, want %+v", *c, tt.want)
			}
			// A second Signer with the same secret (another service) accepts it.
			if _, err := newSigner(t, bytes.Clone(testSecret), t0).Verify(tok); err != nil {
				t.Fatalf("other signer, same secret: %v", err)
			}
		})
	}
}

func TestMintHeader(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	tok, err := s.MintService("router", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := enc.DecodeString(strings.Split(tok, ".")[0])
	if string(h) != goodHeader {
		t.Fatalf("header = %s", h)
	}
	p, _ := enc.DecodeString(strings.Split(tok, ".")[1])
	want := fmt.Sprintf(`{"iss":"tsskit","aud":"tsskit","knd":"service","sub":"router","iat":%d,"exp":%d}`, t0.Unix(), t0.Unix()+60)
	if string(p) != want {
		t.Fatalf("payload = %s, want %s", p, want)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	good, err := s.MintParty("sess-1", "server-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	flip := func(seg string) string { // change one character, keep it base64url
		b := []byte(seg)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	otherPayload := enc.EncodeToString([]byte(fmt.Sprintf(
		`{"iss":"tsskit","knd":"admin","sub":"mallory","iat":%d,"exp":%d}`, t0.Unix(), t0.Unix()+60)))
	bigPayload := payloadAt(t0, "") // 5 KB subject, signed correctly
	bigPayload = strings.Replace(bigPayload, `"coordinator"`, `"`+strings.Repeat("x", 5000)+`"`, 1)

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", auth.ErrMalformed},
		{"one segment", "abc", auth.ErrMalformed},
		{"two segments", parts[0] + "." + parts[1], auth.ErrMalformed},
		{"four segments", good + ".AAAA", auth.ErrMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", auth.ErrMalformed},
		{"tampered payload", parts[0] + "." + flip(parts[1]) + "." + parts[2], auth.ErrSignature},
		{"swapped payload", parts[0] + "." + otherPayload + "." + parts[2], auth.ErrSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), auth.ErrSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:20], auth.ErrSignature},
		{"wrong secret", handToken(otherSecret, goodHeader, payloadAt(t0, "")), auth.ErrSignature},
		{"alg none unsigned", enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", auth.ErrAlgorithm},
		{"alg none signed", handToken(testSecret, `{"alg":"none","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrAlgorithm},
		{"alg None", handToken(testSecret, `{"alg":"None","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrAlgorithm},
		{"alg HS512", handToken(testSecret, `{"alg":"HS512","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrAlgorithm},
		{"alg RS256", handToken(testSecret, `{"alg":"RS256","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrAlgorithm},
		{"alg hs256", handToken(testSecret, `{"alg":"hs256","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrAlgorithm},
		{"alg missing", handToken(testSecret, `{"typ":"JWT"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"typ missing", handToken(testSecret, `{"alg":"HS256"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"typ other", handToken(testSecret, `{"alg":"HS256","typ":"JOSE"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"header extra kid", handToken(testSecret, `{"alg":"HS256","typ":"JWT","kid":"1"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"header duplicate alg", handToken(testSecret, `{"alg":"none","alg":"HS256","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"header escaped duplicate", handToken(testSecret, `{"alg":"HS256","\u0061lg":"HS256","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"header wrong case key", handToken(testSecret, `{"ALG":"HS256","typ":"JWT"}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"header array", handToken(testSecret, `["HS256"]`, payloadAt(t0, "")), auth.ErrMalformed},
		{"header trailing data", handToken(testSecret, goodHeader+`{}`, payloadAt(t0, "")), auth.ErrMalformed},
		{"padded segment", parts[0] + "=." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"std base64 chars", parts[0] + "." + parts[1] + "." + parts[2][:10] + "+/" + parts[2][12:], auth.ErrMalformed},
		{"newline in signature", parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:], auth.ErrMalformed},
		{"non-canonical base64 bits", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + nudge(parts[2][len(parts[2])-1]), auth.ErrMalformed},
		{"bad base64 length", parts[0] + "A." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"5 KB token", handToken(testSecret, goodHeader, bigPayload), auth.ErrMalformed},
		{"5 KB garbage", strings.Repeat("A", 5*1024), auth.ErrMalformed},
		{"wrong issuer", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"tsskit"`, `"other"`, 1)), auth.ErrIssuer},
		{"missing issuer", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"iss":"tsskit",`, ``, 1)), auth.ErrMalformed},
		{"missing exp", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","iat":%d}`, t0.Unix())), auth.ErrMalformed},
		{"null exp", handToken(testSecret, goodHeader, `{"iss":"tsskit","knd":"service","sub":"c","exp":null}`), auth.ErrMalformed},
		{"string exp", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","exp":"%d"}`, t0.Unix()+60)), auth.ErrMalformed},
		{"fractional exp", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","exp":%d.5}`, t0.Unix()+60)), auth.ErrMalformed},
		{"exp before iat", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","iat":%d,"exp":%d}`, t0.Unix()+30, t0.Unix()+20)), auth.ErrMalformed},
		{"expired", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","iat":%d,"exp":%d}`, t0.Unix()-60, t0.Unix()-1)), auth.ErrExpired},
		{"exp == now", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","iat":%d,"exp":%d}`, t0.Unix()-60, t0.Unix())), auth.ErrExpired},
		{"iat 61s ahead", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","knd":"service","sub":"c","iat":%d,"exp":%d}`, t0.Unix()+61, t0.Unix()+120)), auth.ErrNotYetValid},
		{"nbf 61s ahead", handToken(testSecret, goodHeader, payloadAt(t0, fmt.Sprintf(`,"nbf":%d`, t0.Unix()+61))), auth.ErrNotYetValid},
		{"unknown kind", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"service"`, `"root"`, 1)), auth.ErrMalformed},
		{"missing kind", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"knd":"service",`, ``, 1)), auth.ErrMalformed},
		{"missing subject", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"sub":"coordinator",`, ``, 1)), auth.ErrMalformed},
		{"empty subject", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"coordinator"`, `""`, 1)), auth.ErrMalformed},
		{"party without session", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"service"`, `"party"`, 1)), auth.ErrMalformed},
		{"party empty session", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, `,"sid":""`), `"service"`, `"party"`, 1)), auth.ErrMalformed},
		{"service with session", handToken(testSecret, goodHeader, payloadAt(t0, `,"sid":"s1"`)), auth.ErrMalformed},
		{"unknown claim", handToken(testSecret, goodHeader, payloadAt(t0, `,"jti":"1"`)), auth.ErrMalformed},
		{"wrong audience", handToken(testSecret, goodHeader, payloadAt(t0, `,"aud":"router"`)), auth.ErrAudience},
		{"empty audience", handToken(testSecret, goodHeader, payloadAt(t0, `,"aud":""`)), auth.ErrAudience},
		{"audience array", handToken(testSecret, goodHeader, payloadAt(t0, `,"aud":["tsskit"]`)), auth.ErrMalformed},
		{"audience wrong case", handToken(testSecret, goodHeader, payloadAt(t0, `,"aud":"TSSKIT"`)), auth.ErrAudience},
		{"duplicate audience", handToken(testSecret, goodHeader, payloadAt(t0, `,"aud":"tsskit","aud":"x"`)), auth.ErrMalformed},
		{"nbf not before exp", handToken(testSecret, goodHeader, payloadAt(t0, fmt.Sprintf(`,"nbf":%d`, t0.Unix()+3600))), auth.ErrMalformed},
		{"claim wrong case", handToken(testSecret, goodHeader, payloadAt(t0, `,"EXP":1`)), auth.ErrMalformed},
		{"duplicate claim", handToken(testSecret, goodHeader, payloadAt(t0, `,"knd":"admin"`)), auth.ErrMalformed},
		{"sub not string", handToken(testSecret, goodHeader, strings.Replace(payloadAt(t0, ""), `"coordinator"`, `7`, 1)), auth.ErrMalformed},
		{"payload not JSON", handToken(testSecret, goodHeader, `not json`), auth.ErrMalformed},
		{"payload null", handToken(testSecret, goodHeader, `null`), auth.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, %v; want %v", c, err, tt.want)
			}
			if c != nil {
				t.Fatalf("claims returned with error: %+v", c)
			}
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %T is not *auth.Error", err)
			}
			msg := err.Error()
			if len(tt.token) > 8 && strings.Contains(msg, tt.token) {
				t.Fatalf("error message contains the token: %s", msg)
			}
			for _, p := range strings.Split(tt.token, ".") {
				if len(p) > 8 && strings.Contains(msg, p) {
					t.Fatalf("error message contains a token segment: %s", msg)
				}
			}
			if strings.Contains(msg, string(testSecret)) {
				t.Fatalf("error message contains the secret")
			}
		})
	}
}

// nudge returns the base64url character one above c, which for the last
// character of a 32-byte MAC (43 chars, 2 unused bits) sets an unused bit.
func nudge(c byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, c)
	return string(alpha[i^1])
}

func TestExpiryWithNowOverride(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	tok, err := s.MintParty("s", "p", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   time.Duration
		want error
	}{
		{-60 * time.Second, nil}, // iat 60s in the future: tolerated
		{-61 * time.Second, auth.ErrNotYetValid},
		{0, nil},
		{9*time.Second + 999*time.Millisecond, nil},
		{10 * time.Second, auth.ErrExpired},
		{time.Hour, auth.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			s.Now = func() time.Time { return t0.Add(tt.at) }
			_, err := s.Verify(tok)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify at %v = %v, want %v", tt.at, err, tt.want)
			}
		})
	}
}

func TestSignatureCheckedBeforeExpiry(t *testing.T) {
	// An expired token signed with another secret is a forgery first.
	past := newSigner(t, otherSecret, t0.Add(-time.Hour))
	tok, err := past.MintService("x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSigner(t, testSecret, t0).Verify(tok); !errors.Is(err, auth.ErrSignature) {
		t.Fatalf("got %v, want ErrSignature", err)
	}
}

func TestMintRejects(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	exp := t0.Add(time.Minute)
	tests := []struct {
		name string
		c    auth.Claims
	}{
		{"missing expires", auth.Claims{Kind: auth.KindAdmin, Subject: "a"}},
		{"missing kind", auth.Claims{Subject: "a", Expires: exp}},
		{"bad kind", auth.Claims{Kind: "root", Subject: "a", Expires: exp}},
		{"kind wrong case", auth.Claims{Kind: "Admin", Subject: "a", Expires: exp}},
		{"missing subject", auth.Claims{Kind: auth.KindAdmin, Expires: exp}},
		{"party without session", auth.Claims{Kind: auth.KindParty, Subject: "p", Expires: exp}},
		{"admin with session", auth.Claims{Kind: auth.KindAdmin, Subject: "a", Session: "s", Expires: exp}},
		{"service with session", auth.Claims{Kind: auth.KindService, Subject: "a", Session: "s", Expires: exp}},
		{"expires before issued", auth.Claims{Kind: auth.KindAdmin, Subject: "a", IssuedAt: exp, Expires: t0}},
		{"expires same second", auth.Claims{Kind: auth.KindAdmin, Subject: "a", IssuedAt: t0, Expires: t0.Add(500 * time.Millisecond)}},
		{"invalid UTF-8", auth.Claims{Kind: auth.KindAdmin, Subject: "a\xff", Expires: exp}},
		{"too long", auth.Claims{Kind: auth.KindAdmin, Subject: strings.Repeat("a", 4000), Expires: exp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Mint(tt.c)
			if !errors.Is(err, auth.ErrMalformed) || tok != "" {
				t.Fatalf("Mint = %q, %v; want ErrMalformed", tok, err)
			}
		})
	}
	for _, ttl := range []time.Duration{0, -time.Second, 999 * time.Millisecond} {
		if _, err := s.MintParty("s", "p", ttl); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("MintParty ttl %v: %v", ttl, err)
		}
		if _, err := s.MintService("x", ttl); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("MintService ttl %v: %v", ttl, err)
		}
		if _, err := s.MintAdmin("x", ttl); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("MintAdmin ttl %v: %v", ttl, err)
		}
	}
	if _, err := s.MintParty("", "p", time.Minute); !errors.Is(err, auth.ErrMalformed) {
		t.Errorf("MintParty without session: %v", err)
	}
	if _, err := s.MintParty("s", "", time.Minute); !errors.Is(err, auth.ErrMalformed) {
		t.Errorf("MintParty without party: %v", err)
	}
}

func TestNewSigner(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		want   error
	}{
		{"nil", nil, auth.ErrMissingSecret},
		{"empty", []byte{}, auth.ErrMissingSecret},
		{"31 bytes", bytes.Repeat([]byte{1}, 31), auth.ErrWeakSecret},
		{"32 bytes", bytes.Repeat([]byte{1}, 32), nil},
		{"64 bytes", bytes.Repeat([]byte{1}, 64), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := auth.NewSigner(tt.secret)
			if tt.want == nil {
				if err != nil || s == nil {
					t.Fatalf("NewSigner = %v, %v", s, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || s != nil {
				t.Fatalf("NewSigner = %v, %v; want %v", s, err, tt.want)
			}
		})
	}

	// The secret is copied: changing the caller's slice changes nothing.
	secret := bytes.Clone(testSecret)
	s := newSigner(t, secret, t0)
	tok, _ := s.MintAdmin("a", time.Minute)
	secret[0] ^= 1
	if _, err := s.Verify(tok); err != nil {
		t.Fatalf("Verify after caller changed its slice: %v", err)
	}

	// The zero and nil Signer refuse to work.
	var zero auth.Signer
	if _, err := zero.MintAdmin("a", time.Minute); !errors.Is(err, auth.ErrMissingSecret) {
		t.Fatalf("zero Signer Mint: %v", err)
	}
	if _, err := zero.Verify(tok); !errors.Is(err, auth.ErrMissingSecret) {
		t.Fatalf("zero Signer Verify: %v", err)
	}
	var nilS *auth.Signer
	if _, err := nilS.Verify(tok); !errors.Is(err, auth.ErrMissingSecret) {
		t.Fatalf("nil Signer Verify: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		in      string
		wantLen int
		want    error
		hex     bool
	}{
		{"empty", "", 0, auth.ErrMissingSecret, false},
		{"whitespace", "  \n", 0, auth.ErrMissingSecret, false},
		{"short raw", "hunter2", 0, auth.ErrWeakSecret, false},
		{"31 raw", strings.Repeat("x", 31), 0, auth.ErrWeakSecret, false},
		{"32 raw", strings.Repeat("x", 32), 32, nil, false},
		{"32 hex chars used raw", strings.Repeat("ab", 16), 32, nil, false},
		{"62 hex chars used raw", strings.Repeat("ab", 31), 62, nil, false},
		{"64 hex chars decoded", hex64, 32, nil, true},
		{"64 upper hex decoded", strings.ToUpper(hex64), 32, nil, true},
		{"64 hex with newline", hex64 + "\n", 32, nil, true},
		{"128 hex decoded", hex64 + hex64, 64, nil, true},
		{"65 hex chars used raw", hex64 + "a", 65, nil, false},
		{"64 chars not hex", strings.Repeat("ab", 31) + "zz", 64, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := auth.ParseSecret(tt.in)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || k != nil {
					t.Fatalf("ParseSecret = %x, %v; want %v", k, err, tt.want)
				}
				if len(tt.in) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Fatalf("error contains the secret: %v", err)
				}
				return
			}
			if err != nil || len(k) != tt.wantLen {
				t.Fatalf("ParseSecret = %d bytes, %v; want %d bytes", len(k), err, tt.wantLen)
			}
			if tt.hex && k[0] != 0xab {
				t.Fatalf("hex not decoded: %x", k)
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	_, err := s.Verify("x.y.z")
	if !errors.Is(err, auth.ErrMalformed) {
		t.Fatal(err)
	}
	for _, other := range []error{auth.ErrSignature, auth.ErrExpired, auth.ErrWeakSecret, auth.ErrMissingSecret, auth.ErrWrongKind, auth.ErrForbidden} {
		if errors.Is(err, other) {
			t.Fatalf("malformed error matches %v", other)
		}
	}
	if got := auth.ErrExpired.Error(); got != "auth: expired" {
		t.Fatalf("sentinel message %q", got)
	}
}

// TestVerifyClaimChecks: each way a token can be wrong is refused with its
// own typed error, and only that one; tokens Mint makes (and made before
// "aud" was added) pass. "need" is the kind the caller requires
// (Claims.Require), empty to stop after Verify.
func TestVerifyClaimChecks(t *testing.T) {
	s := newSigner(t, testSecret, t0)
	mint := func(f func() (string, error)) string {
		tok, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	admin := mint(func() (string, error) { return s.MintAdmin("alice", time.Hour) })
	party := mint(func() (string, error) { return s.MintParty("sess-1", "server-1", time.Hour) })
	service := mint(func() (string, error) { return s.MintService("coordinator", time.Hour) })
	parts := strings.Split(admin, ".")
	claims := func(extra string) string { // an admin payload, iat t0, exp t0+1h
		return fmt.Sprintf(`{"iss":"tsskit","aud":"tsskit","knd":"admin","sub":"alice","iat":%d,"exp":%d%s}`, t0.Unix(), t0.Unix()+3600, extra)
	}
	hdr := func(alg string) string { return `{"alg":"` + alg + `","typ":"JWT"}` }
	// handMAC signs header.payload with another hash under key.
	handMAC := func(h func() hash.Hash, key []byte, header, payload string) string {
		input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
		m := hmac.New(h, key)
		m.Write([]byte(input))
		return input + "." + enc.EncodeToString(m.Sum(nil))
	}
	// The classic confusion: an RS256 token "signed" with HMAC keyed by the
	// verifier's public key, which an attacker knows.
	rsaPub := []byte("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n")
	otherAdmin := enc.EncodeToString([]byte(fmt.Sprintf(`{"iss":"tsskit","aud":"tsskit","knd":"admin","sub":"mallory","iat":%d,"exp":%d}`, t0.Unix(), t0.Unix()+3600)))

	tests := []struct {
		name  string
		token string
		need  string
		want  error
	}{
		{"admin token as admin", admin, auth.KindAdmin, nil},
		{"party token as party", party, auth.KindParty, nil},
		{"service token as service", service, auth.KindService, nil},
		{"token without aud (minted before aud)", handToken(testSecret, goodHeader, strings.Replace(claims(""), `"aud":"tsskit",`, "", 1)), auth.KindAdmin, nil},
		{"nbf in the past", handToken(testSecret, goodHeader, claims(fmt.Sprintf(`,"nbf":%d`, t0.Unix()-10))), auth.KindAdmin, nil},
		{"nbf 60s ahead: within leeway", handToken(testSecret, goodHeader, claims(fmt.Sprintf(`,"nbf":%d`, t0.Unix()+60))), auth.KindAdmin, nil},

		{"forged: other secret", handToken(otherSecret, goodHeader, claims("")), "", auth.ErrSignature},
		{"forged: payload swapped", parts[0] + "." + otherAdmin + "." + parts[2], "", auth.ErrSignature},
		{"forged: no signature bytes", parts[0] + "." + parts[1] + ".AAAA", "", auth.ErrSignature},
		{"forged: HMAC-SHA512 under HS256 header", handMAC(sha512.New, testSecret, goodHeader, claims("")), "", auth.ErrSignature},
		{"expired", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","aud":"tsskit","knd":"admin","sub":"a","iat":%d,"exp":%d}`, t0.Unix()-7200, t0.Unix()-3600)), "", auth.ErrExpired},
		{"expired this second", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","aud":"tsskit","knd":"admin","sub":"a","iat":%d,"exp":%d}`, t0.Unix()-60, t0.Unix())), "", auth.ErrExpired},
		{"not yet valid: nbf 61s ahead", handToken(testSecret, goodHeader, claims(fmt.Sprintf(`,"nbf":%d`, t0.Unix()+61))), "", auth.ErrNotYetValid},
		{"not yet valid: iat 10m ahead", handToken(testSecret, goodHeader, fmt.Sprintf(`{"iss":"tsskit","aud":"tsskit","knd":"admin","sub":"a","iat":%d,"exp":%d}`, t0.Unix()+600, t0.Unix()+3600)), "", auth.ErrNotYetValid},
		{"wrong kind: party as admin", party, auth.KindAdmin, auth.ErrWrongKind},
		{"wrong kind: service as admin", service, auth.KindAdmin, auth.ErrWrongKind},
		{"wrong kind: admin as service", admin, auth.KindService, auth.ErrWrongKind},
		{"wrong kind: admin as party", admin, auth.KindParty, auth.ErrWrongKind},
		{"wrong audience", handToken(testSecret, goodHeader, strings.Replace(claims(""), `"aud":"tsskit"`, `"aud":"router"`, 1)), "", auth.ErrAudience},
		{"wrong audience: other system", handToken(testSecret, goodHeader, strings.Replace(claims(""), `"aud":"tsskit"`, `"aud":"https://api.example.com"`, 1)), "", auth.ErrAudience},
		{"wrong issuer", handToken(testSecret, goodHeader, strings.Replace(claims(""), `"iss":"tsskit"`, `"iss":"tsskit2"`, 1)), "", auth.ErrIssuer},
		{"alg none, no signature", enc.EncodeToString([]byte(hdr("none"))) + "." + enc.EncodeToString([]byte(claims(""))) + ".", "", auth.ErrAlgorithm},
		{"alg none, signature kept", enc.EncodeToString([]byte(hdr("none"))) + "." + parts[1] + "." + parts[2], "", auth.ErrAlgorithm},
		{"alg NONE", handToken(testSecret, hdr("NONE"), claims("")), "", auth.ErrAlgorithm},
		{"alg empty", handToken(testSecret, hdr(""), claims("")), "", auth.ErrAlgorithm},
		{"alg confusion: RS256 with HMAC under the public key", handMAC(sha256.New, rsaPub, hdr("RS256"), claims("")), "", auth.ErrAlgorithm},
		{"alg confusion: RS256 with HMAC under the secret", handToken(testSecret, hdr("RS256"), claims("")), "", auth.ErrAlgorithm},
		{"alg confusion: ES256", handToken(testSecret, hdr("ES256"), claims("")), "", auth.ErrAlgorithm},
		{"alg confusion: HS512 under the secret", handMAC(sha512.New, testSecret, hdr("HS512"), claims("")), "", auth.ErrAlgorithm},
		{"alg confusion: HS384", handToken(testSecret, hdr("HS384"), claims("")), "", auth.ErrAlgorithm},
		{"alg not a string", handToken(testSecret, `{"alg":["HS256"],"typ":"JWT"}`, claims("")), "", auth.ErrMalformed},
	}
	all := []error{auth.ErrMalformed, auth.ErrAlgorithm, auth.ErrSignature, auth.ErrIssuer, auth.ErrAudience,
		auth.ErrExpired, auth.ErrNotYetValid, auth.ErrWrongKind, auth.ErrForbidden, auth.ErrWeakSecret, auth.ErrMissingSecret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(tt.token)
			if err == nil && tt.need != "" {
				err = c.Require(tt.need)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %T %v is not *auth.Error", err, err)
			}
			for _, e := range all {
				if errors.Is(err, e) != (e == tt.want) {
					t.Fatalf("error %v: errors.Is(%v) = %v", err, e, !(e == tt.want))
				}
			}
			if strings.Contains(err.Error(), tt.token) || strings.Contains(err.Error(), string(testSecret)) {
				t.Fatalf("error message contains the token or the secret: %v", err)
			}
		})
	}
}

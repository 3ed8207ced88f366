package recovery

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseFileRefuses(t *testing.T) {
	now := time.Now()
	a, _ := signed(t, KindBackend, now)
	good, err := a.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	// edit changes one member of the file's object (nil: remove it).
	edit := func(key string, v any) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	raw := func(key, v string) []byte {
		i := strings.Index(string(good), `"`+key+`":`)
		j := i + strings.IndexAny(string(good[i:]), ",\n}")
		return []byte(string(good[:i]) + `"` + key + `": ` + v + string(good[j:]))
	}
	exp := a.Expires.UTC()
	for _, tc := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"unknown key", edit("note", "hi"), `unknown key "note"`},
		{"no signature", edit("signature", nil), `no "signature"`},
		{"no format", edit("format", nil), `no "format"`},
		{"key twice", []byte(strings.Replace(string(good), `"epoch"`, `"epoch": 2, "epoch"`, 1)), "twice"},
		{"null", raw("party_id", "null"), "null"},
		{"format", edit("format", "tsskit-share"), "format"},
		{"version 2", edit("version", 2), "version 2"},
		{"version as a string", edit("version", "1"), "integer"},
		{"kind", edit("kind", "admin"), "kind"},
		{"kind as a number", edit("kind", 1), "string"},
		{"epoch 1.5", raw("epoch", "1.5"), "integer"},
		{"epoch -1", edit("epoch", -1), "epoch"},
		{"epoch 2^31", edit("epoch", 1<<31), "epoch"},
		{"epoch 1e0", raw("epoch", "1e0"), "integer"},
		{"party id with a space", edit("party_id", "browser new"), "party id"},
		{"empty wallet id", edit("wallet_id", ""), "wallet id"},
		{"identity not hex", edit("identity", strings.Repeat("z", 64)), "identity"},
		{"short identity", edit("identity", strings.Repeat("ab", 31)), "identity"},
		{"zero identity", edit("identity", strings.Repeat("00", 32)), "identity"},
		{"zero signer", edit("signer", strings.Repeat("00", 32)), "signer"},
		{"short signer", edit("signer", strings.Repeat("ab", 33)), "signer"},
		{"short signature", edit("signature", strings.Repeat("ab", 63)), "signature"},
		{"expires_at with microseconds", edit("expires_at", exp.Format("2006-01-02T15:04:05.000001Z07:00")), "expires_at"},
		{"expires_at without a zone", edit("expires_at", exp.Format("2006-01-02T15:04:05")), "expires_at"},
		{"expires_at as Unix time", edit("expires_at", exp.Unix()), "string"},
		{"data after the object", append(append([]byte(nil), good...), "{}"...), "after the object"},
		{"an array", []byte(`[` + string(good) + `]`), "JSON object"},
		{"empty", nil, "JSON object"},
		{"too large", []byte(strings.Repeat(" ", MaxFileSize+1)), "bytes"},
	} {
		_, err := ParseFile(tc.b)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %s (%s)", tc.name, err, CodeMalformed, tc.msg)
		}
	}
	// Every prefix of a file is refused.
	for n := range len(good) - 1 { // the last byte is the newline
		if _, err := ParseFile(good[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseFile of a %d-byte prefix: %v", n, err)
		}
	}
	// Readable variants of the same authorization: compact, another
	// offset for the same instant, upper-case hex. Each checks.
	for _, b := range [][]byte{
		edit("kind", "backend"),
		edit("expires_at", a.Expires.In(time.FixedZone("", 5*3600+1800)).Format(fileTime)),
		edit("signature", strings.ToUpper(hex.EncodeToString(a.Signature))),
	} {
		f, err := ParseFile(b)
		if err != nil || !sameAuthorization(a, f) {
			t.Errorf("ParseFile(%s) = %v", b, err)
			continue
		}
		if err := f.Check(a.WalletID, a.Epoch, now); err != nil {
			t.Error(err)
		}
	}
	// A file's fields are signed: a changed party id parses, and is forged.
	f, err := ParseFile(edit("party_id", "browser-evil"))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "file with another party id", f.Check(a.WalletID, a.Epoch, now), CodeForged)
}

package pwrule

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// vectorsFile is the corpus the TypeScript SDK runs too
// (sdk-ts/test/unit/password.test.ts).
const vectorsFile = "testdata/vectors.json"

var update = flag.Bool("update", false, "rewrite the results in "+vectorsFile+" from its passwords, with this package")

type vectors struct {
	Description string   `json:"description"`
	Vectors     []vector `json:"vectors"`
}

// vector is one case: a password and the rule's verdict on it.
type vector struct {
	Password string  `json:"password"`
	OK       bool    `json:"ok"`
	Code     Code    `json:"code"`    // "" when ok
	Bits     float64 `json:"bits"`    // Strength's estimate
	Message  string  `json:"message"` // "" when ok
	Note     string  `json:"note"`    // what the case is about
}

func readVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs vectors
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// writeVectors writes one vector a line, with non-ASCII and "<>&" as they
// are, so that a reviewer reads the passwords in the file.
func writeVectors(t *testing.T, vs vectors) {
	t.Helper()
	marshal := func(v any) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	var b strings.Builder
	b.WriteString("{\n  \"description\": " + marshal(vs.Description) + ",\n  \"vectors\": [\n")
	for i, v := range vs.Vectors {
		b.WriteString("    " + marshal(v))
		if i < len(vs.Vectors)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("  ]\n}\n")
	if err := os.WriteFile(vectorsFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVectors(t *testing.T) {
	vs := readVectors(t)
	if *update {
		for i, v := range vs.Vectors {
			r := Strength(v.Password)
			vs.Vectors[i] = vector{Password: v.Password, OK: r.OK, Code: r.Code, Bits: r.Bits, Message: r.Message, Note: v.Note}
		}
		writeVectors(t, vs)
	}
	for i, v := range vs.Vectors {
		t.Run(fmt.Sprintf("%d %s", i, v.Note), func(t *testing.T) {
			r := Strength(v.Password)
			want := Result{Bits: v.Bits, OK: v.OK, Code: v.Code, Message: v.Message}
			if r != want {
				t.Errorf("Strength = %+v; want %+v", r, want)
			}
			err := Check(v.Password)
			if v.OK {
				if err != nil {
					t.Errorf("Check = %v; want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Check = %v; want an *Error", err)
			}
			if e.Code != v.Code || e.Bits != v.Bits || e.Message != v.Message {
				t.Errorf("Check = %+v; want code %s, %v bits, %q", e, v.Code, v.Bits, v.Message)
			}
		})
	}
}

// TestVectorsCover keeps the corpus covering what it is there to cover.
func TestVectorsCover(t *testing.T) {
	vs := readVectors(t)
	if len(vs.Vectors) < 60 {
		t.Errorf("%d vectors; want at least 60", len(vs.Vectors))
	}
	codes := map[Code]int{}
	var nonASCII, surrogatePairs, atMin, atMax bool
	for _, v := range vs.Vectors {
		codes[v.Code]++
		n := utf8.RuneCountInString(v.Password)
		nonASCII = nonASCII || n < len(v.Password)
		for _, r := range v.Password {
			surrogatePairs = surrogatePairs || r > 0xFFFF // two UTF-16 units in JavaScript
		}
		atMin = atMin || v.OK && v.Bits == MinBits
		atMax = atMax || v.OK && n == MaxLength
	}
	for _, c := range []Code{"", CodeTooShort, CodeTooLong, CodeTooWeak, CodeCommon} {
		if codes[c] == 0 {
			t.Errorf("no vector with code %q", c)
		}
	}
	if !nonASCII || !surrogatePairs || !atMin || !atMax {
		t.Errorf("non-ASCII %v, beyond the BMP %v, ok at exactly %d bits %v, at exactly %d code points %v; want all",
			nonASCII, surrogatePairs, MinBits, atMin, MaxLength, atMax)
	}
}

// TestEstimateByHand checks the arithmetic of the package comment on cases
// worked out by hand, independent of the corpus.
func TestEstimateByHand(t *testing.T) {
	for _, c := range []struct {
		pw     string
		milli  int
		common bool
	}{
		{"", 0, false},
		{"a", 4700, false},
		// One pool, one class: 16 lowercase, the first full, 15 repeats.
		{"aaaaaaaaaaaaaaaa", 4700 + 15*weakBits, false},
		// Case does not hide a repeat; the pool still has both cases.
		{"aAaA", 5700 + 3*weakBits, false},
		// Ten unrelated lowercase letters, then a run of three.
		{"kfbqxvmzwrstu", 10*4700 + 3*weakBits, false},
		// Keyboard neighbours: q-w, w-e, ... ; shifted digits !@#.
		{"qwerty", wordBits, true},
		{"qwer", 4700 + 3*weakBits, false},
		{"!@#$", 5044 + 3*weakBits, false},
		// A pair seen before: "xq" the second time.
		{"xq7xq", 4*5169 + weakBits, false},
		// "Qx", "x7", "7!" the second time round.
		{"Qx7!Qx7!", 5*6569 + 3*weakBits, false}, // "!Q" is new
		// A word with substitutions, then "!" and "2024" (pool 95).
		{"P@ssw0rd!2024", wordBits + 5*6569, true},
		// The longest word at a place wins: "passwordpass" is one
		// "password" and one "pass".
		{"passwordpass", 2 * wordBits, true},
		// Code points, not bytes or UTF-16 units: three "other".
		{"ü漢🔑", 3 * 6643, false},
		// A decomposed ü is u and U+0308: lowercase and other.
		{"u\u0308", 2 * 6977, false},
	} {
		milli, common := estimate([]rune(c.pw))
		if milli != c.milli || common != c.common {
			t.Errorf("estimate(%q) = %d, %v; want %d, %v", c.pw, milli, common, c.milli, c.common)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		pw    string
		code  Code
		limit int
	}{
		{"", CodeTooShort, MinLength},
		{strings.Repeat("ü", MinLength-1), CodeTooShort, MinLength},
		{strings.Repeat("🔑", MaxLength+1), CodeTooLong, MaxLength},
		{"kfbqxvmzwrst", CodeTooWeak, MinBits},
		{"Password123456", CodeCommon, MinBits},
		{"kfbqxvmzwrstu", "", 0},
		{"correct horse battery staple", "", 0},
	} {
		err := Check(c.pw)
		var e *Error
		switch {
		case c.code == "" && err != nil:
			t.Errorf("Check(%q) = %v; want nil", c.pw, err)
		case c.code != "" && !errors.As(err, &e):
			t.Errorf("Check(%q) = %v; want an *Error", c.pw, err)
		case c.code != "" && (e.Code != c.code || e.Limit != c.limit):
			t.Errorf("Check(%q) = %+v; want code %s, limit %d", c.pw, e, c.code, c.limit)
		case c.code != "" && err.Error() != "pwrule: "+e.Message:
			t.Errorf("Check(%q).Error() = %q", c.pw, err.Error())
		}
	}
}

// TestMessages: every message is one of four texts with numbers only, so
// none can hold any part of a password.
func TestMessages(t *testing.T) {
	re := regexp.MustCompile(`^(use at least 12 characters|use at most 1024 characters|` +
		`this contains a common password; add other words or characters \(about \d+ bits, 50 are needed\)|` +
		`add words or characters; this password is about \d+ bits, 50 are needed)$`)
	for _, v := range readVectors(t).Vectors {
		if r := Strength(v.Password); !r.OK && !re.MatchString(r.Message) {
			t.Errorf("%s: message %q", v.Note, r.Message)
		}
	}
}

// TestInvalidUTF8: a byte that is not UTF-8 counts as U+FFFD, as
// TypeScript counts a lone surrogate.
func TestInvalidUTF8(t *testing.T) {
	for _, c := range [][2]string{
		{"\xffabcdefghijkl", "\uFFFDabcdefghijkl"},
		{"xq\xff\xfezv", "xq\uFFFD\uFFFDzv"},
	} {
		if a, b := Strength(c[0]), Strength(c[1]); a != b {
			t.Errorf("Strength(%q) = %+v; Strength(%q) = %+v", c[0], a, c[1], b)
		}
	}
}

// TestPoolBits checks the table against math.Log2 and that it has every
// pool a password can have.
func TestPoolBits(t *testing.T) {
	pools := map[int]bool{}
	for set := 1; set < 1<<len(classSize); set++ {
		n := 0
		for i, size := range classSize {
			if set&(1<<i) != 0 {
				n += size
			}
		}
		pools[n] = true
	}
	if len(pools) != len(poolBits) {
		t.Errorf("%d pools; poolBits has %d", len(pools), len(poolBits))
	}
	for n := range pools {
		want := int(math.Floor(1000 * math.Log2(float64(n))))
		if got, ok := poolBits[n]; !ok || got != want {
			t.Errorf("poolBits[%d] = %d, %v; want %d", n, got, ok, want)
		}
	}
}

func TestCommonWords(t *testing.T) {
	if len(commonWords) > 1<<(wordBits/1000) {
		t.Errorf("%d words; wordBits allows %d", len(commonWords), 1<<(wordBits/1000))
	}
	word := regexp.MustCompile(`^[a-z0-9]{4,}$`)
	seen := map[string]bool{}
	for _, w := range commonWords {
		if !word.MatchString(w) || seen[w] {
			t.Errorf("word %q: want 4 or more of a-z and 0-9, once", w)
		}
		seen[w] = true
		// Each word is found in itself, in capitals and inside other
		// characters.
		for _, p := range []string{w, strings.ToUpper(w), "\u00e9" + w + "\u00e9"} {
			if _, common := estimate([]rune(p)); !common {
				t.Errorf("%q not found in %q", w, p)
			}
		}
	}
}

func BenchmarkCheckMaxLength(b *testing.B) {
	pw := strings.Repeat("x7$Kq9!mZ2pR", MaxLength/12)
	for b.Loop() {
		_ = Check(pw)
	}
}

func ExampleCheck() {
	var e *Error
	if err := Check("Summer2024!!"); errors.As(err, &e) {
		fmt.Println(e.Code, e.Bits)
		fmt.Println(e.Message)
	}
	fmt.Println(Check("velvet anchor mosaic lantern"))
	// Output:
	// common 40.845
	// this contains a common password; add other words or characters (about 40 bits, 50 are needed)
	// <nil>
}

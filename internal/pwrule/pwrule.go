// Package pwrule is the rule a new password must meet before a key share is
// encrypted under it (share.Protect in Go, protect in the TypeScript SDK).
// A share backup is only as strong as its password: PBKDF2 at 600,000
// iterations slows guessing down, it does not stop it. The same rule is
// implemented in sdk-ts/src/password.ts and must give the same answer for
// every input; testdata/vectors.json is the corpus both run.
//
// # The rule
//
// A password has at least MinLength and at most MaxLength characters,
// counted in Unicode code points of the password as given (no
// normalisation, as PBKDF2 sees it: a decomposed "ü" is two). Its strength
// estimate is at least MinBits. The estimate is computed in whole
// thousandths of a bit with integers only, so that Go and JavaScript
// cannot round differently:
//
//   - The pool is the total size of the character classes the password
//     uses: lowercase a-z 26, uppercase A-Z 26, digits 0-9 10, the other
//     printable ASCII characters and space 33, any other code point 100.
//     A character counts log2(pool) bits, rounded down to a thousandth
//     (poolBits).
//   - A character counts only 1 bit (weakBits) if, with ASCII letters
//     taken in lowercase, it repeats the one before it ("aa"), is next to
//     it in code points ("ab", "ba", "12") or on a US keyboard row ("qw",
//     "!@"), or forms with it a pair seen earlier in the password
//     ("xq7xq": the second "xq").
//   - Common passwords and words (a fixed list of at most 128) are looked
//     for in the password with ASCII letters in lowercase and common
//     substitutions undone (0 o, 1 i or l, ! i, 3 e, 4 a, @ a, 5 s, $ s,
//     7 t), left to right, the longest word at each place first. A word
//     found counts 7 bits (wordBits, log2 of 128) for all its characters.
//
// A password under MinBits is CodeCommon if it contains a listed word and
// CodeTooWeak otherwise. The estimate overrates passwords an attacker
// models better (names, dates, long phrases from books); it is a floor
// against the worst choices, not a measure of real entropy.
//
// Invalid UTF-8 counts as U+FFFD, one code point a byte, as Go ranges over
// a string; TypeScript counts a lone surrogate the same way, which is what
// UTF-8 encoding makes of it.
//
// No message and no error holds the password or any part of it.
package pwrule

import (
	"fmt"
	"unicode/utf8"
)

const (
	// MinLength is the fewest code points a new password may have.
	MinLength = 12
	// MaxLength is the most code points a new password may have: far
	// beyond any typed password (NIST SP 800-63B allows a limit of 64 or
	// more), and it bounds the work of the estimate.
	MaxLength = 1024
	// MinBits is the least strength estimate, in bits, a new password may
	// have.
	MinBits = 50
)

// Code says which part of the rule a password fails.
type Code string

const (
	// CodeTooShort: fewer than MinLength code points.
	CodeTooShort Code = "too_short"
	// CodeTooLong: more than MaxLength code points.
	CodeTooLong Code = "too_long"
	// CodeTooWeak: an estimate under MinBits.
	CodeTooWeak Code = "too_weak"
	// CodeCommon: an estimate under MinBits, with a common password or
	// word in the password.
	CodeCommon Code = "common"
)

// Error is the error Check returns for a password that fails the rule.
type Error struct {
	Code Code
	// Bits is the strength estimate in bits, a multiple of 1/1000; 0 with
	// CodeTooLong, where none is made.
	Bits float64
	// Limit is the bound not met: MinLength with CodeTooShort, MaxLength
	// with CodeTooLong, MinBits with CodeTooWeak and CodeCommon.
	Limit int
	// Message says what is needed, for the user; it is the same text as
	// the TypeScript SDK's and never holds the password.
	Message string
}

func (e *Error) Error() string { return "pwrule: " + e.Message }

// Result is the rule's verdict on a password, for a strength meter.
type Result struct {
	// Bits is the strength estimate in bits, a multiple of 1/1000; 0 for
	// a password longer than MaxLength.
	Bits float64
	// OK says the password meets the rule.
	OK bool
	// Code is why not; empty when OK.
	Code Code
	// Message says what is needed; empty when OK.
	Message string
}

// Check returns nil if pw may be set as a new password, and an *Error that
// says why not otherwise. Use it wherever a password is chosen, not where
// one is typed to open an existing backup.
func Check(pw string) error {
	r := Strength(pw)
	if r.OK {
		return nil
	}
	limit := MinBits
	switch r.Code {
	case CodeTooShort:
		limit = MinLength
	case CodeTooLong:
		limit = MaxLength
	}
	return &Error{Code: r.Code, Bits: r.Bits, Limit: limit, Message: r.Message}
}

// Strength applies the rule to pw. It estimates the strength of passwords
// of any length up to MaxLength, short ones included, so that a meter can
// follow the typing.
func Strength(pw string) Result {
	n := utf8.RuneCountInString(pw)
	if n > MaxLength {
		return Result{Code: CodeTooLong, Message: fmt.Sprintf("use at most %d characters", MaxLength)}
	}
	milli, common := estimate([]rune(pw))
	r := Result{Bits: float64(milli) / 1000}
	switch {
	case n < MinLength:
		r.Code = CodeTooShort
		r.Message = fmt.Sprintf("use at least %d characters", MinLength)
	case milli < MinBits*1000 && common:
		r.Code = CodeCommon
		r.Message = fmt.Sprintf("this contains a common password; add other words or characters (about %d bits, %d are needed)", milli/1000, MinBits)
	case milli < MinBits*1000:
		r.Code = CodeTooWeak
		r.Message = fmt.Sprintf("add words or characters; this password is about %d bits, %d are needed", milli/1000, MinBits)
	default:
		r.OK = true
	}
	return r
}

const (
	weakBits = 1000 // a repeated, sequential or already seen character, in millibits
	wordBits = 7000 // a listed word: log2 of the list's bound, 128
)

// poolBits is floor(1000·log2(pool)) for every pool a password can have,
// the sums of the class sizes 26, 26, 10, 33 and 100. A table, not
// math.Log2, so that every implementation has the same numbers.
var poolBits = map[int]int{
	10: 3321, 26: 4700, 33: 5044, 36: 5169, 43: 5426, 52: 5700,
	59: 5882, 62: 5954, 69: 6108, 85: 6409, 95: 6569, 100: 6643,
	110: 6781, 126: 6977, 133: 7055, 136: 7087, 143: 7159, 152: 7247,
	159: 7312, 162: 7339, 169: 7400, 185: 7531, 195: 7607,
}

// The character classes, as bits of a set.
const (
	classLower = 1 << iota
	classUpper
	classDigit
	classSymbol
	classOther
)

var classSize = [...]int{26, 26, 10, 33, 100}

func class(r rune) int {
	switch {
	case 'a' <= r && r <= 'z':
		return classLower
	case 'A' <= r && r <= 'Z':
		return classUpper
	case '0' <= r && r <= '9':
		return classDigit
	case ' ' <= r && r <= '~':
		return classSymbol
	}
	return classOther
}

// estimate returns the strength estimate of p in millibits, and whether p
// contains a listed word.
func estimate(p []rune) (milli int, common bool) {
	if len(p) == 0 {
		return 0, false
	}
	classes := 0
	for _, r := range p {
		classes |= class(r)
	}
	pool := 0
	for i, size := range classSize {
		if classes&(1<<i) != 0 {
			pool += size
		}
	}
	full := poolBits[pool]

	lower := make([]rune, len(p))
	for i, r := range p {
		lower[i] = asciiLower(r)
	}

	// Characters inside a listed word count through the word.
	inWord := make([]bool, len(p))
	for i := 0; i < len(lower); {
		n := longestWord(lower[i:])
		if n == 0 {
			i++
			continue
		}
		common = true
		milli += wordBits
		for j := i; j < i+n; j++ {
			inWord[j] = true
		}
		i += n
	}

	seen := make(map[[2]rune]bool)
	for i, r := range lower {
		weak := false
		if i > 0 {
			prev := lower[i-1]
			pair := [2]rune{prev, r}
			weak = r == prev || r == prev+1 || r == prev-1 || keyboardNeighbours(prev, r) || seen[pair]
			seen[pair] = true
		}
		switch {
		case inWord[i]:
		case weak:
			milli += weakBits
		default:
			milli += full
		}
	}
	return milli, common
}

func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + ('a' - 'A')
	}
	return r
}

// keyboardRows are the rows of a US keyboard, unshifted and shifted;
// neighbours in a row are a walk ("qwerty", "!@#$").
var keyboardRows = [...]string{
	"`1234567890-=",
	"~!@#$%^&*()_+",
	"qwertyuiop[]\\",
	"qwertyuiop{}|",
	"asdfghjkl;'",
	"asdfghjkl:\"",
	"zxcvbnm,./",
	"zxcvbnm<>?",
}

func keyboardNeighbours(a, b rune) bool {
	for _, row := range keyboardRows {
		ia, ib := -1, -1
		for i, r := range row { // ASCII: i counts characters
			if r == a {
				ia = i
			}
			if r == b {
				ib = i
			}
		}
		if ia >= 0 && ib >= 0 && (ia-ib == 1 || ib-ia == 1) {
			return true
		}
	}
	return false
}

// substitutes are the characters that stand for a letter of a listed word.
var substitutes = map[rune]string{
	'a': "4@",
	'e': "3",
	'i': "1!",
	'l': "1",
	'o': "0",
	's': "5$",
	't': "7",
}

// longestWord returns the length of the longest listed word p starts with,
// substitutions undone; 0 if none.
func longestWord(p []rune) int {
	best := 0
	for _, w := range commonWords {
		if len(w) > best && len(w) <= len(p) && matchWord(w, p) {
			best = len(w)
		}
	}
	return best
}

func matchWord(w string, p []rune) bool {
	for i, c := range w { // the words are ASCII: i counts characters
		if p[i] != c && !containsRune(substitutes[c], p[i]) {
			return false
		}
	}
	return true
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}

// commonWords are among the most used passwords and password words, all
// lowercase ASCII letters and digits of 4 or more characters (shorter ones
// would turn up by chance in random strings). The list is bounded by 128
// (wordBits) and must equal COMMON_WORDS in sdk-ts/src/password.ts.
var commonWords = [...]string{
	// Passwords from the lists of leaked passwords.
	"password", "passwd", "pass", "qwerty", "qwertz", "azerty", "qazwsx",
	"1q2w3e", "1qaz2wsx", "zaq12wsx", "123456", "123123", "654321", "111111", "000000",
	"121212", "112233", "666666", "696969", "abc123", "letmein", "welcome",
	"admin", "root", "toor", "guest", "user", "test", "login", "access",
	"secret", "changeme", "default", "iloveyou", "love", "loveme", "lovely",
	"hello", "monkey", "dragon", "master", "shadow", "sunshine", "princess",
	"superman", "batman", "starwars", "pokemon", "naruto", "minecraft",
	"trustno1", "whatever", "freedom", "flower", "cookie", "cheese",
	"computer", "internet", "killer", "angel", "money", "football",
	"baseball", "soccer", "hockey", "mustang", "ferrari", "matrix", "ninja",
	"michael", "jennifer", "jordan", "charlie", "thomas", "hunter", "ranger",
	"buster", "pepper", "friend", "family", "jesus", "google", "facebook",
	"apple", "samsung",
	// Words a user of this wallet would reach for.
	"tsskit", "wallet", "bitcoin", "ethereum", "crypto", "satoshi",
	"blockchain", "metamask", "ledger", "mnemonic", "passphrase", "backup",
	// Months (not "may", too short), days and seasons.
	"january", "february", "march", "april", "june", "july", "august",
	"september", "october", "november", "december", "monday", "tuesday",
	"wednesday", "thursday", "friday", "saturday", "sunday", "spring",
	"summer", "autumn", "winter",
}

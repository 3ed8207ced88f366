package recovery

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
)

// A recovery code is BIP39's mnemonic encoding of 128 bits of entropy:
//
//	bits   = entropy (128) || SHA-256(entropy)[0] >> 4 (4-bit checksum)
//	word i = english[bits[11i .. 11i+10]], i = 0..11, as an 11-bit
//	         big-endian index into the 2048-word list
//
// so any BIP39 tool (or a paper backup habit) reads and writes it, and one
// wrong or mistyped word fails the checksum with probability 15/16. The
// code is not a BIP39 wallet seed: no PBKDF2, no passphrase — the entropy
// itself is HKDF's input (see KitKey), and the key it gives is bound to
// one wallet.
const (
	// CodeWords is the number of words in a recovery code.
	CodeWords = 12
	// EntropySize is the size of a recovery code's entropy.
	EntropySize = 16
	// KitSalt is HKDF's salt in the kit key's derivation.
	KitSalt = "tsskit/v1 recovery kit"
)

// english is the BIP39 English word list, verbatim from
// github.com/bitcoin/bips bip-0039/english.txt: 2048 lines, each a word
// and "\n"; SHA-256 2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda.
//
//go:embed english.txt
var english string

// wordList is the word list split, and each word's index.
type wordList struct {
	words []string
	index map[string]uint16
}

var words = sync.OnceValue(func() *wordList {
	w := strings.Split(strings.TrimSuffix(english, "\n"), "\n")
	if len(w) != 2048 {
		panic(fmt.Sprintf("recovery: the embedded word list has %d words; want 2048", len(w)))
	}
	l := &wordList{words: w, index: make(map[string]uint16, len(w))}
	for i, s := range w {
		l.index[s] = uint16(i)
	}
	return l
})

// NewCode returns a fresh recovery code from crypto/rand: 12 BIP39 English
// words, lowercase, separated by single spaces. It is a secret: show it
// once, never log it.
func NewCode() (string, error) {
	e := make([]byte, EntropySize)
	if _, err := rand.Read(e); err != nil {
		return "", err
	}
	defer clear(e)
	return strings.Join(encodeMnemonic(e), " "), nil
}

// ParseCode decodes a recovery code to its 16 bytes of entropy. It reads
// the code as a person may type it: leading, trailing and repeated
// whitespace (any Unicode space, newlines included) and upper case do
// not matter. A refusal is a *Error with code CodeBadCode that names the
// positions of unknown words (1-based) or says the checksum fails; it
// never repeats the code or any word of it.
func ParseCode(code string) (entropy []byte, err error) {
	w := strings.Fields(strings.ToLower(code))
	if len(w) != CodeWords {
		return nil, errorf(CodeBadCode, "%d words; a recovery code has %d", len(w), CodeWords)
	}
	return decodeMnemonic(w)
}

// KitKey derives the recovery-kit identity key of wallet walletID from a
// recovery code:
//
//	seed = HKDF-SHA256(ikm = entropy (16 bytes), salt = "tsskit/v1 recovery kit",
//	                   info = wallet id bytes, L = 32)
//	key  = Ed25519 key of seed (RFC 8032; identity.KeyFromSeed)
//
// The wallet id in the derivation binds a code to one wallet: a code
// reused by mistake for two wallets still gives two unrelated keys. The
// key's public half is the wallet's Recovery.Kit; the key signs a kit
// Authorization. Destroy it after use.
func KitKey(code, walletID string) (*identity.Key, error) {
	if walletID == "" || len(walletID) > roster.MaxIDLen {
		return nil, errorf(CodeMalformed, "wallet id must be 1..%d bytes", roster.MaxIDLen)
	}
	e, err := ParseCode(code)
	if err != nil {
		return nil, err
	}
	defer clear(e)
	seed, err := hkdf.Key(sha256.New, e, []byte(KitSalt), walletID, identity.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return identity.KeyFromSeed(seed)
}

// encodeMnemonic is BIP39's encoding of entropy of 16, 20, 24, 28 or 32
// bytes: ENT bits of entropy, then the first ENT/32 bits of its SHA-256,
// read as (ENT + ENT/32)/11 indices of 11 bits, big-endian.
func encodeMnemonic(entropy []byte) []string {
	ent := 8 * len(entropy)
	if ent < 128 || ent > 256 || ent%32 != 0 {
		panic(fmt.Sprintf("recovery: %d bytes of entropy; BIP39 takes 16..32, a multiple of 4", len(entropy)))
	}
	sum := sha256.Sum256(entropy)
	bit := func(i int) uint16 {
		if i < ent {
			return uint16(entropy[i/8]>>(7-i%8)) & 1
		}
		i -= ent
		return uint16(sum[i/8]>>(7-i%8)) & 1
	}
	list := words().words
	out := make([]string, (ent+ent/32)/11)
	for w := range out {
		var idx uint16
		for b := range 11 {
			idx = idx<<1 | bit(11*w+b)
		}
		out[w] = list[idx]
	}
	return out
}

// decodeMnemonic reverses encodeMnemonic for 12, 15, 18, 21 or 24 words,
// lowercase: it returns the entropy, or a CodeBadCode error.
func decodeMnemonic(w []string) ([]byte, error) {
	if len(w) < 12 || len(w) > 24 || len(w)%3 != 0 {
		return nil, errorf(CodeBadCode, "%d words; BIP39 takes 12, 15, 18, 21 or 24", len(w))
	}
	total := 11 * len(w)
	ent := total * 32 / 33
	bits := make([]byte, (total+7)/8)
	defer clear(bits)
	var unknown []string
	l := words()
	for i, s := range w {
		idx, ok := l.index[s]
		if !ok {
			unknown = append(unknown, fmt.Sprint(i+1))
			continue
		}
		for b := range 11 {
			if idx>>(10-b)&1 != 0 {
				p := 11*i + b
				bits[p/8] |= 0x80 >> (p % 8)
			}
		}
	}
	switch len(unknown) {
	case 0:
	case 1:
		return nil, errorf(CodeBadCode, "word %s is not in the BIP39 English word list", unknown[0])
	default:
		return nil, errorf(CodeBadCode, "words %s are not in the BIP39 English word list", strings.Join(unknown, ", "))
	}
	entropy := make([]byte, ent/8)
	copy(entropy, bits)
	sum := sha256.Sum256(entropy)
	for i := range total - ent {
		p := ent + i
		if bits[p/8]>>(7-p%8)&1 != sum[i/8]>>(7-i%8)&1 {
			clear(entropy)
			return nil, &Error{Code: CodeBadCode, Err: errChecksum}
		}
	}
	return entropy, nil
}

var errChecksum = errors.New("the checksum does not match: a word is wrong, or two are swapped")

package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

const (
	// MasterKeyEnv is the environment variable that holds the master key.
	MasterKeyEnv = "CRYPTO_MASTER_KEY"
	// MasterKeySize is the master key length in bytes (AES-256).
	MasterKeySize = 32

	keyIDDomain = "tsskit master key id v1"
	keyIDLen    = 16 // hex characters
)

// MasterKey is the AES-256 key that encrypts a vault. Printing it with the
// fmt package shows only its id.
type MasterKey struct {
	b  [MasterKeySize]byte
	id string
}

// ParseMasterKey parses the value of CRYPTO_MASTER_KEY: exactly 64 hex
// characters (either case), 32 bytes. Errors never quote the value.
func ParseMasterKey(s string) (*MasterKey, error) {
	if s == "" {
		return nil, &Error{Kind: ErrNoMasterKey, Msg: "set it to 64 hex characters (32 random bytes), e.g. the output of `openssl rand -hex 32`"}
	}
	if len(s) != 2*MasterKeySize {
		return nil, &Error{Kind: ErrBadMasterKey, Msg: fmt.Sprintf("want exactly %d hex characters (%d bytes), got %d characters", 2*MasterKeySize, MasterKeySize, len(s))}
	}
	k := new(MasterKey)
	// hex.Decode's error would quote the offending byte; say only what was
	// expected.
	src := []byte(s)
	defer clear(src)
	if _, err := hex.Decode(k.b[:], src); err != nil {
		clear(k.b[:])
		return nil, &Error{Kind: ErrBadMasterKey, Msg: fmt.Sprintf("want exactly %d hex characters (0-9, a-f, A-F); it contains another character", 2*MasterKeySize)}
	}
	k.setID()
	return k, nil
}

// GenerateMasterKey returns a fresh random key as 64 lowercase hex
// characters, for development setups.
func GenerateMasterKey() (hexKey string, err error) {
	var b [MasterKeySize]byte
	defer clear(b[:])
	if _, err := rand.Read(b[:]); err != nil {
		return "", newErr(ErrIO, "", "reading random bytes", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func (k *MasterKey) setID() {
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(k.b[:])
	k.id = hex.EncodeToString(h.Sum(nil)[:keyIDLen/2])
}

// ID identifies the key without revealing it: the first 8 bytes of
// SHA-256("tsskit master key id v1" || key), as 16 hex characters. It is
// stored with every file, so a file under another key is recognised as such.
func (k *MasterKey) ID() string { return k.id }

// String returns a description naming only the key id. String and Format
// have value receivers so that printing a MasterKey value, not only a
// pointer, never shows the key.
func (k MasterKey) String() string { return "vault.MasterKey(id " + k.id + ")" }

// Format makes every fmt verb, %x and %#v included, print String.
func (k MasterKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// aead returns AES-256-GCM under k with the standard 96-bit nonce.
func (k *MasterKey) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext under a fresh random nonce.
func (k *MasterKey) seal(plaintext, aad []byte) (nonce, ciphertext []byte, err error) {
	g, err := k.aead()
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, g.Seal(nil, nonce, plaintext, aad), nil
}

// open decrypts and authenticates; a failure says nothing more than that.
func (k *MasterKey) open(nonce, ciphertext, aad []byte) ([]byte, bool) {
	g, err := k.aead()
	if err != nil || len(nonce) != g.NonceSize() {
		return nil, false
	}
	pt, err := g.Open(nil, nonce, ciphertext, aad)
	return pt, err == nil
}

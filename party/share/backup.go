package share

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/rwadurian/tsskit/party/roster"
)

// The password backup format: a record encrypted under a password, for a
// user to keep. Browsers write it with Web Crypto and the CLI with this
// package, so it uses only what Web Crypto offers. A backup is one JSON
// object with exactly these keys, written by Protect in this order,
// indented by two spaces and followed by a newline:
//
//	{
//	  "format": "tsskit.share.backup",  // BackupFormat
//	  "version": 1,                     // BackupVersion
//	  "wallet_id": "<uuid>",            // the record's wallet_id
//	  "party_id": "server-1",           // the record's party_id
//	  "kdf": "pbkdf2-sha256",
//	  "iterations": 600000,             // MinIterations..MaxIterations
//	  "salt": "<base64>",               // 16 random bytes
//	  "cipher": "aes-256-gcm",
//	  "nonce": "<base64>",              // 12 random bytes
//	  "ciphertext": "<base64>"          // AES-GCM ciphertext, then its 16-byte tag
//	}
//
// Base64 is the standard alphabet with padding (RFC 4648 §4, what btoa
// writes), without line breaks. The key is
// PBKDF2-HMAC-SHA256(password, salt, iterations) of 32 bytes, the password
// taken as its bytes (UTF-8, as given, without Unicode normalisation). The
// plaintext is Encode(record), and the additional authenticated data is
// the UTF-8 of wallet_id + "|" + party_id + "|" + "1" (the version in
// decimal). wallet_id and party_id are checked as in a record and must
// equal the record's own; the AAD binds them to the ciphertext, so a
// header edited to claim another wallet or party does not decrypt.
//
// wallet_id, party_id and the KDF parameters are in clear text so that a
// backup can be listed (ReadBackupHeader) without the password. A backup
// is as strong as its password: the iterations only slow down guessing.
const (
	// BackupFormat is the tag every backup carries in its "format" key.
	BackupFormat = "tsskit.share.backup"
	// BackupVersion is the backup format version Protect writes.
	BackupVersion = 1
	// MinIterations is the least PBKDF2 iteration count Protect writes and
	// Unprotect accepts (OWASP's 2023 figure for PBKDF2-HMAC-SHA256). A
	// backup claiming fewer is refused rather than decrypted: whoever
	// lowers the count in a file makes the password cheaper to guess when
	// it is typed into that file.
	MinIterations = 600_000
	// MaxIterations is the largest iteration count accepted, so that a
	// file cannot make Unprotect compute for minutes.
	MaxIterations = 10_000_000
	// MaxBackupSize bounds a backup in bytes; Unprotect and
	// ReadBackupHeader reject longer input before parsing it. The backup
	// of a record of MaxRecordSize bytes is smaller.
	MaxBackupSize = 2 * MaxRecordSize
)

const (
	backupKDF    = "pbkdf2-sha256"
	backupCipher = "aes-256-gcm"
	saltSize     = 16
	nonceSize    = 12 // Web Crypto's and cipher.NewGCM's standard nonce
	tagSize      = 16 // appended to the ciphertext, as Web Crypto does
	keySize      = 32 // AES-256
)

var (
	// ErrWrongPassword is returned by Unprotect when the ciphertext does
	// not authenticate. AES-GCM cannot tell a wrong password from a backup
	// whose ciphertext, nonce, salt, iterations, wallet_id or party_id
	// were changed; the message says both.
	ErrWrongPassword = errors.New("share: wrong password or corrupted backup")
	// ErrEmptyPassword is returned by Protect and Unprotect for an empty
	// password.
	ErrEmptyPassword = errors.New("share: empty password")
)

// BackupOptions tunes Protect. A nil *BackupOptions means the defaults.
type BackupOptions struct {
	// Iterations is the PBKDF2 iteration count; 0 means MinIterations.
	// Protect refuses counts outside MinIterations..MaxIterations.
	Iterations int
	// Rand is the source of the salt (the first 16 bytes read) and the
	// nonce (the next 12); nil means crypto/rand. Only tests should set it.
	Rand io.Reader
}

// BackupHeader is the clear-text part of a backup.
type BackupHeader struct {
	Version    int
	WalletID   string
	PartyID    string
	KDF        string // "pbkdf2-sha256"
	Iterations int
	Salt       []byte // 16 bytes
	Cipher     string // "aes-256-gcm"
	Nonce      []byte // 12 bytes
}

// backupV1 is the version 1 backup encoding, in the order Protect writes.
type backupV1 struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	WalletID   string `json:"wallet_id"`
	PartyID    string `json:"party_id"`
	KDF        string `json:"kdf"`
	Iterations int    `json:"iterations"`
	Salt       string `json:"salt"`
	Cipher     string `json:"cipher"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// Protect encrypts r under password and returns the backup (see
// BackupFormat). r is validated as by Encode. The password's bytes are
// used as given; callers taking a typed password should not trim or
// normalise it, or a browser-made backup of the same password will not
// open. Protect zeroes the derived key and the record's encoding when
// done, as far as Go lets it.
func Protect(r *Record, password []byte, opt *BackupOptions) ([]byte, error) {
	if len(password) == 0 {
		return nil, ErrEmptyPassword
	}
	iterations, rnd := MinIterations, io.Reader(rand.Reader)
	if opt != nil {
		if opt.Iterations != 0 {
			iterations = opt.Iterations
		}
		if opt.Rand != nil {
			rnd = opt.Rand
		}
	}
	// Never write what Unprotect would refuse.
	if err := checkIterations(iterations); err != nil {
		return nil, err
	}
	plain, err := Encode(r)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return protectEncoded(plain, r.WalletID, r.PartyID, password, iterations, rnd)
}

// protectEncoded seals the encoding of a record of walletID and partyID.
func protectEncoded(plain []byte, walletID, partyID string, password []byte, iterations int, rnd io.Reader) ([]byte, error) {
	salt, nonce := make([]byte, saltSize), make([]byte, nonceSize)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return nil, fmt.Errorf("share: reading the salt: %w", err)
	}
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("share: reading the nonce: %w", err)
	}
	aead, err := backupAEAD(password, salt, iterations)
	if err != nil {
		return nil, err
	}
	ct := aead.Seal(nil, nonce, plain, backupAAD(walletID, partyID))

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Write ids as JSON.stringify does; Validate lets '<', '>' and '&' in.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err = enc.Encode(backupV1{
		Format:     BackupFormat,
		Version:    BackupVersion,
		WalletID:   walletID,
		PartyID:    partyID,
		KDF:        backupKDF,
		Iterations: iterations,
		Salt:       base64.StdEncoding.EncodeToString(salt),
		Cipher:     backupCipher,
		Nonce:      base64.StdEncoding.EncodeToString(nonce),
		Ciphertext: base64.StdEncoding.EncodeToString(ct),
	})
	if err != nil {
		return nil, malformed("", err)
	}
	if buf.Len() > MaxBackupSize {
		return nil, backupTooLarge(buf.Len())
	}
	return buf.Bytes(), nil
}

// Unprotect decrypts a backup made by Protect (or by a browser in the same
// format) and returns its record, validated as by Decode.
//
// A backup that is not of the format is refused before the key is derived,
// with an *Error as Decode's: ErrTooLarge for more than MaxBackupSize
// bytes, ErrUnsupportedVersion for a version other than BackupVersion,
// ErrTruncated for input that ends early, ErrMalformed for bad JSON, a missing, unknown or duplicate key, another
// format, kdf or cipher, iterations outside MinIterations..MaxIterations,
// bad base64 and a salt or nonce of the wrong length, and ErrInconsistent
// for a wallet_id or party_id a record cannot have. When decryption fails
// it returns ErrWrongPassword, which stands for a wrong password and a
// corrupted backup alike. The decrypted record's errors are Decode's, and
// a record of another wallet or party than the header names is
// ErrInconsistent.
func Unprotect(data []byte, password []byte) (*Record, error) {
	if len(password) == 0 {
		return nil, ErrEmptyPassword
	}
	h, ct, err := parseBackup(data)
	if err != nil {
		return nil, err
	}
	aead, err := backupAEAD(password, h.Salt, h.Iterations)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, h.Nonce, ct, backupAAD(h.WalletID, h.PartyID))
	if err != nil {
		return nil, ErrWrongPassword
	}
	defer clear(plain)
	r, err := Decode(plain)
	if err != nil {
		return nil, err
	}
	if r.WalletID != h.WalletID {
		return nil, inconsistent("wallet_id", "the backup holds a record of wallet %q, not %q", r.WalletID, h.WalletID)
	}
	if r.PartyID != h.PartyID {
		return nil, inconsistent("party_id", "the backup holds a record of party %q, not %q", r.PartyID, h.PartyID)
	}
	return r, nil
}

// ReadBackupHeader checks a backup as Unprotect does before decrypting it
// and returns its clear-text header, for listing backups without their
// password. It does not tell whether the backup will decrypt.
func ReadBackupHeader(data []byte) (*BackupHeader, error) {
	h, _, err := parseBackup(data)
	return h, err
}

func backupTooLarge(n int) *Error {
	return &Error{Code: CodeTooLarge, Err: fmt.Errorf("backup of %d bytes; want at most %d", n, MaxBackupSize)}
}

func checkIterations(n int) error {
	if n < MinIterations || n > MaxIterations {
		return malformedf("iterations", "%d; want %d..%d", n, MinIterations, MaxIterations)
	}
	return nil
}

// parseBackup checks a backup and returns its header and ciphertext (with
// the tag).
func parseBackup(data []byte) (*BackupHeader, []byte, error) {
	if len(data) > MaxBackupSize {
		return nil, nil, backupTooLarge(len(data))
	}
	fields, err := readObject(data)
	if err != nil {
		return nil, nil, err
	}
	var v backupV1
	if err := field(fields, "format", &v.Format); err != nil {
		return nil, nil, err
	}
	if v.Format != BackupFormat {
		return nil, nil, malformedf("format", "want %q", BackupFormat)
	}
	if err := field(fields, "version", &v.Version); err != nil {
		return nil, nil, err
	}
	if v.Version != BackupVersion {
		return nil, nil, &Error{Code: CodeUnsupportedVersion, Field: "version", Version: v.Version,
			Err: fmt.Errorf("want backup version %d", BackupVersion)}
	}
	if err := readFields(fields, "", []keyDst{
		{"format", &v.Format},
		{"version", &v.Version},
		{"wallet_id", &v.WalletID},
		{"party_id", &v.PartyID},
		{"kdf", &v.KDF},
		{"iterations", &v.Iterations},
		{"salt", &v.Salt},
		{"cipher", &v.Cipher},
		{"nonce", &v.Nonce},
		{"ciphertext", &v.Ciphertext},
	}); err != nil {
		return nil, nil, err
	}

	if err := checkWalletID(v.WalletID); err != nil {
		return nil, nil, err
	}
	if err := roster.CheckID(v.PartyID); err != nil {
		return nil, nil, inconsistent("party_id", "%w", err)
	}
	if v.KDF != backupKDF {
		return nil, nil, malformedf("kdf", "want %q", backupKDF)
	}
	if err := checkIterations(v.Iterations); err != nil {
		return nil, nil, err
	}
	salt, err := decodeBase64("salt", v.Salt)
	if err != nil {
		return nil, nil, err
	}
	if len(salt) != saltSize {
		return nil, nil, malformedf("salt", "%d bytes; want %d", len(salt), saltSize)
	}
	if v.Cipher != backupCipher {
		return nil, nil, malformedf("cipher", "want %q", backupCipher)
	}
	nonce, err := decodeBase64("nonce", v.Nonce)
	if err != nil {
		return nil, nil, err
	}
	if len(nonce) != nonceSize {
		return nil, nil, malformedf("nonce", "%d bytes; want %d", len(nonce), nonceSize)
	}
	ct, err := decodeBase64("ciphertext", v.Ciphertext)
	if err != nil {
		return nil, nil, err
	}
	if len(ct) < tagSize {
		return nil, nil, malformedf("ciphertext", "%d bytes; want at least the %d of the GCM tag", len(ct), tagSize)
	}
	return &BackupHeader{
		Version:    v.Version,
		WalletID:   v.WalletID,
		PartyID:    v.PartyID,
		KDF:        v.KDF,
		Iterations: v.Iterations,
		Salt:       salt,
		Cipher:     v.Cipher,
		Nonce:      nonce,
	}, ct, nil
}

// decodeBase64 decodes padded standard base64 in its canonical form only:
// encoding/base64 would also skip line breaks and, unless strict, accept
// nonzero padding bits, so one value would have many spellings.
func decodeBase64(key, s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, malformedf(key, "want padded standard base64 without line breaks")
	}
	return b, nil
}

// backupAAD is the additional authenticated data of a backup.
func backupAAD(walletID, partyID string) []byte {
	return []byte(walletID + "|" + partyID + "|" + strconv.Itoa(BackupVersion))
}

// backupAEAD derives the key and returns AES-256-GCM under it. The derived
// key is zeroed; the AES key schedule and the string copy of the password
// that crypto/pbkdf2 takes are out of reach and left to the garbage
// collector.
func backupAEAD(password, salt []byte, iterations int) (cipher.AEAD, error) {
	key, err := pbkdf2.Key(sha256.New, string(password), salt, iterations, keySize)
	if err != nil {
		return nil, fmt.Errorf("share: deriving the backup key: %w", err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("share: backup cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
	if err != nil {
		return nil, fmt.Errorf("share: backup cipher: %w", err)
	}
	return aead, nil
}

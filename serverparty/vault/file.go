package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rwadurian/tsskit/party/share"
)

const (
	// FileFormat is the "format" tag of every vault file.
	FileFormat = "tsskit.vault"
	// FileVersion is the file format version this package writes and reads.
	FileVersion = 1

	kindShare     = "share"
	kindPreParams = "preparams"

	// maxFileSize bounds a record read, from a file or a row: a share
	// record of share.MaxRecordSize in base64, plus the header.
	maxFileSize = share.MaxRecordSize/3*4 + 64<<10
)

// fileV1 is a vault file, the record of a share or a pre-parameters entry
// in either backend: a file of its own, or the record column of a row. The
// header (everything but nonce and ciphertext) is plaintext and not secret;
// the ciphertext is AES-256-GCM of the plaintext under the key with id
// KeyID.
type fileV1 struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Kind     string `json:"kind"`
	WalletID string `json:"wallet_id,omitempty"`
	PartyID  string `json:"party_id,omitempty"`
	// SessionID names the reshare session that gave a share, for a share
	// stored pending by PutPendingShareFrom (and kept when it becomes the
	// active one); it is bound to the ciphertext (shareAAD).
	SessionID  string `json:"session_id,omitempty"`
	KeyID      string `json:"key_id"`
	Nonce      []byte `json:"nonce"`      // base64
	Ciphertext []byte `json:"ciphertext"` // base64
}

// shareAAD is the associated data of a share file: it binds the ciphertext
// to its wallet and party, so a file copied to another wallet or party does
// not decrypt, and to the session that gave the share, if the file names
// one, so that no session id can be put in, changed or taken out. Ids are
// printable, so the NUL before the session id cannot be part of one.
func shareAAD(walletID, partyID, sessionID string) []byte {
	if sessionID == "" {
		return []byte(walletID + "|" + partyID)
	}
	return []byte(walletID + "|" + partyID + "\x00session|" + sessionID)
}

// preParamsAAD binds a pre-parameters file to its entry id.
func preParamsAAD(id string) []byte { return []byte("preparams|" + id) }

// sealFile encrypts plaintext under key into a file with the given header.
func sealFile(key *MasterKey, kind, walletID, partyID, sessionID string, plaintext, aad []byte) ([]byte, error) {
	nonce, ct, err := key.seal(plaintext, aad)
	if err != nil {
		return nil, newErr(ErrIO, "", "encrypting", err)
	}
	b, err := json.Marshal(fileV1{
		Format:     FileFormat,
		Version:    FileVersion,
		Kind:       kind,
		WalletID:   walletID,
		PartyID:    partyID,
		SessionID:  sessionID,
		KeyID:      key.ID(),
		Nonce:      nonce,
		Ciphertext: ct,
	})
	if err != nil {
		return nil, newErr(ErrIO, "", "encoding the file", err)
	}
	return b, nil
}

// parseRecord parses a record of the given kind as a backend read it,
// bounded in size. Its errors, ErrCorrupt, name the record by where.
func parseRecord(where, kind string, b []byte) (*fileV1, error) {
	if len(b) > maxFileSize {
		return nil, corrupt(where, fmt.Sprintf("larger than %d bytes", maxFileSize))
	}
	return parseFile(where, kind, b)
}

// parseFile parses a file of the given kind. Its errors quote nothing from
// the file but the header fields they are about.
func parseFile(path, kind string, b []byte) (*fileV1, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f fileV1
	if err := dec.Decode(&f); err != nil {
		return nil, corrupt(path, "not a vault file (want a JSON object with the fields of format "+FileFormat+")")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, corrupt(path, "data after the JSON object")
	}
	switch {
	case f.Format != FileFormat:
		return nil, corrupt(path, fmt.Sprintf("format is not %q", FileFormat))
	case f.Version != FileVersion:
		return nil, corrupt(path, fmt.Sprintf("version %d; this build reads version %d", f.Version, FileVersion))
	case f.Kind != kind:
		return nil, corrupt(path, fmt.Sprintf("kind %q; want %q", f.Kind, kind))
	case !isLowerHex(f.KeyID, keyIDLen):
		return nil, corrupt(path, fmt.Sprintf("key_id is not %d lowercase hex characters", keyIDLen))
	case len(f.Nonce) != 12:
		return nil, corrupt(path, fmt.Sprintf("nonce has %d bytes; want 12", len(f.Nonce)))
	case len(f.Ciphertext) < 16:
		return nil, corrupt(path, "ciphertext shorter than the GCM tag")
	}
	if kind == kindShare {
		if checkIDs(f.WalletID, f.PartyID) != nil {
			return nil, corrupt(path, "wallet_id or party_id is not a valid id")
		}
		if f.SessionID != "" && checkSessionID(f.SessionID) != nil {
			return nil, corrupt(path, "session_id is not a valid id")
		}
	} else if f.WalletID != "" || f.PartyID != "" || f.SessionID != "" {
		return nil, corrupt(path, "a pre-parameters file has wallet_id, party_id or session_id")
	}
	return &f, nil
}

// open decrypts f under key. A file under another key id is ErrWrongKey
// (nothing is tried); one that fails authentication is ErrCorrupt.
func (f *fileV1) open(path string, key *MasterKey, aad []byte) ([]byte, error) {
	if f.KeyID != key.ID() {
		return nil, wrongKey(path, f.KeyID, key.ID())
	}
	pt, ok := key.open(f.Nonce, f.Ciphertext, aad)
	if !ok {
		return nil, corrupt(path, "authentication failed: the file was modified, or moved from another wallet, party or entry")
	}
	return pt, nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

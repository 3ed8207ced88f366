// Package identity binds tsskit parties to long-term keys, so that no
// single component — the coordinator above all — decides whom a party
// trusts.
//
// A deployment has an operator's Ed25519 root key, made offline (tsskit
// identity init). The root certifies long-term identities: a Certificate
// says that a party id of a kind (server or coordinator) has an identity
// public key until a time. For automated scaling the root may certify an
// online issuer, limited to server certificates under a party-id prefix and
// to a short lifetime; chains are root → party or root → issuer → party,
// and every link is checked. Clients pin the root's public key (Trust) from
// their own configuration, never from the coordinator, together with a list
// of revoked identity keys.
//
// When a party joins a session it signs a Statement with its identity key:
// the session, its party id and kind, the wallet, the threshold, every
// party id, the digest of a signing, an expiry, and its fresh session keys.
// Every party checks every other party's statement before it sends anything
// (VerifyRoster): server statements must chain to a pinned root and must not
// be revoked, every statement must describe the same session, and at
// signing every identity must be the one recorded in the party's own share
// record. A client's statement at signing doubles as its sign request
// {wallet, digest, session, expiry}: server parties sign a wallet whose
// policy requires a client only when one of its client identities signed
// such a statement for this very session.
//
// Encodings are canonical and versioned (see Certificate and Statement):
// fixed fields, big-endian integers, length-prefixed strings, no optional
// parts, and every decoder refuses anything else. Signatures are Ed25519
// over a domain string and the encoding.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an identity public key and of a private key's seed.
const KeySize = 32

// PublicKey is an Ed25519 identity public key.
type PublicKey [KeySize]byte

// String is the key in lowercase hex, the form configuration uses.
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// Short is the first 8 bytes of the key in hex, for messages.
func (k PublicKey) Short() string { return hex.EncodeToString(k[:8]) }

// IsZero reports whether k is all zero (no key).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// Equal compares in constant time.
func (k PublicKey) Equal(o PublicKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

func (k PublicKey) verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(ed25519.PublicKey(k[:]), msg, sig)
}

// ParsePublicKey reads a key in hex (64 characters, either case).
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != KeySize {
		return k, fmt.Errorf("identity: want an Ed25519 public key as %d hex characters", 2*KeySize)
	}
	copy(k[:], b)
	return k, nil
}

// PublicKeyFromBytes reads a 32-byte key.
func PublicKeyFromBytes(b []byte) (PublicKey, error) {
	var k PublicKey
	if len(b) != KeySize {
		return k, fmt.Errorf("identity: public key is %d bytes; want %d", len(b), KeySize)
	}
	copy(k[:], b)
	return k, nil
}

// Key is a long-term identity private key: a deployment root, an issuer, a
// server party's identity or a client's device identity.
type Key struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// GenerateKey makes a key from crypto/rand.
func GenerateKey() (*Key, error) {
	seed := make([]byte, KeySize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	defer clear(seed)
	return KeyFromSeed(seed)
}

// KeyFromSeed makes the key of a 32-byte seed (RFC 8032's private key).
func KeyFromSeed(seed []byte) (*Key, error) {
	if len(seed) != KeySize {
		return nil, fmt.Errorf("identity: private key seed is %d bytes; want %d", len(seed), KeySize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k := &Key{priv: priv}
	copy(k.pub[:], priv[KeySize:])
	return k, nil
}

// Public is the key's public half.
func (k *Key) Public() PublicKey { return k.pub }

// Seed returns a copy of the 32-byte seed. It is secret.
func (k *Key) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

func (k *Key) sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// Destroy overwrites the private key in memory.
func (k *Key) Destroy() { clear(k.priv) }

// PEM types of the text forms.
const (
	pemPrivateKey  = "TSSKIT PRIVATE KEY"
	pemCertificate = "TSSKIT CERTIFICATE"
)

// MarshalPrivateKey is the key's text form: one PEM block "TSSKIT PRIVATE
// KEY" holding the 32-byte seed. It is secret; keep the file mode 0600.
func MarshalPrivateKey(k *Key) []byte {
	seed := k.priv.Seed()
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: seed})
}

// ParsePrivateKey reads MarshalPrivateKey's form.
func ParsePrivateKey(b []byte) (*Key, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != pemPrivateKey || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("identity: want one PEM block of type " + pemPrivateKey)
	}
	if len(blk.Headers) != 0 {
		return nil, errors.New("identity: private key: unexpected PEM headers")
	}
	defer clear(blk.Bytes)
	return KeyFromSeed(blk.Bytes)
}

// Kind is what an identity is. Certificates name servers, coordinators
// and issuers; statements name the kind of holder a party is in a wallet.
type Kind byte

const (
	KindServer      Kind = 1 // a server party (certified)
	KindCoordinator Kind = 2 // the coordinator (certified)
	KindIssuer      Kind = 3 // an online issuer of server certificates (certified by the root)
	KindClient      Kind = 4 // a browser or CLI party: a device identity, self-made
	KindUser        Kind = 5 // an account API user party: a device identity made by the server-party API for the user
)

var kindNames = map[Kind]string{
	KindServer: "server", KindCoordinator: "coordinator", KindIssuer: "issuer", KindClient: "client", KindUser: "user",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// ParseKind reads a kind's name.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("identity: unknown kind %q", s)
}

// Certified reports whether identities of kind k need a certificate.
func (k Kind) Certified() bool { return k == KindServer || k == KindCoordinator || k == KindIssuer }

// holder reports whether k is a kind of wallet holder.
func (k Kind) holder() bool { return k == KindServer || k == KindClient || k == KindUser }

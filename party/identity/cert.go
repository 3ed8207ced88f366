package identity

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/party/roster"
)

// Certificate says that Subject (PartyID, Kind) has the identity key Key
// from NotBefore until NotAfter, signed by the key Issuer: the deployment
// root, or an issuer the root certified.
//
// Encoding (CertVersion 1), every integer big-endian:
//
//	version     1 byte   = 1
//	kind        1 byte   server 1 | coordinator 2 | issuer 3
//	party_id    1 byte length (1..128) + bytes; for an issuer: the prefix
//	            of the party ids it may certify
//	key         32 bytes, the subject's Ed25519 public key
//	not_before  8 bytes, Unix seconds
//	not_after   8 bytes, Unix seconds, > not_before
//	issuer      32 bytes, the signer's Ed25519 public key
//	signature   64 bytes, Ed25519 by issuer over
//	            "tsskit/v1 certificate\x00" || all the bytes above
//
// The text form is one PEM block "TSSKIT CERTIFICATE" per certificate; a
// chain file holds the party's certificate first, then its issuer's.
type Certificate struct {
	Kind      Kind
	PartyID   string // an issuer's: the prefix of the party ids it certifies
	Key       PublicKey
	NotBefore time.Time
	NotAfter  time.Time
	Issuer    PublicKey
	Signature []byte

	raw []byte // the encoding, signature included, when parsed or made
}

const (
	// CertVersion is the certificate format version.
	CertVersion = 1
	// MaxIssuerLifetime bounds an issuer certificate's validity: an online
	// key gets a short life.
	MaxIssuerLifetime = 31 * 24 * time.Hour
	certDomain        = "tsskit/v1 certificate\x00"
	certSize          = 1 + 1 + 1 + KeySize + 8 + 8 + KeySize + 64 // without the party id
)

func (c *Certificate) tbs() []byte {
	var w writer
	w.u8(CertVersion)
	w.u8(byte(c.Kind))
	w.str8(c.PartyID)
	w.raw(c.Key[:])
	w.i64(c.NotBefore.Unix())
	w.i64(c.NotAfter.Unix())
	w.raw(c.Issuer[:])
	return w.b
}

func (c *Certificate) check() error {
	if !c.Kind.Certified() {
		return fmt.Errorf("kind %s is not certified", c.Kind)
	}
	if err := roster.CheckID(c.PartyID); err != nil {
		return fmt.Errorf("party id: %w", err)
	}
	if !c.NotAfter.After(c.NotBefore) {
		return errors.New("not_after is not after not_before")
	}
	if c.Key.IsZero() || c.Issuer.IsZero() {
		return errors.New("zero key")
	}
	return nil
}

// Issue certifies (kind, partyID, key) with issuer for [notBefore, notAfter).
// Times are kept to the second.
func Issue(issuer *Key, kind Kind, partyID string, key PublicKey, notBefore, notAfter time.Time) (*Certificate, error) {
	c := &Certificate{Kind: kind, PartyID: partyID, Key: key, NotBefore: notBefore.Truncate(time.Second), NotAfter: notAfter.Truncate(time.Second), Issuer: issuer.Public()}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("identity: certificate: %w", err)
	}
	if kind == KindIssuer && c.NotAfter.Sub(c.NotBefore) > MaxIssuerLifetime {
		return nil, fmt.Errorf("identity: an issuer certificate lives at most %s", MaxIssuerLifetime)
	}
	tbs := c.tbs()
	c.Signature = issuer.sign(append([]byte(certDomain), tbs...))
	c.raw = append(tbs, c.Signature...)
	return c, nil
}

// Bytes is the certificate's encoding.
func (c *Certificate) Bytes() []byte { return bytes.Clone(c.raw) }

// ParseCertificate decodes one certificate and checks its fields (not its
// signature or validity: Trust.Verify does that).
func ParseCertificate(b []byte) (*Certificate, error) {
	if len(b) < certSize+1 || len(b) > certSize+roster.MaxIDLen {
		return nil, errorf(CodeMalformed, "", "certificate: %d bytes; want %d..%d", len(b), certSize+1, certSize+roster.MaxIDLen)
	}
	r := reader{b: b}
	if v := r.u8(); v != CertVersion {
		return nil, errorf(CodeMalformed, "", "certificate: version %d; this reads version %d", v, CertVersion)
	}
	c := &Certificate{Kind: Kind(r.u8()), PartyID: r.str8(), Key: r.key()}
	c.NotBefore = time.Unix(r.i64(), 0)
	c.NotAfter = time.Unix(r.i64(), 0)
	c.Issuer = r.key()
	c.Signature = bytes.Clone(r.take(64))
	if err := r.done(); err != nil {
		return nil, errorf(CodeMalformed, "", "certificate: %v", err)
	}
	if err := c.check(); err != nil {
		return nil, errorf(CodeMalformed, "", "certificate: %v", err)
	}
	c.raw = bytes.Clone(b)
	return c, nil
}

// signedBy reports whether the certificate's signature verifies with its
// issuer key.
func (c *Certificate) signedBy() bool {
	return c.Issuer.verify(append([]byte(certDomain), c.raw[:len(c.raw)-64]...), c.Signature)
}

// validAt reports whether t is within [NotBefore, NotAfter).
func (c *Certificate) validAt(t time.Time) bool {
	return !t.Before(c.NotBefore) && t.Before(c.NotAfter)
}

// String describes the certificate for people (tsskit identity show).
func (c *Certificate) String() string {
	var b strings.Builder
	what := "party id"
	if c.Kind == KindIssuer {
		what = "party-id prefix"
	}
	fmt.Fprintf(&b, "tsskit certificate v%d\n", CertVersion)
	fmt.Fprintf(&b, "  kind:         %s\n", c.Kind)
	fmt.Fprintf(&b, "  %-13s %s\n", what+":", c.PartyID)
	fmt.Fprintf(&b, "  identity key: %s\n", c.Key)
	fmt.Fprintf(&b, "  not before:   %s\n", c.NotBefore.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "  not after:    %s\n", c.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "  issuer key:   %s\n", c.Issuer)
	return b.String()
}

// MarshalChain is the text form of a chain: one PEM block per
// certificate, the party's first.
func MarshalChain(chain []*Certificate) []byte {
	var out []byte
	for _, c := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: c.raw})...)
	}
	return out
}

// ParseChain reads MarshalChain's form: one or two PEM certificates and
// nothing else.
func ParseChain(b []byte) ([]*Certificate, error) {
	var chain []*Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != pemCertificate || len(blk.Headers) != 0 {
			return nil, errorf(CodeMalformed, "", "want PEM blocks of type %s", pemCertificate)
		}
		c, err := ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errorf(CodeMalformed, "", "data that is not a PEM certificate")
	}
	if len(chain) == 0 || len(chain) > MaxChain {
		return nil, errorf(CodeMalformed, "", "%d certificates; want 1..%d", len(chain), MaxChain)
	}
	return chain, nil
}

// EncodeChain and DecodeChain carry a chain on the wire: each
// certificate's encoding, the party's first.
func EncodeChain(chain []*Certificate) [][]byte {
	out := make([][]byte, len(chain))
	for i, c := range chain {
		out[i] = c.Bytes()
	}
	return out
}

// DecodeChain is EncodeChain's inverse.
func DecodeChain(raw [][]byte) ([]*Certificate, error) {
	if len(raw) > MaxChain {
		return nil, errorf(CodeMalformed, "", "%d certificates; want at most %d", len(raw), MaxChain)
	}
	chain := make([]*Certificate, 0, len(raw))
	for _, b := range raw {
		c, err := ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// MaxChain is the longest chain: party, issuer.
const MaxChain = 2

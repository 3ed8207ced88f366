package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rwadurian/tsskit/party/roster"
)

// SessionKind is what a session computes.
type SessionKind byte

const (
	SessionKeygen SessionKind = 1
	SessionSign   SessionKind = 2
)

func (k SessionKind) String() string {
	switch k {
	case SessionKeygen:
		return "keygen"
	case SessionSign:
		return "sign"
	}
	return fmt.Sprintf("session kind %d", byte(k))
}

// Statement is what a party signs with its identity key when it joins a
// session: who it is, the session as it understands it, and its fresh
// session keys. At signing, a client's statement is also its sign request:
// {wallet, digest, session, expiry}, signed by a client identity the
// wallet's share records name.
//
// Encoding (StatementVersion 1), every integer big-endian:
//
//	version       1 byte  = 1
//	session_kind  1 byte  keygen 1 | sign 2
//	session_id    2-byte length + bytes (1..128)
//	party_id      2-byte length + bytes (1..128)
//	kind          1 byte  server 1 | client 4 | user 5
//	wallet_id     2-byte length + bytes (1..128)
//	threshold     2 bytes, signers needed
//	parties       1 byte count (2..16), then each party id as 2-byte
//	              length + bytes, sorted bytewise, no duplicates
//	digest        1 byte length (0 for keygen, 32 for sign) + bytes
//	expires       8 bytes, Unix milliseconds
//	identity      32 bytes, the signer's identity public key
//	x25519        32 bytes, the session HPKE key
//	ed25519       32 bytes, the session envelope-signing key
//	path          signing with a derived key only: 1 byte depth (1..255),
//	              then each child index as 4 bytes (below 2^31); absent
//	              for the wallet key itself and for keygen
//
// The signature is Ed25519 by identity over "tsskit/v1 join\x00" || the
// encoding.
type Statement struct {
	SessionKind SessionKind
	SessionID   string
	PartyID     string
	Kind        Kind
	WalletID    string
	Threshold   int
	Parties     []string // sorted bytewise
	Digest      []byte
	Expires     time.Time
	Identity    PublicKey
	X25519      [32]byte
	Ed25519     [32]byte
	// Path, at signing, is the BIP32 derivation path of the key that
	// signs (non-hardened indices; empty: the wallet key itself).
	Path []uint32
}

const (
	// StatementVersion is the statement format version.
	StatementVersion = 1
	// MaxStatementLife bounds how far ahead a statement's expiry may be
	// (so a server party need remember the sign requests it has served
	// for no longer than this).
	MaxStatementLife = time.Hour
	// MaxStatementSize bounds an encoding.
	MaxStatementSize = 4096
	statementDomain  = "tsskit/v1 join\x00"
)

func (s *Statement) check() error {
	switch {
	case s.SessionKind != SessionKeygen && s.SessionKind != SessionSign:
		return fmt.Errorf("unknown session kind %d", s.SessionKind)
	case s.SessionID == "" || len(s.SessionID) > roster.MaxIDLen:
		return fmt.Errorf("session id must be 1..%d bytes", roster.MaxIDLen)
	case !s.Kind.holder():
		return fmt.Errorf("kind %s cannot hold a share", s.Kind)
	case s.WalletID == "" || len(s.WalletID) > roster.MaxIDLen:
		return fmt.Errorf("wallet id must be 1..%d bytes", roster.MaxIDLen)
	case len(s.Parties) < roster.MinParties || len(s.Parties) > roster.MaxParties:
		return fmt.Errorf("%d parties; want %d..%d", len(s.Parties), roster.MinParties, roster.MaxParties)
	case s.Threshold < 2 || s.Threshold > roster.MaxParties:
		return fmt.Errorf("threshold %d; want 2..%d", s.Threshold, roster.MaxParties)
	case s.SessionKind == SessionKeygen && len(s.Digest) != 0:
		return errors.New("a keygen has no digest")
	case s.SessionKind == SessionSign && len(s.Digest) != 32:
		return errors.New("a signing has a 32-byte digest")
	case s.Identity.IsZero():
		return errors.New("no identity key")
	case s.SessionKind == SessionKeygen && len(s.Path) != 0:
		return errors.New("a keygen has no derivation path")
	case len(s.Path) > 255:
		return fmt.Errorf("derivation path of depth %d; at most 255", len(s.Path))
	}
	for _, i := range s.Path {
		if i >= 1<<31 {
			return errors.New("derivation path with a hardened index")
		}
	}
	if err := roster.CheckID(s.PartyID); err != nil {
		return err
	}
	for i, p := range s.Parties {
		if err := roster.CheckID(p); err != nil {
			return err
		}
		if i > 0 && s.Parties[i-1] >= p {
			return errors.New("parties not sorted, or a party twice")
		}
	}
	if _, ok := slices.BinarySearch(s.Parties, s.PartyID); !ok {
		return fmt.Errorf("party %q is not one of the parties", s.PartyID)
	}
	return nil
}

// Marshal checks s and returns its encoding.
func (s *Statement) Marshal() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, errorf(CodeMalformed, s.PartyID, "statement: %v", err)
	}
	var w writer
	w.u8(StatementVersion)
	w.u8(byte(s.SessionKind))
	w.str16(s.SessionID)
	w.str16(s.PartyID)
	w.u8(byte(s.Kind))
	w.str16(s.WalletID)
	w.u16(uint16(s.Threshold))
	w.u8(byte(len(s.Parties)))
	for _, p := range s.Parties {
		w.str16(p)
	}
	w.u8(byte(len(s.Digest)))
	w.raw(s.Digest)
	w.i64(s.Expires.UnixMilli())
	w.raw(s.Identity[:])
	w.raw(s.X25519[:])
	w.raw(s.Ed25519[:])
	if len(s.Path) > 0 {
		w.u8(byte(len(s.Path)))
		for _, i := range s.Path {
			w.b = binary.BigEndian.AppendUint32(w.b, i)
		}
	}
	return w.b, nil
}

// ParseStatement decodes and checks a statement (not its signature).
func ParseStatement(b []byte) (*Statement, error) {
	if len(b) > MaxStatementSize {
		return nil, errorf(CodeMalformed, "", "statement: %d bytes; want at most %d", len(b), MaxStatementSize)
	}
	r := reader{b: b}
	if v := r.u8(); v != StatementVersion {
		return nil, errorf(CodeMalformed, "", "statement: version %d; this reads version %d", v, StatementVersion)
	}
	s := &Statement{SessionKind: SessionKind(r.u8()), SessionID: r.str16(), PartyID: r.str16(), Kind: Kind(r.u8()), WalletID: r.str16(), Threshold: int(r.u16())}
	n := int(r.u8())
	if n > roster.MaxParties {
		return nil, errorf(CodeMalformed, "", "statement: %d parties; want at most %d", n, roster.MaxParties)
	}
	for range n {
		s.Parties = append(s.Parties, r.str16())
	}
	s.Digest = bytes.Clone(r.take(int(r.u8())))
	if len(s.Digest) == 0 {
		s.Digest = nil
	}
	s.Expires = time.UnixMilli(r.i64())
	s.Identity = r.key()
	copy(s.X25519[:], r.take(32))
	copy(s.Ed25519[:], r.take(32))
	if r.err == nil && len(r.b) > 0 {
		n := int(r.u8())
		if n == 0 {
			return nil, errorf(CodeMalformed, "", "statement: a derivation path of depth 0 (omit it)")
		}
		for range n {
			if b := r.take(4); b != nil {
				s.Path = append(s.Path, binary.BigEndian.Uint32(b))
			}
		}
	}
	if err := r.done(); err != nil {
		return nil, errorf(CodeMalformed, "", "statement: %v", err)
	}
	if err := s.check(); err != nil {
		return nil, errorf(CodeMalformed, s.PartyID, "statement: %v", err)
	}
	return s, nil
}

// Entry is one party's signed join as the roster carries it: the
// statement, its signature, and for a certified kind the certificate
// chain (party's first).
type Entry struct {
	Statement []byte
	Signature []byte
	Chain     [][]byte
}

// SignStatement fills in s.Identity with k's public key and signs s.
func SignStatement(k *Key, s *Statement, chain []*Certificate) (*Entry, error) {
	s.Identity = k.Public()
	b, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	return &Entry{Statement: b, Signature: k.sign(append([]byte(statementDomain), b...)), Chain: EncodeChain(chain)}, nil
}

// Open decodes the entry's statement and checks that its identity key
// signed it (proof that whoever made the entry holds that key).
func (e *Entry) Open() (*Statement, error) {
	s, err := ParseStatement(e.Statement)
	if err != nil {
		return nil, err
	}
	if !s.Identity.verify(append([]byte(statementDomain), e.Statement...), e.Signature) {
		return nil, errorf(CodeBadSignature, s.PartyID, "statement is not signed by its identity key %s", s.Identity.Short())
	}
	return s, nil
}

// Digest is SHA-256 of the statement: what the parties compare, before
// the protocol's first round, to be sure they all saw the same roster.
func (e *Entry) Digest() [32]byte { return sha256.Sum256(e.Statement) }

// registration: what a server party signs to show the coordinator's pool
// that it holds the identity key of its certificate.
//
//	version 1 byte = 1, party_id 2-byte length + bytes, time 8 bytes (Unix
//	milliseconds), identity 32 bytes
//
// signed over "tsskit/v1 register\x00" || the encoding.
const registerDomain = "tsskit/v1 register\x00"

// ChallengeSize is the length of a coordinator's registration challenge.
const ChallengeSize = 32

// SignRegistration returns a registration proof for partyID that answers
// a coordinator's challenge:
//
//	"tsskit/v1 register\x00" || 2 || str16(party id) || challenge (32) || identity key (32)
func SignRegistration(k *Key, partyID string, challenge []byte) (proof, sig []byte) {
	var w writer
	w.u8(2)
	w.str16(partyID)
	w.raw(challenge)
	pub := k.Public()
	w.raw(pub[:])
	return w.b, k.sign(append([]byte(registerDomain), w.b...))
}

// VerifyRegistration checks a registration proof of partyID against its
// certificate chain: the chain certifies a server under trust at now, the
// proof names partyID, the challenge the coordinator gave and the
// certified key, and is signed by that key. It returns the identity key.
func VerifyRegistration(t *Trust, chain []*Certificate, partyID string, challenge, proof, sig []byte, now time.Time) (PublicKey, error) {
	r := reader{b: proof}
	v, id, ch, key := r.u8(), r.str16(), r.take(ChallengeSize), r.key()
	if err := r.done(); err != nil || v != 2 {
		return PublicKey{}, errorf(CodeMalformed, partyID, "registration proof: want version 2 (a challenge's answer)")
	}
	if id != partyID {
		return PublicKey{}, errorf(CodeWrongSubject, partyID, "registration proof is for party %q", id)
	}
	if err := t.Verify(chain, partyID, KindServer, key, now); err != nil {
		return PublicKey{}, err
	}
	if len(challenge) != ChallengeSize || !bytes.Equal(ch, challenge) {
		return PublicKey{}, errorf(CodeMismatch, partyID, "registration proof answers another challenge than the one given")
	}
	if !key.verify(append([]byte(registerDomain), proof...), sig) {
		return PublicKey{}, errorf(CodeBadSignature, partyID, "registration proof is not signed by the certified key")
	}
	return key, nil
}

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
	SessionKeygen  SessionKind = 1
	SessionSign    SessionKind = 2
	SessionReshare SessionKind = 3
)

func (k SessionKind) String() string {
	switch k {
	case SessionKeygen:
		return "keygen"
	case SessionSign:
		return "sign"
	case SessionReshare:
		return "reshare"
	}
	return fmt.Sprintf("session kind %d", byte(k))
}

// Statement is what a party signs with its identity key when it joins a
// session: who it is, the session as it understands it, and its fresh
// session keys. At signing, a client's statement is also its sign request:
// {wallet, digest, session, expiry}, signed by a client identity the
// wallet's share records name.
//
// Encoding (StatementVersion 1; 2 for a signing with shares of epoch 1
// or later; 3 for a client's keygen statement that sets a recovery
// policy), every integer big-endian:
//
//	version       1 byte  = 1 | 2 | 3
//	session_kind  1 byte  keygen 1 | sign 2 | reshare 3
//	epoch         version 2 only: 4 bytes, the signers' shares' epoch
//	              (1..2^31-1); version 1 means epoch 0
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
//	recovery      version 3 only (a keygen): the recovery policy (see
//	              Recovery) as 1 byte of flags — 1: a recovery kit,
//	              2: the app backend — then, with flag 1, the kit's
//	              32-byte public key; never 0 (write version 1)
//	reshare       reshare only, always present (see Reshare):
//	              epoch 4 bytes (the new shares', 1..2^31-1),
//	              old_threshold 2 bytes, old parties and new parties each
//	              as 1 byte count then 2-byte length + id, sorted bytewise,
//	              public_key 33 bytes, chain_code 32 bytes,
//	              policy 1 byte of flags — 1: client required, 2: a
//	              recovery kit, 4: the app backend may approve a
//	              recovery — then, with flag 2, the kit's 32-byte public
//	              key
//
// At a reshare, threshold is the new shares' signers needed and parties
// is every party of the session: the old committee and the new one.
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
	// Reshare, at a reshare, is what is handed over and to whom.
	Reshare *Reshare
	// Epoch, at signing, is the epoch of the signers' shares: a signing
	// that mixes epochs is refused before its first round.
	Epoch int
	// Recovery, in a client's keygen statement, is the recovery policy
	// the client sets for the wallet: every holder records it.
	Recovery Recovery
}

// Recovery is a wallet's recovery policy: what may authorize handing the
// wallet to a new client when its client is lost (package
// party/recovery). Every holder records it at keygen, and an old
// committee member checks a recovery's authorization against its own
// record.
type Recovery struct {
	// Kit is the public key of the wallet's recovery kit (derived from
	// the recovery code shown once at creation); zero: no kit.
	Kit PublicKey
	// Backend: the app backend's recovery key (each server party's
	// configuration names it) may approve a recovery.
	Backend bool
}

// IsZero reports whether nothing may authorize a recovery.
func (r Recovery) IsZero() bool { return r.Kit.IsZero() && !r.Backend }

// Equal reports whether r and o are the same policy.
func (r Recovery) Equal(o Recovery) bool { return r.Backend == o.Backend && r.Kit.Equal(o.Kit) }

func (r Recovery) flags() byte {
	var f byte
	if !r.Kit.IsZero() {
		f |= 1
	}
	if r.Backend {
		f |= 2
	}
	return f
}

func (w *writer) recovery(r Recovery) {
	if !r.Kit.IsZero() {
		w.raw(r.Kit[:])
	}
}

func (r *reader) recovery(flags byte) Recovery {
	out := Recovery{Backend: flags&2 != 0}
	if flags&1 != 0 {
		out.Kit = r.key()
	}
	return out
}

// Reshare describes a reshare: the current holders taking part (the old
// committee) hand the wallet's key to the new committee, whose shares are
// those of Epoch. Every party of a reshare signs all of it.
type Reshare struct {
	Epoch        int      // of the new shares; the old ones are Epoch-1's
	OldThreshold int      // signers needed with the old shares
	Old          []string // the old committee, sorted bytewise
	New          []string // the new committee, sorted bytewise
	PublicKey    []byte   // the wallet's, 33-byte compressed SEC1
	ChainCode    []byte   // the wallet's BIP32 chain code, 32 bytes
	// ClientRequired and Recovery are the wallet's policy, which the new
	// shares carry.
	ClientRequired bool
	Recovery       Recovery
}

// Equal reports whether r and o describe the same reshare.
func (r *Reshare) Equal(o *Reshare) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.Epoch == o.Epoch && r.OldThreshold == o.OldThreshold && slices.Equal(r.Old, o.Old) && slices.Equal(r.New, o.New) &&
		bytes.Equal(r.PublicKey, o.PublicKey) && bytes.Equal(r.ChainCode, o.ChainCode) && r.ClientRequired == o.ClientRequired &&
		r.Recovery.Equal(o.Recovery)
}

// MaxEpoch bounds a reshare's epoch.
const MaxEpoch = 1<<31 - 1

func (r *Reshare) check(threshold int, parties []string) error {
	switch {
	case r.Epoch < 1 || r.Epoch > MaxEpoch:
		return fmt.Errorf("reshare to epoch %d; want 1..%d", r.Epoch, MaxEpoch)
	case r.OldThreshold < 2 || r.OldThreshold > len(r.Old):
		return fmt.Errorf("old committee of %d with %d signers needed", len(r.Old), r.OldThreshold)
	case threshold > len(r.New) || len(r.New) < roster.MinParties || len(r.New) > roster.MaxParties:
		return fmt.Errorf("new committee of %d with %d signers needed", len(r.New), threshold)
	case len(r.PublicKey) != 33 || (r.PublicKey[0] != 2 && r.PublicKey[0] != 3):
		return errors.New("public key: want 33 bytes of compressed SEC1")
	case len(r.ChainCode) != 32:
		return errors.New("chain code: want 32 bytes")
	}
	all := map[string]bool{}
	for _, list := range [][]string{r.Old, r.New} {
		if err := checkSorted(list, "committee"); err != nil {
			return err
		}
		for _, p := range list {
			all[p] = true
		}
	}
	if len(all) != len(parties) {
		return errors.New("the parties are not the old committee and the new one")
	}
	for _, p := range parties {
		if !all[p] {
			return fmt.Errorf("party %q is in neither committee", p)
		}
	}
	return nil
}

const (
	// StatementVersion is the statement format version; a signing with
	// shares of epoch 1 or later is encoded in version 2 (StatementVersion+1).
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
	case s.SessionKind != SessionKeygen && s.SessionKind != SessionSign && s.SessionKind != SessionReshare:
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
	case s.SessionKind != SessionSign && len(s.Digest) != 0:
		return fmt.Errorf("a %s has no digest", s.SessionKind)
	case s.SessionKind == SessionSign && len(s.Digest) != 32:
		return errors.New("a signing has a 32-byte digest")
	case s.Identity.IsZero():
		return errors.New("no identity key")
	case s.SessionKind != SessionSign && len(s.Path) != 0:
		return fmt.Errorf("a %s has no derivation path", s.SessionKind)
	case s.Epoch < 0 || s.Epoch > MaxEpoch || (s.Epoch != 0 && s.SessionKind != SessionSign):
		return fmt.Errorf("epoch %d: only a signing names its shares' epoch, 0..%d", s.Epoch, MaxEpoch)
	case (s.SessionKind == SessionReshare) != (s.Reshare != nil):
		return errors.New("a reshare, and only a reshare, describes what it hands over")
	case len(s.Path) > 255:
		return fmt.Errorf("derivation path of depth %d; at most 255", len(s.Path))
	case !s.Recovery.IsZero() && (s.SessionKind != SessionKeygen || s.Kind != KindClient):
		return errors.New("only a client's keygen statement sets a recovery policy")
	}
	for _, i := range s.Path {
		if i >= 1<<31 {
			return errors.New("derivation path with a hardened index")
		}
	}
	if err := roster.CheckID(s.PartyID); err != nil {
		return err
	}
	if err := checkSorted(s.Parties, "parties"); err != nil {
		return err
	}
	if _, ok := slices.BinarySearch(s.Parties, s.PartyID); !ok {
		return fmt.Errorf("party %q is not one of the parties", s.PartyID)
	}
	if s.Reshare != nil {
		return s.Reshare.check(s.Threshold, s.Parties)
	}
	return nil
}

// Marshal checks s and returns its encoding.
func (s *Statement) Marshal() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, errorf(CodeMalformed, s.PartyID, "statement: %v", err)
	}
	var w writer
	switch {
	case !s.Recovery.IsZero():
		w.u8(StatementVersion + 2)
		w.u8(byte(s.SessionKind))
	case s.Epoch == 0:
		w.u8(StatementVersion)
		w.u8(byte(s.SessionKind))
	default:
		w.u8(StatementVersion + 1)
		w.u8(byte(s.SessionKind))
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(s.Epoch))
	}
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
	if !s.Recovery.IsZero() {
		w.u8(s.Recovery.flags())
		w.recovery(s.Recovery)
	}
	if len(s.Path) > 0 {
		w.u8(byte(len(s.Path)))
		for _, i := range s.Path {
			w.b = binary.BigEndian.AppendUint32(w.b, i)
		}
	}
	if r := s.Reshare; r != nil {
		w.b = binary.BigEndian.AppendUint32(w.b, uint32(r.Epoch))
		w.u16(uint16(r.OldThreshold))
		for _, list := range [][]string{r.Old, r.New} {
			w.u8(byte(len(list)))
			for _, p := range list {
				w.str16(p)
			}
		}
		w.raw(r.PublicKey)
		w.raw(r.ChainCode)
		f := r.Recovery.flags() << 1
		if r.ClientRequired {
			f |= 1
		}
		w.u8(f)
		w.recovery(r.Recovery)
	}
	return w.b, nil
}

// ParseStatement decodes and checks a statement (not its signature).
func ParseStatement(b []byte) (*Statement, error) {
	if len(b) > MaxStatementSize {
		return nil, errorf(CodeMalformed, "", "statement: %d bytes; want at most %d", len(b), MaxStatementSize)
	}
	r := reader{b: b}
	v := r.u8()
	if v < StatementVersion || v > StatementVersion+2 {
		return nil, errorf(CodeMalformed, "", "statement: version %d; this reads versions %d to %d", v, StatementVersion, StatementVersion+2)
	}
	kind := SessionKind(r.u8())
	epoch := 0
	if v == StatementVersion+1 {
		b := r.take(4)
		if b != nil {
			epoch = int(binary.BigEndian.Uint32(b))
		}
		if epoch == 0 {
			return nil, errorf(CodeMalformed, "", "statement: version %d with epoch 0 (write version %d)", v, StatementVersion)
		}
	}
	s := &Statement{SessionKind: kind, Epoch: epoch, SessionID: r.str16(), PartyID: r.str16(), Kind: Kind(r.u8()), WalletID: r.str16(), Threshold: int(r.u16())}
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
	if v == StatementVersion+2 {
		f := r.u8()
		if r.err == nil && (f == 0 || f&^3 != 0) {
			return nil, errorf(CodeMalformed, "", "statement: recovery flags %#x", f)
		}
		s.Recovery = r.recovery(f)
		if s.Recovery.IsZero() || s.SessionKind != SessionKeygen || (f&1 != 0 && s.Recovery.Kit.IsZero()) {
			return nil, errorf(CodeMalformed, "", "statement: version %d is a keygen statement with a recovery policy", v)
		}
	}
	if s.SessionKind == SessionReshare {
		rs := &Reshare{}
		if b := r.take(4); b != nil {
			rs.Epoch = int(binary.BigEndian.Uint32(b))
		}
		rs.OldThreshold = int(r.u16())
		for _, list := range []*[]string{&rs.Old, &rs.New} {
			n := int(r.u8())
			if n > roster.MaxParties {
				return nil, errorf(CodeMalformed, "", "statement: a committee of %d parties; want at most %d", n, roster.MaxParties)
			}
			for range n {
				*list = append(*list, r.str16())
			}
		}
		rs.PublicKey = bytes.Clone(r.take(33))
		rs.ChainCode = bytes.Clone(r.take(32))
		f := r.u8()
		if f&^7 != 0 {
			return nil, errorf(CodeMalformed, "", "statement: reshare policy flags %#x", f)
		}
		rs.ClientRequired = f&1 != 0
		rs.Recovery = r.recovery(f >> 1)
		if f&2 != 0 && rs.Recovery.Kit.IsZero() {
			return nil, errorf(CodeMalformed, "", "statement: a recovery kit with a zero key")
		}
		s.Reshare = rs
	} else if r.err == nil && len(r.b) > 0 {
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

// checkSorted checks a list of party ids: each a valid id, sorted
// bytewise, none twice.
func checkSorted(ids []string, what string) error {
	for i, p := range ids {
		if err := roster.CheckID(p); err != nil {
			return err
		}
		if i > 0 && ids[i-1] >= p {
			return fmt.Errorf("%s not sorted, or a party twice", what)
		}
	}
	return nil
}

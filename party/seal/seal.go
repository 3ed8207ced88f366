// Package seal protects tsskit protocol messages end to end, so the message
// router (which is not trusted) can neither read nor forge them.
//
// Every party makes fresh X25519 and Ed25519 key pairs per session and
// publishes the public halves when it joins; the coordinator's roster binds
// party id → keys. Then, for every envelope:
//
//   - point-to-point payloads are sealed to the recipient with HPKE (RFC 9180,
//     mode base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM). The
//     header (session, from, to, round, sender_seq) is both the HPKE info and
//     the AEAD additional data, so a ciphertext cannot be replayed into
//     another session, round, slot or pair of parties;
//   - every envelope, broadcast or not, is signed with the sender's session
//     Ed25519 key over the header and the (sealed) payload;
//   - receivers refuse unknown senders and bad signatures, drop exact replays
//     (same sender and sender_seq, same bytes) and report equivocation (same
//     sender and sender_seq, different bytes, both validly signed: proof that
//     the sender misbehaved).
//
// Broadcast payloads are not encrypted: every party receives them and tss-lib
// broadcasts carry only public commitments and proofs.
package seal

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
)

const (
	domainSign = "tsskit/v1 envelope signature\x00"
	domainSeal = "tsskit/v1 envelope seal\x00"
)

var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// PublicKeys are the public halves a party publishes when it joins a session.
type PublicKeys struct {
	X25519  []byte `json:"x25519"`  // 32 bytes: HPKE recipient key
	Ed25519 []byte `json:"ed25519"` // 32 bytes: envelope signing key
}

// Keys are a party's session key pairs. They live for one session only.
type Keys struct {
	x  *ecdh.PrivateKey
	ed ed25519.PrivateKey
}

// GenerateKeys makes fresh session keys from crypto/rand.
func GenerateKeys() (*Keys, error) {
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Keys{x: x, ed: ed}, nil
}

// Public returns the halves to publish.
func (k *Keys) Public() PublicKeys {
	return PublicKeys{
		X25519:  k.x.PublicKey().Bytes(),
		Ed25519: append([]byte(nil), k.ed.Public().(ed25519.PublicKey)...),
	}
}

type peer struct {
	sign ed25519.PublicKey
	kem  hpke.PublicKey
}

// Channel seals outgoing and opens incoming envelopes of one party in one
// session. It is safe for concurrent use.
type Channel struct {
	session string
	self    string
	keys    *Keys
	kemKey  hpke.PrivateKey
	peers   map[string]peer

	mu      sync.Mutex
	nextSeq uint64
	seen    map[string]map[uint64][sha256.Size]byte // sender → sender_seq → hash of signed bytes
}

// NewChannel checks the roster (every party's public keys, self included,
// exactly as the coordinator distributed them) and returns a channel.
func NewChannel(sessionID, self string, keys *Keys, roster map[string]PublicKeys) (*Channel, error) {
	if sessionID == "" || len(sessionID) > MaxIDLen {
		return nil, fmt.Errorf("seal: session id must be 1..%d bytes", MaxIDLen)
	}
	if keys == nil {
		return nil, errors.New("seal: no session keys")
	}
	mine, ok := roster[self]
	if !ok {
		return nil, fmt.Errorf("seal: own party %q is not in the roster", self)
	}
	own := keys.Public()
	// The coordinator must hand back the keys we published; anything else
	// means someone substituted our identity.
	if subtle.ConstantTimeCompare(mine.X25519, own.X25519) != 1 || subtle.ConstantTimeCompare(mine.Ed25519, own.Ed25519) != 1 {
		return nil, fmt.Errorf("seal: the roster's keys for %q are not this party's keys", self)
	}
	kemKey, err := hpke.NewDHKEMPrivateKey(keys.x)
	if err != nil {
		return nil, err
	}
	c := &Channel{
		session: sessionID,
		self:    self,
		keys:    keys,
		kemKey:  kemKey,
		peers:   make(map[string]peer, len(roster)),
		seen:    make(map[string]map[uint64][sha256.Size]byte, len(roster)),
	}
	seenX := make(map[string]string, len(roster))
	for id, pk := range roster {
		if id == "" || len(id) > MaxIDLen {
			return nil, fmt.Errorf("seal: roster party id must be 1..%d bytes", MaxIDLen)
		}
		if len(pk.Ed25519) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("seal: party %q: Ed25519 key must be %d bytes", id, ed25519.PublicKeySize)
		}
		xpub, err := ecdh.X25519().NewPublicKey(pk.X25519)
		if err != nil {
			return nil, fmt.Errorf("seal: party %q: bad X25519 key: %w", id, err)
		}
		// Two parties sharing a key means one copied the other's: refuse.
		if other, dup := seenX[string(pk.X25519)]; dup {
			return nil, fmt.Errorf("seal: parties %q and %q have the same X25519 key", other, id)
		}
		seenX[string(pk.X25519)] = id
		kem, err := hpke.NewDHKEMPublicKey(xpub)
		if err != nil {
			return nil, err
		}
		c.peers[id] = peer{sign: ed25519.PublicKey(append([]byte(nil), pk.Ed25519...)), kem: kem}
	}
	return c, nil
}

// Self is the party this channel belongs to.
func (c *Channel) Self() string { return c.self }

// Seal makes a signed envelope; to == "" is a broadcast, anything else is
// sealed to that party's HPKE key.
func (c *Channel) Seal(to string, round uint32, payload []byte) (*Envelope, error) {
	if len(payload) > MaxPayload {
		return nil, newError(CodeTooLarge, c.self, 0, fmt.Errorf("payload of %d bytes exceeds %d", len(payload), MaxPayload))
	}
	if to == c.self {
		return nil, errors.New("seal: a party does not send to itself")
	}
	c.mu.Lock()
	c.nextSeq++
	e := &Envelope{SessionID: c.session, From: c.self, To: to, Round: round, SenderSeq: c.nextSeq}
	c.mu.Unlock()

	if to == "" {
		e.Payload = append([]byte(nil), payload...)
	} else {
		p, ok := c.peers[to]
		if !ok {
			return nil, fmt.Errorf("seal: recipient %q is not in the roster", to)
		}
		hdr := e.header(domainSeal)
		enc, sender, err := hpke.NewSender(p.kem, kdf, aead, hdr)
		if err != nil {
			return nil, err
		}
		ct, err := sender.Seal(hdr, payload)
		if err != nil {
			return nil, err
		}
		e.Payload = append(enc, ct...)
	}
	e.Signature = ed25519.Sign(c.keys.ed, e.SignedBytes())
	return e, nil
}

// Open checks an incoming envelope and returns its plaintext payload. Every
// refusal is an *Error; Benign tells the ones a session can ignore.
func (c *Channel) Open(e *Envelope) ([]byte, error) {
	if e == nil {
		return nil, malformed("nil envelope")
	}
	if err := e.checkSizes(); err != nil {
		return nil, err
	}
	if e.SessionID != c.session {
		return nil, newError(CodeWrongSession, e.From, e.SenderSeq, fmt.Errorf("envelope for session %q, this is %q", e.SessionID, c.session))
	}
	if e.From == c.self || (e.To != "" && e.To != c.self) {
		return nil, newError(CodeNotForMe, e.From, e.SenderSeq, fmt.Errorf("addressed to %q", e.To))
	}
	p, ok := c.peers[e.From]
	if !ok {
		return nil, newError(CodeUnknownSender, e.From, e.SenderSeq, errors.New("sender is not in the session roster"))
	}
	if e.SenderSeq == 0 {
		return nil, newError(CodeMalformed, e.From, 0, errors.New("sender_seq 0"))
	}
	signed := e.SignedBytes()
	if len(e.Signature) != ed25519.SignatureSize || !ed25519.Verify(p.sign, signed, e.Signature) {
		return nil, newError(CodeBadSignature, e.From, e.SenderSeq, errors.New("signature does not verify with the sender's session key"))
	}
	if err := c.remember(e.From, e.SenderSeq, sha256.Sum256(signed)); err != nil {
		return nil, err
	}
	if e.To == "" {
		return append([]byte(nil), e.Payload...), nil
	}
	encSize := len(c.keys.x.PublicKey().Bytes())
	if len(e.Payload) < encSize {
		return nil, newError(CodeDecrypt, e.From, e.SenderSeq, errors.New("sealed payload shorter than the HPKE encapsulation"))
	}
	hdr := e.header(domainSeal)
	r, err := hpke.NewRecipient(e.Payload[:encSize], c.kemKey, kdf, aead, hdr)
	if err != nil {
		return nil, newError(CodeDecrypt, e.From, e.SenderSeq, err)
	}
	pt, err := r.Open(hdr, e.Payload[encSize:])
	if err != nil {
		return nil, newError(CodeDecrypt, e.From, e.SenderSeq, err)
	}
	return pt, nil
}

// remember records a validly signed (sender, sender_seq). A second envelope
// in the same slot is a replay when its signed bytes are equal and
// equivocation when they differ: the sender signed two different messages.
func (c *Channel) remember(from string, seq uint64, h [sha256.Size]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := c.seen[from]
	if slots == nil {
		slots = make(map[uint64][sha256.Size]byte)
		c.seen[from] = slots
	}
	if prev, ok := slots[seq]; ok {
		if prev == h {
			return newError(CodeDuplicate, from, seq, errors.New("already received"))
		}
		return newError(CodeEquivocation, from, seq, errors.New("two different validly signed envelopes with the same sender_seq"))
	}
	slots[seq] = h
	return nil
}

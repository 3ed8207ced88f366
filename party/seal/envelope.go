package seal

import (
	"encoding/binary"
	"fmt"
)

const (
	// MaxIDLen bounds session and party ids carried in an envelope.
	MaxIDLen = 128
	// MaxPayload bounds an envelope payload. The largest tss-lib message
	// (keygen round 1: two DLN proofs of 128 iterations over a 2048-bit
	// modulus, plus a Paillier key) is about 130 KB, so 1 MiB leaves room for
	// up to 16 parties without letting a peer make us buffer gigabytes.
	MaxPayload = 1 << 20
	// MaxEnvelope bounds one encoded envelope.
	MaxEnvelope = MaxPayload + 1024

	wireMagic   = "TE"
	wireVersion = 1
)

// Envelope is one protocol message on the wire. It mirrors the proto message
// tsskit.v1.Envelope field by field; Seq is assigned by the router and is not
// covered by the signature (the router may renumber, it may not rewrite).
type Envelope struct {
	SessionID string
	From      string
	To        string // empty: broadcast
	Round     uint32
	SenderSeq uint64 // per sender, per session, starts at 1
	Payload   []byte // broadcast: plaintext; point-to-point: HPKE enc || ciphertext
	Signature []byte // Ed25519 over SignedBytes
	Seq       uint64 // router position in the session stream
}

// IsBroadcast reports whether the envelope goes to every party.
func (e *Envelope) IsBroadcast() bool { return e.To == "" }

// header is the part of the envelope that both the HPKE info/AAD and the
// signature bind: domain, session, sender, recipient, round and sender_seq.
func (e *Envelope) header(domain string) []byte {
	b := make([]byte, 0, len(domain)+len(e.SessionID)+len(e.From)+len(e.To)+32)
	b = append(b, domain...)
	b = appendString(b, e.SessionID)
	b = appendString(b, e.From)
	b = appendString(b, e.To)
	b = binary.BigEndian.AppendUint32(b, e.Round)
	b = binary.BigEndian.AppendUint64(b, e.SenderSeq)
	return b
}

// SignedBytes is what the sender's Ed25519 key signs: the header under its
// own domain, then the payload (ciphertext for point-to-point messages:
// encrypt-then-sign, so a receiver rejects a forgery before decrypting).
func (e *Envelope) SignedBytes() []byte {
	b := e.header(domainSign)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Payload)))
	return append(b, e.Payload...)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// MarshalBinary encodes the envelope in tsskit's compact wire form (used where
// no protobuf is at hand: tests, fuzzing, and the wasm boundary).
func (e *Envelope) MarshalBinary() ([]byte, error) {
	if err := e.checkSizes(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(e.Payload)+len(e.Signature)+64+len(e.SessionID)+len(e.From)+len(e.To))
	b = append(b, wireMagic...)
	b = append(b, wireVersion)
	for _, s := range []string{e.SessionID, e.From, e.To} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(e.Round))
	b = binary.AppendUvarint(b, e.SenderSeq)
	b = binary.AppendUvarint(b, e.Seq)
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	b = append(b, e.Payload...)
	b = binary.AppendUvarint(b, uint64(len(e.Signature)))
	return append(b, e.Signature...), nil
}

// UnmarshalEnvelope decodes MarshalBinary's output. It checks sizes only; the
// authenticity checks are Channel.Open's.
func UnmarshalEnvelope(data []byte) (*Envelope, error) {
	if len(data) > MaxEnvelope {
		return nil, newError(CodeTooLarge, "", 0, fmt.Errorf("envelope of %d bytes exceeds %d", len(data), MaxEnvelope))
	}
	d := decoder{b: data}
	if string(d.bytes(len(wireMagic))) != wireMagic || d.byte() != wireVersion {
		return nil, malformed("not a tsskit envelope (bad magic or version)")
	}
	e := &Envelope{
		SessionID: d.string(MaxIDLen),
		From:      d.string(MaxIDLen),
		To:        d.string(MaxIDLen),
	}
	round := d.uvarint()
	if round > 1<<32-1 {
		d.fail("round out of range")
	}
	e.Round = uint32(round)
	e.SenderSeq = d.uvarint()
	e.Seq = d.uvarint()
	e.Payload = d.lenBytes(MaxPayload)
	e.Signature = d.lenBytes(64)
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := e.checkSizes(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Envelope) checkSizes() error {
	switch {
	case len(e.SessionID) == 0 || len(e.SessionID) > MaxIDLen:
		return malformed(fmt.Sprintf("session id must be 1..%d bytes", MaxIDLen))
	case len(e.From) == 0 || len(e.From) > MaxIDLen:
		return malformed(fmt.Sprintf("sender id must be 1..%d bytes", MaxIDLen))
	case len(e.To) > MaxIDLen:
		return malformed(fmt.Sprintf("recipient id longer than %d bytes", MaxIDLen))
	case len(e.Payload) > MaxPayload:
		return newError(CodeTooLarge, e.From, e.SenderSeq, fmt.Errorf("payload of %d bytes exceeds %d", len(e.Payload), MaxPayload))
	case len(e.Signature) > 64:
		// The binary decoder's bound; without it here, MarshalBinary and
		// UnmarshalProto accept envelopes that UnmarshalEnvelope refuses.
		return malformed("signature longer than 64 bytes")
	}
	return nil
}

// decoder reads the wire form; the first failure sticks and later reads
// return zero values, so Unmarshal checks once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = malformed(msg)
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail("truncated envelope")
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) lenBytes(max int) []byte {
	n := d.uvarint()
	if n > uint64(max) {
		d.fail(fmt.Sprintf("field of %d bytes exceeds %d", n, max))
		return nil
	}
	return append([]byte(nil), d.bytes(int(n))...)
}

func (d *decoder) string(max int) string { return string(d.lenBytes(max)) }

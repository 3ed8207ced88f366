package identity

import (
	"encoding/binary"
	"errors"
)

// writer builds a canonical encoding: big-endian integers, strings with a
// length prefix, fixed-size byte fields as they are.
type writer struct{ b []byte }

func (w *writer) u8(v byte)    { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) i64(v int64)  { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *writer) raw(b []byte) { w.b = append(w.b, b...) }

// str8 writes a string of at most 255 bytes behind a one-byte length.
func (w *writer) str8(s string) { w.u8(byte(len(s))); w.b = append(w.b, s...) }

// str16 writes a string of at most 65535 bytes behind a two-byte length.
func (w *writer) str16(s string) { w.u16(uint16(len(s))); w.b = append(w.b, s...) }

// reader reads what writer wrote; the first short read sets err and every
// later read returns zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func (r *reader) i64() int64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (r *reader) str8() string  { return string(r.take(int(r.u8()))) }
func (r *reader) str16() string { return string(r.take(int(r.u16()))) }

func (r *reader) key() (k PublicKey) {
	copy(k[:], r.take(KeySize))
	return k
}

// done reports a short read or bytes left over.
func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return errors.New("data after the end")
	}
	return nil
}

// A stored acknowledgement: what a new member of a reshare signs once its
// new share is stored (pending). The coordinator carries every new
// member's with the event that activates the new epoch, and a server
// party activates its own new share only when every new holder's
// verifies under the identity key its new share record names: a
// coordinator cannot make server parties drop their old shares while a
// holder has no new one.
//
//	"tsskit/v1 stored\x00" || 1 || str16(session id) || str16(wallet id)
//	|| str16(party id) || epoch (4 bytes) || public key (33 bytes)
const storedDomain = "tsskit/v1 stored\x00"

func storedMessage(sessionID, walletID, partyID string, epoch int, publicKey []byte) []byte {
	var w writer
	w.raw([]byte(storedDomain))
	w.u8(1)
	w.str16(sessionID)
	w.str16(walletID)
	w.str16(partyID)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(epoch))
	w.raw(publicKey)
	return w.b
}

// SignStored is party partyID's acknowledgement that it stored its share
// of epoch of the wallet (public key) made in session sessionID.
func SignStored(k *Key, sessionID, walletID, partyID string, epoch int, publicKey []byte) []byte {
	return k.sign(storedMessage(sessionID, walletID, partyID, epoch, publicKey))
}

// VerifyStored checks an acknowledgement made by SignStored under key.
func VerifyStored(key PublicKey, sig []byte, sessionID, walletID, partyID string, epoch int, publicKey []byte) bool {
	return key.verify(storedMessage(sessionID, walletID, partyID, epoch, publicKey), sig)
}

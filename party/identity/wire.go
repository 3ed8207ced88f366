package identity

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/rwadurian/tsskit/party/roster"
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

// An abandoned-run statement: a new holder of a reshare session's word
// that it never stored its share of that session (a run of the wallet's
// next epoch) and never will — which it records durably before signing,
// and checks before storing any share of that session. Without that
// holder's stored acknowledgement the run can never be activated, so a
// holder that did store the run's share may replace it with a later
// run's (docs/lifecycle.md, one acknowledged run per epoch).
//
// Signed message:
//
//	"tsskit/v1 abandoned\x00" || 1 || str16(session id) || str16(wallet id)
//	|| str16(party id) || epoch (4 bytes)
//
// Wire form (PartyKeys.abandoned): the message without its domain,
// followed by the 64-byte Ed25519 signature.
const abandonedDomain = "tsskit/v1 abandoned\x00"

// MaxAbandoned bounds the abandoned-run statements one join carries, and
// so the runs of one wallet's epoch a party records (every holder kind:
// a server party's vault, the CLI party's runs file, the SDK's IndexedDB
// store): past it, a party refuses to join another run of that epoch.
const MaxAbandoned = 64

// MaxAbandonedLen bounds the wire form of an abandoned-run statement:
// three ids of at most MaxIDLen bytes each.
const MaxAbandonedLen = 1 + 3*(2+roster.MaxIDLen) + 4 + 64

// Abandoned is a parsed abandoned-run statement.
type Abandoned struct {
	SessionID string
	WalletID  string
	PartyID   string
	Epoch     int
	Signature []byte
}

func abandonedBody(sessionID, walletID, partyID string, epoch int) []byte {
	return runFields(sessionID, walletID, partyID, epoch)
}

// runFields encodes one party's part in one reshare run: 1 ||
// str16(session id) || str16(wallet id) || str16(party id) || epoch (4
// bytes). The abandoned-run statement signs it; RunKey derives from it.
func runFields(sessionID, walletID, partyID string, epoch int) []byte {
	var w writer
	w.u8(1)
	w.str16(sessionID)
	w.str16(walletID)
	w.str16(partyID)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(epoch))
	return w.b
}

// SignAbandoned is party partyID's abandoned-run statement for reshare
// session sessionID, which makes epoch of walletID, in its wire form.
// The caller must have recorded, durably, that it will never store that
// session's share.
func SignAbandoned(k *Key, sessionID, walletID, partyID string, epoch int) []byte {
	body := abandonedBody(sessionID, walletID, partyID, epoch)
	sig := k.sign(append([]byte(abandonedDomain), body...))
	return append(body, sig...)
}

// ParseAbandoned decodes the wire form of an abandoned-run statement; it
// does not check the signature (Verify does, under the key the caller's
// own record names for PartyID).
func ParseAbandoned(b []byte) (*Abandoned, error) {
	return parseRunStatement(b, "abandoned-run statement")
}

// parseRunStatement decodes the wire form of a statement on one party's
// part in one run (runFields, then a signature), named what in errors.
func parseRunStatement(b []byte, what string) (*Abandoned, error) {
	if len(b) > MaxAbandonedLen {
		return nil, errorf(CodeMalformed, "", "%s of %d bytes; at most %d", what, len(b), MaxAbandonedLen)
	}
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != 1 {
		return nil, errorf(CodeMalformed, "", "%s version %d", what, v)
	}
	a := &Abandoned{SessionID: r.str16(), WalletID: r.str16(), PartyID: r.str16()}
	ep := r.take(4)
	a.Signature = r.take(64)
	if err := r.done(); err != nil {
		return nil, errorf(CodeMalformed, "", "%s: %v", what, err)
	}
	a.Epoch = int(binary.BigEndian.Uint32(ep))
	switch {
	case a.SessionID == "" || a.WalletID == "" || a.PartyID == "" ||
		len(a.SessionID) > roster.MaxIDLen || len(a.WalletID) > roster.MaxIDLen || len(a.PartyID) > roster.MaxIDLen:
		return nil, errorf(CodeMalformed, "", "%s with an empty id or one longer than %d bytes", what, roster.MaxIDLen)
	case a.Epoch < 1 || a.Epoch > MaxEpoch:
		return nil, errorf(CodeMalformed, a.PartyID, "%s for epoch %d", what, a.Epoch)
	}
	a.Signature = bytes.Clone(a.Signature)
	return a, nil
}

// Verify reports whether key signed a.
func (a *Abandoned) Verify(key PublicKey) bool {
	return key.verify(append([]byte(abandonedDomain), abandonedBody(a.SessionID, a.WalletID, a.PartyID, a.Epoch)...), a.Signature)
}

// A frozen-run statement: a new holder's word that it holds its share of
// a reshare session pending, has not activated it, and never will
// (docs/lifecycle.md, settling a run in limbo), and whether it holds the
// wallet's active share of the epoch before. Once every holder of a run
// that is not silent has said so, none of them can be made to activate
// it, and each may drop its share of it.
//
// Signed message:
//
//	"tsskit/v1 frozen\x00" || held (1 byte: 1 if the party holds the
//	active share of epoch−1, else 0) || 1 || str16(session id) ||
//	str16(wallet id) || str16(party id) || epoch (4 bytes)
//
// Wire form: the message without its domain, followed by the 64-byte
// Ed25519 signature.
const frozenDomain = "tsskit/v1 frozen\x00"

// Frozen is a parsed frozen-run statement.
type Frozen struct {
	Abandoned
	// Held: the party holds the wallet's active share of Epoch−1.
	Held bool
}

// SignFrozen is party partyID's frozen-run statement for reshare session
// sessionID, which makes epoch of walletID, in its wire form; held says
// whether it holds the active share of epoch−1. The caller must have
// recorded, durably, that it will not activate that session's share.
func SignFrozen(k *Key, sessionID, walletID, partyID string, epoch int, held bool) []byte {
	body := append([]byte{heldByte(held)}, runFields(sessionID, walletID, partyID, epoch)...)
	sig := k.sign(append([]byte(frozenDomain), body...))
	return append(body, sig...)
}

func heldByte(held bool) byte {
	if held {
		return 1
	}
	return 0
}

// ParseFrozen decodes the wire form of a frozen-run statement; it does
// not check the signature (Verify does).
func ParseFrozen(b []byte) (*Frozen, error) {
	if len(b) == 0 || b[0] > 1 {
		return nil, errorf(CodeMalformed, "", "frozen-run statement without its held byte")
	}
	a, err := parseRunStatement(b[1:], "frozen-run statement")
	if err != nil {
		return nil, err
	}
	return &Frozen{Abandoned: *a, Held: b[0] == 1}, nil
}

// Verify reports whether key signed f.
func (f *Frozen) Verify(key PublicKey) bool {
	msg := append([]byte(frozenDomain), heldByte(f.Held))
	return key.verify(append(msg, runFields(f.SessionID, f.WalletID, f.PartyID, f.Epoch)...), f.Signature)
}

// An activated-run statement: a server holder's word that the share it
// holds of a reshare session is its active share — the run was activated
// there, and it never dropped it. A pinned-run statement: a server
// holder's word that it froze the run and never drops it (it may only be
// thawed). With one of the two from every other server holder of a
// frozen run, a holder may thaw it: none of them dropped on its frozen-run
// statement, and none will (docs/lifecycle.md, settling a run in limbo).
//
// Signed message: "tsskit/v1 activated\x00" (or "tsskit/v1 pinned\x00")
// || 1 || str16(session id) || str16(wallet id) || str16(party id) ||
// epoch (4 bytes); wire form as an abandoned-run statement's.
const (
	activatedDomain = "tsskit/v1 activated\x00"
	pinnedDomain    = "tsskit/v1 pinned\x00"
)

// Activated is a parsed activated-run statement.
type Activated Abandoned

// Pinned is a parsed pinned-run statement.
type Pinned Abandoned

// SignActivated is party partyID's activated-run statement for reshare
// session sessionID, which made epoch of walletID, in its wire form.
func SignActivated(k *Key, sessionID, walletID, partyID string, epoch int) []byte {
	return signRunStatement(k, activatedDomain, sessionID, walletID, partyID, epoch)
}

// SignPinned is party partyID's pinned-run statement for reshare session
// sessionID, which makes epoch of walletID, in its wire form. The caller
// must have recorded, durably, that it never drops that session's share.
func SignPinned(k *Key, sessionID, walletID, partyID string, epoch int) []byte {
	return signRunStatement(k, pinnedDomain, sessionID, walletID, partyID, epoch)
}

func signRunStatement(k *Key, domain, sessionID, walletID, partyID string, epoch int) []byte {
	body := runFields(sessionID, walletID, partyID, epoch)
	return append(body, k.sign(append([]byte(domain), body...))...)
}

// ParseActivated decodes the wire form of an activated-run statement; it
// does not check the signature (Verify does).
func ParseActivated(b []byte) (*Activated, error) {
	a, err := parseRunStatement(b, "activated-run statement")
	return (*Activated)(a), err
}

// ParsePinned decodes the wire form of a pinned-run statement; it does
// not check the signature (Verify does).
func ParsePinned(b []byte) (*Pinned, error) {
	a, err := parseRunStatement(b, "pinned-run statement")
	return (*Pinned)(a), err
}

// Verify reports whether key signed a.
func (a *Activated) Verify(key PublicKey) bool {
	return (*Abandoned)(a).verifyAs(activatedDomain, key)
}

// Verify reports whether key signed p.
func (p *Pinned) Verify(key PublicKey) bool { return (*Abandoned)(p).verifyAs(pinnedDomain, key) }

func (a *Abandoned) verifyAs(domain string, key PublicKey) bool {
	return key.verify(append([]byte(domain), runFields(a.SessionID, a.WalletID, a.PartyID, a.Epoch)...), a.Signature)
}

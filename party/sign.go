package party

import (
	"context"
	stdecdsa "crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

var signKinds = map[reflect.Type]msgKind{
	reflect.TypeOf(&signing.SignRound1Message1{}): {1, false}, // MtA: Paillier ciphertext of k_i + range proof, per peer
	reflect.TypeOf(&signing.SignRound1Message2{}): {1, true},  // commitment to γ_i·G
	reflect.TypeOf(&signing.SignRound2Message{}):  {2, false}, // MtA responses with proofs, per peer
	reflect.TypeOf(&signing.SignRound3Message{}):  {3, true},
	reflect.TypeOf(&signing.SignRound4Message{}):  {4, true},
	reflect.TypeOf(&signing.SignRound5Message{}):  {5, true},
	reflect.TypeOf(&signing.SignRound6Message{}):  {6, true},
	reflect.TypeOf(&signing.SignRound7Message{}):  {7, true},
	reflect.TypeOf(&signing.SignRound8Message{}):  {8, true},
	reflect.TypeOf(&signing.SignRound9Message{}):  {9, true}, // s_i
}

// DigestSize is the size of what is signed: a 32-byte message digest.
const DigestSize = 32

// SignRequest is one signer's part of a signing session. Session.Parties are
// the signers (at least the share's threshold, all holders of this wallet);
// Session.SignersNeeded may be left 0 (the share knows it).
type SignRequest struct {
	Session
	Share  *share.Record
	Digest []byte
	// Path, if not empty, signs with the wallet's non-hardened BIP32
	// child at this path (package hd): every signer derives the child
	// from its own record and adds the derivation delta to its share. The
	// path is part of every party's join statement.
	Path hd.Path
}

// Signature is an ECDSA secp256k1 signature as wallets use it.
type Signature struct {
	R, S      []byte // 32 bytes each, big-endian; S is low (≤ n/2)
	V         byte   // recovery id (0 or 1; 2 or 3 only if r overflowed n, which is negligible)
	Signature []byte // R || S, 64 bytes
	DER       []byte // ASN.1 DER
}

// Hex forms, as the account API reports them.
func (s *Signature) RHex() string         { return hex.EncodeToString(s.R) }
func (s *Signature) SHex() string         { return hex.EncodeToString(s.S) }
func (s *Signature) SignatureHex() string { return hex.EncodeToString(s.Signature) }
func (s *Signature) DERHex() string       { return hex.EncodeToString(s.DER) }

// Sign runs threshold signing of a 32-byte digest for this party and
// returns the signature after checking it against the wallet key.
func Sign(ctx context.Context, req SignRequest, tr Transport) (*Signature, error) {
	r, err := req.Session.validate()
	if err != nil {
		return nil, err
	}
	if len(req.Digest) != DigestSize {
		return nil, invalid("digest is %d bytes; want %d", len(req.Digest), DigestSize)
	}
	rec := req.Share
	if rec == nil {
		return nil, invalid("no share")
	}
	if err := rec.Validate(); err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: err}
	}
	if rec.PartyID != req.Self {
		return nil, invalid("share belongs to %q, not %q", rec.PartyID, req.Self)
	}
	if rec.Epoch != 0 {
		// The signers' tss-lib keys are those of the share's epoch.
		if r, err = roster.NewAt(req.Parties, rec.Epoch); err != nil {
			return nil, &Error{Code: CodeInvalidParams, Err: err}
		}
	}
	if req.SignersNeeded != 0 && req.SignersNeeded != rec.Threshold {
		return nil, invalid("session wants %d signers, the wallet %d", req.SignersNeeded, rec.Threshold)
	}
	if r.Len() < rec.Threshold {
		return nil, invalid("%d signers; the wallet needs %d", r.Len(), rec.Threshold)
	}
	holders := make(map[string]bool, len(rec.Parties))
	for _, id := range rec.Parties {
		holders[id] = true
	}
	for _, id := range r.IDs() {
		if !holders[id] {
			return nil, invalid("signer %q holds no share of wallet %s", id, rec.WalletID)
		}
	}
	child, err := hd.Derive(rec.PublicKey, rec.ChainCode, req.Path)
	if err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: err}
	}
	pub, err := secp256k1.ParsePubKey(child.PublicKey)
	if err != nil {
		return nil, invalid("signing public key: %v", err)
	}
	// Every signer must be a holder with the kind and identity this
	// party's own record names, and a wallet that requires a client signs
	// only when one of its clients signed a statement for this session,
	// wallet and digest: its sign request.
	keys, ver, err := checkRoster(&req.Session, identity.View{SessionKind: identity.SessionSign, WalletID: rec.WalletID,
		Threshold: rec.Threshold, Digest: req.Digest, Path: req.Path, Epoch: rec.Epoch, Holders: rec.HolderView(), ClientRequired: rec.Policy.ClientRequired})
	if err != nil {
		return nil, err
	}
	rn, err := newRunner(&req.Session, r, PhaseSign, SignRounds, signKinds, keys, ver)
	if err != nil {
		return nil, err
	}
	if rn.check, err = signCheck(r, rec); err != nil {
		return nil, err
	}
	end := make(chan *common.SignatureData, 1)
	m := new(big.Int).SetBytes(req.Digest)
	key, err := derivedKey(rec, child)
	if err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: err}
	}
	rn.drv = single{signing.NewLocalPartyWithKDD(m, params(r, req.Self, rec.Threshold-1), key, child.Delta, rn.out, end, DigestSize), r}
	data, err := run(ctx, rn, tr, end)
	if err != nil {
		return nil, err
	}
	sig, err := finishSignature(data, req.Digest, pub)
	if err != nil {
		return nil, &Error{Code: CodeVerify, Round: SignRounds, Err: err}
	}
	return sig, nil
}

// derivedKey is the key data tss-lib signs with for child: the record's,
// or for a derived child, a copy with the child public key and every
// holder's public share moved by delta·G (tss-lib adds delta to this
// party's own x_i when it starts). The record itself is not changed: the
// copy has its own BigXj slice.
func derivedKey(rec *share.Record, child *hd.Child) (keygen.LocalPartySaveData, error) {
	key := *rec.SaveData
	if child.Delta == nil {
		return key, nil
	}
	key.BigXj = slices.Clone(rec.SaveData.BigXj)
	x, y := new(big.Int), new(big.Int)
	pk, err := secp256k1.ParsePubKey(child.PublicKey)
	if err != nil {
		return key, err
	}
	x.Set(pk.X())
	y.Set(pk.Y())
	keys := []keygen.LocalPartySaveData{key}
	if err := signing.UpdatePublicKeyAndAdjustBigXj(child.Delta, keys, &stdecdsa.PublicKey{Curve: tss.S256(), X: x, Y: y}, tss.S256()); err != nil {
		return key, err
	}
	return keys[0], nil
}

// finishSignature checks tss-lib's output with an independent implementation
// (decred secp256k1): the signature verifies, S is low, and public key
// recovery with V gives the wallet key back.
func finishSignature(data *common.SignatureData, digest []byte, pub *secp256k1.PublicKey) (*Signature, error) {
	if len(data.R) != 32 || len(data.S) != 32 || len(data.SignatureRecovery) != 1 {
		return nil, errors.New("tss-lib returned a malformed signature")
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(data.R); overflow || r.IsZero() {
		return nil, errors.New("r out of range")
	}
	if overflow := s.SetByteSlice(data.S); overflow || s.IsZero() {
		return nil, errors.New("s out of range")
	}
	if s.IsOverHalfOrder() {
		return nil, errors.New("s is not low")
	}
	sig := ecdsa.NewSignature(&r, &s)
	if !sig.Verify(digest, pub) {
		return nil, errors.New("signature does not verify against the signing key (the wallet key or its derived child)")
	}
	v := data.SignatureRecovery[0]
	compact := make([]byte, 65)
	compact[0] = 27 + 4 + v // compact format: 27 + recid, +4 for a compressed key
	copy(compact[1:], data.R)
	copy(compact[33:], data.S)
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil || !rec.IsEqual(pub) {
		return nil, fmt.Errorf("recovery id %d does not recover the signing key", v)
	}
	return &Signature{
		R:         append([]byte(nil), data.R...),
		S:         append([]byte(nil), data.S...),
		V:         v,
		Signature: append(append([]byte(nil), data.R...), data.S...),
		DER:       sig.Serialize(),
	}, nil
}

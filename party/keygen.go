package party

import (
	"context"
	"errors"
	"reflect"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

var keygenKinds = map[reflect.Type]msgKind{
	reflect.TypeOf(&keygen.KGRound1Message{}):  {1, true},  // commitment, Paillier key, NTilde, DLN proofs
	reflect.TypeOf(&keygen.KGRound2Message1{}): {2, false}, // the VSS share for one party: secret, sealed
	reflect.TypeOf(&keygen.KGRound2Message2{}): {2, true},  // de-commitment, mod proof
	reflect.TypeOf(&keygen.KGRound3Message{}):  {3, true},  // Paillier proof
}

// KeygenRequest is one party's part of a keygen session.
type KeygenRequest struct {
	Session
	WalletID  string
	PreParams *keygen.LocalPreParams // this party's own, never another party's
	// Identity is the key this party's roster entry is signed with. A
	// client's or user's (a device identity) goes into its share record.
	Identity *identity.Key
}

// KeygenResult is what a party keeps and reports after keygen.
type KeygenResult struct {
	Share     *share.Record // secret: encrypt before storing
	PublicKey []byte        // 33-byte compressed SEC1, equal at every party
	Address   string        // Ethereum address of the wallet key
	ChainCode []byte        // the wallet's BIP32 chain code, equal at every party (hd.KeygenChainCode)
}

// PublicKeyHex is the compressed public key in hex.
func (r *KeygenResult) PublicKeyHex() string { return r.Share.PublicKeyHex() }

// Keygen runs distributed key generation for this party. It needs this
// party's pre-parameters (package preparams); it never generates them, since
// that would call tss-lib's safe-prime search, which is slow and deadlocks
// under GOOS=js.
func Keygen(ctx context.Context, req KeygenRequest, tr Transport) (*KeygenResult, error) {
	r, err := req.Session.validate()
	if err != nil {
		return nil, err
	}
	if req.SignersNeeded < 2 || req.SignersNeeded > r.Len() {
		return nil, invalid("signers needed %d; want 2..%d", req.SignersNeeded, r.Len())
	}
	if req.WalletID == "" || len(req.WalletID) > 128 {
		return nil, invalid("wallet id must be 1..128 bytes")
	}
	if req.PreParams == nil || !req.PreParams.ValidateWithProof() {
		return nil, invalid("missing or incomplete pre-parameters")
	}
	if req.Identity == nil {
		return nil, invalid("no identity key")
	}
	keys, ver, err := checkRoster(&req.Session, identity.View{SessionKind: identity.SessionKeygen, WalletID: req.WalletID, Threshold: req.SignersNeeded})
	if err != nil {
		return nil, err
	}
	if !ver[req.Self].Identity.Equal(req.Identity.Public()) {
		return nil, &Error{Code: CodeIdentity, Culprits: []string{req.Self}, Err: errors.New("the roster's entry for this party is signed by another identity key")}
	}
	// The recovery policy is the clients' (only their statements set
	// one): clients that disagree get no wallet.
	var recoveryPolicy identity.Recovery
	first := ""
	for _, id := range r.IDs() {
		if v := ver[id]; v.Kind == identity.KindClient {
			if first != "" && !v.Recovery.Equal(recoveryPolicy) {
				return nil, &Error{Code: CodeMismatch, Culprits: []string{first, id}, Err: errors.New("the wallet's clients set different recovery policies")}
			}
			first, recoveryPolicy = id, v.Recovery
		}
	}
	rn, err := newRunner(&req.Session, r, PhaseKeygen, KeygenRounds, keygenKinds, keys, ver)
	if err != nil {
		return nil, err
	}
	rn.check = keygenCheck(r, req.Self, req.SignersNeeded-1, req.PreParams)
	end := make(chan *keygen.LocalPartySaveData, 1)
	rn.drv = single{keygen.NewLocalParty(params(r, req.Self, req.SignersNeeded-1), rn.out, end, *req.PreParams), r}
	save, err := run(ctx, rn, tr, end)
	if err != nil {
		return nil, err
	}
	pub := hd.Compress(save.ECDSAPub.X(), save.ECDSAPub.Y())
	// The chain code comes from every holder's public share, which no
	// single party chose (hd.KeygenChainCode); all parties compute it
	// alike. A missing point fails rec.Validate below.
	xs := make([][]byte, len(save.BigXj))
	for j, x := range save.BigXj {
		if x != nil {
			xs[j] = hd.Compress(x.X(), x.Y())
		}
	}
	rec := &share.Record{
		ChainCode: hd.KeygenChainCode(req.WalletID, req.ID, pub, xs),
		WalletID:  req.WalletID,
		PartyID:   req.Self,
		Threshold: req.SignersNeeded,
		Parties:   r.IDs(),
		PublicKey: pub,
		SaveData:  save,
	}
	// Every holder's kind and identity, as every party checked them; the
	// wallet requires a client to sign if it has one (co-managed).
	for _, id := range rec.Parties {
		v := ver[id]
		rec.Holders = append(rec.Holders, share.Holder{PartyID: id, Kind: v.Kind, Identity: v.Identity})
		rec.Policy.ClientRequired = rec.Policy.ClientRequired || v.Kind == identity.KindClient
	}
	rec.Policy.Recovery = recoveryPolicy
	if ver[req.Self].Kind != identity.KindServer {
		rec.IdentitySeed = req.Identity.Seed()
	}
	// The record's own consistency checks double as the final check of the
	// keygen output: x_i·G must be this party's public share, and so on.
	if err := rec.Validate(); err != nil {
		return nil, &Error{Code: CodeVerify, Round: KeygenRounds, Err: err}
	}
	return &KeygenResult{Share: rec, PublicKey: pub, Address: rec.Address(), ChainCode: rec.ChainCode}, nil
}

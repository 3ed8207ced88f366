package party

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/peercheck"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/share"
)

// reshareKinds: tss-lib's resharing messages, the committee that sends
// each (old: true) and the role that takes it.
var reshareKinds = map[reflect.Type]msgKind{
	reflect.TypeOf(&resharing.DGRound1Message{}):  {1, true},  // old → new: the key, a commitment to the sub-sharing
	reflect.TypeOf(&resharing.DGRound2Message1{}): {2, true},  // new → new: Paillier key, NTilde, DLN and mod proofs
	reflect.TypeOf(&resharing.DGRound2Message2{}): {2, true},  // new → old: ready
	reflect.TypeOf(&resharing.DGRound3Message1{}): {3, false}, // old → one new member: its sub-share (secret, sealed)
	reflect.TypeOf(&resharing.DGRound3Message2{}): {3, true},  // old → new: de-commitment
	reflect.TypeOf(&resharing.DGRound4Message1{}): {4, false}, // new → one new member: factorization proof
	reflect.TypeOf(&resharing.DGRound4Message2{}): {4, true},  // new → old and new: done
}

// reshareRoute says which committee sends a message type and which
// committees take it.
func reshareRoute(content tss.MessageContent) (fromOld, toOld, toNew bool) {
	switch content.(type) {
	case *resharing.DGRound1Message, *resharing.DGRound3Message1, *resharing.DGRound3Message2:
		return true, false, true
	case *resharing.DGRound2Message1, *resharing.DGRound4Message1:
		return false, false, true
	case *resharing.DGRound2Message2:
		return false, true, false
	case *resharing.DGRound4Message2:
		return false, true, true
	}
	return false, false, false
}

const ReshareRounds = 5

// PhaseReshare is the Progress phase of a reshare.
const PhaseReshare = "reshare"

// ReshareRequest is one party's part of a reshare: the old committee (some
// of the wallet's current holders, at least as many as it needs to sign)
// hands the wallet's key to the new committee, which gets shares of epoch
// Epoch with its own threshold. A refresh is a reshare to the same
// holders. Session.Parties is every party of the session: both
// committees; a party in both runs two tss-lib parties (their keys differ
// by epoch, roster.KeyAt).
type ReshareRequest struct {
	Session
	WalletID     string
	Epoch        int      // of the new shares (the current shares' + 1)
	Old          []string // the old committee
	OldThreshold int      // signers needed with the current shares
	New          []string // the new committee
	NewThreshold int      // signers needed with the new shares
	// PublicKey, ChainCode and ClientRequired are the wallet's: every
	// party signs them in its statement; an old member checks them
	// against its share, a new member's new share carries them.
	PublicKey      []byte
	ChainCode      []byte
	ClientRequired bool
	// RecoveryPolicy is the wallet's recovery policy, carried like
	// ClientRequired.
	RecoveryPolicy identity.Recovery
	// Recovery, at a recovery, is the authorization that lets the old
	// committee hand the wallet to a new client without the lost one: an
	// old member checks it against its own record's policy (and, for an
	// approval of the app backend, BackendKeys, its configuration), and
	// then hands over only to the wallet's server holders and the
	// authorized client with the authorized identity key. The new client
	// gives its own.
	Recovery    *recovery.Authorization
	BackendKeys []identity.PublicKey
	// Now is the time authorizations are checked at (zero: now).
	Now time.Time
	// Share is this party's current share if it is in the old committee
	// (nil otherwise). It is not changed.
	Share *share.Record
	// PreParams are this party's own if it is in the new committee (nil
	// otherwise): never another party's, never generated here.
	PreParams *keygen.LocalPreParams
	// Identity is the key this party's roster entry is signed with; a
	// client's or user's goes into its new share record.
	Identity *identity.Key
}

// ReshareResult is what a party of the new committee keeps. A party only
// in the old committee gets a result without a share.
type ReshareResult struct {
	Share     *share.Record // secret: store it as pending until the new epoch is active
	PublicKey []byte        // the wallet's, unchanged
	Address   string
	// NewHolders is the new committee, each with the kind and identity
	// key of its verified join statement (what a new share records): a
	// party only in the old committee checks the new holders' stored
	// acknowledgements under these before it deletes its old share.
	NewHolders []share.Holder
}

// Reshare runs this party's part of a reshare. It checks, before anything
// is sent, that the request is one reshare every party signed alike; a new
// member's share must reconstruct the wallet's public key, which its
// record's checks verify.
func Reshare(ctx context.Context, req ReshareRequest, tr Transport) (*ReshareResult, error) {
	all, err := req.Session.validate()
	if err != nil {
		return nil, err
	}
	spec, err := req.spec()
	if err != nil {
		return nil, err
	}
	inOld, inNew := slices.Contains(spec.Old, req.Self), slices.Contains(spec.New, req.Self)
	oldR, err := roster.NewAt(spec.Old, req.Epoch-1)
	if err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: fmt.Errorf("old committee: %w", err)}
	}
	newR, err := roster.NewAt(spec.New, req.Epoch)
	if err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: fmt.Errorf("new committee: %w", err)}
	}
	rec := req.Share
	view := identity.View{SessionKind: identity.SessionReshare, WalletID: req.WalletID, Threshold: req.NewThreshold, Reshare: spec}
	if inOld {
		if rec == nil {
			return nil, invalid("party %q is in the old committee without its share", req.Self)
		}
		if err := rec.Validate(); err != nil {
			return nil, &Error{Code: CodeInvalidParams, Err: err}
		}
		switch {
		case rec.PartyID != req.Self || rec.WalletID != req.WalletID:
			return nil, invalid("the share is %q's of wallet %s, not %q's of %s", rec.PartyID, rec.WalletID, req.Self, req.WalletID)
		case rec.Epoch != req.Epoch-1:
			return nil, &Error{Code: CodeStaleEpoch, Err: fmt.Errorf("the share is of epoch %d; this reshare hands over epoch %d's", rec.Epoch, req.Epoch-1)}
		case rec.Threshold != req.OldThreshold:
			return nil, invalid("the share needs %d signers, the request says %d", rec.Threshold, req.OldThreshold)
		case !bytes.Equal(rec.PublicKey, req.PublicKey) || !bytes.Equal(rec.ChainCode, req.ChainCode) || rec.Policy.ClientRequired != req.ClientRequired ||
			!rec.Policy.Recovery.Equal(req.RecoveryPolicy):
			return nil, invalid("the request's public key, chain code or policy is not the share's")
		}
		for _, id := range spec.Old {
			if !slices.Contains(rec.Parties, id) {
				return nil, invalid("old committee member %q holds no share of wallet %s", id, rec.WalletID)
			}
		}
		view.Holders = rec.HolderView()
	} else if rec != nil {
		return nil, invalid("party %q is not in the old committee but gave a share", req.Self)
	}
	if inNew {
		if req.PreParams == nil || !req.PreParams.ValidateWithProof() {
			return nil, invalid("a new committee member needs its own complete pre-parameters")
		}
	} else if req.PreParams != nil {
		return nil, invalid("party %q is not in the new committee but gave pre-parameters", req.Self)
	}
	if req.Identity == nil {
		return nil, invalid("no identity key")
	}
	if req.Recovery != nil {
		g, err := req.grant(inOld)
		if err != nil {
			return nil, err
		}
		view.Recovery = g
	}
	keys, ver, err := checkRoster(&req.Session, view)
	if err != nil {
		return nil, err
	}
	if !ver[req.Self].Identity.Equal(req.Identity.Public()) {
		return nil, &Error{Code: CodeIdentity, Culprits: []string{req.Self}, Err: errors.New("the roster's entry for this party is signed by another identity key")}
	}
	if inOld && !rec.Legacy() && !rec.Own().Identity.Equal(req.Identity.Public()) {
		return nil, &Error{Code: CodeIdentity, Culprits: []string{req.Self}, Err: errors.New("this party's identity key is not the one its share records")}
	}
	if inOld {
		if err := mayHandOver(rec, spec, req.NewThreshold, ver, view.Recovery); err != nil {
			return nil, err
		}
	}
	rn, err := newRunner(&req.Session, all, PhaseReshare, ReshareRounds, reshareKinds, keys, ver)
	if err != nil {
		return nil, err
	}
	d := &reshareDriver{self: req.Self, oldR: oldR, newR: newR}
	pub, err := secp256k1.ParsePubKey(req.PublicKey)
	if err != nil {
		return nil, invalid("public key: %v", err)
	}
	oldCtx, newCtx := tss.NewPeerContext(oldR.PartyIDs()), tss.NewPeerContext(newR.PartyIDs())
	endOld := make(chan *keygen.LocalPartySaveData, 1)
	endNew := make(chan *keygen.LocalPartySaveData, 1)
	if inOld {
		p := tss.NewReSharingParameters(tss.S256(), oldCtx, newCtx, oldR.PartyID(req.Self), oldR.Len(), req.OldThreshold-1, newR.Len(), req.NewThreshold-1)
		// tss-lib zeroes the old share's secret when it is done: give it
		// a copy, so the caller's record stays intact until the new epoch
		// is active.
		input := *rec.SaveData
		input.Xi = new(big.Int).Set(rec.SaveData.Xi)
		d.old = resharing.NewLocalParty(p, input, rn.out, endOld)
	}
	if inNew {
		p := tss.NewReSharingParameters(tss.S256(), oldCtx, newCtx, newR.PartyID(req.Self), oldR.Len(), req.OldThreshold-1, newR.Len(), req.NewThreshold-1)
		input := keygen.NewLocalPartySaveData(newR.Len())
		input.LocalPreParams = *req.PreParams
		d.new = resharing.NewLocalParty(p, input, rn.out, endNew)
		own := &peercheck.Ring{N: req.PreParams.PaillierSK.N, NTilde: req.PreParams.NTildei, H1: req.PreParams.H1i, H2: req.PreParams.H2i}
		d.check = peercheck.NewReshare(newR.Len(), newR.Index(req.Self), req.NewThreshold-1, pub.X(), pub.Y(), own).Check
	}
	rn.drv = d
	rn.check = d.checkMsg
	// The session ends when every role of this party has ended.
	end := make(chan *keygen.LocalPartySaveData, 1)
	waitCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		var save *keygen.LocalPartySaveData
		for _, w := range []struct {
			on bool
			ch chan *keygen.LocalPartySaveData
		}{{inOld, endOld}, {inNew, endNew}} {
			if !w.on {
				continue
			}
			select {
			case s := <-w.ch:
				if w.ch == endNew {
					save = s
				}
			case <-waitCtx.Done():
				return
			}
		}
		end <- save
	}()
	save, err := run(ctx, rn, tr, end)
	if err != nil {
		return nil, err
	}
	var holders []share.Holder
	for _, id := range newR.IDs() {
		v := ver[id]
		holders = append(holders, share.Holder{PartyID: id, Kind: v.Kind, Identity: v.Identity})
	}
	if !inNew {
		return &ReshareResult{PublicKey: req.PublicKey, Address: share.Address(req.PublicKey), NewHolders: holders}, nil
	}
	// tss-lib v2.0.2 sums the sub-shares without reducing them: x_i mod n
	// is the same share, in the range a record keeps.
	save.Xi = new(big.Int).Mod(save.Xi, tss.S256().Params().N)
	out := &share.Record{
		WalletID:  req.WalletID,
		PartyID:   req.Self,
		Threshold: req.NewThreshold,
		Parties:   newR.IDs(),
		PublicKey: hd.Compress(save.ECDSAPub.X(), save.ECDSAPub.Y()),
		SaveData:  save,
		Epoch:     req.Epoch,
		ChainCode: bytes.Clone(req.ChainCode),
		Policy:    share.Policy{ClientRequired: req.ClientRequired, Recovery: req.RecoveryPolicy},
		Holders:   slices.Clone(holders),
	}
	if ver[req.Self].Kind != identity.KindServer {
		out.IdentitySeed = req.Identity.Seed()
	}
	if !bytes.Equal(out.PublicKey, req.PublicKey) {
		return nil, &Error{Code: CodeVerify, Round: ReshareRounds, Err: errors.New("the new shares are of another key than the wallet's")}
	}
	// The record's checks double as the final check of the result: x_i·G
	// is this party's public share, the public shares interpolate to the
	// wallet key, and so on.
	if err := out.Validate(); err != nil {
		return nil, &Error{Code: CodeVerify, Round: ReshareRounds, Err: err}
	}
	return &ReshareResult{Share: out, PublicKey: out.PublicKey, Address: out.Address(), NewHolders: holders}, nil
}

// spec checks the request's committees and returns the reshare every
// party's statement must describe.
func (req *ReshareRequest) spec() (*identity.Reshare, error) {
	if req.WalletID == "" || len(req.WalletID) > share.MaxWalletIDLen {
		return nil, invalid("wallet id must be 1..%d bytes", share.MaxWalletIDLen)
	}
	if req.Epoch < 1 || req.Epoch > share.MaxEpoch {
		return nil, invalid("epoch %d; want 1..%d", req.Epoch, share.MaxEpoch)
	}
	if req.OldThreshold < 2 || req.OldThreshold > len(req.Old) {
		return nil, invalid("an old committee of %d cannot sign with %d signers needed", len(req.Old), req.OldThreshold)
	}
	if req.NewThreshold < 2 || req.NewThreshold > len(req.New) {
		return nil, invalid("a new committee of %d with %d signers needed; want 2..%d", len(req.New), req.NewThreshold, len(req.New))
	}
	if len(req.ChainCode) != hd.ChainCodeSize {
		return nil, invalid("chain code of %d bytes; want %d", len(req.ChainCode), hd.ChainCodeSize)
	}
	if len(req.PublicKey) != secp256k1.PubKeyBytesLenCompressed {
		return nil, invalid("public key of %d bytes; want compressed SEC1", len(req.PublicKey))
	}
	spec := &identity.Reshare{Epoch: req.Epoch, OldThreshold: req.OldThreshold, Old: slices.Sorted(slices.Values(req.Old)),
		New: slices.Sorted(slices.Values(req.New)), PublicKey: bytes.Clone(req.PublicKey), ChainCode: bytes.Clone(req.ChainCode), ClientRequired: req.ClientRequired, Recovery: req.RecoveryPolicy}
	union := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(spec.Old), spec.New...))))
	if !slices.Equal(union, slices.Sorted(slices.Values(req.Parties))) {
		return nil, invalid("the session's parties %v are not the old committee %v and the new one %v", req.Parties, spec.Old, spec.New)
	}
	return spec, nil
}

// reshareDriver runs one party's roles in a reshare: its old committee
// member (old), its new committee member (new), or both, each a tss-lib
// party with its own key. What one role sends the other stays in the
// process.
type reshareDriver struct {
	self       string
	oldR, newR *roster.Roster
	old, new   tss.Party // nil when this party has no such role
	check      func(tss.ParsedMessage) error
}

func (d *reshareDriver) start() *tss.Error {
	for _, p := range []tss.Party{d.old, d.new} {
		if p != nil {
			if err := p.Start(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *reshareDriver) parse(payload []byte, from string, broadcast bool) (tss.ParsedMessage, error) {
	// The message's type says which committee sent it: parse once to
	// learn it, and again with the sender's identity in that committee.
	probe, err := tss.ParseWireMessage(payload, d.oldR.PartyIDs()[0], broadcast)
	if err != nil {
		return nil, err
	}
	fromOld, _, _ := reshareRoute(probe.Content())
	r, committee := d.newR, "new"
	if fromOld {
		r, committee = d.oldR, "old"
	}
	pid := r.PartyID(from)
	if pid == nil {
		return nil, fmt.Errorf("a %s message comes from the %s committee, and %s is not in it", probe.Type(), committee, from)
	}
	return tss.ParseWireMessage(payload, pid, broadcast)
}

// checkMsg runs the new member's checks on what it takes.
func (d *reshareDriver) checkMsg(msg tss.ParsedMessage) error {
	if _, _, toNew := reshareRoute(msg.Content()); toNew && d.new != nil && d.check != nil {
		return d.check(msg)
	}
	return nil
}

func (d *reshareDriver) update(msg tss.ParsedMessage) *tss.Error {
	_, toOld, toNew := reshareRoute(msg.Content())
	for _, p := range []struct {
		take bool
		p    tss.Party
	}{{toOld, d.old}, {toNew, d.new}} {
		if !p.take || p.p == nil || msg.GetFrom().KeyInt().Cmp(p.p.PartyID().KeyInt()) == 0 {
			continue
		}
		if _, err := p.p.Update(msg); err != nil {
			return err
		}
	}
	return nil
}

func (d *reshareDriver) route(msg tss.Message) ([]string, []tss.ParsedMessage) {
	pm := msg.(tss.ParsedMessage)
	var net []string
	var local []tss.ParsedMessage
	other := func(p tss.Party) bool {
		return p != nil && p.PartyID().KeyInt().Cmp(msg.GetFrom().KeyInt()) != 0
	}
	for _, to := range msg.GetTo() {
		if to.Id != d.self {
			if !msg.IsBroadcast() && !slices.Contains(net, to.Id) {
				net = append(net, to.Id)
			}
			continue
		}
		// To this party's other role (never to the sender itself).
		for _, p := range []tss.Party{d.old, d.new} {
			if other(p) && p.PartyID().KeyInt().Cmp(to.KeyInt()) == 0 {
				local = append(local, pm)
			}
		}
	}
	if msg.IsBroadcast() {
		net = []string{""}
	}
	return net, local
}

func (d *reshareDriver) waitingFor() []string {
	var ids []string
	for _, p := range []tss.Party{d.old, d.new} {
		if p == nil {
			continue
		}
		for _, w := range p.WaitingFor() {
			ids = append(ids, w.Id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// mayHandOver is an old member's own check of whom it hands the key to,
// from its share record: the coordinator proposes the new committee, and
// nothing else stops it from proposing seats it runs itself.
//
//   - With the wallet's client in the old committee (a co-managed wallet:
//     VerifyRoster has checked its signed statement, which is its consent
//     to this reshare), any new committee goes.
//   - Without one, only a refresh: the same holders with the same
//     threshold and kinds, every server holder with its recorded identity
//     key (a user holder may come with a new device identity, as the
//     account API's user party does). A record that names no holders
//     (made before identities existed) is refreshed only with its client.
//   - In every case fewer new members than the new threshold may be
//     uncertified (client or user): no set of seats that anyone can open
//     without a deployment certificate ever holds enough shares to sign.
func mayHandOver(rec *share.Record, spec *identity.Reshare, newThreshold int, ver map[string]*identity.Verified, grant *identity.Grant) error {
	refuse := func(format string, a ...any) error {
		return &Error{Code: CodePolicy, Err: fmt.Errorf("this party does not hand the wallet over: "+format, a...)}
	}
	uncertified := 0
	for _, id := range spec.New {
		if !ver[id].Kind.Certified() {
			uncertified++
		}
	}
	if uncertified >= newThreshold {
		return refuse("%d of the new committee are uncertified, and %d signers would be needed", uncertified, newThreshold)
	}
	held := rec.HolderView()
	if rec.Policy.ClientRequired {
		for _, id := range spec.Old {
			if h := held[id]; h.Kind == identity.KindClient && ver[id].Kind == identity.KindClient && h.Identity.Equal(ver[id].Identity) {
				return nil
			}
		}
	}
	if rec.Legacy() {
		return refuse("a wallet whose records name no holder identities is reshared only with its client")
	}
	if grant != nil {
		// A recovery: the wallet's holders less its clients, plus the
		// authorized client, with the same threshold. The lost client's
		// identity is in no new share (grant refuses an authorization
		// naming any holder's key): it is revoked.
		var want []string
		for id, h := range held {
			if h.Kind != identity.KindClient {
				want = append(want, id)
			}
		}
		want = append(want, grant.PartyID)
		slices.Sort(want)
		if !slices.Equal(want, spec.New) || newThreshold != rec.Threshold {
			return refuse("a recovery hands over to the server holders and the authorized client, %v with %d signers needed (asked: %v with %d)", want, rec.Threshold, spec.New, newThreshold)
		}
		if v := ver[grant.PartyID]; v.Kind != identity.KindClient || !v.Identity.Equal(grant.Identity) {
			return &Error{Code: CodeRecovery, Culprits: []string{grant.PartyID}, Err: errors.New("the new client joins with another identity key than the recovery authorizes")}
		}
		for _, id := range spec.New {
			if h, v := held[id], ver[id]; id != grant.PartyID && (h.Kind != v.Kind || !h.Identity.Equal(v.Identity)) {
				return refuse("holder %s joins as another %s or with another identity key than the wallet records", id, v.Kind)
			}
		}
		return nil
	}
	if holders := slices.Sorted(slices.Values(rec.Parties)); !slices.Equal(holders, spec.New) || newThreshold != rec.Threshold {
		return refuse("without the wallet's client only a refresh: the holders %v with %d signers needed (asked: %v with %d)", holders, rec.Threshold, spec.New, newThreshold)
	}
	for _, id := range spec.New {
		h, v := held[id], ver[id]
		if h.Kind != v.Kind {
			return refuse("%s joins the new committee as a %s; the wallet records a %s", id, v.Kind, h.Kind)
		}
		if h.Kind == identity.KindServer && !h.Identity.Equal(v.Identity) {
			return refuse("server holder %s joins with another identity key than the wallet records", id)
		}
	}
	return nil
}

// ClientReshare checks a reshare the coordinator set up for a client
// that asked to reshare its wallet (rec is the client's current share):
// the key, chain code, policy and epoch are the share's, the client is
// in both committees, every old member holds a share, the old committee
// can sign, and the new committee has the threshold and size asked for
// (0: the share's). It returns the kind every party must join as: the
// wallet's client holders as clients, every other party a certified
// server — so the coordinator cannot seat a self-certified "client" of
// its own. The engine then checks every statement against the spec.
func ClientReshare(rec *share.Record, spec *identity.Reshare, newThreshold, threshold, parties int) (map[string]identity.Kind, error) {
	mismatch := func(format string, a ...any) (map[string]identity.Kind, error) {
		return nil, &Error{Code: CodeMismatch, Err: fmt.Errorf("the coordinator's reshare "+format, a...)}
	}
	if threshold == 0 {
		threshold = rec.Threshold
	}
	if parties == 0 {
		parties = len(rec.Parties)
	}
	switch {
	case spec == nil:
		return mismatch("is missing")
	case spec.Epoch != rec.Epoch+1:
		return mismatch("makes epoch %d; this share is of epoch %d", spec.Epoch, rec.Epoch)
	case !bytes.Equal(spec.PublicKey, rec.PublicKey) || !bytes.Equal(spec.ChainCode, rec.ChainCode):
		return mismatch("hands over another key or chain code than this share's")
	case spec.ClientRequired != rec.Policy.ClientRequired || !spec.Recovery.Equal(rec.Policy.Recovery):
		return mismatch("changes the wallet's policy (client required: %t; recovery)", spec.ClientRequired)
	case spec.OldThreshold != rec.Threshold:
		return mismatch("says the wallet needs %d signers; this share says %d", spec.OldThreshold, rec.Threshold)
	case len(spec.Old) < rec.Threshold:
		return mismatch("has %d old members; the wallet needs %d signers", len(spec.Old), rec.Threshold)
	case newThreshold != threshold:
		return mismatch("needs %d signers after; %d were asked for", newThreshold, threshold)
	case len(spec.New) != parties:
		return mismatch("makes %d holders; %d were asked for", len(spec.New), parties)
	case !slices.Contains(spec.Old, rec.PartyID) || !slices.Contains(spec.New, rec.PartyID):
		return mismatch("leaves this party %q out of a committee", rec.PartyID)
	}
	kinds := map[string]identity.Kind{}
	for _, id := range spec.Old {
		if !slices.Contains(rec.Parties, id) {
			return mismatch("names %q in the old committee, which holds no share", id)
		}
	}
	held := rec.HolderView()
	for _, id := range append(slices.Clone(spec.Old), spec.New...) {
		kinds[id] = identity.KindServer
		if h, ok := held[id]; ok && h.Kind != identity.KindServer && h.Kind != 0 {
			kinds[id] = h.Kind
		}
	}
	kinds[rec.PartyID] = identity.KindClient
	if servers := countKind(spec.New, kinds, identity.KindServer); !spec.Recovery.IsZero() && servers < threshold {
		return mismatch("leaves %d server holders and %d signers needed: the wallet's recovery policy could never be used", servers, threshold)
	}
	for id, h := range held {
		if h.Kind == identity.KindClient && !slices.Contains(spec.New, id) {
			return mismatch("drops the wallet's client %q", id)
		}
	}
	return kinds, nil
}

// ClientRecovery checks a recovery session, as the coordinator offered it
// (spec, the session's signers needed after it, and every party of the
// session), against the authorization a the new client asked for it with
// and its device identity key dev, and returns the kind every party must
// join as: the new client a names a client, every other party a certified
// server (the wallet's server holders). The session must make a.PartyID a
// new holder only, start from the epoch a authorizes, keep the threshold
// and the wallet's need of a client, and name no party beyond its two
// committees. The old members check a itself against their own records;
// this is the new client's side, so that it joins only the recovery it
// asked for (a session_mismatch otherwise, before anything is signed).
func ClientRecovery(spec *identity.Reshare, signersNeeded int, parties []string, a *recovery.Authorization, dev identity.PublicKey) (map[string]identity.Kind, error) {
	mismatch := func(format string, args ...any) (map[string]identity.Kind, error) {
		return nil, &Error{Code: CodeMismatch, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case spec == nil:
		return mismatch("the coordinator's session is not a recovery: it says nothing of what it hands over")
	case a == nil:
		return nil, &Error{Code: CodeInvalidParams, Err: errors.New("a recovery without its authorization")}
	case spec.Epoch != a.Epoch+1:
		return mismatch("the coordinator's session makes epoch %d; the authorization recovers from epoch %d", spec.Epoch, a.Epoch)
	case !slices.Contains(spec.New, a.PartyID) || slices.Contains(spec.Old, a.PartyID):
		return mismatch("the coordinator's session does not make %q a new holder", a.PartyID)
	case signersNeeded != spec.OldThreshold || !spec.ClientRequired:
		return mismatch("the coordinator's session changes the wallet's threshold or policy")
	case !dev.Equal(a.Identity):
		return mismatch("the authorization is for another device key than this one")
	}
	want := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(spec.Old), spec.New...))))
	if got := slices.Sorted(slices.Values(parties)); !slices.Equal(want, got) {
		return mismatch("the coordinator's session has parties %v; its committees are %v and %v", got, spec.Old, spec.New)
	}
	kinds := map[string]identity.Kind{}
	for _, p := range want {
		kinds[p] = identity.KindServer
	}
	kinds[a.PartyID] = identity.KindClient
	return kinds, nil
}

// grant checks the request's recovery authorization and returns what it
// grants. An old member checks it against its own record: signed by the
// wallet's recovery kit, or by one of BackendKeys if the wallet accepts
// its backend's approvals; for this wallet and the epoch handed over; not
// expired. The new client checks that it names itself.
func (req *ReshareRequest) grant(inOld bool) (*identity.Grant, error) {
	a := req.Recovery
	refuse := func(err error) (*identity.Grant, error) {
		return nil, &Error{Code: CodeRecovery, Culprits: []string{a.PartyID}, Err: err}
	}
	if !inOld {
		switch {
		case a.PartyID != req.Self:
			// A recovery gives new shares only to the holders handing the
			// wallet over and the authorized client (mayHandOver).
			return nil, &Error{Code: CodeRecovery, Err: fmt.Errorf("a recovery makes no new holder but the authorized client %q", a.PartyID)}
		case !a.Identity.Equal(req.Identity.Public()):
			return refuse(errors.New("the recovery authorization is for another device key than this one"))
		}
		return &identity.Grant{PartyID: a.PartyID, Identity: a.Identity}, nil
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	if err := a.Check(req.WalletID, req.Epoch-1, now); err != nil {
		return refuse(err)
	}
	pol := req.Share.Policy.Recovery
	switch a.Kind {
	case recovery.KindKit:
		if pol.Kit.IsZero() || !pol.Kit.Equal(a.Signer) {
			return refuse(errors.New("the authorization is not signed by the wallet's recovery kit"))
		}
	case recovery.KindBackend:
		if !pol.Backend {
			return refuse(errors.New("the wallet's policy does not accept its backend's recovery approvals"))
		}
		if !slices.ContainsFunc(req.BackendKeys, a.Signer.Equal) {
			return refuse(errors.New("the approval is not signed by a recovery key this party is configured with"))
		}
	default:
		return refuse(fmt.Errorf("unknown authorization kind %d", a.Kind))
	}
	if slices.Contains(req.Share.Parties, a.PartyID) {
		return refuse(fmt.Errorf("the authorization names %q, already a holder", a.PartyID))
	}
	for _, h := range req.Share.Holders {
		// The lost client's key (or any holder's) would stay a holder's
		// key under a new name: the recovery would revoke nothing.
		if h.Identity.Equal(a.Identity) {
			return refuse(fmt.Errorf("the authorization names the identity key of holder %q", h.PartyID))
		}
	}
	return &identity.Grant{PartyID: a.PartyID, Identity: a.Identity}, nil
}

// countKind counts the parties of ids that kinds says are of kind k.
func countKind(ids []string, kinds map[string]identity.Kind, k identity.Kind) int {
	n := 0
	for _, id := range ids {
		if kinds[id] == k {
			n++
		}
	}
	return n
}

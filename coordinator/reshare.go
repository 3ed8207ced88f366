package coordinator

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// createRefresh starts a refresh of an account wallet: its server holders
// (the old committee, as many as the wallet needs to sign) hand the key to
// every holder again, the user party included, which the server-party API
// runs as a new member with a device identity of the run's own (derived
// by its host, identity.RunKey) — nobody server-side
// keeps the user's current share, and the account's server parties sign
// on the API key's word anyway, so the user party's consent adds nothing
// (docs/lifecycle.md). The wallet's pending slot in the store is claimed
// first, so two coordinator replicas never refresh one wallet at once;
// the new epoch becomes active only when every new holder has reported
// its new share stored (completeReshareLocked).
func (c *Coordinator) createRefresh(ctx context.Context, walletID string, within time.Duration) (*created, error) {
	w, err := c.store.GetWallet(ctx, walletID)
	if err != nil {
		return nil, storeStatus(err, "account")
	}
	cc, err := w.ChainCodeOrLegacy()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	var servers, all []string
	user := ""
	for _, h := range w.Holders {
		all = append(all, h.PartyID)
		switch h.Kind {
		case store.HolderServer:
			servers = append(servers, h.PartyID)
		case store.HolderUser:
			user = h.PartyID
		case store.HolderClient:
			return nil, status.Error(codes.FailedPrecondition, "a co-managed wallet is refreshed by its client")
		}
	}
	if user == "" {
		return nil, status.Error(codes.FailedPrecondition, "not an account wallet")
	}
	if len(servers) < w.SignersNeeded {
		return nil, status.Errorf(codes.FailedPrecondition, "the wallet has %d server holders; a refresh without the user share needs %d", len(servers), w.SignersNeeded)
	}
	// Every server holder is in both committees (each needs an
	// assignment to get its new share).
	old := servers
	loaded, err := c.pool.pick(len(old), pickRule{among: old, restrict: true, withUser: true, kind: store.SessionReshare, within: c.admitWithin(within)})
	if err != nil {
		return nil, c.pickRefused(store.SessionReshare, err, "not enough healthy server holders of this wallet")
	}
	if len(loaded) != len(old)+1 {
		c.pool.release(loaded, store.SessionReshare)
		return nil, status.Error(codes.Unavailable, "no server-party API is available to run the user party")
	}
	s := c.newSession(store.SessionReshare, w.ID)
	s.wallet, s.signers, s.userID, s.userParty, s.ownerUser = w, w.SignersNeeded, w.UserID, user, w.OwnerUser
	for _, h := range w.Holders {
		s.add(h.PartyID, h.Kind)
	}
	s.servers, s.loaded = slices.Clone(old), loaded
	s.reshare = &identity.Reshare{Epoch: w.Epoch + 1, OldThreshold: w.SignersNeeded, Old: slices.Sorted(slices.Values(old)), New: slices.Sorted(slices.Values(all)),
		PublicKey: bytes.Clone(w.PublicKey), ChainCode: bytes.Clone(cc), Recovery: w.Recovery}
	return c.beginReshare(ctx, s, nil, "a refresh of this wallet is under way", "account")
}

// clientReshareSpec is a client's request to reshare its co-managed
// wallet.
type clientReshareSpec struct {
	walletID string
	clients  []string // the caller's parties: every client holder
	// signers and n are the new threshold and committee size (0: the
	// wallet's); maxParties bounds n (0: 16).
	signers, n, maxParties int
	// mayUse, if set, refuses a caller that may not use the wallet (and
	// spends its quota).
	mayUse func(*store.Wallet) error
	within time.Duration
}

// createClientReshare starts a reshare of a co-managed wallet that its
// client asked for: the old committee is the client holders, as many
// server holders as the wallet needs, and every healthy server holder the
// new committee drops (which deletes its share once the new epoch is
// confirmed); the new one is the client holders and n minus them server
// parties — the wallet's server holders first (the old committee's among
// them), then healthy parties from the pool.
// Every holder's own record decides whether it hands the key over
// (party.mayHandOver: with the client in the old committee, any
// committee in which the uncertified members alone cannot sign). The new
// epoch, and the new committee, become the wallet's only at activation
// (completeReshareLocked).
func (c *Coordinator) createClientReshare(ctx context.Context, spec clientReshareSpec) (*created, error) {
	if err := checkParties(spec.clients); err != nil {
		return nil, err
	}
	w, err := c.store.GetWallet(ctx, spec.walletID)
	if err != nil {
		return nil, storeStatus(err, "wallet")
	}
	if spec.mayUse != nil {
		if err := spec.mayUse(w); err != nil {
			return nil, err
		}
	}
	var clients, holders []string
	for _, h := range w.Holders {
		switch h.Kind {
		case store.HolderClient:
			clients = append(clients, h.PartyID)
		case store.HolderServer:
			holders = append(holders, h.PartyID)
		default:
			return nil, status.Error(codes.FailedPrecondition, "an account wallet is refreshed through the account API")
		}
	}
	if len(clients) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "not a co-managed wallet: no client holds a share")
	}
	if !slices.Equal(slices.Sorted(slices.Values(spec.clients)), slices.Sorted(slices.Values(clients))) {
		return nil, status.Errorf(codes.InvalidArgument, "a reshare runs with every client holder of the wallet (%s)", strings.Join(clients, ", "))
	}
	cc, err := w.ChainCodeOrLegacy()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	signers, n, most := cmp.Or(spec.signers, w.SignersNeeded), cmp.Or(spec.n, len(w.Holders)), cmp.Or(spec.maxParties, store.MaxHolders)
	switch {
	case n < 2 || n > most:
		return nil, status.Errorf(codes.InvalidArgument, "parties must be 2..%d", most)
	case signers < 2 || signers > n:
		return nil, status.Errorf(codes.InvalidArgument, "signers_needed must be 2..%d", n)
	case len(clients) >= signers:
		// Every holder would refuse it (party.mayHandOver).
		return nil, status.Errorf(codes.InvalidArgument, "with %d signers needed the client alone could sign: server parties must be needed", signers)
	case !w.Recovery.IsZero() && n-len(clients) < signers:
		// The client would refuse it (party.ClientReshare).
		return nil, status.Errorf(codes.InvalidArgument, "%d server holders for %d signers needed: the wallet's recovery policy could never be used", n-len(clients), signers)
	}
	need := w.SignersNeeded - len(clients) // old committee's server members
	keep := min(len(holders), n-len(clients))
	extra := n - len(clients) - keep
	within := c.admitWithin(spec.within)
	loaded, err := c.pool.pick(max(need, keep), pickRule{among: holders, restrict: true, kind: store.SessionReshare, within: within})
	if err != nil {
		return nil, c.pickRefused(store.SessionReshare, err, "not enough healthy server holders of this wallet")
	}
	if extra > 0 {
		added, err := c.pool.pick(extra, pickRule{exclude: append(slices.Clone(holders), clients...), kind: store.SessionReshare, within: within})
		if err != nil {
			c.pool.release(loaded, store.SessionReshare)
			return nil, c.pickRefused(store.SessionReshare, err, "not enough healthy server parties to add to the wallet")
		}
		loaded = append(loaded, added...)
	}
	// loaded: the kept holders, least loaded first (the old committee's
	// servers are among the kept ones), then the added parties.
	oldServers, newServers := slices.Clone(loaded[:need]), append(slices.Clone(loaded[:keep]), loaded[max(need, keep):]...)
	// Every other holder the new committee drops joins the old committee
	// if it is healthy, so that it hears of the new epoch and deletes its
	// share (a share of a superseded epoch kept anywhere keeps that epoch
	// able to sign); one that is down or busy keeps it (docs/lifecycle.md).
	// Every old member must take part, so a dropped holder could fail the
	// session that drops it, again and again: once a session that seated
	// dropped holders has failed in a way one of them may have caused
	// (abortReshare), the wallet's next ones, for an hour, go without
	// them. A failure blamed on someone else (a client that gave up, a
	// kept holder) leaves them seated: each reshare without them leaves
	// their old shares in place.
	var retirees []string
	if until, ok := c.noRetire.Load(w.ID); !ok || time.Now().After(until.(time.Time)) {
		for _, h := range holders {
			if slices.Contains(loaded, h) {
				continue
			}
			if got, err := c.pool.pick(1, pickRule{among: []string{h}, restrict: true, kind: store.SessionReshare, within: within}); err == nil {
				loaded = append(loaded, got...)
				retirees = append(retirees, got...)
			}
		}
	}
	oldServers = append(oldServers, retirees...)
	s := c.newSession(store.SessionReshare, w.ID)
	s.wallet, s.signers, s.userID, s.ownerUser = w, signers, w.UserID, w.OwnerUser
	to := &store.Committee{SignersNeeded: signers}
	for _, p := range clients {
		s.add(p, store.HolderClient)
		to.Holders = append(to.Holders, store.Holder{PartyID: p, Kind: store.HolderClient})
	}
	for _, p := range loaded {
		s.add(p, store.HolderServer)
	}
	for _, p := range newServers {
		to.Holders = append(to.Holders, store.Holder{PartyID: p, Kind: store.HolderServer})
	}
	s.servers, s.loaded, s.retirees = slices.Clone(loaded), loaded, retirees
	s.reshare = &identity.Reshare{Epoch: w.Epoch + 1, OldThreshold: w.SignersNeeded, Old: slices.Sorted(slices.Values(append(slices.Clone(clients), oldServers...))),
		New: slices.Sorted(slices.Values(append(slices.Clone(clients), newServers...))), PublicKey: bytes.Clone(w.PublicKey), ChainCode: bytes.Clone(cc), ClientRequired: true, Recovery: w.Recovery}
	if signers != w.SignersNeeded || !slices.Equal(s.reshare.New, slices.Sorted(slices.Values(append(slices.Clone(clients), holders...)))) {
		s.committee = to
	}
	return c.beginReshare(ctx, s, clients, "a reshare of this wallet is under way", "wallet")
}

// createRecovery starts the recovery of a co-managed wallet whose client
// is lost: its server holders (every one, in both committees) hand the
// key to themselves and the new client the authorization names, with the
// same threshold. The coordinator checks the authorization only to spare the
// parties a session that would fail: each server holder checks it
// against its own record (party.Reshare), and the new client's join
// statement must carry the authorized identity key.
func (c *Coordinator) createRecovery(ctx context.Context, wire []byte, mayUse func(*store.Wallet) error, within time.Duration) (*created, error) {
	a, err := recovery.Decode(wire)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "authorization: %v", err)
	}
	w, err := c.store.GetWallet(ctx, a.WalletID)
	if err != nil {
		return nil, storeStatus(err, "wallet")
	}
	if mayUse != nil {
		if err := mayUse(w); err != nil {
			return nil, err
		}
	}
	var servers []string
	clients := 0
	for _, h := range w.Holders {
		switch h.Kind {
		case store.HolderServer:
			servers = append(servers, h.PartyID)
		case store.HolderClient:
			clients++
		}
		if h.PartyID == a.PartyID {
			return nil, status.Errorf(codes.InvalidArgument, "%q already holds a share of this wallet", a.PartyID)
		}
	}
	switch {
	case clients == 0:
		return nil, status.Error(codes.FailedPrecondition, "not a co-managed wallet: there is no client to recover")
	case w.Recovery.IsZero():
		return nil, status.Error(codes.FailedPrecondition, "the wallet's policy allows no recovery")
	case len(servers) < w.SignersNeeded:
		return nil, status.Errorf(codes.FailedPrecondition, "the wallet's %d server holders cannot hand it over: it needs %d signers", len(servers), w.SignersNeeded)
	}
	if err := a.Check(w.ID, w.Epoch, time.Now()); err != nil {
		code := codes.PermissionDenied // forged, or for another wallet
		if errors.Is(err, recovery.ErrExpired) || errors.Is(err, recovery.ErrStale) {
			code = codes.FailedPrecondition
		}
		return nil, status.Errorf(code, "authorization: %v", err)
	}
	if a.Kind == recovery.KindKit && !w.Recovery.Kit.Equal(a.Signer) || a.Kind == recovery.KindBackend && !w.Recovery.Backend {
		return nil, status.Errorf(codes.PermissionDenied, "the wallet's policy does not accept a %s authorization from this key", a.Kind)
	}
	if err := checkParties([]string{a.PartyID}); err != nil {
		return nil, err
	}
	cc, err := w.ChainCodeOrLegacy()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	loaded, err := c.pool.pick(len(servers), pickRule{among: servers, restrict: true, kind: store.SessionReshare, within: c.admitWithin(within)})
	if err != nil {
		return nil, c.pickRefused(store.SessionReshare, err, "a recovery needs every server holder of the wallet")
	}
	s := c.newSession(store.SessionReshare, w.ID)
	s.wallet, s.signers, s.userID, s.ownerUser, s.authorization = w, w.SignersNeeded, w.UserID, w.OwnerUser, a
	s.add(a.PartyID, store.HolderClient)
	to := &store.Committee{SignersNeeded: w.SignersNeeded, Holders: []store.Holder{{PartyID: a.PartyID, Kind: store.HolderClient}}}
	for _, p := range loaded {
		s.add(p, store.HolderServer)
		to.Holders = append(to.Holders, store.Holder{PartyID: p, Kind: store.HolderServer})
	}
	s.servers, s.loaded, s.committee = slices.Clone(loaded), loaded, to
	// Every server holder is in both committees: one in the new only would
	// have no record to check the authorization against.
	s.reshare = &identity.Reshare{Epoch: w.Epoch + 1, OldThreshold: w.SignersNeeded, Old: slices.Sorted(slices.Values(slices.Clone(loaded))),
		New: slices.Sorted(slices.Values(append(slices.Clone(loaded), a.PartyID))), PublicKey: bytes.Clone(w.PublicKey), ChainCode: bytes.Clone(cc),
		ClientRequired: true, Recovery: w.Recovery}
	return c.beginReshare(ctx, s, []string{a.PartyID}, "a reshare of this wallet is under way", "wallet")
}

// pickRefused is the answer to a session the pool cannot staff: an
// overload as it is (the caller may retry later), else Unavailable
// saying what was missing.
func (c *Coordinator) pickRefused(kind store.SessionKind, err error, what string) error {
	c.cfg.Metrics.SessionRefused(string(kind), refusalReason(err))
	if _, ok := Overloaded(err); ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "%s: %s", what, status.Convert(err).Message())
}

// beginReshare claims the wallet's pending slot for reshare session s,
// built from s.wallet with its parties in s.loaded, then starts it. A
// claim held by another reshare is AlreadyExists (busy); the parties go
// back to the pool, and the slot is freed, when the session does not
// start.
func (c *Coordinator) beginReshare(ctx context.Context, s *session, clients []string, busy, noun string) (*created, error) {
	w, now := s.wallet, time.Now()
	if err := c.store.BeginReshare(ctx, w.ID, w.Epoch, s.id, now, now.Add(-c.cfg.maxLife())); err != nil {
		c.pool.release(s.loaded, store.SessionReshare)
		if errors.Is(err, store.ErrReshareConflict) {
			return nil, status.Error(codes.AlreadyExists, busy)
		}
		return nil, storeStatus(err, noun)
	}
	cr, err := c.start(ctx, s, clients)
	if err != nil && !s.registered {
		c.abortReshare(s, "", nil)
	}
	return cr, err
}

// abortReshare frees the wallet's pending slot of a reshare that ended
// without activating its epoch (failed with code, blaming culprits). It
// is a no-op if the slot is no longer this session's, or if the
// activation did commit. A failure that a dropped holder it seated may
// have caused — one names it, it reported the failure itself, or nobody
// is named and it is not a client's cancel — leaves the wallet's
// dropped holders out of its reshares for an hour.
func (c *Coordinator) abortReshare(s *session, code string, culprits []string) {
	if s.kind != store.SessionReshare {
		return
	}
	blamed := s.retireeFailed || slices.ContainsFunc(culprits, func(p string) bool { return slices.Contains(s.retirees, p) }) ||
		(len(culprits) == 0 && code != "" && code != string(party.CodeCanceled) && code != string(party.CodeRunComplete))
	if len(s.retirees) > 0 && blamed {
		c.noRetire.Store(s.walletID, time.Now().Add(time.Hour))
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.store.AbortReshare(ctx, s.walletID, s.id); err != nil {
			c.log.Warn("free the wallet's reshare slot", "session", s.id, "wallet", s.walletID, "err", err)
		}
	}()
}

// reportReshared takes one party's reshare result: the wallet's public
// key, the new epoch, and whether it stored a new share (every new member
// must; a member of the old committee alone must not). When every party
// has reported, the new epoch is activated.
func (c *Coordinator) reportReshared(ctx context.Context, s *session, p string, r *tsskitv1.ReportResultRequest_Reshared, req *tsskitv1.ReportResultRequest) error {
	if s.kind != store.SessionReshare {
		return status.Error(codes.InvalidArgument, "only a reshare session reports a reshare result")
	}
	inNew := slices.Contains(s.reshare.New, p)
	switch {
	case !bytes.Equal(r.PublicKey, s.wallet.PublicKey):
		c.failLocked(s, "verify", fmt.Sprintf("%s reports new shares of another key than the wallet's", p), []string{p})
		return status.Error(codes.InvalidArgument, "public_key is not the wallet's")
	case int(r.Epoch) != s.reshare.Epoch:
		return status.Errorf(codes.InvalidArgument, "epoch %d; this reshare makes epoch %d", r.Epoch, s.reshare.Epoch)
	case r.Stored != inNew:
		return status.Errorf(codes.InvalidArgument, "stored is %t; party %s is in the new committee: %t", r.Stored, p, inNew)
	case inNew && !s.storedAckValid(p, r.StoredAck):
		c.failLocked(s, "verify", fmt.Sprintf("%s's stored acknowledgement does not verify under its identity key", p), []string{p})
		return status.Error(codes.InvalidArgument, "stored_ack does not verify")
	}
	if _, ok := s.pubkeys[p]; ok {
		return nil
	}
	s.pubkeys[p] = bytes.Clone(r.PublicKey)
	if inNew {
		if s.acks == nil {
			s.acks = map[string][]byte{}
		}
		s.acks[p] = bytes.Clone(r.StoredAck)
	}
	s.moved = time.Now()
	c.learnCost(s, p, req)
	if len(s.pubkeys) < len(s.parties) {
		// The acknowledgements so far are written with the session's
		// failure, if it fails (persist: store.Session.Run), and every
		// holder that stored presents its own again in a later run's
		// join (earlierRunLocked).
		return nil
	}
	c.completeReshareLocked(ctx, s)
	return nil
}

// completeReshareLocked activates the new epoch in the store, then tells
// every party (Completed carries the epoch): each new holder then makes
// its pending share its share and deletes the old one. If the store write
// fails the session fails, and the current epoch keeps signing.
func (c *Coordinator) completeReshareLocked(ctx context.Context, s *session) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Activation is idempotent for this session: a write whose answer was
	// lost (the commit may have happened) is tried again rather than
	// failing a session whose epoch is active.
	var err error
	for try := 0; try < 3; try++ {
		if err = c.store.ActivateEpoch(wctx, s.walletID, s.id, s.reshare.Epoch, s.committee, s.acks); err == nil || errors.Is(err, store.ErrReshareConflict) || wctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil && !errors.Is(err, store.ErrReshareConflict) {
		// The answer may be lost with the commit done: the store says.
		if w, gerr := c.store.GetWallet(wctx, s.walletID); gerr == nil && w.Epoch == s.reshare.Epoch && w.EpochSession == s.id {
			err = nil
		}
	}
	if err != nil {
		c.failLocked(s, "store", "activate the new epoch: "+err.Error(), nil)
		return
	}
	w := s.wallet
	s.state = store.StateCompleted
	c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Completed_{Completed: &tsskitv1.SessionEvent_Completed{
		WalletId: w.ID, PublicKey: w.PublicKey, Address: w.Address, Epoch: uint32(s.reshare.Epoch), StoredAcks: s.acks,
	}}})
	c.finishLocked(s)
	c.persist(s, &store.Session{StoredAcks: s.acks})
	c.log.Info("session completed", "session", s.id, "kind", s.kind, "wallet", w.ID, "epoch", s.reshare.Epoch)
	c.auditFinish(s.id, s.kind, s.walletID, s.userID, store.StateCompleted, "")
}

// storedAckValid checks p's stored acknowledgement under the identity key
// of its join statement (the key every new share records for it). The
// coordinator's check only spares the parties a session that would end
// unactivated: each server party checks every acknowledgement itself.
func (s *session) storedAckValid(p string, ack []byte) bool {
	k := s.keys[p]
	if k == nil {
		return false
	}
	st, err := (&identity.Entry{Statement: k.Statement, Signature: k.StatementSignature, Chain: k.Certificates}).Open()
	if err != nil {
		return false
	}
	return identity.VerifyStored(st.Identity, ack, s.id, s.walletID, p, s.reshare.Epoch, s.wallet.PublicKey)
}

package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// report takes one party's result. A keygen completes when every party has
// reported the same public key; a signing when every signer has reported a
// signature that verifies under the wallet key. Anything else fails the
// session, naming the party.
func (c *Coordinator) report(ctx context.Context, req *tsskitv1.ReportResultRequest) error {
	s, err := c.session(req.SessionId)
	if err != nil {
		return err
	}
	p := req.PartyId
	c.mu.Lock()
	if s.kinds[p] == "" {
		c.mu.Unlock()
		return status.Error(codes.PermissionDenied, "not a party of this session")
	}
	_, isFailure := req.Result.(*tsskitv1.ReportResultRequest_Failure_)
	if s.state != store.StateRunning && (!isFailure || s.state.Final()) {
		st := s.state
		c.mu.Unlock()
		return status.Errorf(codes.FailedPrecondition, "session is %s", st)
	}
	switch r := req.Result.(type) {
	case *tsskitv1.ReportResultRequest_Failure_:
		// A party may give up before the session is ready (it cannot take
		// part, e.g. it lacks the share) as well as during it.
		f := r.Failure
		culprits := slices.DeleteFunc(slices.Clone(f.Culprits), func(x string) bool { return s.kinds[x] == "" })
		if slices.Contains(s.retirees, p) {
			// A dropped holder that gives up is to blame for the
			// shrink's failure, whomever it names (abortReshare).
			s.retireeFailed = true
		}
		if s.state == store.StateWaiting {
			// Before the protocol runs no party can have seen another
			// misbehave: a refusal blames only the party refusing.
			culprits = []string{p}
		}
		c.mu.Unlock()
		code := f.Code
		if code == "" {
			code = "error"
		}
		if code == string(party.CodeStaleEpoch) {
			// A party speaks only for its own share's epoch: a server
			// party must not make a client believe its share is stale
			// (and recover, or import a backup, on that word).
			culprits = []string{p}
		}
		c.fail(s, code, fmt.Sprintf("%s: %s", p, truncate(f.Reason, 500)), culprits)
		return nil

	case *tsskitv1.ReportResultRequest_PublicKey:
		defer c.mu.Unlock()
		if s.kind != store.SessionKeygen {
			return status.Error(codes.InvalidArgument, "only a keygen session reports a public key alone")
		}
		if _, err := secp256k1.ParsePubKey(r.PublicKey); err != nil || len(r.PublicKey) != 33 {
			return status.Error(codes.InvalidArgument, "public_key must be a 33-byte compressed secp256k1 point")
		}
		// None: a party older than chain codes (the legacy rule); the
		// keygen completes only if every party says the same.
		if len(req.ChainCode) != hd.ChainCodeSize && len(req.ChainCode) != 0 {
			return status.Errorf(codes.InvalidArgument, "chain_code must be %d bytes", hd.ChainCodeSize)
		}
		if old, ok := s.pubkeys[p]; ok {
			if bytes.Equal(old, r.PublicKey) && bytes.Equal(s.chainCodes[p], req.ChainCode) {
				return nil
			}
			return status.Error(codes.AlreadyExists, "already reported another key")
		}
		s.pubkeys[p] = slices.Clone(r.PublicKey)
		if s.chainCodes == nil {
			s.chainCodes = map[string][]byte{}
		}
		s.chainCodes[p] = slices.Clone(req.ChainCode)
		s.moved = time.Now()
		c.learnCost(s, p, req)
		if len(s.pubkeys) < len(s.parties) {
			return nil
		}
		c.completeKeygenLocked(ctx, s)
		return nil

	case *tsskitv1.ReportResultRequest_Reshared_:
		defer c.mu.Unlock()
		if r.Reshared == nil {
			return status.Error(codes.InvalidArgument, "no reshare result")
		}
		return c.reportReshared(ctx, s, p, r.Reshared, req)

	case *tsskitv1.ReportResultRequest_Signature:
		defer c.mu.Unlock()
		if s.kind != store.SessionSign {
			return status.Error(codes.InvalidArgument, "only a signing session reports a signature")
		}
		if err := verify(s.signingKey, s.digest, r.Signature); err != nil {
			c.failLocked(s, "verify", fmt.Sprintf("signature reported by %s does not verify: %v", p, err), []string{p})
			return status.Errorf(codes.InvalidArgument, "signature does not verify: %v", err)
		}
		if _, ok := s.sigs[p]; ok {
			return nil
		}
		s.sigs[p] = r.Signature
		s.moved = time.Now()
		c.learnCost(s, p, req)
		if len(s.sigs) < len(s.parties) {
			return nil
		}
		// Every signer's signature verified; tss-lib gives them all the same
		// one, and any of them is as good as another.
		sig := s.sigs[s.parties[0]]
		s.state = store.StateCompleted
		done := &tsskitv1.SessionEvent_Completed{WalletId: s.walletID, PublicKey: s.wallet.PublicKey, Address: s.wallet.Address, Signature: sig}
		if len(s.path) > 0 {
			done.SigningPublicKey, done.SigningAddress = s.signingKey, share.Address(s.signingKey)
		}
		c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Completed_{Completed: done}})
		c.finishLocked(s)
		c.persist(s, &store.Session{Signature: append(slices.Clone(sig.R), sig.S...)})
		c.log.Info("session completed", "session", s.id, "kind", s.kind, "wallet", s.walletID)
		c.auditFinish(s.id, s.kind, s.walletID, s.userID, store.StateCompleted, "")
		return nil
	}
	c.mu.Unlock()
	return status.Error(codes.InvalidArgument, "no result")
}

// learnCost feeds a server party's first accepted result of a session
// (its report of the session's cost) to admission control's cost model:
// once per party and session, never from a refused or repeated report.
func (c *Coordinator) learnCost(s *session, p string, req *tsskitv1.ReportResultRequest) {
	if s.kinds[p] == store.HolderServer {
		c.pool.costs.observe(s.kind, time.Duration(req.ComputeMs)*time.Millisecond, time.Duration(req.PreparamsMs)*time.Millisecond)
	}
}

func (c *Coordinator) completeKeygenLocked(ctx context.Context, s *session) {
	first := s.pubkeys[s.parties[0]]
	cc := s.chainCodes[s.parties[0]]
	var without []string
	for _, p := range s.parties {
		if !bytes.Equal(s.pubkeys[p], first) {
			c.failLocked(s, "disagreement", "parties reported different public keys", nil)
			return
		}
		if len(s.chainCodes[p]) == 0 {
			without = append(without, p)
		}
	}
	// Every party older than chain codes: the wallet uses the legacy rule
	// (cc is nil), as every holder does. Some of them: the holders would
	// derive different child keys, so no wallet is made.
	if len(without) > 0 && len(without) < len(s.parties) {
		c.failLocked(s, "outdated", fmt.Sprintf("%s reported no chain code (older than chain codes): upgrade it", strings.Join(without, ", ")), without)
		return
	}
	for _, p := range s.parties {
		if !bytes.Equal(s.chainCodes[p], cc) {
			c.failLocked(s, "disagreement", "parties reported different chain codes", nil)
			return
		}
	}
	w := &store.Wallet{
		ID: s.walletID, Name: s.name, UserID: s.userID, SignersNeeded: s.signers, OwnerUser: s.ownerUser,
		PublicKey: first, Address: share.Address(first), CreatedAt: time.Now(), ChainCode: cc, Recovery: s.recovery,
	}
	for _, p := range s.parties {
		w.Holders = append(w.Holders, store.Holder{PartyID: p, Kind: s.kinds[p]})
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.store.CreateWallet(wctx, w); err != nil {
		c.failLocked(s, "store", "record wallet: "+err.Error(), nil)
		return
	}
	s.state = store.StateCompleted
	c.emitLocked(s, &tsskitv1.SessionEvent{Event: &tsskitv1.SessionEvent_Completed_{Completed: &tsskitv1.SessionEvent_Completed{
		WalletId: w.ID, PublicKey: w.PublicKey, Address: w.Address,
	}}})
	c.finishLocked(s)
	c.persist(s, nil)
	c.log.Info("session completed", "session", s.id, "kind", s.kind, "wallet", w.ID, "address", w.Address)
	c.auditFinish(s.id, s.kind, s.walletID, s.userID, store.StateCompleted, "")
}

// failLocked is fail with c.mu held.
func (c *Coordinator) failLocked(s *session, code, reason string, culprits []string) {
	c.mu.Unlock()
	c.fail(s, code, reason, culprits)
	c.mu.Lock()
}

// verify checks an ECDSA signature (low S, DER consistent) over digest.
func verify(pubKey, digest []byte, sig *tsskitv1.Signature) error {
	if sig == nil || len(sig.R) != 32 || len(sig.S) != 32 {
		return fmt.Errorf("r and s must be 32 bytes")
	}
	pub, err := secp256k1.ParsePubKey(pubKey)
	if err != nil {
		return err
	}
	var r, sc secp256k1.ModNScalar
	if r.SetByteSlice(sig.R) || sc.SetByteSlice(sig.S) || r.IsZero() || sc.IsZero() {
		return fmt.Errorf("r or s out of range")
	}
	if sc.IsOverHalfOrder() {
		return fmt.Errorf("s is not low")
	}
	e := ecdsa.NewSignature(&r, &sc)
	if !e.Verify(digest, pub) {
		return fmt.Errorf("bad signature")
	}
	if len(sig.Der) > 0 && !bytes.Equal(sig.Der, e.Serialize()) {
		return fmt.Errorf("der does not encode (r, s)")
	}
	if sig.V > 3 {
		return fmt.Errorf("recovery id %d", sig.V)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

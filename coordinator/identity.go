package coordinator

import (
	"bytes"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/party/identity"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// admit checks a server party's registration: a certificate chain from a
// pinned root for its party id, not revoked, and a proof signed by the
// certified key that answers ch. It returns the identity key.
func (c *Coordinator) admit(req *tsskitv1.RegisterRequest, ch []byte) (identity.PublicKey, error) {
	chain, err := identity.DecodeChain(req.Certificates)
	if err != nil {
		return identity.PublicKey{}, err
	}
	return identity.VerifyRegistration(c.cfg.Trust, chain, req.PartyId, ch, req.Proof, req.ProofSignature, time.Now())
}

// checkStatement refuses a join whose statement is not well formed, not
// signed by its identity key, or not about this session, party and kind
// as the coordinator set it up. It spares honest parties a session that
// would fail anyway; it decides nothing for them — every party checks
// every statement itself.
func (s *session) checkStatement(k *tsskitv1.PartyKeys) error {
	st, err := (&identity.Entry{Statement: k.Statement, Signature: k.StatementSignature, Chain: k.Certificates}).Open()
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "join statement: %v", err)
	}
	bad := func(format string, a ...any) error {
		return status.Errorf(codes.InvalidArgument, "join statement: "+format, a...)
	}
	switch {
	case st.PartyID != k.PartyId:
		return bad("is party %q's", st.PartyID)
	case st.SessionID != s.id:
		return bad("is for session %q", st.SessionID)
	case st.WalletID != s.walletID:
		return bad("is for wallet %q", st.WalletID)
	case !bytes.Equal(st.X25519[:], k.X25519) || !bytes.Equal(st.Ed25519[:], k.Ed25519):
		return bad("binds other session keys than the ones published")
	case !st.Reshare.Equal(s.reshare):
		return bad("describes another reshare than this session's")
	case s.kind == store.SessionSign && st.Epoch != s.epoch:
		return status.Errorf(codes.FailedPrecondition, "stale_epoch: the party signs with a share of epoch %d; the wallet's active epoch is %d", st.Epoch, s.epoch)
	case (st.Kind == identity.KindServer) != (s.kinds[k.PartyId] == store.HolderServer):
		// Client and user are told apart by the parties' own records (a
		// record made before identities existed does not know which).
		return bad("says %s; the session has %q as a %s", st.Kind, k.PartyId, s.kinds[k.PartyId])
	case s.recoverySet && !st.Recovery.IsZero() && !st.Recovery.Equal(s.recovery):
		return bad("sets another recovery policy than the session's other client")
	}
	if !st.Recovery.IsZero() {
		// The wallet's record keeps the policy its client set (every
		// holder records it from the same statement), to relay it into
		// the wallet's reshares.
		s.recovery, s.recoverySet = st.Recovery, true
	}
	return nil
}

// checkAbandoned refuses a join whose abandoned-run statements are not
// for a reshare, or not about this wallet's new epoch, or another party's
// of this session (which speaks for itself). A party not in this session
// may be named: a recovering client's earlier attempt, whose identity the
// retry does not keep, signed its statement before it gave up, and the
// retry carries it. Their signatures are the holders' to check, under
// the keys their own share records name: the coordinator relays them and
// cannot make one.
func (s *session) checkAbandoned(k *tsskitv1.PartyKeys) error {
	if len(k.Abandoned) == 0 {
		return nil
	}
	bad := func(format string, a ...any) error {
		return status.Errorf(codes.InvalidArgument, "abandoned-run statements: "+format, a...)
	}
	switch {
	case s.reshare == nil:
		return bad("only a reshare's join carries them")
	case len(k.Abandoned) > identity.MaxAbandoned:
		return bad("%d; at most %d", len(k.Abandoned), identity.MaxAbandoned)
	}
	for _, b := range k.Abandoned {
		a, err := identity.ParseAbandoned(b)
		switch {
		case err != nil:
			return bad("%v", err)
		case a.PartyID != k.PartyId && s.kinds[a.PartyID] != "" || a.WalletID != s.walletID || a.Epoch != s.reshare.Epoch:
			return bad("one is party %q's about epoch %d of wallet %q", a.PartyID, a.Epoch, a.WalletID)
		case a.SessionID == s.id:
			return bad("one abandons this session")
		}
	}
	return nil
}

package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/hd"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// coordService implements tsskit.v1.CoordinatorService.
type coordService struct {
	tsskitv1.UnimplementedCoordinatorServiceServer
	c *Coordinator
}

// CreateKeygenSession and CreateSignSession write audit records (audit.go):
// keygen.requested / sign.requested for a created session, request.refused
// for a refusal past authentication (a call without a valid token is
// refused by the interceptor before it gets here).
func (s *coordService) CreateKeygenSession(ctx context.Context, req *tsskitv1.CreateKeygenSessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	cl, err := callerFor(ctx, auth.OpCreateWallet)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "keygen", err)
		return nil, err
	}
	spec := keygenSpec{name: req.Name, userID: req.UserId, signers: int(req.SignersNeeded), n: int(req.Parties), clients: req.ClientPartyIds}
	switch {
	case req.Parties > 16 || req.SignersNeeded > 16:
		err = status.Error(codes.InvalidArgument, "at most 16 parties")
	case !cl.admin() && req.UserId != "":
		// user_id names an account of the account API, the API key's.
		err = status.Error(codes.PermissionDenied, "a user token makes co-managed wallets; user_id is for the account API")
	case !cl.admin() && len(req.ClientPartyIds) == 0:
		err = status.Error(codes.InvalidArgument, "a user's wallet is co-managed: name the client party that will hold a share")
	case !cl.admin() && req.Parties > MaxUserParties:
		err = status.Errorf(codes.InvalidArgument, "a user token makes wallets of at most %d parties", MaxUserParties)
	}
	if err == nil {
		if !cl.admin() {
			spec.ownerUser = cl.user()
		}
		err = s.c.takeQuota(cl, store.SessionKeygen, int(req.Parties)-len(req.ClientPartyIds))
	}
	if err != nil {
		s.c.auditGRPCRefused(ctx, "keygen", err)
		return nil, err
	}
	cr, err := s.c.createKeygen(ctx, spec)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "keygen", err)
		return nil, err
	}
	attrs := append(grpcWho(ctx),
		slog.String("user_id", req.UserId), slog.String("wallet_id", cr.s.walletID), slog.String("session_id", cr.s.id),
		slog.Int("parties", int(req.Parties)), slog.Int("signers", int(req.SignersNeeded)))
	if len(req.ClientPartyIds) > 0 {
		attrs = append(attrs, slog.Any("clients", req.ClientPartyIds))
	}
	s.c.audit(ctx, auditKeygenRequested, attrs...)
	return createdProto(cr), nil
}

func (s *coordService) CreateSignSession(ctx context.Context, req *tsskitv1.CreateSignSessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	cl, err := callerFor(ctx, auth.OpSign)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "sign", err)
		return nil, err
	}
	// The quota is spent once the wallet is known to be the caller's:
	// a seat per server signer it needs.
	mayUse := func(w *store.Wallet) error {
		if err := cl.wallet(w); err != nil {
			return err
		}
		return s.c.takeQuota(cl, store.SessionSign, w.SignersNeeded-len(req.ClientPartyIds))
	}
	cr, err := s.c.createSign(ctx, signSpec{walletID: req.WalletId, digest: req.Digest, path: req.DerivationPath, clients: req.ClientPartyIds, servers: req.ServerPartyIds,
		mayUse: mayUse})
	if err != nil {
		s.c.auditGRPCRefused(ctx, "sign", err)
		return nil, err
	}
	userID := ""
	if cr.s.wallet != nil {
		userID = cr.s.wallet.UserID
	}
	attrs := append(grpcWho(ctx),
		slog.String("user_id", userID), slog.String("wallet_id", cr.s.walletID), slog.String("session_id", cr.s.id),
		slog.String("digest", hex.EncodeToString(req.Digest)))
	if len(req.ClientPartyIds) > 0 {
		attrs = append(attrs, slog.Any("clients", req.ClientPartyIds))
	}
	s.c.audit(ctx, auditSignRequested, attrs...)
	return createdProto(cr), nil
}

// CreateReshareSession starts a reshare of a co-managed wallet by its
// client (createClientReshare): a refresh, or a new threshold and size.
// It takes a token that may create wallets, and a user token only for
// its user's wallets.
func (s *coordService) CreateReshareSession(ctx context.Context, req *tsskitv1.CreateReshareSessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	cl, err := callerFor(ctx, auth.OpCreateWallet)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "reshare", err)
		return nil, err
	}
	if req.Parties > store.MaxHolders || req.SignersNeeded > store.MaxHolders {
		err := status.Errorf(codes.InvalidArgument, "at most %d parties", store.MaxHolders)
		s.c.auditGRPCRefused(ctx, "reshare", err)
		return nil, err
	}
	spec := clientReshareSpec{walletID: req.WalletId, clients: req.ClientPartyIds, signers: int(req.SignersNeeded), n: int(req.Parties)}
	if !cl.admin() {
		spec.maxParties = MaxUserParties
	}
	spec.mayUse = func(w *store.Wallet) error {
		if err := cl.wallet(w); err != nil {
			return err
		}
		return s.c.takeQuota(cl, store.SessionReshare, max(len(w.Holders), int(req.Parties))-len(req.ClientPartyIds))
	}
	cr, err := s.c.createClientReshare(ctx, spec)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "reshare", err)
		return nil, err
	}
	r := cr.s.reshare
	s.c.audit(ctx, auditReshareRequested, append(grpcWho(ctx),
		slog.String("user_id", cr.s.userID), slog.String("wallet_id", cr.s.walletID), slog.String("session_id", cr.s.id),
		slog.Int("epoch", r.Epoch), slog.Any("old", r.Old), slog.Any("new", r.New), slog.Int("signers", cr.s.signers))...)
	return createdProto(cr), nil
}

// CreateRecoverySession starts the recovery of a co-managed wallet
// (createRecovery). It takes a token that may create wallets, and a user
// token only for its user's wallets.
func (s *coordService) CreateRecoverySession(ctx context.Context, req *tsskitv1.CreateRecoverySessionRequest) (*tsskitv1.CreateSessionResponse, error) {
	cl, err := callerFor(ctx, auth.OpCreateWallet)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "recovery", err)
		return nil, err
	}
	mayUse := func(w *store.Wallet) error {
		if err := cl.wallet(w); err != nil {
			return err
		}
		if req.WalletId != "" && req.WalletId != w.ID {
			return status.Error(codes.InvalidArgument, "the authorization is for another wallet than wallet_id")
		}
		return s.c.takeQuota(cl, store.SessionReshare, len(w.Holders))
	}
	cr, err := s.c.createRecovery(ctx, req.Authorization, mayUse, 0)
	if err != nil {
		s.c.auditGRPCRefused(ctx, "recovery", err)
		return nil, err
	}
	r, a := cr.s.reshare, cr.s.authorization
	s.c.audit(ctx, auditRecoveryRequested, append(grpcWho(ctx),
		slog.String("user_id", cr.s.userID), slog.String("wallet_id", cr.s.walletID), slog.String("session_id", cr.s.id),
		slog.Int("epoch", r.Epoch), slog.String("authorization", a.Kind.String()), slog.String("new_client", a.PartyID),
		slog.String("new_identity", a.Identity.Short()), slog.Any("new", r.New))...)
	return createdProto(cr), nil
}

func createdProto(cr *created) *tsskitv1.CreateSessionResponse {
	r := &tsskitv1.CreateSessionResponse{
		SessionId: cr.s.id, Kind: protoKind(cr.s.kind), WalletId: cr.s.walletID,
		Parties: cr.s.parties, ExpiresAtUnixMs: cr.s.expires.UnixMilli(), SignersNeeded: uint32(cr.s.signers), Reshare: participant.ReshareProto(cr.s.reshare, cr.s.authorization),
	}
	for _, p := range cr.s.parties {
		if tok, ok := cr.tokens[p]; ok {
			r.Tokens = append(r.Tokens, &tsskitv1.PartyToken{PartyId: p, Token: tok})
		}
	}
	return r
}

func (s *coordService) GetWallet(ctx context.Context, req *tsskitv1.GetWalletRequest) (*tsskitv1.GetWalletResponse, error) {
	cl, err := callerFor(ctx, "")
	if err != nil {
		return nil, err
	}
	w, err := s.c.store.GetWallet(ctx, req.WalletId)
	if err != nil {
		return nil, storeStatus(err, "wallet")
	}
	if err := cl.wallet(w); err != nil {
		return nil, err
	}
	return &tsskitv1.GetWalletResponse{Wallet: walletProto(w)}, nil
}

func (s *coordService) ListWallets(ctx context.Context, req *tsskitv1.ListWalletsRequest) (*tsskitv1.ListWalletsResponse, error) {
	cl, err := callerFor(ctx, auth.OpListWallets)
	if err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	if size <= 0 || size > 1000 {
		size = 100
	}
	f := store.WalletFilter{UserID: req.UserId, Limit: size + 1, After: req.PageToken}
	if !cl.admin() {
		if req.UserId != "" {
			return nil, status.Error(codes.PermissionDenied, "a user token lists its own wallets; user_id is for admins")
		}
		f.OwnerUser = cl.user()
		// A page token is one of the caller's own wallets, or not found
		// (another's would tell that it exists, and where).
		if req.PageToken != "" {
			w, err := s.c.store.GetWallet(ctx, req.PageToken)
			if err != nil || w.OwnerUser != cl.user() {
				return nil, status.Error(codes.NotFound, "page token: no such wallet")
			}
		}
	}
	ws, err := s.c.store.ListWallets(ctx, f)
	if err != nil {
		return nil, storeStatus(err, "wallets")
	}
	resp := &tsskitv1.ListWalletsResponse{}
	if len(ws) > size {
		ws = ws[:size]
		resp.NextPageToken = ws[size-1].ID
	}
	for _, w := range ws {
		if cl.sees(w) { // a user token limited to some wallets sees only those
			resp.Wallets = append(resp.Wallets, walletProto(w))
		}
	}
	return resp, nil
}

func (s *coordService) GetSession(ctx context.Context, req *tsskitv1.GetSessionRequest) (*tsskitv1.GetSessionResponse, error) {
	cl, err := callerFor(ctx, "")
	if err != nil {
		return nil, err
	}
	rec, err := s.c.store.GetSession(ctx, req.SessionId)
	if err != nil {
		return nil, storeStatus(err, "session")
	}
	if !cl.seesSession(rec.OwnerUser, rec.WalletID, rec.Kind == store.SessionKeygen) {
		return nil, status.Error(codes.NotFound, "session not found")
	}
	out := &tsskitv1.Session{
		SessionId: rec.ID, Kind: protoKind(rec.Kind), WalletId: rec.WalletID, Parties: rec.Parties,
		State: protoState(rec.State), Reason: rec.Reason, Culprits: rec.Culprits, CreatedAtUnixMs: rec.CreatedAt.UnixMilli(),
		Code: rec.Code,
	}
	// A client that missed a reshare's Completed event reads its stored
	// acknowledgements here, and checks them itself before it activates.
	if rec.State == store.StateCompleted && len(rec.StoredAcks) > 0 {
		out.StoredAcks = rec.StoredAcks
	}
	if !rec.FinishedAt.IsZero() {
		out.FinishedAtUnixMs = rec.FinishedAt.UnixMilli()
	}
	return &tsskitv1.GetSessionResponse{Session: out}, nil
}

func (s *coordService) Join(ctx context.Context, req *tsskitv1.JoinRequest) (*tsskitv1.JoinResponse, error) {
	if req.Keys == nil {
		return nil, status.Error(codes.InvalidArgument, "no keys")
	}
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.Keys.PartyId); err != nil {
		return nil, err
	}
	if err := s.c.join(req.SessionId, req.Keys); err != nil {
		return nil, err
	}
	return &tsskitv1.JoinResponse{}, nil
}

func (s *coordService) ReportProgress(ctx context.Context, req *tsskitv1.ReportProgressRequest) (*tsskitv1.ReportProgressResponse, error) {
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.PartyId); err != nil {
		return nil, err
	}
	if err := s.c.progress(req.SessionId, req.PartyId, req.Round, req.Rounds, req.Queued); err != nil {
		return nil, err
	}
	return &tsskitv1.ReportProgressResponse{}, nil
}

func (s *coordService) ReportResult(ctx context.Context, req *tsskitv1.ReportResultRequest) (*tsskitv1.ReportResultResponse, error) {
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.PartyId); err != nil {
		return nil, err
	}
	if err := s.c.report(ctx, req); err != nil {
		return nil, err
	}
	return &tsskitv1.ReportResultResponse{}, nil
}

// watchClaims admits an admin token or a party token of the session.
func watchClaims(ctx context.Context, sessionID string) (*auth.Claims, error) {
	cl, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified token")
	}
	if cl.Require(auth.KindAdmin) != nil && (cl.Require(auth.KindParty) != nil || cl.Session != sessionID) {
		return nil, status.Error(codes.PermissionDenied, "token is for another session")
	}
	return cl, nil
}

// WatchSession takes an admin token or a party token of the session.
func (s *coordService) WatchSession(req *tsskitv1.WatchSessionRequest, stream grpc.ServerStreamingServer[tsskitv1.SessionEvent]) error {
	ctx := stream.Context()
	if _, err := watchClaims(ctx, req.SessionId); err != nil {
		return err
	}
	sess, err := s.c.session(req.SessionId)
	if err != nil {
		return err
	}
	for next := 0; ; {
		s.c.mu.Lock()
		evs := sess.events[next:]
		wake := sess.wake
		final := sess.state.Final()
		s.c.mu.Unlock()
		for _, ev := range evs {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		next += len(evs)
		if final {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.c.stopping:
			// Stop fails live sessions first; send that, then end.
			select {
			case <-sess.done:
				continue
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
	}
}

func walletProto(w *store.Wallet) *tsskitv1.Wallet {
	out := &tsskitv1.Wallet{
		WalletId: w.ID, Name: w.Name, UserId: w.UserID, SignersNeeded: uint32(w.SignersNeeded),
		PublicKey: w.PublicKey, Address: w.Address, CreatedAtUnixMs: w.CreatedAt.UnixMilli(), Epoch: uint32(w.Epoch),
		RecoveryBackend: w.Recovery.Backend,
	}
	if !w.Recovery.Kit.IsZero() {
		out.RecoveryKit = bytes.Clone(w.Recovery.Kit[:])
	}
	// A wallet whose chain code the store does not know has neither
	// (store.ErrChainCodeUnknown); clients then derive nothing from here.
	if cc, err := w.ChainCodeOrLegacy(); err == nil {
		out.ChainCode = cc
		out.Xpub, _ = hd.ExtendedPublicKey(w.PublicKey, cc)
	}
	for _, h := range w.Holders {
		k := tsskitv1.HolderKind_HOLDER_KIND_SERVER
		switch h.Kind {
		case store.HolderClient:
			k = tsskitv1.HolderKind_HOLDER_KIND_CLIENT
		case store.HolderUser:
			k = tsskitv1.HolderKind_HOLDER_KIND_USER
		}
		out.Holders = append(out.Holders, &tsskitv1.Holder{PartyId: h.PartyID, Kind: k})
	}
	return out
}

func protoState(s store.SessionState) tsskitv1.SessionState {
	switch s {
	case store.StateWaiting:
		return tsskitv1.SessionState_SESSION_STATE_WAITING
	case store.StateRunning:
		return tsskitv1.SessionState_SESSION_STATE_RUNNING
	case store.StateCompleted:
		return tsskitv1.SessionState_SESSION_STATE_COMPLETED
	case store.StateFailed:
		return tsskitv1.SessionState_SESSION_STATE_FAILED
	}
	return tsskitv1.SessionState_SESSION_STATE_UNSPECIFIED
}

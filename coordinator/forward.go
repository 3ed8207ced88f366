package coordinator

// Replicas. A session lives in the memory of the coordinator that created
// it (its owner, recorded in the store with the address other replicas
// reach it at). A party's call may land on any replica behind a load
// balancer: a replica that does not hold the session looks it up in the
// shared store and forwards the call to the owner with the caller's own
// token, once (a forwarded call is never forwarded again). A finished
// session is answered from the store by any replica.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// finalSeq is the seq of a final event rebuilt from the store: 2^53 - 1.
const finalSeq = 1<<53 - 1

// forwardedHeader marks a call one replica forwarded to another.
const forwardedHeader = "tsskit-forwarded-by"

// peers keeps one connection per other replica.
type peers struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	tls   *tls.Config // dialing other replicas (nil: cleartext)
}

func (p *peers) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cc, ok := p.conns[addr]; ok {
		return cc, nil
	}
	cc, err := serve.DialTLS(addr, p.tls)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = cc
	return cc, nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, cc := range p.conns {
		cc.Close()
		delete(p.conns, addr)
	}
}

// where is a session not in this replica's memory.
type where struct {
	rec  *store.Session
	peer *grpc.ClientConn // the owner, when the call should go there
}

// locate finds a session: nil when it is live here; else its record and,
// when it is unfinished and owned by a replica that can be reached, a
// connection to that replica. A session unknown to the store is NotFound.
func (c *Coordinator) locate(ctx context.Context, id string) (*where, error) {
	if _, err := c.session(id); err == nil {
		return nil, nil
	}
	rec, err := c.store.GetSession(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, status.Error(codes.NotFound, "unknown session")
		}
		return nil, storeStatus(err, "session")
	}
	w := &where{rec: rec}
	if rec.State.Final() {
		return w, nil
	}
	if rec.Owner == c.cfg.Instance || rec.OwnerAddr == "" || rec.OwnerAddr == c.cfg.AdvertiseAddr {
		// Ours but not in memory: lost with a restart (New fails these;
		// this is a race with that) — or a replica without an address.
		return nil, status.Errorf(codes.Unavailable, "session %s is run by coordinator %q, which cannot be reached from here", id, rec.Owner)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(forwardedHeader)) > 0 {
		return nil, status.Errorf(codes.Unavailable, "session %s is not live on coordinator %q", id, c.cfg.Instance)
	}
	// The caller's token goes along: only to a replica this one was told
	// of, never to an address the store (whoever wrote it) names.
	if !slices.Contains(c.cfg.Peers, rec.OwnerAddr) {
		c.log.Warn("session owned at an address that is not a configured replica; not forwarding", "session", id, "owner_addr", rec.OwnerAddr)
		return nil, status.Errorf(codes.Unavailable, "session %s is run by coordinator %q at an address that is not one of this replica's peers", id, rec.Owner)
	}
	cc, err := c.peers.get(rec.OwnerAddr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "coordinator %q: %v", rec.Owner, err)
	}
	w.peer = cc
	return w, nil
}

// outgoing carries the caller's token to the owner and marks the call
// forwarded.
func (c *Coordinator) outgoing(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.Pairs(forwardedHeader, c.cfg.Instance)
	if a := md.Get("authorization"); len(a) > 0 {
		out.Set("authorization", a...)
	}
	return metadata.NewOutgoingContext(ctx, out)
}

// finishedErr is what a call that changes a session gets once it is over.
func finishedErr(rec *store.Session) error {
	if rec.State == store.StateFailed {
		return status.Errorf(codes.FailedPrecondition, "session is failed: %s", rec.Reason)
	}
	return status.Errorf(codes.FailedPrecondition, "session is %s", rec.State)
}

// forwardingCoord is the CoordinatorService every replica serves.
type forwardingCoord struct {
	*coordService
}

// forward serves a unary call for a session: here when it is live here,
// by the owner when it is live elsewhere, and with ended when it is over.
func forward[Resp any](ctx context.Context, c *Coordinator, sessionID string, here func() (Resp, error),
	ended func(*store.Session) (Resp, error), owner func(context.Context, *grpc.ClientConn) (Resp, error)) (Resp, error) {
	var zero Resp
	w, err := c.locate(ctx, sessionID)
	switch {
	case err != nil:
		return zero, err
	case w == nil:
		return here()
	case w.peer == nil:
		return ended(w.rec)
	}
	return owner(c.outgoing(ctx), w.peer)
}

// refuseEnded answers a call that would change a finished session.
func refuseEnded[Resp any](rec *store.Session) (Resp, error) {
	var zero Resp
	return zero, finishedErr(rec)
}

func (f *forwardingCoord) Join(ctx context.Context, req *tsskitv1.JoinRequest) (*tsskitv1.JoinResponse, error) {
	if req.Keys == nil {
		return nil, status.Error(codes.InvalidArgument, "no keys")
	}
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.Keys.PartyId); err != nil {
		return nil, err
	}
	return forward(ctx, f.c, req.SessionId, func() (*tsskitv1.JoinResponse, error) { return f.coordService.Join(ctx, req) },
		refuseEnded[*tsskitv1.JoinResponse],
		func(out context.Context, cc *grpc.ClientConn) (*tsskitv1.JoinResponse, error) {
			return tsskitv1.NewCoordinatorServiceClient(cc).Join(out, req)
		})
}

func (f *forwardingCoord) ReportProgress(ctx context.Context, req *tsskitv1.ReportProgressRequest) (*tsskitv1.ReportProgressResponse, error) {
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.PartyId); err != nil {
		return nil, err
	}
	return forward(ctx, f.c, req.SessionId, func() (*tsskitv1.ReportProgressResponse, error) { return f.coordService.ReportProgress(ctx, req) },
		func(*store.Session) (*tsskitv1.ReportProgressResponse, error) {
			return &tsskitv1.ReportProgressResponse{}, nil // progress after the end is moot
		},
		func(out context.Context, cc *grpc.ClientConn) (*tsskitv1.ReportProgressResponse, error) {
			return tsskitv1.NewCoordinatorServiceClient(cc).ReportProgress(out, req)
		})
}

func (f *forwardingCoord) ReportResult(ctx context.Context, req *tsskitv1.ReportResultRequest) (*tsskitv1.ReportResultResponse, error) {
	if _, err := serve.PartyClaims(ctx, req.SessionId, req.PartyId); err != nil {
		return nil, err
	}
	return forward(ctx, f.c, req.SessionId, func() (*tsskitv1.ReportResultResponse, error) { return f.coordService.ReportResult(ctx, req) },
		refuseEnded[*tsskitv1.ReportResultResponse],
		func(out context.Context, cc *grpc.ClientConn) (*tsskitv1.ReportResultResponse, error) {
			return tsskitv1.NewCoordinatorServiceClient(cc).ReportResult(out, req)
		})
}

// WatchSession serves a live session here, relays the owner's stream for
// one live elsewhere, and replays the final event of a finished one from
// the store. While a party watches with its own token, it counts as
// connected (stall reports name parties that are not).
func (f *forwardingCoord) WatchSession(req *tsskitv1.WatchSessionRequest, stream grpc.ServerStreamingServer[tsskitv1.SessionEvent]) error {
	ctx := stream.Context()
	cl, err := watchClaims(ctx, req.SessionId)
	if err != nil {
		return err
	}
	w, err := f.c.locate(ctx, req.SessionId)
	if err != nil {
		return err
	}
	if w == nil {
		if cl.Kind == auth.KindParty {
			if s, err := f.c.session(req.SessionId); err == nil {
				f.c.mu.Lock()
				s.watch[cl.Subject]++
				f.c.mu.Unlock()
				defer func() {
					f.c.mu.Lock()
					s.watch[cl.Subject]--
					f.c.mu.Unlock()
				}()
			}
		}
		return f.coordService.WatchSession(req, stream)
	}
	if w.peer == nil {
		ev, err := f.c.finalEventFromStore(ctx, w.rec)
		if err != nil {
			return err
		}
		return stream.Send(ev)
	}
	up, err := tsskitv1.NewCoordinatorServiceClient(w.peer).WatchSession(f.c.outgoing(ctx), req)
	if err != nil {
		return err
	}
	for {
		ev, err := up.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}

// finalEventFromStore rebuilds the final event of a finished session.
func (c *Coordinator) finalEventFromStore(ctx context.Context, rec *store.Session) (*tsskitv1.SessionEvent, error) {
	// The live events are gone with the owner's memory; the rebuilt final
	// event carries the largest seq a JavaScript number holds, so a watcher
	// that skips what it has seen (seq <= last) still takes it.
	ev := &tsskitv1.SessionEvent{SessionId: rec.ID, Seq: finalSeq, AtUnixMs: rec.FinishedAt.UnixMilli()}
	failed := rec.State == store.StateFailed
	if failed && rec.Kind == store.SessionReshare {
		// The wallet's active epoch decides whether a reshare took: a
		// party that stored and acknowledged its new share must not be
		// told the reshare failed when its epoch is the wallet's
		// (ActivateEpoch records the session completed in the same
		// transaction, so only a store that contradicts itself says so).
		if w, err := c.store.GetWallet(ctx, rec.WalletID); err == nil && w.EpochSession == rec.ID {
			failed = false
		}
	}
	if failed {
		code := rec.Code
		if code == "" {
			code = "failed" // a session stored before codes were
		}
		ev.Event = &tsskitv1.SessionEvent_Failed_{Failed: &tsskitv1.SessionEvent_Failed{Code: code, Reason: rec.Reason, Culprits: rec.Culprits}}
		return ev, nil
	}
	done := &tsskitv1.SessionEvent_Completed{WalletId: rec.WalletID}
	w, err := c.store.GetWallet(ctx, rec.WalletID)
	if err != nil {
		return nil, storeStatus(err, "wallet")
	}
	done.PublicKey, done.Address = w.PublicKey, w.Address
	if rec.Kind == store.SessionReshare {
		// The wallet's active epoch: this reshare's, or a later one's
		// (then a party holding this reshare's pending share sees it is
		// superseded). The stored acknowledgements let a party that
		// missed the live event activate its share now: it checks them
		// itself, as it would have the live event's.
		done.Epoch, done.StoredAcks = uint32(w.Epoch), rec.StoredAcks
	}
	if rec.Kind == store.SessionSign {
		signing, err := signingKey(w, rec.Path)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "the signing key: %v", status.Convert(err).Message())
		}
		if len(rec.Path) > 0 {
			done.SigningPublicKey, done.SigningAddress = signing, share.Address(signing)
		}
		sig, err := signatureFromRecord(rec, signing)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "stored signature: %v", err)
		}
		done.Signature = sig
	}
	ev.Event = &tsskitv1.SessionEvent_Completed_{Completed: done}
	return ev, nil
}

// signatureFromRecord rebuilds a Signature (with DER and recovery id) from
// the r||s the store keeps.
func signatureFromRecord(rec *store.Session, pubKey []byte) (*tsskitv1.Signature, error) {
	if len(rec.Signature) != 64 {
		return nil, fmt.Errorf("%d bytes, want 64", len(rec.Signature))
	}
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(rec.Signature[:32])
	s.SetByteSlice(rec.Signature[32:])
	out := &tsskitv1.Signature{R: rec.Signature[:32], S: rec.Signature[32:], Der: ecdsa.NewSignature(&r, &s).Serialize()}
	for v := byte(0); v < 2; v++ {
		compact := append([]byte{27 + v + 4}, rec.Signature...)
		if pub, _, err := ecdsa.RecoverCompact(compact, rec.Digest); err == nil && string(pub.SerializeCompressed()) == string(pubKey) {
			out.V = uint32(v)
			return out, nil
		}
	}
	return nil, errors.New("no recovery id gives the signing key")
}

// forwardingPool is the PoolService every replica serves: server parties
// register with every replica; a user party is claimed where its session
// lives.
type forwardingPool struct {
	*poolService
}

func (f *forwardingPool) ClaimUserParty(ctx context.Context, req *tsskitv1.ClaimUserPartyRequest) (*tsskitv1.ClaimUserPartyResponse, error) {
	if _, err := serve.ServiceClaims(ctx, identity.KindServer); err != nil {
		return nil, err
	}
	return forward(ctx, f.c, req.SessionId, func() (*tsskitv1.ClaimUserPartyResponse, error) { return f.poolService.ClaimUserParty(ctx, req) },
		refuseEnded[*tsskitv1.ClaimUserPartyResponse],
		func(out context.Context, cc *grpc.ClientConn) (*tsskitv1.ClaimUserPartyResponse, error) {
			return tsskitv1.NewPoolServiceClient(cc).ClaimUserParty(out, req)
		})
}

package coordinator

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/serve"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// GRPCRouter controls a router over gRPC with short-lived service tokens.
type GRPCRouter struct {
	Client tsskitv1.RouterServiceClient
	Minter *auth.Minter
}

// NewGRPCRouter returns a RouterControl for the router at cc.
func NewGRPCRouter(cc grpc.ClientConnInterface, m *auth.Minter) *GRPCRouter {
	return &GRPCRouter{Client: tsskitv1.NewRouterServiceClient(cc), Minter: m}
}

func (r *GRPCRouter) creds() (grpc.CallOption, error) {
	tok, err := r.Minter.MintService(r.Minter.ID(), time.Minute)
	if err != nil {
		return nil, err
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok)), nil
}

func (r *GRPCRouter) Open(ctx context.Context, session string, parties []string, expires time.Time) error {
	c, err := r.creds()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = r.Client.OpenSession(ctx, &tsskitv1.OpenSessionRequest{SessionId: session, Parties: parties, ExpiresAtUnixMs: expires.UnixMilli()}, c)
	return err
}

func (r *GRPCRouter) Close(ctx context.Context, session, reason string) error {
	c, err := r.creds()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = r.Client.CloseSession(ctx, &tsskitv1.CloseSessionRequest{SessionId: session, Reason: reason}, c)
	return err
}

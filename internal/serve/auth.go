package serve

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/party/identity"
)

// Authenticate returns interceptors that verify the bearer token of every
// call (signed by a certified identity, auth.Verifier) and put its claims in
// the context (auth.FromContext). Which kind of token a method takes, and
// from which signer, is the method's business; no token, a forged one or an
// expired one never reaches a handler.
func Authenticate(s *auth.Verifier) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return AuthenticateCounted(s, nil)
}

// AuthenticateCounted is Authenticate calling failed(reason) for every
// refused token: "missing", "not_bearer" or the verifier's auth.Code.
func AuthenticateCounted(s *auth.Verifier, failed func(reason string)) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	if failed == nil {
		failed = func(string) {}
	}
	check := func(ctx context.Context) (context.Context, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		vals := md.Get("authorization")
		if len(vals) != 1 {
			failed("missing")
			return nil, status.Error(codes.Unauthenticated, "missing bearer token")
		}
		tok, ok := auth.BearerToken(vals[0])
		if !ok {
			failed("not_bearer")
			return nil, status.Error(codes.Unauthenticated, "authorization is not a bearer token")
		}
		c, err := s.Verify(tok)
		if err != nil {
			reason := "other"
			var ae *auth.Error
			if errors.As(err, &ae) {
				reason = string(ae.Code)
			}
			failed(reason)
			// The reason names the check that failed (auth's messages
			// never quote the token), so a caller can tell an untrusted
			// signer from an expired token.
			msg := "invalid token: " + err.Error()
			if errors.Is(err, auth.ErrExpired) {
				msg = "token expired"
			}
			return nil, status.Error(codes.Unauthenticated, msg)
		}
		return auth.NewContext(ctx, c), nil
	}
	unary := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := check(ctx)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := check(ss.Context())
		if err != nil {
			return err
		}
		return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
	return unary, stream
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// Claims returns the verified claims of a call, requiring kind.
func Claims(ctx context.Context, kind string) (*auth.Claims, error) {
	c, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no verified token")
	}
	if err := c.Require(kind); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "this call takes a %s token", kind)
	}
	return c, nil
}

// ServiceClaims requires a service token minted by an identity of kind
// signer: the coordinator's (towards the router), or a server party's (for
// itself, towards the coordinator's pool).
func ServiceClaims(ctx context.Context, signer identity.Kind) (*auth.Claims, error) {
	c, err := Claims(ctx, auth.KindService)
	if err != nil {
		return nil, err
	}
	if c.SignerKind != signer {
		return nil, status.Errorf(codes.PermissionDenied, "this call takes a service token of a %s", signer)
	}
	return c, nil
}

// PartyClaims requires a party token for exactly (session, party).
func PartyClaims(ctx context.Context, session, party string) (*auth.Claims, error) {
	c, err := Claims(ctx, auth.KindParty)
	if err != nil {
		return nil, err
	}
	if err := c.RequireParty(session, party); err != nil {
		return nil, status.Error(codes.PermissionDenied, "token is for another session or party")
	}
	return c, nil
}

// Bearer is per-call credentials carrying a token ("authorization: Bearer").
type Bearer string

func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that development stacks on loopback
// work without TLS; outside development every non-loopback listener serves
// TLS.
func (Bearer) RequireTransportSecurity() bool { return false }

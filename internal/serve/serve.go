// Package serve is what every tsskit service does the same way on its one
// port: native gRPC over HTTP/2 (cleartext h2c, or TLS through ListenTLS),
// gRPC-Web for browsers (through improbable-eng/grpc-web's wrapper, with an
// origin allowlist), plain HTTP routes such as /health, and a graceful
// shutdown.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/improbable-eng/grpc-web/go/grpcweb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// Origins is a CORS origin allowlist for gRPC-Web. "*" allows every origin
// (development only); an empty list allows none, so a browser on another
// origin cannot call the service.
type Origins []string

// ParseOrigins splits a comma-separated list ("http://localhost:5173, https://admin.example").
func ParseOrigins(s string) Origins {
	var out Origins
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(o), "/")); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// Allows reports whether a browser origin may call.
func (o Origins) Allows(origin string) bool {
	for _, a := range o {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	return false
}

// Handler multiplexes one port: gRPC-Web requests and their CORS preflights
// go to the wrapper, HTTP/2 requests with content-type application/grpc go to
// gs, and everything else to routes.
func Handler(gs *grpc.Server, origins Origins, routes http.Handler) http.Handler {
	web := grpcweb.WrapServer(gs,
		grpcweb.WithOriginFunc(origins.Allows),
		grpcweb.WithAllowedRequestHeaders([]string{"authorization", "content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"}),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case web.IsGrpcWebRequest(r) || web.IsAcceptableGrpcCorsRequest(r):
			web.ServeHTTP(w, r)
		case r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc"):
			gs.ServeHTTP(w, r)
		default:
			routes.ServeHTTP(w, r)
		}
	})
}

// Server is one listening port.
type Server struct {
	http *http.Server
	ln   net.Listener
	log  *slog.Logger
	name string
	tls  bool // ln hands out TLS connections (ListenTLS)
}

// Listen binds addr (":0" picks a free port; Addr says which).
func Listen(name, addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           h,
		Protocols:         &protos,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return &Server{http: hs, ln: ln, log: log, name: name}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then shuts down: new connections are refused
// and open requests get up to grace to finish (long-lived streams are ended
// by the service itself before that, see Service.Stop in each package).
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	if s.tls {
		s.log.Info("listening", "service", s.name, "addr", s.Addr(), "tls", true)
	} else {
		s.log.Info("listening", "service", s.name, "addr", s.Addr())
	}
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.http.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.http.Close()
	}
	<-errc
	return err
}

// NewGRPC makes a gRPC server with the project's limits and interceptors.
func NewGRPC(maxMsg int, unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) *grpc.Server {
	return NewGRPCChain(maxMsg, []grpc.UnaryServerInterceptor{unary}, []grpc.StreamServerInterceptor{stream})
}

// NewGRPCChain is NewGRPC with chains of interceptors, run in order (the
// first sees every call first; nil entries are skipped).
func NewGRPCChain(maxMsg int, unary []grpc.UnaryServerInterceptor, stream []grpc.StreamServerInterceptor) *grpc.Server {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg)}
	for _, u := range unary {
		if u != nil {
			opts = append(opts, grpc.ChainUnaryInterceptor(u))
		}
	}
	for _, st := range stream {
		if st != nil {
			opts = append(opts, grpc.ChainStreamInterceptor(st))
		}
	}
	return grpc.NewServer(opts...)
}

// Dial opens a gRPC client connection to one address ("host:port" or
// "http://host:port") or to replicas of one service, comma-separated
// ("10.0.0.1:8082,10.0.0.2:8082"). With several, the connection uses one at
// a time and moves to another when it fails (gRPC's pick_first over the
// list), so calls that fail with Unavailable and are retried reach a live
// replica: a router's Transport resumes its stream there.
func Dial(target string) (*grpc.ClientConn, error) {
	return dial(target, insecure.NewCredentials(), false)
}

// dial is Dial with the given transport credentials. With nameEach, each
// replica's certificate is checked against its own host: the connection's
// authority is then a placeholder that no certificate carries.
func dial(target string, creds credentials.TransportCredentials, nameEach bool) (*grpc.ClientConn, error) {
	var addrs []resolver.Address
	for _, part := range strings.Split(target, ",") {
		t := strings.TrimSpace(part)
		t = strings.TrimPrefix(strings.TrimPrefix(t, "http://"), "https://")
		t = strings.TrimSuffix(t, "/")
		if _, _, err := net.SplitHostPort(t); err != nil {
			return nil, fmt.Errorf("address %q: want host:port (or a comma-separated list of them)", strings.TrimSpace(part))
		}
		a := resolver.Address{Addr: t}
		if nameEach {
			a.ServerName, _, _ = net.SplitHostPort(t)
		}
		addrs = append(addrs, a)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20), grpc.MaxCallSendMsgSize(8<<20))}
	if len(addrs) == 1 {
		return grpc.NewClient(addrs[0].Addr, opts...)
	}
	// A private resolver per connection: the list is fixed at dial time.
	r := manual.NewBuilderWithScheme("tsskit-replicas")
	r.InitialState(resolver.State{Addresses: addrs})
	opts = append(opts, grpc.WithResolvers(r))
	return grpc.NewClient(r.Scheme()+":///replicas", opts...)
}

// Name is the service name the server was made with.
func (s *Server) Name() string { return s.name }

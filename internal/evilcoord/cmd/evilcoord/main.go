// Command evilcoord serves a lying coordinator for the browser attack
// tests: every call is forwarded to the real coordinator at --upstream,
// with the keygen requests rewritten as the flags say, over gRPC and
// gRPC-Web on --listen. It prints "ready" once it listens.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/evilcoord"
	"github.com/rwadurian/tsskit/internal/serve"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "where browsers reach it")
	upstream := flag.String("upstream", "", "the real coordinator's gRPC address")
	signers := flag.Int("signers", 0, "rewrite every keygen request to this many signers needed (0: leave)")
	parties := flag.Int("parties", 0, "rewrite every keygen request to this many parties (0: leave)")
	flag.Parse()
	up, err := serve.Dial(*upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	p := evilcoord.New(up)
	p.CreateKeygen = func(r *tsskitv1.CreateKeygenSessionRequest) {
		if *signers > 0 {
			r.SignersNeeded = uint32(*signers)
		}
		if *parties > 0 {
			r.Parties = uint32(*parties)
		}
	}
	gs := grpc.NewServer()
	p.Register(gs)
	srv, err := serve.Listen("evilcoord", *listen, serve.Handler(gs, serve.Origins{"*"}, http.NotFoundHandler()), slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready", srv.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_ = srv.Serve(ctx, 0)
}

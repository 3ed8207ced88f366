// Command tsskit is tsskit's one binary. Subcommands:
//
//	tsskit dev          everything in one process on embedded defaults
//	tsskit router       the message router
//	tsskit coordinator  sessions, wallets, pool, account REST API
//	tsskit serverparty  a server party (and optionally the server-party API)
//	tsskit party        a CLI party: keygen and sign from a desktop
//	tsskit identity     the deployment root and certificates (init, issue, show)
//	tsskit token        mint an admin token
//	tsskit rotate-key   re-encrypt a server party's vault under a new key
//	tsskit settle       settle a reshare run in limbo at a server party
//	tsskit backup       snapshot a data directory (SQLite store, vaults)
//	tsskit restore      restore such a snapshot into a new data directory
//	tsskit demo         2-of-3 keygen and signing among in-process parties
//	tsskit version      print the version and the commit it was built from
//	tsskit healthcheck  GET a URL, exit 0 on 200 (container health checks)
//
// Each command's -h lists its flags and the environment it reads.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: tsskit <command> [flags]

commands:
  dev          everything in one process (router, coordinator, account API,
               server parties, server-party API) on embedded defaults
  router       the message router (gRPC + gRPC-Web, :8082)
  coordinator  sessions, wallets, server-party pool (:8081), account API (:4000)
  serverparty  a server party; with --api-addr also the server-party API (:8083)
  party        a CLI party: "tsskit party keygen" / "tsskit party sign"
  identity     the deployment root and its certificates: init, issue, show
  token        mint an admin token for gRPC / gRPC-Web clients
  recovery     the app backend's recovery key, and its approvals of a recovery
  rotate-key   re-encrypt a server party's vault under a new master key
  settle       settle a reshare run in limbo at a server party (freeze, drop, thaw)
  backup       snapshot a data directory of the embedded default (SQLite store, vaults)
  restore      restore a backup into a new data directory
  demo         2-of-3 keygen and signing among three in-process parties
  version      print the version and the commit it was built from
  healthcheck  GET a URL and exit 0 on 200: a container's health check

"tsskit <command> -h" shows a command's flags and environment.
`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "demo":
		err = runDemo(ctx, os.Args[2:])
	case "dev":
		err = runDev(ctx, os.Args[2:])
	case "router":
		err = runRouter(ctx, os.Args[2:])
	case "coordinator":
		err = runCoordinator(ctx, os.Args[2:])
	case "serverparty":
		err = runServerParty(ctx, os.Args[2:])
	case "party":
		err = runParty(ctx, os.Args[2:])
	case "identity":
		err = runIdentity(ctx, os.Args[2:])
	case "token":
		err = runToken(ctx, os.Args[2:])
	case "recovery":
		err = runRecovery(ctx, os.Args[2:])
	case "rotate-key":
		err = runRotateKey(ctx, os.Args[2:])
	case "settle":
		err = runSettle(ctx, os.Args[2:])
	case "backup":
		err = runBackup(ctx, os.Args[2:])
	case "restore":
		err = runRestore(ctx, os.Args[2:])
	case "version", "--version":
		fmt.Println(versionLine())
	case "healthcheck":
		err = runHealthcheck(ctx, os.Args[2:])
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "tsskit: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsskit:", err)
		var ce *configError
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// Command tsskit is tsskit's one binary. Subcommands:
//
//	tsskit demo      run a 2-of-3 keygen and a signature among three parties
//	                 in this process, with fresh pre-parameters and progress
//	tsskit version   print the version
//
// The services (dev, router, coordinator, serverparty, party, token,
// rotate-key) join this binary as they are built.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "0.1.0-dev"

func usage() {
	fmt.Fprint(os.Stderr, `usage: tsskit <command> [flags]

commands:
  demo       2-of-3 keygen and signing among three in-process parties
  version    print the version
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
	case "version", "--version":
		fmt.Println("tsskit", version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "tsskit: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsskit:", err)
		os.Exit(1)
	}
}

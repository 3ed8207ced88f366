package main

import (
	"crypto/tls"
	"flag"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/stack"
)

// Transport security of a service's ports and of the connections it makes.
//
//	--tls-cert, --tls-key  the certificate a service serves (and presents as
//	                       a client certificate when it dials with TLS)
//	--tls-client-ca        listeners require a client certificate of this CA
//	                       (mutual TLS between services)
//	--tls-ca               dial other tsskit services with TLS, trusting this
//	                       CA bundle
//	--insecure-listen      serve cleartext on a non-loopback address anyway
//	--insecure-dial        dial a non-loopback address in cleartext anyway
//
// Each flag has an environment variable (TSSKIT_TLS_CERT, …). Certificates
// are re-read when their files change, so rotation needs no restart.
type tlsFlags struct {
	cert, key, clientCA, ca *string
	insecure, insecureDial  *bool
}

const envHelpTLS = `
  TSSKIT_TLS_CERT, TSSKIT_TLS_KEY  the certificate and key served (as --tls-cert, --tls-key)
  TSSKIT_TLS_CLIENT_CA  require client certificates of this CA (as --tls-client-ca)
  TSSKIT_TLS_CA    dial other services with TLS, trusting this CA bundle (as --tls-ca)`

// addTLSFlags adds the TLS flags; listens says whether the command has
// ports (the CLI party only dials).
func addTLSFlags(fs *flag.FlagSet, listens bool) *tlsFlags {
	f := &tlsFlags{}
	f.ca = fs.String("tls-ca", os.Getenv("TSSKIT_TLS_CA"), "dial the coordinator, router and server-party API with TLS, trusting this PEM CA bundle; env TSSKIT_TLS_CA")
	f.cert = fs.String("tls-cert", os.Getenv("TSSKIT_TLS_CERT"), "PEM certificate (chain) served on every port, and presented when dialing with TLS; env TSSKIT_TLS_CERT")
	f.key = fs.String("tls-key", os.Getenv("TSSKIT_TLS_KEY"), "its PEM private key; env TSSKIT_TLS_KEY")
	f.insecureDial = fs.Bool("insecure-dial", false, "dial non-loopback addresses in cleartext (without it, and without --tls-ca, such an address is refused)")
	if listens {
		f.clientCA = fs.String("tls-client-ca", os.Getenv("TSSKIT_TLS_CLIENT_CA"), "require client certificates of this PEM CA bundle on every port (mutual TLS); env TSSKIT_TLS_CLIENT_CA")
		f.insecure = fs.Bool("insecure-listen", false, "serve cleartext on a non-loopback address (without it, such a listener refuses to start)")
	}
	return f
}

// config reads the files now, so a missing or mismatched one is a
// configuration error at start.
func (f *tlsFlags) config(log *slog.Logger) (stack.TLS, error) {
	var out stack.TLS
	if (*f.cert == "") != (*f.key == "") {
		return out, configErrorf("--tls-cert and --tls-key go together")
	}
	clientCA := ""
	if f.clientCA != nil {
		clientCA = *f.clientCA
	}
	files := serve.TLSFiles{Cert: *f.cert, Key: *f.key, CA: *f.ca, ClientCA: clientCA, Log: log}
	if clientCA != "" && *f.cert == "" {
		return out, configErrorf("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
	}
	if *f.cert != "" && f.clientCA != nil {
		cfg, err := files.ServerConfig()
		if err != nil {
			return out, configErrorf("TLS: %v", err)
		}
		out.Server = cfg
	}
	if *f.ca != "" {
		cfg, err := files.ClientConfig("")
		if err != nil {
			return out, configErrorf("TLS: %v", err)
		}
		out.Client = cfg
	}
	return out, nil
}

// checkDial refuses to dial a non-loopback address (a comma-separated
// list, or an http:// URL) in cleartext unless --insecure-dial says so:
// tokens, the API key and share passwords would cross the network in the
// clear. An http:// URL is refused whenever TLS dialing is configured.
func (f *tlsFlags) checkDial(cli *tls.Config, flags map[string]string) error {
	for name, v := range flags {
		for _, addr := range strings.Split(v, ",") {
			addr = strings.TrimSpace(addr)
			if addr == "" {
				continue
			}
			cleartext := cli == nil
			if u, err := url.Parse(addr); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				if u.Scheme == "https" {
					continue
				}
				if cli != nil {
					return configErrorf("%s %s is http:// while --tls-ca asks for TLS: use https://", name, addr)
				}
				addr, cleartext = u.Host, true
			}
			if cleartext && !serve.IsLoopback(addr) && !*f.insecureDial {
				return configErrorf("%s %s is not a loopback address, and it would be dialed in cleartext: give --tls-ca (and https:// URLs) "+
					"or, on a trusted network only, pass --insecure-dial", name, addr)
			}
		}
	}
	return nil
}

// checkListen refuses a cleartext listener on a non-loopback address
// unless --insecure-listen says so: tokens, the API key and share
// passwords cross every port.
func (f *tlsFlags) checkListen(srv *tls.Config, flags map[string]string) error {
	if srv != nil || (f.insecure != nil && *f.insecure) {
		return nil
	}
	for name, addr := range flags {
		if addr != "" && !serve.IsLoopback(addr) {
			return configErrorf("%s %s is not a loopback address, and this port would be cleartext: serve TLS (--tls-cert, --tls-key) "+
				"or, behind a TLS-terminating proxy only, pass --insecure-listen", name, addr)
		}
	}
	return nil
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/rwadurian/tsskit/internal/serve"
)

// runHealthcheck is a container's health check: the image holds nothing
// but the binary, so there is no curl. It GETs one URL and succeeds only on
// 200; a redirect, any other status, a refused connection, a failed TLS
// handshake or the timeout fail it (exit 1). A bad URL or TLS file is a
// configuration error (exit 2).
//
// HTTPS trusts TSSKIT_TLS_CA (as the service does when it dials its peers)
// and presents TSSKIT_TLS_CERT and TSSKIT_TLS_KEY when the server asks for
// a client certificate, so inside a service's container the check needs no
// flags: tsskit healthcheck https://localhost:8082/health.
func runHealthcheck(ctx context.Context, args []string) error {
	fs := newFlags("healthcheck", "GET a URL and exit 0 when it answers 200 (exit 1 otherwise): a container health check, e.g. "+
		"tsskit healthcheck https://localhost:4000/health.", `  TSSKIT_TLS_CA    trust this PEM CA bundle for https:// (as --tls-ca; default: the system roots)
  TSSKIT_TLS_CERT, TSSKIT_TLS_KEY  a client certificate, presented if the server asks for one (mutual TLS)`)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	ca := fs.String("tls-ca", os.Getenv("TSSKIT_TLS_CA"), "PEM CA bundle the server's certificate must chain to; env TSSKIT_TLS_CA")
	cert := fs.String("tls-cert", os.Getenv("TSSKIT_TLS_CERT"), "PEM client certificate for servers that require one; env TSSKIT_TLS_CERT")
	key := fs.String("tls-key", os.Getenv("TSSKIT_TLS_KEY"), "its PEM private key; env TSSKIT_TLS_KEY")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return configErrorf("usage: tsskit healthcheck [flags] URL")
	}
	if *timeout <= 0 {
		return configErrorf("--timeout must be positive")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return configErrorf("healthcheck: %q is not an http:// or https:// URL", fs.Arg(0))
	}
	var tlsCfg *tls.Config
	if u.Scheme == "https" {
		files := serve.TLSFiles{CA: *ca, Cert: *cert, Key: *key}
		if tlsCfg, err = files.ClientConfig(""); err != nil {
			return configErrorf("healthcheck: %v", err)
		}
	}
	return healthcheck(ctx, u.String(), tlsCfg, *timeout)
}

// healthError is a health check that got an answer other than 200, or
// none at all.
type healthError struct {
	URL    string
	Status int   // the status received; 0 when there was no answer
	Err    error // why there was no answer
}

func (e *healthError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("healthcheck %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("healthcheck %s: %v", e.URL, e.Err)
}

func (e *healthError) Unwrap() error { return e.Err }

func healthcheck(ctx context.Context, target string, tlsCfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, Proxy: nil},
		// A health route answers itself; a redirect means the URL is wrong.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return configErrorf("healthcheck: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &healthError{URL: target, Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return &healthError{URL: target, Status: resp.StatusCode}
	}
	return nil
}

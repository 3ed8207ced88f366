package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testpki"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("GET /degraded", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/health", http.StatusFound) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	if err := runHealthcheck(ctx, []string{srv.URL + "/health"}); err != nil {
		t.Fatalf("200: %v", err)
	}
	for path, status := range map[string]int{"/degraded": 503, "/moved": 302, "/nothing": 404} {
		err := runHealthcheck(ctx, []string{srv.URL + path})
		he, ok := errors.AsType[*healthError](err)
		if !ok || he.Status != status {
			t.Errorf("%s: got %v, want a healthError with status %d", path, err, status)
		}
	}
	err := runHealthcheck(ctx, []string{"--timeout", "200ms", srv.URL + "/slow"})
	if he, ok := errors.AsType[*healthError](err); !ok || he.Status != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: got %v, want a timeout", err)
	}
	closed := httptest.NewServer(mux)
	closed.Close()
	if he, ok := errors.AsType[*healthError](runHealthcheck(ctx, []string{closed.URL + "/health"})); !ok || he.Err == nil {
		t.Errorf("refused connection: got %v", he)
	}
}

func TestHealthcheckBadInput(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"localhost:8082/health"},
		{"ftp://localhost/health"},
		{"http://"},
		{"--timeout", "0s", "http://127.0.0.1:1/health"},
		{"--tls-ca", "/nonexistent/ca.pem", "https://127.0.0.1:1/health"},
	} {
		err := runHealthcheck(context.Background(), args)
		if _, ok := errors.AsType[*configError](err); !ok {
			t.Errorf("%q: got %v, want a configuration error", args, err)
		}
	}
}

func TestHealthcheckTLS(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	cfg, err := serve.TLSFiles{Cert: cert, Key: key}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(tls.NewListener(ln, cfg))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	url := "https://localhost:" + port + "/health"
	ctx := context.Background()

	t.Setenv("TSSKIT_TLS_CA", pki.CAFile())
	if err := runHealthcheck(ctx, []string{url}); err != nil {
		t.Fatalf("with the CA from the environment: %v", err)
	}
	err = runHealthcheck(ctx, []string{"--tls-ca", pki.Other().CAFile(), url})
	if he, ok := errors.AsType[*healthError](err); !ok || he.Status != 0 {
		t.Fatalf("untrusted server: got %v, want a handshake failure", err)
	}
}

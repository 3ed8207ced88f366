package serve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/internal/testpki"
)

const webOrigin = "https://app.test"

// startServer serves the health service and a /health route through
// Handler on a loopback port, with TLS when cfg is set.
func startServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	routes := http.NewServeMux()
	routes.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	h := serve.Handler(gs, serve.Origins{webOrigin}, routes)
	srv, err := serve.ListenTLS("test", "127.0.0.1:0", h, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if srv.TLS() != (cfg != nil) {
		t.Fatalf("TLS() = %v with cfg %v", srv.TLS(), cfg != nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		gs.Stop()
	})
	return srv.Addr()
}

func serverConfig(t *testing.T, f serve.TLSFiles) *tls.Config {
	t.Helper()
	cfg, err := f.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientConfig(t *testing.T, f serve.TLSFiles, serverName string) *tls.Config {
	t.Helper()
	cfg, err := f.ClientConfig(serverName)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// check makes one health call over a fresh connection.
func check(t *testing.T, target string, cfg *tls.Config) (*credentials.TLSInfo, error) {
	t.Helper()
	cc, err := serve.DialTLS(target, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p peer.Peer
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return nil, err
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v", resp.Status)
	}
	info, _ := p.AuthInfo.(credentials.TLSInfo)
	return &info, nil
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string, error) {
	t.Helper()
	defer c.CloseIdleConnections() // so the server's shutdown need not wait for it
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// http1Client speaks HTTP/1.1 only, as a browser may for gRPC-Web.
func http1Client(cfg *tls.Config) *http.Client {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
}

func TestTLSNativeGRPC(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key}))
	info, err := check(t, addr, clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, ""))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Version != tls.VersionTLS13 || info.State.NegotiatedProtocol != "h2" {
		t.Errorf("negotiated version %x protocol %q, want TLS 1.3 and h2", info.State.Version, info.State.NegotiatedProtocol)
	}

	// A TLS 1.2 client is still served; one older is not.
	c12 := clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")
	c12.MaxVersion = tls.VersionTLS12
	if info, err := check(t, addr, c12); err != nil || info.State.Version != tls.VersionTLS12 {
		t.Errorf("TLS 1.2 client: %v", err)
	}
	c11 := clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")
	c11.MinVersion, c11.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	conn, err := tls.Dial("tcp", addr, c11)
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

func TestTLSHTTPRoutes(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key}))
	ccfg := clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")
	for _, tc := range []struct {
		name  string
		c     *http.Client
		proto string
	}{
		{"h2", serve.HTTPClient(ccfg), "HTTP/2.0"},
		{"http1", http1Client(ccfg), "HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := get(t, tc.c, "https://"+addr+"/health")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || body != "ok" || resp.Proto != tc.proto {
				t.Errorf("GET /health: %s %d %q", resp.Proto, resp.StatusCode, body)
			}
		})
	}

	// The port speaks TLS only.
	resp, _, err := get(t, serve.HTTPClient(nil), "http://"+addr+"/health")
	if err == nil && resp.StatusCode == 200 {
		t.Error("a cleartext request was served on a TLS port")
	}
}

// TestTLSGRPCWeb makes the request a browser's gRPC-Web client makes, over
// HTTP/2 and over HTTP/1.1.
func TestTLSGRPCWeb(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key}))
	ccfg := clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")
	msg, err := proto.Marshal(&healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	frame = append(frame, msg...)
	for _, tc := range []struct {
		name string
		c    *http.Client
	}{{"h2", serve.HTTPClient(ccfg)}, {"http1", http1Client(ccfg)}} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", "https://"+addr+"/grpc.health.v1.Health/Check", bytes.NewReader(frame))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/grpc-web+proto")
			req.Header.Set("X-Grpc-Web", "1")
			req.Header.Set("Origin", webOrigin)
			resp, err := tc.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.c.CloseIdleConnections()
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %q", resp.StatusCode, body)
			}
			var got healthpb.HealthCheckResponse
			var trailer string
			for len(body) >= 5 {
				flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
				if uint32(len(body)-5) < n {
					t.Fatalf("short frame")
				}
				payload := body[5 : 5+n]
				body = body[5+n:]
				if flag&0x80 != 0 {
					trailer += string(payload)
				} else if err := proto.Unmarshal(payload, &got); err != nil {
					t.Fatal(err)
				}
			}
			st := resp.Header.Get("Grpc-Status")
			if st == "" {
				for _, line := range strings.Split(trailer, "\r\n") {
					if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "grpc-status") {
						st = strings.TrimSpace(v)
					}
				}
			}
			if st != "0" || got.Status != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("grpc-status %q, health %v", st, got.Status)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != webOrigin {
				t.Errorf("allow-origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

func TestTLSUntrustedServer(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key}))
	wrong := clientConfig(t, serve.TLSFiles{CA: pki.Other().CAFile()}, "")

	_, err := check(t, addr, wrong)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC with the wrong CA: %v", err)
	}
	for _, want := range []string{"certificate signed by unknown authority", "not signed by a CA this client trusts", addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("gRPC error %q does not say %q", err, want)
		}
	}
	if got := serve.ExplainTLS(err); !strings.Contains(got, "not signed by a CA this client trusts") {
		t.Errorf("ExplainTLS(gRPC error) = %q", got)
	}

	_, _, err = get(t, serve.HTTPClient(wrong), "https://"+addr+"/health")
	if err == nil {
		t.Fatal("HTTPS with the wrong CA succeeded")
	}
	if got := serve.ExplainTLS(err); !strings.Contains(got, "not signed by a CA this client trusts") {
		t.Errorf("ExplainTLS(%v) = %q", err, got)
	}
}

func TestTLSServerName(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Issue(testpki.Options{Names: []string{"tss.example"},
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key}))

	_, err := check(t, addr, clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, ""))
	if got := serve.ExplainTLS(err); !strings.Contains(got, "not issued for the address dialed") {
		t.Errorf("dialing an address the certificate does not name: %v (%q)", err, got)
	}
	// A caller that dials by IP names the server it expects.
	if _, err := check(t, addr, clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "tss.example")); err != nil {
		t.Errorf("with server name: %v", err)
	}
}

func TestTLSAgainstCleartext(t *testing.T) {
	pki := testpki.New(t)
	addr := startServer(t, nil)
	// nil configuration is today's cleartext h2c, both ways.
	if _, err := check(t, addr, nil); err != nil {
		t.Fatalf("cleartext: %v", err)
	}
	ccfg := clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")
	_, err := check(t, addr, ccfg)
	if got := serve.ExplainTLS(err); got != "the server does not speak TLS" {
		t.Errorf("TLS gRPC to a cleartext port: %v (%q)", err, got)
	}
	_, _, err = get(t, serve.HTTPClient(ccfg), "https://"+addr+"/health")
	if got := serve.ExplainTLS(err); got != "the server does not speak TLS" {
		t.Errorf("HTTPS to a cleartext port: %v (%q)", err, got)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key, ClientCA: pki.CAFile()}))
	cc, ck := pki.Client("coordinator")
	oc, ok := pki.Other().Client("coordinator")

	for _, tc := range []struct {
		name       string
		files      serve.TLSFiles
		wantReason string // "" = served
	}{
		{"no certificate", serve.TLSFiles{CA: pki.CAFile()}, "requires a client certificate"},
		{"client certificate", serve.TLSFiles{CA: pki.CAFile(), Cert: cc, Key: ck}, ""},
		// A service dials its peers with the pair it listens with.
		{"server's own pair", serve.TLSFiles{CA: pki.CAFile(), Cert: cert, Key: key}, ""},
		{"other CA's certificate", serve.TLSFiles{CA: pki.CAFile(), Cert: oc, Key: ok}, "client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ccfg := clientConfig(t, tc.files, "")
			_, gerr := check(t, addr, ccfg)
			_, body, herr := get(t, serve.HTTPClient(ccfg), "https://"+addr+"/health")
			if tc.wantReason == "" {
				if gerr != nil || herr != nil || body != "ok" {
					t.Fatalf("refused: gRPC %v, HTTPS %v %q", gerr, herr, body)
				}
				return
			}
			for _, err := range []error{gerr, herr} {
				if err == nil {
					t.Fatal("served")
				}
				if got := serve.ExplainTLS(err); !strings.Contains(got, tc.wantReason) {
					t.Errorf("%v: ExplainTLS = %q, want %q", err, got, tc.wantReason)
				}
			}
		})
	}
}

func TestCertificateRotation(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	var logs testkit.LogBuffer
	files := serve.TLSFiles{Cert: cert, Key: key, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	addr := startServer(t, serverConfig(t, files))
	ccfg := clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")

	served := func() *big.Int {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	serial := func(certFile string) *big.Int {
		t.Helper()
		b, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c.SerialNumber
	}

	first := serial(cert)
	if got := served(); got.Cmp(first) != 0 {
		t.Fatalf("served %v, want %v", got, first)
	}
	open, err := tls.Dial("tcp", addr, ccfg) // stays open across the rotation
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	next, nextKey := pki.Server()
	pki.Replace(cert, key, next, nextKey)
	if got := served(); got.Cmp(serial(next)) != 0 {
		t.Fatalf("after rotation served %v, want %v", got, serial(next))
	}
	if _, err := check(t, addr, ccfg); err != nil {
		t.Fatalf("gRPC after rotation: %v", err)
	}
	if got := open.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(first) != 0 {
		t.Errorf("an open connection changed certificate")
	}
	if !strings.Contains(logs.String(), "tls certificate loaded") {
		t.Errorf("rotation not logged: %s", logs.String())
	}

	// A rotation caught half-way (new certificate, old key) keeps the
	// previous pair until the key arrives.
	third, thirdKey := pki.Server()
	b, err := os.ReadFile(third)
	if err != nil {
		t.Fatal(err)
	}
	pki.WriteFile(strings.TrimPrefix(cert, pki.Dir()+string(os.PathSeparator)), b)
	if got := served(); got.Cmp(serial(next)) != 0 {
		t.Fatalf("half-way rotation served %v, want the previous %v", got, serial(next))
	}
	if !strings.Contains(logs.String(), "does not match certificate") {
		t.Errorf("failed reload not logged: %s", logs.String())
	}
	pki.Replace(cert, key, third, thirdKey)
	if got := served(); got.Cmp(serial(third)) != 0 {
		t.Fatalf("completed rotation served %v, want %v", got, serial(third))
	}
}

func TestMutualTLSClientRotation(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	// The server records which client certificate each request came with.
	seen := make(chan *big.Int, 4)
	routes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.TLS.PeerCertificates[0].SerialNumber
	})
	srv, err := serve.ListenTLS("test", "127.0.0.1:0", serve.Handler(grpc.NewServer(), nil, routes),
		slog.New(slog.DiscardHandler), serverConfig(t, serve.TLSFiles{Cert: cert, Key: key, ClientCA: pki.CAFile()}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, time.Second)

	cc, ck := pki.Client("coordinator")
	ccfg := clientConfig(t, serve.TLSFiles{CA: pki.CAFile(), Cert: cc, Key: ck}, "")
	call := func() *big.Int {
		t.Helper()
		c := serve.HTTPClient(ccfg) // a new client: a new connection and handshake
		resp, _, err := get(t, c, "https://"+srv.Addr()+"/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("call: %v", err)
		}
		c.CloseIdleConnections()
		return <-seen
	}
	before := call()
	nc, nk := pki.Client("coordinator")
	pki.Replace(cc, ck, nc, nk)
	if after := call(); after.Cmp(before) == 0 {
		t.Error("the client kept presenting the replaced certificate")
	}
}

func TestDialTLSReplicas(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	addr := startServer(t, serverConfig(t, serve.TLSFiles{Cert: cert, Key: key}))
	// The first replica is down; the second's certificate is checked
	// against its own host, not the connection's placeholder authority.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	if _, err := check(t, dead+", localhost:"+port, clientConfig(t, serve.TLSFiles{CA: pki.CAFile()}, "")); err != nil {
		t.Fatal(err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080":        true,
		"127.0.0.2:8080":        true,
		"[::1]:1":               true,
		"localhost:80":          true,
		"LOCALHOST:80":          true,
		"[::ffff:127.0.0.1]:80": true,
		"::1":                   true,
		":8080":                 false,
		"0.0.0.0:1":             false,
		"[::]:1":                false,
		"10.0.0.5:1":            false,
		"example.com:443":       false,
		"localhost.example:80":  false,
		"":                      false,
	} {
		if got := serve.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// keyMaterial is the base64 lines of a PEM key file, none of which may
// appear in an error.
func keyMaterial(t *testing.T, keyFile string) []string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatal("no key lines")
	}
	return out
}

func TestConfigErrors(t *testing.T) {
	pki := testpki.New(t)
	cert, key := pki.Server()
	_, otherKey := pki.Server()
	oldCert, oldKey := pki.Expired()
	missing := pki.Dir() + "/missing.pem"
	garbage := pki.WriteFile("garbage.pem", []byte("not a pem file\x00\x01"))
	keyBytes, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	keyAndCert := pki.WriteFile("bundle-with-key.pem", append(append([]byte{}, keyBytes...), mustRead(t, pki.CAFile())...))
	var secrets []string
	for _, k := range []string{key, otherKey, oldKey} {
		secrets = append(secrets, keyMaterial(t, k)...)
	}

	for _, tc := range []struct {
		name   string
		files  serve.TLSFiles
		client bool
		want   []string
	}{
		{"missing certificate", serve.TLSFiles{Cert: missing, Key: key}, false, []string{missing, "does not exist"}},
		{"missing key", serve.TLSFiles{Cert: cert, Key: missing}, false, []string{missing, "does not exist"}},
		{"no key", serve.TLSFiles{Cert: cert}, false, []string{"certificate file and a key file"}},
		{"certificate not PEM", serve.TLSFiles{Cert: garbage, Key: key}, false, []string{garbage, "not a PEM file"}},
		{"key not PEM", serve.TLSFiles{Cert: cert, Key: garbage}, false, []string{garbage, "not a PEM file"}},
		{"swapped", serve.TLSFiles{Cert: key, Key: cert}, false, []string{key, "private key", "swapped"}},
		{"mismatched key", serve.TLSFiles{Cert: cert, Key: otherKey}, false, []string{otherKey, "does not match certificate", cert}},
		{"expired", serve.TLSFiles{Cert: oldCert, Key: oldKey}, false, []string{oldCert, "expired at"}},
		{"missing client CA", serve.TLSFiles{Cert: cert, Key: key, ClientCA: missing}, false, []string{"client CA bundle", missing, "does not exist"}},
		{"client CA not PEM", serve.TLSFiles{Cert: cert, Key: key, ClientCA: garbage}, false, []string{"client CA bundle", garbage, "not a PEM file"}},
		{"client CA with a key", serve.TLSFiles{Cert: cert, Key: key, ClientCA: keyAndCert}, false, []string{keyAndCert, "private key"}},
		{"missing CA", serve.TLSFiles{CA: missing}, true, []string{"CA bundle", missing, "does not exist"}},
		{"CA is a certificate's key", serve.TLSFiles{CA: key}, true, []string{"CA bundle", key, "private key"}},
		{"client certificate without key", serve.TLSFiles{CA: pki.CAFile(), Cert: cert}, true, []string{"certificate file and a key file"}},
		{"client key mismatched", serve.TLSFiles{CA: pki.CAFile(), Cert: cert, Key: otherKey}, true, []string{"does not match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.client {
				_, err = tc.files.ClientConfig("")
			} else {
				_, err = tc.files.ServerConfig()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) || len(s) > 16 && strings.Contains(err.Error(), s[:16]) {
					t.Fatalf("error %q shows key material", err)
				}
			}
		})
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

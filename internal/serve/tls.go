package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLSFiles names the PEM files of one side of a TLS connection.
//
// On a listener, Cert and Key are what the service presents, and ClientCA,
// when set, makes client certificates required: a client without one, or
// with one not issued under ClientCA, is refused in the handshake (mutual
// TLS). CA is not used by a listener.
//
// On a dialer, CA is the bundle the server's certificate must chain to
// (empty: the system roots), and Cert and Key, when set, are the client
// certificate for a server that requires one. A service that listens with
// mutual TLS and also calls its peers usually dials with the same pair it
// listens with; the certificate then needs both the serverAuth and the
// clientAuth extended key usage (or none at all).
type TLSFiles struct {
	Cert, Key, CA, ClientCA string
	// Log is where a rotated certificate, or one that failed to load and was
	// therefore not taken, is reported. Nil means slog.Default().
	Log *slog.Logger
}

// A certificate on disk is re-read when a file is replaced or its size or
// modification time changes (checked at every handshake, which costs a stat
// per file against the handshake's public-key operations), and in any case
// every reloadEvery, for a rewrite in place that keeps size and time.
// Rotation therefore needs no restart: connections made after the files are
// replaced get the new certificate; open ones keep the old until they end.
var reloadEvery = time.Minute

// ServerConfig is the TLS configuration of a listener: TLS 1.2 or later
// (1.3 is negotiated whenever the client has it), ALPN h2 and http/1.1 so
// native gRPC and browsers' gRPC-Web over either protocol share the port,
// and the certificate (and ClientCA) re-read from disk when they change.
// The files are read now, so a missing, malformed, mismatched or expired
// one fails here, named, rather than at the first handshake.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("tls: a listener needs both a certificate file and a key file")
	}
	pair, err := f.pair()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return pair.get()
		},
	}
	if f.ClientCA == "" {
		return cfg, nil
	}
	pool, err := f.watchPool("client CA bundle", f.ClientCA)
	if err != nil {
		return nil, err
	}
	cur, _ := pool.get()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = cur
	// The client CA bundle is looked up per handshake too, so a CA can be
	// added to (or dropped from) the bundle without a restart.
	base := cfg.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		p, err := pool.get()
		if err != nil {
			return nil, err
		}
		c := base.Clone()
		c.ClientCAs = p
		return c, nil
	}
	return cfg, nil
}

// ClientConfig is the TLS configuration of a dialer (gRPC through DialTLS,
// REST through HTTPClient). serverName is the name the server's certificate
// must carry; empty means the host of the address dialed, which is what a
// caller wants unless it dials an IP address that its certificate does not
// list. The CA bundle is read once, here; the client certificate, if any,
// is re-read from disk when it changes, like a listener's.
func (f TLSFiles) ClientConfig(serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CA != "" {
		pool, err := loadPool("CA bundle", f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.Cert == "" && f.Key == "":
	case f.Cert == "" || f.Key == "":
		return nil, errors.New("tls: a client certificate needs both a certificate file and a key file")
	default:
		pair, err := f.pair()
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return pair.get()
		}
	}
	return cfg, nil
}

func (f TLSFiles) logger() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

func (f TLSFiles) pair() (*watched[*tls.Certificate], error) {
	w := &watched[*tls.Certificate]{
		files: []string{f.Cert, f.Key},
		load:  func() (*tls.Certificate, error) { return loadPair(f.Cert, f.Key) },
	}
	w.loaded = func(c *tls.Certificate) {
		f.logger().Info("tls certificate loaded", "cert", f.Cert, "subject", c.Leaf.Subject.String(),
			"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	w.failed = func(err error) {
		f.logger().Warn("tls certificate not reloaded, keeping the previous one", "err", err)
	}
	if _, err := w.get(); err != nil {
		return nil, err
	}
	return w, nil
}

func (f TLSFiles) watchPool(what, file string) (*watched[*x509.CertPool], error) {
	w := &watched[*x509.CertPool]{
		files: []string{file},
		load:  func() (*x509.CertPool, error) { return loadPool(what, file) },
	}
	w.loaded = func(*x509.CertPool) { f.logger().Info("tls "+what+" loaded", "file", file) }
	w.failed = func(err error) {
		f.logger().Warn("tls "+what+" not reloaded, keeping the previous one", "err", err)
	}
	if _, err := w.get(); err != nil {
		return nil, err
	}
	return w, nil
}

// watched is a value read from files, re-read when they change.
type watched[T any] struct {
	files  []string
	load   func() (T, error)
	loaded func(T)     // after every successful load after the first
	failed func(error) // after a failed reload while an older value serves

	mu    sync.Mutex
	have  bool
	val   T
	sig   stamp     // the files val was read from
	at    time.Time // when val was read
	bad   stamp     // files that failed to load
	badAt time.Time
}

// get returns the current value. A reload that fails keeps the previous
// value: rotation tools that write the certificate and then the key leave a
// moment where the two do not match, and a listener must not go dark for
// it. Files that failed are not re-read until they change again.
func (w *watched[T]) get() (T, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sig := stampFiles(w.files)
	now := time.Now()
	if w.have && sig.same(w.sig) && now.Sub(w.at) < reloadEvery {
		return w.val, nil
	}
	if w.have && sig.same(w.bad) && now.Sub(w.badAt) < reloadEvery {
		return w.val, nil
	}
	v, err := w.load()
	if err != nil {
		if !w.have {
			var zero T
			return zero, err
		}
		if !sig.same(w.bad) && w.failed != nil {
			w.failed(err)
		}
		w.bad, w.badAt = sig, now
		return w.val, nil
	}
	if w.have && !sig.same(w.sig) && w.loaded != nil {
		w.loaded(v)
	}
	w.have, w.val, w.sig, w.at, w.bad = true, v, sig, now, nil
	return v, nil
}

// stamp is what the files looked like: which file (a rename into place
// makes another, even when size and time match), its size and its time.
// os.Stat follows links, so a secret mount that swaps a symlink counts.
type stamp []os.FileInfo

func stampFiles(files []string) stamp {
	s := make(stamp, len(files))
	for i, f := range files {
		s[i], _ = os.Stat(f)
	}
	return s
}

func (s stamp) same(o stamp) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		a, b := s[i], o[i]
		if a == nil || b == nil {
			if a != b {
				return false
			}
			continue
		}
		if !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
			return false
		}
	}
	return true
}

func readTLSFile(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("tls %s %s: file does not exist", what, path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("tls %s %s: permission denied", what, path)
	default:
		return nil, fmt.Errorf("tls %s: %w", what, err)
	}
}

// pemBlocks returns the PEM blocks of a file. Only block types reach error
// messages, never their contents, so a key given where a certificate was
// expected is named without being printed.
func pemBlocks(b []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		out = append(out, blk)
	}
}

func isKeyBlock(typ string) bool { return strings.HasSuffix(typ, "PRIVATE KEY") }

func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := readTLSFile("certificate", certFile)
	if err != nil {
		return nil, err
	}
	chain, err := parseCerts("certificate", certFile, certPEM)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readTLSFile("key", keyFile)
	if err != nil {
		return nil, err
	}
	var key *pem.Block
	blocks := pemBlocks(keyPEM)
	for _, blk := range blocks {
		if isKeyBlock(blk.Type) {
			key = blk
			break
		}
	}
	switch {
	case key == nil && len(blocks) == 0:
		return nil, fmt.Errorf("tls key %s: not a PEM file (want a -----BEGIN PRIVATE KEY----- block)", keyFile)
	case key == nil:
		return nil, fmt.Errorf("tls key %s: holds a %s block, not a private key (certificate and key swapped?)", keyFile, blocks[0].Type)
	case key.Headers["Proc-Type"] != "":
		return nil, fmt.Errorf("tls key %s: the key is encrypted; give it unencrypted (PKCS#8, readable by this service only)", keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(key))
	if err != nil {
		// crypto/tls's messages say what is wrong without quoting the key.
		msg := err.Error()
		if strings.Contains(msg, "does not match") {
			return nil, fmt.Errorf("tls key %s does not match certificate %s", keyFile, certFile)
		}
		return nil, fmt.Errorf("tls key %s: %s", keyFile, strings.TrimPrefix(msg, "tls: "))
	}
	pair.Leaf = chain[0]
	if err := checkValidity("certificate", certFile, chain[0], time.Now()); err != nil {
		return nil, err
	}
	return &pair, nil
}

func parseCerts(what, file string, b []byte) ([]*x509.Certificate, error) {
	blocks := pemBlocks(b)
	if len(blocks) == 0 {
		return nil, fmt.Errorf("tls %s %s: not a PEM file (want -----BEGIN CERTIFICATE----- blocks)", what, file)
	}
	var certs []*x509.Certificate
	for _, blk := range blocks {
		if isKeyBlock(blk.Type) {
			return nil, fmt.Errorf("tls %s %s: holds a private key; it should hold certificates only (certificate and key swapped?)", what, file)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls %s %s: certificate %d does not parse: %v", what, file, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("tls %s %s: no CERTIFICATE block (found %s)", what, file, blocks[0].Type)
	}
	return certs, nil
}

func checkValidity(what, file string, c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("tls %s %s: expired at %s (subject %s)", what, file, c.NotAfter.UTC().Format(time.RFC3339), c.Subject)
	case now.Before(c.NotBefore):
		return fmt.Errorf("tls %s %s: not valid before %s (subject %s; is the clock right?)", what, file, c.NotBefore.UTC().Format(time.RFC3339), c.Subject)
	}
	return nil
}

// loadPool reads a CA bundle. An expired CA in a bundle is normal while a
// rotation is under way, so the bundle fails only if no CA in it is valid.
func loadPool(what, file string) (*x509.CertPool, error) {
	b, err := readTLSFile(what, file)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(what, file, b)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	now := time.Now()
	var firstErr error
	valid := 0
	for _, c := range certs {
		pool.AddCert(c)
		if err := checkValidity(what, file, c, now); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		valid++
	}
	if valid == 0 {
		return nil, firstErr
	}
	return pool, nil
}

// ListenTLS is Listen with TLS: with cfg (from TLSFiles.ServerConfig) the
// port speaks HTTP/2 and HTTP/1.1 over TLS only, so native gRPC, gRPC-Web
// and plain routes all need a TLS client; with cfg nil it is Listen,
// cleartext with HTTP/2 by prior knowledge (h2c).
func ListenTLS(name, addr string, h http.Handler, log *slog.Logger, cfg *tls.Config) (*Server, error) {
	s, err := Listen(name, addr, h, log)
	if err != nil || cfg == nil {
		return s, err
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	s.http.Protocols = &protos
	s.ln = tls.NewListener(lingerListener{s.ln}, lingerConfig(cfg))
	s.tls = true
	return s, nil
}

// A client refused in the handshake should learn why. Under TLS 1.3 the
// client finishes its side of the handshake before the server has judged
// its certificate, and writes its first request at once; the server's
// alert ("certificate required") then goes out on a socket with unread data
// in it, and closing that socket sends a reset that can overtake the alert:
// the client sees "connection reset" or "broken pipe" instead. So a
// connection whose handshake did not succeed is closed the lingering way:
// end the sending side after the alert, read and discard what the client
// sent for a moment, then close.
const lingerFor = time.Second

type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

type lingerConn struct {
	net.Conn
	handshook atomic.Bool
}

func (c *lingerConn) Close() error {
	tc, ok := c.Conn.(*net.TCPConn)
	if c.handshook.Load() || !ok {
		return c.Conn.Close()
	}
	if err := tc.CloseWrite(); err != nil {
		return tc.Close()
	}
	tc.SetReadDeadline(time.Now().Add(lingerFor))
	go func() {
		io.Copy(io.Discard, io.LimitReader(tc, 1<<20))
		tc.Close()
	}()
	return nil
}

// lingerConfig marks each connection whose handshake succeeded, which is
// when crypto/tls calls VerifyConnection (for resumed sessions too).
func lingerConfig(cfg *tls.Config) *tls.Config {
	base := cfg.Clone()
	c := cfg.Clone()
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		conf := base
		if base.GetConfigForClient != nil {
			got, err := base.GetConfigForClient(hello)
			if err != nil {
				return nil, err
			}
			if got != nil {
				conf = got
			}
		}
		lc, ok := hello.Conn.(*lingerConn)
		if !ok {
			return conf, nil
		}
		conf = conf.Clone()
		verify := conf.VerifyConnection
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if verify != nil {
				if err := verify(cs); err != nil {
					return err
				}
			}
			lc.handshook.Store(true)
			return nil
		}
		return conf, nil
	}
	return c
}

// TLS reports whether the port speaks TLS.
func (s *Server) TLS() bool { return s.tls }

// DialTLS is Dial with TLS (cfg from TLSFiles.ClientConfig); cfg nil is Dial,
// cleartext. Connecting is lazy, so a server whose certificate is not
// trusted shows on the first call: an Unavailable status whose message says
// so (ExplainTLS turns it into a reason to print).
func DialTLS(target string, cfg *tls.Config) (*grpc.ClientConn, error) {
	if cfg == nil {
		return Dial(target)
	}
	return dial(target, explainCreds{credentials.NewTLS(cfg)}, cfg.ServerName == "")
}

// explainCreds puts the reason for a failed handshake, and the server it
// failed with, into the error that gRPC turns into the call's status.
type explainCreds struct {
	credentials.TransportCredentials
}

func (c explainCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	nc, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil && ctx.Err() == nil {
		if why := ExplainTLS(err); why != "" {
			err = &HandshakeError{Server: authority, Reason: why, Err: err}
		}
	}
	return nc, info, err
}

func (c explainCreds) Clone() credentials.TransportCredentials {
	return explainCreds{c.TransportCredentials.Clone()}
}

// HandshakeError is a TLS handshake that failed for a reason ExplainTLS
// knows.
type HandshakeError struct {
	Server string // the name the certificate was checked against
	Reason string
	Err    error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("TLS with %s: %s (%v)", e.Server, e.Reason, e.Err)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// ExplainTLS says in a few words why err is a failed TLS connection, or ""
// if it is not one. It reads the error's text as well as its type, because
// gRPC hands handshake failures back as a status carrying text only. A
// caller adds the setting to look at, e.g. "TLS: %s (check --tls-ca)".
func ExplainTLS(err error) string {
	if err == nil {
		return ""
	}
	var he *HandshakeError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &he):
		return he.Reason
	case errors.As(err, &unknown):
		return reasonUntrusted
	case errors.As(err, &host):
		return reasonName
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return reasonExpired
	}
	msg := err.Error()
	for _, r := range tlsReasons {
		if strings.Contains(msg, r.text) {
			return r.reason
		}
	}
	return ""
}

const (
	reasonUntrusted = "the server's certificate is not signed by a CA this client trusts"
	reasonName      = "the server's certificate is not issued for the address dialed"
	reasonExpired   = "the server's certificate has expired or is not yet valid"
)

// The texts of crypto/tls and crypto/x509 errors, which reach a gRPC caller
// as text only. Post-handshake alerts matter under TLS 1.3: a server that
// refuses the client certificate says so after the client's handshake has
// already succeeded, so it shows as a failure to read the server preface.
var tlsReasons = []struct{ text, reason string }{
	{"certificate signed by unknown authority", reasonUntrusted},
	{"x509: certificate is valid for", reasonName},
	{"x509: certificate is not valid for any names", reasonName},
	{"x509: cannot validate certificate for", reasonName},
	{"x509: certificate has expired or is not yet valid", reasonExpired},
	{"remote error: tls: certificate required", "the server requires a client certificate and none was sent"},
	{"remote error: tls: unknown certificate authority", "the server does not trust the client certificate"},
	{"remote error: tls: bad certificate", "the server refused the client certificate"},
	{"remote error: tls: expired certificate", "the server refused the client certificate as expired"},
	{"tls: first record does not look like a TLS handshake", "the server does not speak TLS"},
	{"server gave HTTP response to HTTPS client", "the server does not speak TLS"},
}

// HTTPClient is an HTTP client for the REST calls between services: TLS
// with cfg (from TLSFiles.ClientConfig, for https:// URLs), HTTP/2 when the
// server offers it, proxies from the environment as http.DefaultTransport
// does. cfg nil is plain net/http defaults. There is no overall timeout; a
// caller that wants one sets Timeout on the result. A request that fails
// because the server refused this client in the TLS handshake fails with a
// *HandshakeError saying so.
func HTTPClient(cfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg != nil {
		tr.TLSClientConfig = cfg.Clone()
	}
	tr.ForceAttemptHTTP2 = true
	return &http.Client{Transport: &explainTransport{Transport: tr}}
}

// explainTransport finds the reason for a connection refused in the
// handshake when net/http has lost it. Under TLS 1.3 a server's refusal of
// the client certificate comes after the client's handshake has succeeded;
// net/http's HTTP/2 client then often reports only "client conn could not
// be established". One more handshake, reading the server's first bytes,
// gets the refusal itself. Only that failure costs the extra connection.
type explainTransport struct{ *http.Transport }

func (t *explainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Transport.RoundTrip(req)
	if err == nil || req.URL.Scheme != "https" || ExplainTLS(err) != "" ||
		!strings.Contains(err.Error(), "client conn could not be established") {
		return resp, err
	}
	port := req.URL.Port()
	if port == "" {
		port = "443"
	}
	addr := net.JoinHostPort(req.URL.Hostname(), port)
	if why := probeTLS(req.Context(), addr, req.URL.Hostname(), t.TLSClientConfig); why != "" {
		return nil, &HandshakeError{Server: addr, Reason: why, Err: err}
	}
	return nil, err
}

func probeTLS(ctx context.Context, addr, host string, cfg *tls.Config) string {
	c := &tls.Config{}
	if cfg != nil {
		c = cfg.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	c.NextProtos = []string{"h2", "http/1.1"}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: c}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return ExplainTLS(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	}
	_, err = conn.Read(make([]byte, 1))
	return ExplainTLS(err)
}

// IsLoopback reports whether a listen address binds the loopback interface
// only ("127.0.0.1:8080", "[::1]:8080", "localhost:8080"), where cleartext
// reaches no other machine. An empty host (":8080"), an unspecified one
// ("0.0.0.0") or any other name or address is not loopback: a name other
// than localhost may resolve anywhere.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

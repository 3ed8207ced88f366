// Package testpki makes certificate authorities and certificates for tests,
// at run time and into the test's temporary directory, so no key is ever
// committed and none outlives the test.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is one certificate authority and the files it issues. Every New makes
// two unrelated authorities: the one returned, and Other, whose
// certificates the first does not trust, for tests that must be refused.
type PKI struct {
	t     testing.TB
	dir   string
	name  string
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	file  string
	other *PKI
	mu    *sync.Mutex
	n     *int
}

// New makes a CA and an unrelated one, with files under t.TempDir().
func New(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	mu, n := new(sync.Mutex), new(int)
	a := newCA(t, dir, "tsskit test CA", "ca", mu, n)
	b := newCA(t, dir, "tsskit unrelated CA", "other-ca", mu, n)
	a.other, b.other = b, a
	return a
}

func newCA(t testing.TB, dir, cn, name string, mu *sync.Mutex, n *int) *PKI {
	p := &PKI{t: t, dir: dir, name: name, mu: mu, n: n}
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tsskit tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testpki: CA: %v", err)
	}
	p.cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: CA: %v", err)
	}
	p.key = key
	p.file = p.WritePEM(name+".pem", &pem.Block{Type: "CERTIFICATE", Bytes: der})
	return p
}

// Other is the unrelated CA: it does not trust this one's certificates, nor
// this one its.
func (p *PKI) Other() *PKI { return p.other }

// CAFile is the CA's certificate, a PEM bundle of one.
func (p *PKI) CAFile() string { return p.file }

// CA is the CA's certificate.
func (p *PKI) CA() *x509.Certificate { return p.cert }

// Pool is a pool holding the CA only.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

// Dir is the directory the files are written to.
func (p *PKI) Dir() string { return p.dir }

// Server issues a certificate for 127.0.0.1, ::1 and localhost and the
// given names (IP addresses or DNS names), valid from an hour ago for a
// day. It carries the clientAuth usage as well as serverAuth because a
// service dials its peers with the certificate it listens with.
func (p *PKI) Server(names ...string) (certFile, keyFile string) {
	p.t.Helper()
	return p.Issue(Options{Names: append([]string{"127.0.0.1", "::1", "localhost"}, names...),
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
}

// Client issues a client certificate (clientAuth only) with common name cn.
func (p *PKI) Client(cn string) (certFile, keyFile string) {
	p.t.Helper()
	return p.Issue(Options{CommonName: cn, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// Expired issues a server certificate for the loopback names that expired
// an hour ago.
func (p *PKI) Expired() (certFile, keyFile string) {
	p.t.Helper()
	now := time.Now()
	return p.Issue(Options{Names: []string{"127.0.0.1", "::1", "localhost"},
		Usage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
}

// Options shape a certificate Issue makes.
type Options struct {
	CommonName string
	Names      []string // SANs: IP addresses or DNS names
	Usage      []x509.ExtKeyUsage
	// Validity; zero means from an hour ago for a day.
	NotBefore, NotAfter time.Time
}

// Issue makes a key and a certificate signed by the CA and writes them as
// PEM (the key as PKCS#8, readable by the owner only). Each call writes new
// files.
func (p *PKI) Issue(o Options) (certFile, keyFile string) {
	p.t.Helper()
	key := newKey(p.t)
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(p.t),
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: []string{"tsskit tests"}},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  o.Usage,
	}
	for _, n := range o.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if tmpl.Subject.CommonName == "" && len(o.Names) > 0 {
		tmpl.Subject.CommonName = o.Names[len(o.Names)-1]
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatalf("testpki: issue: %v", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		p.t.Fatalf("testpki: key: %v", err)
	}
	p.mu.Lock()
	*p.n++
	i := *p.n
	p.mu.Unlock()
	base := fmt.Sprintf("%s-%d", p.name, i)
	certFile = p.WritePEM(base+".pem", &pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyFile = p.WritePEM(base+"-key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	return certFile, keyFile
}

// WritePEM writes blocks to name in the PKI's directory and returns the
// path. Files are written whole under a temporary name and renamed into
// place, as a rotation tool would, so a reader never sees half a file.
func (p *PKI) WritePEM(name string, blocks ...*pem.Block) string {
	p.t.Helper()
	var b []byte
	for _, blk := range blocks {
		b = append(b, pem.EncodeToMemory(blk)...)
	}
	return p.WriteFile(name, b)
}

// WriteFile writes b to name in the PKI's directory (atomically, mode 0600)
// and returns the path.
func (p *PKI) WriteFile(name string, b []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	tmp, err := os.CreateTemp(p.dir, ".tmp-*")
	if err != nil {
		p.t.Fatalf("testpki: %v", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		p.t.Fatalf("testpki: write %s: %v", name, err)
	}
	return path
}

// Replace puts the contents of the files from over the files to, each
// atomically: how a rotated certificate and key land.
func (p *PKI) Replace(toCert, toKey, fromCert, fromKey string) {
	p.t.Helper()
	for _, f := range [][2]string{{toCert, fromCert}, {toKey, fromKey}} {
		b, err := os.ReadFile(f[1])
		if err != nil {
			p.t.Fatalf("testpki: %v", err)
		}
		rel, err := filepath.Rel(p.dir, f[0])
		if err != nil || filepath.Dir(rel) != "." {
			p.t.Fatalf("testpki: %s is not in %s", f[0], p.dir)
		}
		p.WriteFile(rel, b)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testpki: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

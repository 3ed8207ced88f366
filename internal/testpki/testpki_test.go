package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

func load(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	return loadPair(t, [2]string{certFile, keyFile})
}

func loadPair(t *testing.T, files [2]string) *x509.Certificate {
	t.Helper()
	certFile, keyFile := files[0], files[1]
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	return pair.Leaf
}

func pair(certFile, keyFile string) [2]string { return [2]string{certFile, keyFile} }

func TestIssuedCertificatesVerify(t *testing.T) {
	p := New(t)
	srv := loadPair(t, pair(p.Server("tss.example")))
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "tss.example"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: p.Pool(), DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if err := srv.VerifyHostname("other.example"); err == nil {
		t.Error("server certificate is valid for a name it was not issued for")
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: p.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("server certificate for usage %v: %v", usage, err)
		}
	}

	cli := loadPair(t, pair(p.Client("party-1")))
	if cli.Subject.CommonName != "party-1" {
		t.Errorf("client common name %q", cli.Subject.CommonName)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: p.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: p.Pool()}); err == nil {
		t.Error("a client certificate verifies as a server's")
	}
}

func TestOtherCAIsUnrelated(t *testing.T) {
	p := New(t)
	o := p.Other()
	if o == p || o.Other() != p {
		t.Fatal("Other is not a distinct pair")
	}
	if o.CAFile() == p.CAFile() {
		t.Fatal("both CAs share a file")
	}
	if _, err := loadPair(t, pair(o.Server())).Verify(x509.VerifyOptions{Roots: p.Pool(), DNSName: "localhost"}); err == nil {
		t.Error("the CA trusts the other CA's server certificate")
	}
	if _, err := loadPair(t, pair(p.Server())).Verify(x509.VerifyOptions{Roots: o.Pool(), DNSName: "localhost"}); err == nil {
		t.Error("the other CA trusts the CA's server certificate")
	}
}

func TestExpired(t *testing.T) {
	p := New(t)
	_, err := loadPair(t, pair(p.Expired())).Verify(x509.VerifyOptions{Roots: p.Pool(), DNSName: "localhost"})
	if inv, ok := err.(x509.CertificateInvalidError); !ok || inv.Reason != x509.Expired {
		t.Fatalf("expired certificate verifies with %v", err)
	}
}

func TestFiles(t *testing.T) {
	p := New(t)
	b, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("CA file is not a PEM certificate")
	}
	c1, k1 := p.Server()
	c2, k2 := p.Server()
	if c1 == c2 || k1 == k2 {
		t.Fatal("two issues share files")
	}
	fi, err := os.Stat(k1)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	first := load(t, c1, k1)
	p.Replace(c1, k1, c2, k2)
	if second := load(t, c1, k1); second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("Replace left the old certificate")
	}
}

package auth_test

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/auth"
)

func TestClientIP(t *testing.T) {
	trusted, err := auth.ParseAllowlist("10.0.0.1, 10.1.0.0/16, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := auth.ParseAllowlist("")
	tests := []struct {
		name    string
		trusted *auth.Allowlist
		remote  string
		xff     []string // header lines; nil: no header
		want    string
		err     error
	}{
		// No trusted proxies: the peer, whatever the header says.
		{name: "nil list: peer", trusted: nil, remote: "203.0.113.5:1", xff: []string{"10.0.0.9"}, want: "203.0.113.5"},
		{name: "empty list trusts no one", trusted: empty, remote: "10.0.0.1:1", xff: []string{"192.0.2.1"}, want: "10.0.0.1"},
		{name: "nil list: malformed header ignored", trusted: nil, remote: "203.0.113.5:1", xff: []string{"garbage"}, want: "203.0.113.5"},
		// An untrusted peer's header is ignored, malformed or not.
		{name: "untrusted peer: spoofed header", trusted: trusted, remote: "203.0.113.5:1", xff: []string{"10.0.0.1"}, want: "203.0.113.5"},
		{name: "untrusted peer: malformed header", trusted: trusted, remote: "203.0.113.5:1", xff: []string{"not an ip"}, want: "203.0.113.5"},
		{name: "untrusted peer: no header", trusted: trusted, remote: "[2001:db8::7]:1", want: "2001:db8::7"},
		// A trusted peer: right-most untrusted entry.
		{name: "trusted peer, one entry", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1"}, want: "192.0.2.1"},
		{name: "trusted peer, client-written left part ignored", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"10.9.9.9, 198.51.100.7, 192.0.2.1"}, want: "192.0.2.1"},
		{name: "garbage left of the client is not read", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"garbage, ,x:y, 192.0.2.1"}, want: "192.0.2.1"},
		{name: "chain of trusted proxies skipped", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1, 10.1.2.3, 10.1.4.4"}, want: "192.0.2.1"},
		{name: "spaces and tabs", trusted: trusted, remote: "10.0.0.1:1", xff: []string{" 192.0.2.1 ,\t10.1.2.3\t"}, want: "192.0.2.1"},
		{name: "several header lines read as one list", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1", "10.1.0.5"}, want: "192.0.2.1"},
		{name: "several lines: last line's untrusted entry wins", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1", "198.51.100.2"}, want: "198.51.100.2"},
		{name: "all trusted: left-most", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"10.1.0.9, 10.1.0.8"}, want: "10.1.0.9"},
		{name: "trusted peer without header is the client", trusted: trusted, remote: "10.0.0.1:1", want: "10.0.0.1"},
		{name: "v6 proxy, v6 client", trusted: trusted, remote: "[fd00::1]:443", xff: []string{"2001:db8::42"}, want: "2001:db8::42"},
		{name: "mapped peer is trusted", trusted: trusted, remote: "[::ffff:10.0.0.1]:1", xff: []string{"192.0.2.1"}, want: "192.0.2.1"},
		{name: "mapped entry unmapped", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"::ffff:192.0.2.1"}, want: "192.0.2.1"},
		{name: "mapped trusted entry skipped", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1, ::ffff:10.1.0.1"}, want: "192.0.2.1"},
		// Malformed where the walk reads it: refused, never the peer.
		{name: "empty header", trusted: trusted, remote: "10.0.0.1:1", xff: []string{""}, err: auth.ErrBadForwardedFor},
		{name: "blank header", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"  "}, err: auth.ErrBadForwardedFor},
		{name: "garbage", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"not-an-ip"}, err: auth.ErrBadForwardedFor},
		{name: "unknown", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"unknown"}, err: auth.ErrBadForwardedFor},
		{name: "port", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1:8080"}, err: auth.ErrBadForwardedFor},
		{name: "bracketed v6", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"[2001:db8::1]"}, err: auth.ErrBadForwardedFor},
		{name: "zone", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"fe80::1%eth0"}, err: auth.ErrBadForwardedFor},
		{name: "trailing comma", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1,"}, err: auth.ErrBadForwardedFor},
		{name: "empty entry between proxies", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.1,,10.1.0.1"}, err: auth.ErrBadForwardedFor},
		{name: "garbage behind a trusted hop", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"x, 10.1.0.1"}, err: auth.ErrBadForwardedFor},
		{name: "CIDR entry", trusted: trusted, remote: "10.0.0.1:1", xff: []string{"192.0.2.0/24"}, err: auth.ErrBadForwardedFor},
		{name: "too many trusted hops", trusted: trusted, remote: "10.0.0.1:1", xff: []string{strings.Repeat("10.1.0.1,", 40) + "10.1.0.1"}, err: auth.ErrBadForwardedFor},
		// The peer itself.
		{name: "peer not an IP", trusted: trusted, remote: "@", xff: []string{"192.0.2.1"}, err: auth.ErrNoClientIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			r.Header.Set("X-Real-IP", "10.1.1.1")
			r.Header.Set("Forwarded", "for=10.1.1.1")
			got, err := auth.ClientIP(r, tt.trusted)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || got.IsValid() {
					t.Fatalf("ClientIP = %v, %v; want %v", got, err, tt.err)
				}
				if _, ok := errors.AsType[*auth.Error](err); !ok {
					t.Fatalf("error %T is not *auth.Error", err)
				}
				for _, v := range tt.xff {
					if len(v) > 3 && strings.Contains(err.Error(), strings.TrimSpace(v)) {
						t.Fatalf("error quotes the header: %v", err)
					}
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ClientIP = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// FuzzClientIP: whatever X-Forwarded-For says, ClientIP returns an address
// or a typed error, an untrusted peer is always its own client, and a
// forwarded client is never a trusted proxy unless every entry walked was.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "10.9.9.9, 192.0.2.1, 10.1.0.1", "", " , ", "[::1]", "1.2.3.4:80", "fe80::1%eth0", "::ffff:10.1.0.1"} {
		f.Add("10.0.0.1:1", s)
		f.Add("203.0.113.5:1", s)
	}
	trusted, _ := auth.ParseAllowlist("10.0.0.1, 10.1.0.0/16")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{xff}
		ip, err := auth.ClientIP(r, trusted)
		peer, ok := auth.RemoteIP(r)
		if err != nil {
			if _, isAuth := errors.AsType[*auth.Error](err); !isAuth || ip.IsValid() {
				t.Fatalf("ClientIP = %v, %T %v", ip, err, err)
			}
			if ok && !trusted.Allows(peer) {
				t.Fatalf("untrusted peer %v refused: %v", peer, err)
			}
			return
		}
		if !ip.IsValid() || ip != ip.Unmap().WithZone("") {
			t.Fatalf("ClientIP = %v", ip)
		}
		if !trusted.Allows(peer) && ip != peer {
			t.Fatalf("untrusted peer %v, client %v", peer, ip)
		}
		if trusted.Allows(ip) && ip != peer && strings.Contains(xff, ",") {
			// Every entry walked was trusted: the client is the
			// left-most entry.
			first := strings.Trim(strings.Split(xff, ",")[0], " \t")
			if a, err := netip.ParseAddr(first); err != nil || a.Unmap() != ip {
				t.Fatalf("trusted client %v is not the left-most entry of %q", ip, xff)
			}
		}
	})
}

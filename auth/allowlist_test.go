package auth_test

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/auth"
)

func TestKeyEqual(t *testing.T) {
	tests := []struct {
		got, want string
		eq        bool
	}{
		{"s3cret-key", "s3cret-key", true},
		{"s3cret-kex", "s3cret-key", false},
		{"s3cret-ke", "s3cret-key", false},
		{"s3cret-key!", "s3cret-key", false},
		{"", "s3cret-key", false},
		{"S3CRET-KEY", "s3cret-key", false},
		{"", "", false}, // an empty key never matches
		{"x", "", false},
	}
	for _, tt := range tests {
		if got := auth.KeyEqual(tt.got, tt.want); got != tt.eq {
			t.Errorf("KeyEqual(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.eq)
		}
	}
}

func TestParseAllowlist(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		str      string // String(); "" for allow-all
		allow    []string
		deny     []string
		errEntry string // non-empty: parse must fail naming this entry
	}{
		{name: "empty", in: "", allow: []string{"10.0.0.1", "2001:db8::1"}},
		{name: "whitespace", in: " \t\n ", allow: []string{"203.0.113.9"}},
		{name: "single v4", in: "10.0.0.1", str: "10.0.0.1",
			allow: []string{"10.0.0.1", "::ffff:10.0.0.1"}, deny: []string{"10.0.0.2", "::1"}},
		{name: "single v6", in: "::1", str: "::1",
			allow: []string{"::1"}, deny: []string{"127.0.0.1", "::2"}},
		{name: "v6 zone on request dropped", in: "fe80::1", str: "fe80::1",
			allow: []string{"fe80::1%eth0"}},
		{name: "mixed list", in: "10.0.0.1, 192.168.0.0/16, ::1", str: "10.0.0.1, 192.168.0.0/16, ::1",
			allow: []string{"10.0.0.1", "192.168.0.1", "192.168.255.255", "::ffff:192.168.3.4", "::1"},
			deny:  []string{"10.0.0.2", "192.169.0.1", "172.16.0.1", "::2"}},
		{name: "v6 CIDR", in: "2001:db8::/32", str: "2001:db8::/32",
			allow: []string{"2001:db8::1", "2001:db8:ffff::1"}, deny: []string{"2001:db9::1", "10.0.0.1"}},
		{name: "mapped v6 entry", in: "::ffff:10.0.0.1", str: "10.0.0.1",
			allow: []string{"10.0.0.1", "::ffff:10.0.0.1"}, deny: []string{"10.0.0.2"}},
		{name: "mapped v6 CIDR entry", in: "::ffff:10.0.0.0/104", str: "10.0.0.0/8",
			allow: []string{"10.1.2.3", "::ffff:10.9.9.9"}, deny: []string{"11.0.0.1"}},
		{name: "v4 CIDR /32 printed as address", in: "10.0.0.7/32", str: "10.0.0.7",
			allow: []string{"10.0.0.7"}, deny: []string{"10.0.0.8"}},
		{name: "all v4", in: "0.0.0.0/0", str: "0.0.0.0/0",
			allow: []string{"1.2.3.4", "::ffff:1.2.3.4"}, deny: []string{"::1"}},
		{name: "no spaces", in: "10.0.0.1,10.0.0.2", str: "10.0.0.1, 10.0.0.2",
			allow: []string{"10.0.0.2"}, deny: []string{"10.0.0.3"}},
		{name: "bad address", in: "10.0.0.1, 10.0.0.256", errEntry: "10.0.0.256"},
		{name: "hostname", in: "localhost", errEntry: "localhost"},
		{name: "bad CIDR bits", in: "10.0.0.0/33", errEntry: "10.0.0.0/33"},
		{name: "host bits set", in: "10.1.2.3/8", errEntry: "10.1.2.3/8"},
		{name: "empty entry", in: "10.0.0.1,,10.0.0.2", errEntry: `""`},
		{name: "trailing comma", in: "10.0.0.1,", errEntry: `""`},
		{name: "only comma", in: ",", errEntry: `""`},
		{name: "zone", in: "fe80::1%eth0", errEntry: "fe80::1%eth0"},
		{name: "port", in: "10.0.0.1:80", errEntry: "10.0.0.1:80"},
		{name: "range", in: "10.0.0.1-10.0.0.9", errEntry: "10.0.0.1-10.0.0.9"},
		{name: "wildcard", in: "*", errEntry: "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := auth.ParseAllowlist(tt.in)
			if tt.errEntry != "" {
				if err == nil {
					t.Fatalf("ParseAllowlist(%q) = %v, want error", tt.in, a)
				}
				if !strings.Contains(err.Error(), tt.errEntry) {
					t.Fatalf("error %q does not name entry %s", err, tt.errEntry)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowlist(%q): %v", tt.in, err)
			}
			if got := a.AllowsAll(); got != (tt.str == "") {
				t.Fatalf("AllowsAll = %v", got)
			}
			if got := a.String(); got != tt.str {
				t.Fatalf("String = %q, want %q", got, tt.str)
			}
			b, err := auth.ParseAllowlist(a.String())
			if err != nil || b.String() != a.String() {
				t.Fatalf("String does not round-trip: %q, %v", b, err)
			}
			for _, s := range tt.allow {
				if !a.Allows(netip.MustParseAddr(s)) {
					t.Errorf("%s denied", s)
				}
			}
			for _, s := range tt.deny {
				if a.Allows(netip.MustParseAddr(s)) {
					t.Errorf("%s allowed", s)
				}
			}
		})
	}
}

func TestAllowlistNilAndInvalid(t *testing.T) {
	var nilList *auth.Allowlist
	if !nilList.AllowsAll() || !nilList.Allows(netip.MustParseAddr("1.2.3.4")) || nilList.String() != "" {
		t.Fatal("nil allowlist must allow all")
	}
	a, err := auth.ParseAllowlist("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	if a.Allows(netip.Addr{}) {
		t.Fatal("invalid address allowed by a restrictive list")
	}
}

func TestRemoteIP(t *testing.T) {
	tests := []struct {
		remote string
		want   string
		ok     bool
	}{
		{"192.0.2.1:1234", "192.0.2.1", true},
		{"[2001:db8::1]:443", "2001:db8::1", true},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1", true},
		{"[fe80::1%eth0]:80", "fe80::1", true},
		{"10.0.0.1", "10.0.0.1", true},
		{"", "", false},
		{"@", "", false},
		{"example.com:80", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-For", "10.9.9.9")
			r.Header.Set("X-Real-IP", "10.9.9.9")
			got, ok := auth.RemoteIP(r)
			if ok != tt.ok || ok && got.String() != tt.want {
				t.Fatalf("RemoteIP(%q) = %v, %v; want %s, %v", tt.remote, got, ok, tt.want, tt.ok)
			}
		})
	}
}

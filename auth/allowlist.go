package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// KeyEqual reports whether the API key got equals want, in constant time. It
// compares SHA-256 digests, so neither the content nor the length of want
// leaks through timing. An empty want never matches.
func KeyEqual(got, want string) bool {
	if want == "" {
		return false
	}
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Allowlist is a set of client addresses and networks. A nil *Allowlist, and
// the one ParseAllowlist returns for an empty string, allows every address.
type Allowlist struct {
	prefixes []netip.Prefix // canonical (masked), IPv4 as 4-byte addresses
}

// ParseAllowlist parses a comma-separated list of IP addresses and CIDR
// networks, e.g. "10.0.0.1, 192.168.0.0/16, ::1". An empty or all-whitespace
// string gives a list that allows all addresses (AllowsAll is true).
//
// Every entry must be valid: an empty entry (",,"), a zone ("fe80::1%eth0")
// or a network with host bits set ("10.1.2.3/8") is an error naming the
// entry, so a typo never silently widens or narrows the list. IPv4-mapped
// IPv6 entries ("::ffff:10.0.0.1", "::ffff:10.0.0.0/104") are stored as IPv4.
func ParseAllowlist(s string) (*Allowlist, error) {
	if strings.TrimSpace(s) == "" {
		return &Allowlist{}, nil
	}
	a := &Allowlist{}
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		p, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("auth: allowlist entry %d %q: %v", i+1, e, err)
		}
		a.prefixes = append(a.prefixes, p)
	}
	return a, nil
}

func parseEntry(e string) (netip.Prefix, error) {
	if e == "" {
		return netip.Prefix{}, fmt.Errorf("empty entry")
	}
	if strings.Contains(e, "%") {
		return netip.Prefix{}, fmt.Errorf("zones are not allowed")
	}
	if !strings.Contains(e, "/") {
		ip, err := netip.ParseAddr(e)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR network")
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR network")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits set (did you mean %s?)", p.Masked())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Allows reports whether ip is in the list. IPv4-mapped IPv6 addresses are
// unmapped and zones dropped before matching. An invalid ip is refused unless
// the list allows all addresses.
func (a *Allowlist) Allows(ip netip.Addr) bool {
	if a.AllowsAll() {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// AllowsAll reports whether the list allows every address (nil or empty).
func (a *Allowlist) AllowsAll() bool { return a == nil || len(a.prefixes) == 0 }

// String returns the list in canonical form, single addresses without a
// prefix length, e.g. "10.0.0.1, 192.168.0.0/16, ::1". A list that allows all
// addresses gives "", so ParseAllowlist(a.String()) is equivalent to a; check
// AllowsAll to log it explicitly.
func (a *Allowlist) String() string {
	if a.AllowsAll() {
		return ""
	}
	parts := make([]string, len(a.prefixes))
	for i, p := range a.prefixes {
		if p.IsSingleIP() {
			parts[i] = p.Addr().String()
		} else {
			parts[i] = p.String()
		}
	}
	return strings.Join(parts, ", ")
}

// RemoteIP returns the client address of r's connection, from r.RemoteAddr
// only, IPv4-mapped addresses unmapped and zones dropped. It reports false
// if RemoteAddr is not an IP address (e.g. a Unix socket).
//
// X-Forwarded-For, X-Real-IP and Forwarded are deliberately ignored: the
// client writes them, so unless a trusted proxy strips and rewrites them,
// believing them would let any client claim an allowlisted address.
func RemoteIP(r *http.Request) (netip.Addr, bool) {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		ip = a
	} else {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

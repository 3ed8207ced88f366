package auth

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries ClientIP walks
// through trusted proxies before it gives up (ErrBadForwardedFor): a real
// chain of proxies is a handful long.
const maxForwardedHops = 32

// ClientIP returns the address of the client that sent r: the one the
// allowlist checks, the rate limit counts and the audit log names.
//
// It is the TCP peer (RemoteIP) unless the peer is in trusted, the reverse
// proxies in front of the service. Then the X-Forwarded-For header is read
// from right to left — each proxy appends the address it got the request
// from — skipping entries that are themselves trusted proxies, and the first
// entry that is not is the client. If every entry is a trusted proxy the
// left-most one is the client; a trusted peer that sends no X-Forwarded-For
// is itself the client (e.g. a proxy's own health check). Several
// X-Forwarded-For header lines are read as one list, in order.
//
// A nil or empty trusted list trusts no one (unlike an Allowlist used as an
// allowlist, where empty allows all): X-Forwarded-For from an untrusted peer
// is ignored, whatever it says, because the client writes it. X-Real-IP and
// Forwarded are never read.
//
// Errors, both *Error: ErrNoClientIP if the peer address is not an IP (e.g. a
// Unix socket); ErrBadForwardedFor if a trusted peer sent an X-Forwarded-For
// entry that is not a bare IPv4 or IPv6 address (empty, a port, a zone,
// "unknown", garbage) where the walk reads it, or a chain longer than 32
// trusted hops. Entries left of the client were written by the client and
// are not read. Callers must refuse the request on error, not fall back to
// the peer address. Error messages never quote the header.
func ClientIP(r *http.Request, trusted *Allowlist) (netip.Addr, error) {
	peer, ok := RemoteIP(r)
	if !ok {
		return netip.Addr{}, &Error{Code: CodeNoClientIP, Err: errors.New("peer address is not an IP address")}
	}
	if !trusts(trusted, peer) {
		return peer, nil
	}
	lines := r.Header.Values("X-Forwarded-For")
	if len(lines) == 0 {
		return peer, nil
	}
	client, hops := netip.Addr{}, 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for {
			j := strings.LastIndexByte(line, ',') // -1: the line's last entry
			hops++
			if hops > maxForwardedHops {
				return netip.Addr{}, newErr(CodeBadForwardedFor, "X-Forwarded-For: more than %d trusted hops", maxForwardedHops)
			}
			ip, err := parseForwarded(line[j+1:])
			if err != nil {
				return netip.Addr{}, err
			}
			if !trusts(trusted, ip) {
				return ip, nil
			}
			client = ip
			if j < 0 {
				break
			}
			line = line[:j]
		}
	}
	return client, nil // every entry is a trusted proxy: the left-most one sent it
}

// parseForwarded parses one X-Forwarded-For entry: optional whitespace
// around a bare IP address, no port, no zone, no brackets.
func parseForwarded(entry string) (netip.Addr, error) {
	e := strings.Trim(entry, " \t")
	if e == "" {
		return netip.Addr{}, newErr(CodeBadForwardedFor, "X-Forwarded-For: empty entry")
	}
	if strings.Contains(e, "%") {
		return netip.Addr{}, newErr(CodeBadForwardedFor, "X-Forwarded-For: entry with a zone")
	}
	ip, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Addr{}, newErr(CodeBadForwardedFor, "X-Forwarded-For: entry is not an IP address")
	}
	return ip.Unmap(), nil
}

// trusts reports whether ip is in the trusted-proxy list; a nil or empty
// list trusts no one.
func trusts(trusted *Allowlist, ip netip.Addr) bool {
	return !trusted.AllowsAll() && trusted.Allows(ip)
}

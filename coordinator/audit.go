package coordinator

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
)

// Audit records are written through the coordinator's logger (Config.Log),
// at INFO, with the fixed message "audit" and the attribute audit=true, so
// they can be filtered out of the service log (e.g. `jq 'select(.audit)'`
// with TSSKIT_LOG_FORMAT=json). The attribute "event" says what happened:
//
//	keygen.requested  a keygen session was created: via, who, ip, user_id, wallet_id, session_id, parties, signers
//	sign.requested    a signing session was created: via, who, ip, user_id, wallet_id, session_id, digest
//	request.refused   a request was refused before any session was made: via, who, ip, op, status/grpc_code, reason
//	session.finished  a session ended: session_id, kind, wallet_id, user_id, state, reason
//	user.token        a user token was handed out: via, who, ip, user_id, operations, wallets, ttl_seconds
//
// via is "rest" (account API) or "grpc"; who is "api-key:<8 hex>" (the
// first 8 hex digits of the SHA-256 of the API key, auth.KeyID),
// "api-key:invalid", "anonymous", or "<token kind>:<subject>" for gRPC
// callers ("admin:alice"); ip is the client address (behind a trusted proxy,
// the forwarded client; then peer is the proxy) or "unknown"; reason is a
// short error code ("unauthorized", "rate_limited", "invalid_argument", …),
// or for session.finished the failure reason.
//
// What is never written: API keys (only KeyID), tokens, signing keys,
// passwords, shares or anything from a request body other than the ids
// above. The digest to sign is written as hex: it is what the caller asks
// the wallet to sign and becomes public with the signature. Signatures and
// public keys are public but not written: the store has them.
const (
	auditKeygenRequested   = "keygen.requested"
	auditRefreshRequested  = "refresh.requested"
	auditReshareRequested  = "reshare.requested"
	auditRecoveryRequested = "recovery.requested"
	auditSignRequested     = "sign.requested"
	auditRefused           = "request.refused"
	auditFinished          = "session.finished"
	auditUserToken         = "user.token"
)

// maxAuditText bounds free text (paths, failure reasons, subjects) in an
// audit record.
const maxAuditText = 256

// audit writes one audit record: message "audit", audit=true, event, then
// attrs.
func (c *Coordinator) audit(ctx context.Context, event string, attrs ...slog.Attr) {
	if c == nil || c.log == nil {
		return
	}
	all := make([]slog.Attr, 0, len(attrs)+2)
	all = append(all, slog.Bool("audit", true), slog.String("event", event))
	all = append(all, attrs...)
	c.log.LogAttrs(ctx, slog.LevelInfo, "audit", all...)
}

// auditFinish records that a session ended in state (completed or failed,
// with reason for a failure).
func (c *Coordinator) auditFinish(sessionID string, kind store.SessionKind, walletID, userID string, state store.SessionState, reason string) {
	attrs := []slog.Attr{
		slog.String("session_id", sessionID), slog.String("kind", string(kind)),
		slog.String("wallet_id", walletID), slog.String("user_id", userID), slog.String("state", string(state)),
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", clip(reason)))
	}
	c.audit(context.Background(), auditFinished, attrs...)
}

// restWho returns the who, ip (and peer, when a proxy forwarded the
// request) attributes of a REST caller, from what auth.NewGuard stored.
func restWho(c auth.Caller) []slog.Attr {
	who := c.Who
	if who == "" {
		who = auth.WhoAnonymous
	}
	attrs := []slog.Attr{slog.String("via", "rest"), slog.String("who", who), slog.String("ip", ipString(c.IP))}
	if c.Peer.IsValid() && c.Peer != c.IP {
		attrs = append(attrs, slog.String("peer", ipString(c.Peer)))
	}
	return attrs
}

// restOp names what a REST request asked for.
func restOp(r *http.Request) string {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/api/v1/accounts":
		return "keygen"
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/api/v1/accounts/") && strings.HasSuffix(p, "/sign"):
		return "sign"
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/api/v1/accounts/"):
		return "get_account"
	}
	return "other"
}

// restRefusal is a request.refused record for a REST request: no key, no
// body, no query string.
func restRefusal(r *http.Request, c auth.Caller, httpStatus int, code string, suppressed int64) []slog.Attr {
	attrs := append(restWho(c),
		slog.String("op", restOp(r)), slog.String("method", clip(r.Method)), slog.String("path", clip(r.URL.Path)),
		slog.Int("status", httpStatus), slog.String("reason", code))
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	return attrs
}

// grpcWho returns the who and ip attributes of a gRPC caller: the verified
// token's kind and subject, and the connection's peer address.
func grpcWho(ctx context.Context) []slog.Attr {
	who := auth.WhoAnonymous
	if cl, ok := auth.FromContext(ctx); ok {
		who = cl.Kind + ":" + clip(cl.Subject)
	}
	ip := netip.Addr{}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
			ip = ap.Addr().Unmap().WithZone("")
		}
	}
	return []slog.Attr{slog.String("via", "grpc"), slog.String("who", who), slog.String("ip", ipString(ip))}
}

// auditGRPCRefused records a refused gRPC call: the status code only, not
// its message (which may quote the request).
func (c *Coordinator) auditGRPCRefused(ctx context.Context, op string, err error) {
	code := status.Code(err)
	c.audit(ctx, auditRefused, append(grpcWho(ctx),
		slog.String("op", op), slog.String("grpc_code", code.String()), slog.String("reason", grpcReason(err)))...)
}

// grpcReason is the REST-style code of a gRPC error ("invalid_argument",
// "forbidden", …), so both kinds of refusal read alike.
func grpcReason(err error) string {
	st, _ := errorCode(err)
	return st
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	return ip.String()
}

// clip bounds free text in a record, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxAuditText {
		return s
	}
	s = s[:maxAuditText]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// refusalLog thins request.refused records of the REST API so that a flood
// of refused requests cannot flood the log: per (client address, reason),
// at most a burst of 10 and then 1 a second; the next record written
// carries how many were left out since the last one.
type refusalLog struct {
	limit      *auth.RateLimiter
	suppressed atomic.Int64
}

func newRefusalLog() *refusalLog {
	return &refusalLog{limit: auth.NewRateLimiter(auth.RateLimit{PerSecond: 1, Burst: 10}, nil, 0)}
}

// take reports whether to write a record for (ip, code) and how many were
// suppressed before it.
func (l *refusalLog) take(ip netip.Addr, code string) (bool, int64) {
	if ok, _ := l.limit.Allow(code + "|" + ip.String()); !ok {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

package serverparty

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/httpx"
	"github.com/rwadurian/tsskit/internal/pwrule"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// APIConfig configures the server-party API. It takes no API key: the
// coordinator calls it with a token it signs for the one session the call
// is about (the user party's party token), and an operator reads
// /api/v1/health with an admin token, both verified under the party's
// pinned deployment root. The process that serves it therefore holds no
// credential that works on the account API.
type APIConfig struct {
	Allow   *auth.Allowlist // ALLOWED_IPS; nil allows all (development only)
	Timeout time.Duration   // per request (default 3m)
	// RateLimit (RATE_LIMIT) per (API key, client address), as the account
	// API's; nil takes auth.DefaultRateLimit, a zero RateLimit does not limit.
	RateLimit      *auth.RateLimit
	TrustedProxies *auth.Allowlist
}

// API returns the server-party API handler (/health, /api/v1/shares/generate).
func (p *Party) API(cfg APIConfig) http.Handler {
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Minute
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		st, code := "ok", http.StatusOK
		if !p.Online() {
			st, code = "degraded", http.StatusServiceUnavailable
		}
		httpx.WriteJSON(w, code, map[string]any{"status": st})
	})
	// The party id, counts and vault key id: behind the guard, for an
	// operator's admin token.
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) {
		if c, _ := auth.FromContext(r.Context()); c.Require(auth.KindAdmin) != nil {
			httpx.WriteError(w, http.StatusForbidden, "forbidden", "an admin token reads the details")
			return
		}
		st, code := "ok", http.StatusOK
		if !p.Online() {
			st, code = "degraded", http.StatusServiceUnavailable
		}
		httpx.WriteJSON(w, code, map[string]any{"status": st, "components": p.Health()})
	})
	httpx.AddProbes(mux, p.Ready)
	mux.HandleFunc("POST /api/v1/shares/generate", func(w http.ResponseWriter, r *http.Request) {
		p.generate(w, r, cfg, tsskitv1.SessionKind_SESSION_KIND_KEYGEN)
	})
	// A refresh's user party: a new member of the reshare, whose new share
	// is returned encrypted like a keygen's.
	mux.HandleFunc("POST /api/v1/shares/refresh", func(w http.ResponseWriter, r *http.Request) {
		p.generate(w, r, cfg, tsskitv1.SessionKind_SESSION_KIND_RESHARE)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	limit := auth.DefaultRateLimit
	if cfg.RateLimit != nil {
		limit = *cfg.RateLimit
	}
	m := p.cfg.Metrics
	verify := auth.NewVerifier(p.cfg.Trust)
	return m.HTTP("party_api", mux, auth.NewGuard(auth.GuardConfig{Authenticate: auth.TokenAuth(verify, auth.KindParty, auth.KindAdmin), Allow: cfg.Allow, TrustedProxies: cfg.TrustedProxies, Open: append([]string{"/health"}, httpx.ProbePaths...),
		RateLimit: limit, WriteError: httpx.WriteError,
		Refused: func(_ *http.Request, rf auth.Refusal) { m.AuthFailure("party_api", rf.Code) }}, mux))
}

// Ready is the party's readiness: registered with a coordinator and not
// draining (200 "ok"), else 503 with "connecting" or "draining".
func (p *Party) Ready(context.Context) (int, string) {
	switch {
	case p.Draining():
		return http.StatusServiceUnavailable, "draining"
	case !p.Online():
		return http.StatusServiceUnavailable, "connecting"
	}
	return http.StatusOK, "ok"
}

// ProbeHandler serves GET /health (the status alone), /livez and /readyz:
// the probes of a server party that serves no API.
func (p *Party) ProbeHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		code, st := p.Ready(r.Context())
		if st == "connecting" {
			st = "degraded"
		}
		httpx.WriteJSON(w, code, map[string]any{"status": st})
	})
	httpx.AddProbes(mux, p.Ready)
	return mux
}

// Health describes the party for /health.
func (p *Party) Health() map[string]any {
	reg := "registered"
	if !p.Online() {
		reg = "connecting"
	}
	return map[string]any{
		"party_id": p.cfg.PartyID, "coordinator": reg,
		"preparams_ready": p.PreParamsReady(), "sessions_running": p.Running(), "vault_key_id": p.cfg.Vault.KeyID(),
	}
}

func (p *Party) generate(w http.ResponseWriter, r *http.Request, cfg APIConfig, kind tsskitv1.SessionKind) {
	var req struct {
		SessionID     string  `json:"session_id"`
		SharePassword *string `json:"share_password"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Write(w, err)
		return
	}
	if p.Draining() {
		w.Header().Set("Retry-After", "5")
		httpx.WriteError(w, http.StatusServiceUnavailable, "draining", "this server party is shutting down; retry on another")
		return
	}
	req.SessionID = strings.TrimSpace(req.SessionID)
	if req.SessionID == "" || len(req.SessionID) > 128 {
		httpx.WriteError(w, 400, "invalid_argument", "session_id is required")
		return
	}
	// The coordinator's token for this session's user party, and nothing
	// else, starts it: a token for another session, an admin's or a
	// server's is refused.
	c, _ := auth.FromContext(r.Context())
	if c.Require(auth.KindParty) != nil || c.Session != req.SessionID {
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "the token is not for this session's user party")
		return
	}
	if req.SharePassword == nil || *req.SharePassword == "" {
		httpx.WriteError(w, 400, "invalid_argument", "share_password is required: the user share is returned encrypted under it")
		return
	}
	if err := pwrule.Check(*req.SharePassword); err != nil {
		msg := "not accepted"
		if pe, ok := err.(*pwrule.Error); ok {
			msg = pe.Message
		}
		httpx.WriteError(w, 400, "weak_password", "share_password: "+msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), cfg.Timeout)
	defer cancel()
	// The claim names the token's party: the coordinator refuses it unless
	// that is the session's user party.
	us, err := p.RunUserParty(ctx, req.SessionID, c.Subject, kind)
	if err != nil {
		var se *participant.SessionError
		switch {
		case ctx.Err() != nil:
			httpx.WriteError(w, 504, "deadline_exceeded", "the user party's session did not finish in time")
		case asSessionError(err, &se):
			httpx.WriteError(w, 502, "session_failed", se.Reason)
		default:
			if _, ok := status.FromError(err); ok {
				httpx.Write(w, err)
			} else {
				httpx.WriteError(w, 502, "session_failed", err.Error())
			}
		}
		return
	}
	pw := []byte(*req.SharePassword)
	blob, err := share.Protect(us.Record, pw, nil)
	clear(pw)
	if err != nil {
		httpx.WriteError(w, 500, "internal", "encode share")
		return
	}
	httpx.WriteJSON(w, 200, map[string]any{
		"session_id": req.SessionID, "party_id": us.PartyID, "wallet_id": us.Record.WalletID,
		"public_key": hex.EncodeToString(us.Record.PublicKey), "address": us.Address,
		"user_share": base64.StdEncoding.EncodeToString(blob), "encrypted": true, "epoch": us.Record.Epoch,
	})
}

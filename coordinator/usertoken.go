package coordinator

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/httpx"
)

// User tokens through the account API: an app's backend, holding the API
// key, hands its signed-in user a short-lived token for the browser SDK.
//
//	POST /api/v1/users/{user_id}/tokens
//	{"ttl_seconds": 900, "operations": ["create_wallet", "sign", "list_wallets"], "wallets": ["…"]}
//	201 {"token": "…", "expires_at": "2026-12-02T12:15:00Z"}
//
// operations is required (a subset of auth.Ops); wallets, optional, limits
// the token to those wallets; ttl_seconds defaults to DefaultUserTokenTTL
// and is at most MaxUserTokenTTL.

// Limits of user tokens.
const (
	DefaultUserTokenTTL = 15 * time.Minute
	MaxUserTokenTTL     = 12 * time.Hour
	maxTokenWallets     = 32
)

func (a *accountAPI) userToken(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user_id")
	if !validUserID(user) {
		a.refuse(w, r, 400, "invalid_argument", "user_id must be 1..128 printable characters")
		return
	}
	var req struct {
		TTLSeconds *int64   `json:"ttl_seconds"`
		Operations []string `json:"operations"`
		Wallets    []string `json:"wallets"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		a.refuseErr(w, r, err)
		return
	}
	ttl := DefaultUserTokenTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 1 || *req.TTLSeconds > int64(MaxUserTokenTTL/time.Second) {
			a.refuse(w, r, 400, "invalid_argument", fmt.Sprintf("ttl_seconds must be 1..%d", int64(MaxUserTokenTTL/time.Second)))
			return
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	if len(req.Operations) == 0 {
		a.refuse(w, r, 400, "invalid_argument", "operations is required: any of "+strings.Join(auth.Ops, ", "))
		return
	}
	ops := slices.Clone(req.Operations)
	slices.Sort(ops)
	ops = slices.Compact(ops)
	for _, op := range ops {
		if !slices.Contains(auth.Ops, op) {
			a.refuse(w, r, 400, "invalid_argument", fmt.Sprintf("unknown operation %q: want any of %s", op, strings.Join(auth.Ops, ", ")))
			return
		}
	}
	if len(req.Wallets) > maxTokenWallets {
		a.refuse(w, r, 400, "invalid_argument", fmt.Sprintf("at most %d wallets", maxTokenWallets))
		return
	}
	for _, id := range req.Wallets {
		if id == "" || len(id) > 128 {
			a.refuse(w, r, 400, "invalid_argument", "wallet ids must be 1..128 characters")
			return
		}
	}
	tok, err := a.c.cfg.Minter.MintUser(user, ops, req.Wallets, ttl)
	if err != nil {
		a.refuse(w, r, 400, "invalid_argument", err.Error())
		return
	}
	expires := time.Now().Add(ttl).UTC().Truncate(time.Second)
	c, _ := auth.CallerFromContext(r.Context())
	a.c.audit(r.Context(), auditUserToken, append(restWho(c), slog.String("user_id", user), slog.Any("operations", ops),
		slog.Any("wallets", req.Wallets), slog.Int64("ttl_seconds", int64(ttl/time.Second)))...)
	httpx.WriteJSON(w, http.StatusCreated, map[string]string{"token": tok, "expires_at": expires.Format(time.RFC3339)})
}

// validUserID: 1..128 bytes of printable characters, no spaces at the ends.
func validUserID(s string) bool {
	if s == "" || len(s) > 128 || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

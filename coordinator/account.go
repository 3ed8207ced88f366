package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/httpx"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// AccountConfig configures the account REST API (the seed system's
// server-to-server contract).
type AccountConfig struct {
	APIKey      string          // X-API-Key (MPC_API_KEY)
	Allow       *auth.Allowlist // ALLOWED_IPS; nil allows all (development only)
	PartyAPIURL string          // server-party API that runs the user's party
	PartyAPIKey string          // its X-API-Key
	Timeout     time.Duration   // per request (default 3m)
	Client      *http.Client
}

// AccountAPI returns the account REST handler: /health and /api/v1/accounts.
func (c *Coordinator) AccountAPI(cfg AccountConfig) http.Handler {
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout + 10*time.Second}
	}
	a := &accountAPI{c: c, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("POST /api/v1/accounts", a.create)
	mux.HandleFunc("GET /api/v1/accounts/{id}", a.get)
	mux.HandleFunc("POST /api/v1/accounts/{id}/sign", a.sign)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return auth.Guard(cfg.APIKey, cfg.Allow, []string{"/health"}, httpx.WriteError, mux)
}

type accountAPI struct {
	c   *Coordinator
	cfg AccountConfig
}

// Health reports each component; 503 when the store does not answer.
func (c *Coordinator) Health(ctx context.Context) (int, map[string]any) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, code := "ok", http.StatusOK
	storeState := "ok"
	if err := c.store.Ping(ctx); err != nil {
		storeState, st, code = "unavailable", "degraded", http.StatusServiceUnavailable
	}
	healthy := c.pool.healthy()
	c.mu.Lock()
	live := 0
	for _, s := range c.sessions {
		if !s.state.Final() {
			live++
		}
	}
	c.mu.Unlock()
	return code, map[string]any{
		"status": st,
		"components": map[string]any{
			"store":    storeState,
			"pool":     map[string]any{"healthy": len(healthy), "parties": healthy},
			"sessions": map[string]any{"running": live},
		},
	}
}

func (a *accountAPI) health(w http.ResponseWriter, r *http.Request) {
	code, body := a.c.Health(r.Context())
	httpx.WriteJSON(w, code, body)
}

type accountJSON struct {
	AccountID string `json:"account_id"`
	UserID    string `json:"user_id"`
	PublicKey string `json:"public_key"`
	Address   string `json:"address"`
	Threshold int    `json:"threshold"`
	Parties   int    `json:"parties"`
	UserShare string `json:"user_share,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
}

func (a *accountAPI) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserID        string  `json:"user_id"`
		SharePassword *string `json:"share_password"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Write(w, err)
		return
	}
	req.UserID = strings.TrimSpace(req.UserID)
	if req.UserID == "" || len(req.UserID) > 128 {
		httpx.WriteError(w, 400, "invalid_argument", "user_id must be 1..128 characters")
		return
	}
	if req.SharePassword != nil && *req.SharePassword == "" {
		httpx.WriteError(w, 400, "invalid_argument", "share_password must not be empty when given")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	cr, err := a.c.createKeygen(ctx, keygenSpec{name: "account " + req.UserID, userID: req.UserID, signers: 2, n: 3, withUser: true})
	if err != nil {
		httpx.Write(w, err)
		return
	}
	s := cr.s
	type shareResult struct {
		share string
		err   error
	}
	sharec := make(chan shareResult, 1)
	go func() {
		sh, err := a.generateUserShare(ctx, s.id, req.SharePassword)
		sharec <- shareResult{sh, err}
	}()
	final, err := a.c.wait(ctx, s)
	if err != nil {
		a.c.fail(s, "timeout", "account API request deadline passed", nil)
		httpx.WriteError(w, 504, "deadline_exceeded", "keygen did not finish in time")
		return
	}
	if f := final.GetFailed(); f != nil {
		cancel() // the user party's request has nothing left to wait for
		httpx.WriteError(w, 502, "session_failed", f.Reason)
		return
	}
	var sr shareResult
	select {
	case sr = <-sharec:
	case <-ctx.Done():
		httpx.WriteError(w, 504, "deadline_exceeded", "the user share did not arrive in time")
		return
	}
	if sr.err != nil {
		// The wallet exists but its user share was lost on the way: say so.
		httpx.WriteError(w, 502, "session_failed", "user share not received: "+sr.err.Error())
		return
	}
	done := final.GetCompleted()
	httpx.WriteJSON(w, http.StatusCreated, accountJSON{
		AccountID: done.WalletId, UserID: req.UserID, PublicKey: hex.EncodeToString(done.PublicKey),
		Address: done.Address, Threshold: 2, Parties: 3, UserShare: sr.share,
	})
}

// generateUserShare asks the server-party API to run the user party.
func (a *accountAPI) generateUserShare(ctx context.Context, sessionID string, password *string) (string, error) {
	body := map[string]any{"session_id": sessionID}
	if password != nil {
		body["share_password"] = *password
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(a.cfg.PartyAPIURL, "/")+"/api/v1/shares/generate", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", a.cfg.PartyAPIKey)
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("server-party API: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		UserShare string       `json:"user_share"`
		Error     *httpx.Error `json:"error"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4<<20)).Decode(&out); err != nil {
		return "", fmt.Errorf("server-party API: status %d, unreadable body", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || out.UserShare == "" {
		msg := "no share"
		if out.Error != nil {
			msg = out.Error.Code + ": " + out.Error.Message
		}
		return "", fmt.Errorf("server-party API: status %d: %s", resp.StatusCode, msg)
	}
	return out.UserShare, nil
}

func (a *accountAPI) get(w http.ResponseWriter, r *http.Request) {
	wl, err := a.c.store.GetWallet(r.Context(), r.PathValue("id"))
	if err == nil && !hasUserHolder(wl) {
		err = store.ErrNotFound // a co-managed wallet, not an account
	}
	if err != nil {
		httpx.Write(w, storeStatus(err, "account"))
		return
	}
	httpx.WriteJSON(w, 200, accountJSON{
		AccountID: wl.ID, UserID: wl.UserID, PublicKey: hex.EncodeToString(wl.PublicKey), Address: wl.Address,
		Threshold: wl.SignersNeeded, Parties: len(wl.Holders), CreatedAt: wl.CreatedAt.UTC().Format(time.RFC3339),
	})
}

func (a *accountAPI) sign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message string `json:"message"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		httpx.Write(w, err)
		return
	}
	msg := strings.TrimPrefix(strings.TrimPrefix(req.Message, "0x"), "0X")
	digest, err := hex.DecodeString(msg)
	if err != nil {
		httpx.WriteError(w, 400, "invalid_argument", "message must be hex")
		return
	}
	if len(digest) != 32 {
		httpx.WriteError(w, 400, "invalid_argument", fmt.Sprintf("message must be a 32-byte digest (64 hex chars), got %d bytes", len(digest)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	// The account API signs for accounts only; a co-managed wallet made
	// over gRPC is not an account and signs with its client.
	if wl, err := a.c.store.GetWallet(ctx, r.PathValue("id")); err != nil || wl.UserID == "" || !hasUserHolder(wl) {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			httpx.WriteError(w, 404, "not_found", "account not found")
		} else {
			httpx.Write(w, storeStatus(err, "account"))
		}
		return
	}
	cr, err := a.c.createSign(ctx, signSpec{walletID: r.PathValue("id"), digest: digest})
	if err != nil {
		httpx.Write(w, err)
		return
	}
	final, err := a.c.wait(ctx, cr.s)
	if err != nil {
		a.c.fail(cr.s, "timeout", "account API request deadline passed", nil)
		httpx.WriteError(w, 504, "deadline_exceeded", "signing did not finish in time")
		return
	}
	if f := final.GetFailed(); f != nil {
		httpx.WriteError(w, 502, "session_failed", f.Reason)
		return
	}
	httpx.WriteJSON(w, 200, signatureJSON(final.GetCompleted().Signature))
}

func hasUserHolder(w *store.Wallet) bool {
	for _, h := range w.Holders {
		if h.Kind == store.HolderUser {
			return true
		}
	}
	return false
}

func signatureJSON(s *tsskitv1.Signature) map[string]any {
	return map[string]any{
		"r": hex.EncodeToString(s.R), "s": hex.EncodeToString(s.S), "v": s.V,
		"signature": hex.EncodeToString(append(append([]byte(nil), s.R...), s.S...)),
		"der":       hex.EncodeToString(s.Der),
	}
}

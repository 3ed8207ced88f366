package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/httpx"
	"github.com/rwadurian/tsskit/internal/pwrule"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// AccountConfig configures the account REST API (the seed system's
// server-to-server contract).
type AccountConfig struct {
	APIKey string          // X-API-Key (MPC_API_KEY)
	Allow  *auth.Allowlist // ALLOWED_IPS; nil allows all (development only)
	// TrustedProxies (TRUSTED_PROXIES): reverse proxies whose
	// X-Forwarded-For names the client (auth.ClientIP); nil trusts none.
	TrustedProxies *auth.Allowlist
	// RateLimit (RATE_LIMIT) per (API key, client address); nil takes
	// auth.DefaultRateLimit, a zero RateLimit does not limit.
	RateLimit *auth.RateLimit
	// PartyAPIURL is the server-party API that runs the user's party. It
	// is called with the user party's token for the one session, never
	// with APIKey (see serverparty.APIConfig).
	PartyAPIURL string
	Timeout     time.Duration // per request (default 3m)
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
	limit := auth.DefaultRateLimit
	if cfg.RateLimit != nil {
		limit = *cfg.RateLimit
	}
	a := &accountAPI{c: c, cfg: cfg, refusals: newRefusalLog()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /api/v1/health", a.healthDetails)
	httpx.AddProbes(mux, func(ctx context.Context) (int, string) {
		code, body := c.Health(ctx)
		st, _ := body["status"].(string)
		return code, st
	})
	mux.HandleFunc("POST /api/v1/accounts", a.create)
	mux.HandleFunc("GET /api/v1/accounts/{id}", a.get)
	mux.HandleFunc("POST /api/v1/accounts/{id}/sign", a.sign)
	mux.HandleFunc("POST /api/v1/accounts/{id}/refresh", a.refresh)
	mux.HandleFunc("GET /api/v1/accounts/{id}/addresses", a.address)
	mux.HandleFunc("POST /api/v1/users/{user_id}/tokens", a.userToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return c.cfg.Metrics.HTTP("account_api", mux, auth.NewGuard(auth.GuardConfig{
		APIKey: cfg.APIKey, Allow: cfg.Allow, TrustedProxies: cfg.TrustedProxies, Open: append([]string{"/health"}, httpx.ProbePaths...),
		RateLimit: limit, WriteError: httpx.WriteError,
		Refused: func(r *http.Request, rf auth.Refusal) {
			c.cfg.Metrics.AuthFailure("account_api", rf.Code)
			a.auditRefused(r, rf.Caller, rf.Status, rf.Code)
		},
	}, mux))
}

type accountAPI struct {
	c        *Coordinator
	cfg      AccountConfig
	refusals *refusalLog
}

// auditRefused writes a request.refused record, thinned by a.refusals.
func (a *accountAPI) auditRefused(r *http.Request, c auth.Caller, httpStatus int, code string) {
	ok, suppressed := a.refusals.take(c.IP, code)
	if !ok {
		return
	}
	a.c.audit(r.Context(), auditRefused, restRefusal(r, c, httpStatus, code, suppressed)...)
}

// refuse answers a request the handler refuses (bad input, conflict, …) and
// records it: the code, never the message or the body.
func (a *accountAPI) refuse(w http.ResponseWriter, r *http.Request, httpStatus int, code, msg string) {
	c, _ := auth.CallerFromContext(r.Context())
	a.auditRefused(r, c, httpStatus, code)
	httpx.WriteError(w, httpStatus, code, msg)
}

// refuseErr is refuse for an error, answered as httpx.Write does.
func (a *accountAPI) refuseErr(w http.ResponseWriter, r *http.Request, err error) {
	code, st := errorCode(err)
	c, _ := auth.CallerFromContext(r.Context())
	a.auditRefused(r, c, st, code)
	httpx.Write(w, err)
}

// errorCode is the REST code and status httpx.Write answers err with.
func errorCode(err error) (string, int) {
	e := httpx.ErrorOf(err)
	return e.Code, e.Status
}

// requested writes a keygen.requested or sign.requested record for a
// session the account API created.
func (a *accountAPI) requested(r *http.Request, event string, s *session, userID string, extra ...slog.Attr) {
	c, _ := auth.CallerFromContext(r.Context())
	attrs := append(restWho(c), slog.String("user_id", userID), slog.String("wallet_id", s.walletID), slog.String("session_id", s.id))
	a.c.audit(r.Context(), event, append(attrs, extra...)...)
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
			"pool":     map[string]any{"healthy": len(healthy), "parties": healthy, "draining": c.pool.drainingParties(), "preparams_ready": c.pool.preparamsReady()},
			"sessions": map[string]any{"running": live},
		},
		"instance": c.cfg.Instance,
	}
}

// health answers anyone, with the status alone; the components (party
// ids, pre-parameter counts, sessions) are at /api/v1/health, behind the
// API key, the allowlist and the rate limit like every other call — an
// open route that said more to the right key would let anyone try keys.
func (a *accountAPI) health(w http.ResponseWriter, r *http.Request) {
	code, body := a.c.Health(r.Context())
	httpx.WriteJSON(w, code, map[string]any{"status": body["status"]})
}

func (a *accountAPI) healthDetails(w http.ResponseWriter, r *http.Request) {
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
	// Xpub is the BIP32 extended public key of the account's key (depth
	// 0): non-hardened child addresses derive from it.
	Xpub string `json:"xpub,omitempty"`
	// Epoch counts the account's refreshes: the user share of this epoch
	// is the one that signs.
	Epoch int `json:"epoch"`
}

// xpubOf is w's extended public key ("" if it cannot be made: the store
// does not know w's chain code, store.ErrChainCodeUnknown).
func xpubOf(w *store.Wallet) string {
	cc, err := w.ChainCodeOrLegacy()
	if err != nil {
		return ""
	}
	x, _ := hd.ExtendedPublicKey(w.PublicKey, cc)
	return x
}

func (a *accountAPI) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserID        string  `json:"user_id"`
		SharePassword *string `json:"share_password"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		a.refuseErr(w, r, err)
		return
	}
	req.UserID = strings.TrimSpace(req.UserID)
	if req.UserID == "" || len(req.UserID) > 128 {
		a.refuse(w, r, 400, "invalid_argument", "user_id must be 1..128 characters")
		return
	}
	if !a.sharePassword(w, r, req.SharePassword, "the user share") {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	cr, err := a.c.createKeygen(ctx, keygenSpec{name: "account " + req.UserID, userID: req.UserID, signers: 2, n: 3, withUser: true, within: a.cfg.Timeout})
	if err != nil {
		a.refuseErr(w, r, err)
		return
	}
	s := cr.s
	a.requested(r, auditKeygenRequested, s, req.UserID, slog.Int("parties", 3), slog.Int("signers", 2))
	type shareResult struct {
		share string
		err   error
	}
	sharec := make(chan shareResult, 1)
	go func() {
		sh, err := a.generateUserShare(ctx, s.id, s.userParty, req.SharePassword, "generate")
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
	out := accountJSON{
		AccountID: done.WalletId, UserID: req.UserID, PublicKey: hex.EncodeToString(done.PublicKey),
		Address: done.Address, Threshold: 2, Parties: 3, UserShare: sr.share,
	}
	if wl, err := a.c.store.GetWallet(ctx, done.WalletId); err == nil {
		out.Xpub = xpubOf(wl)
	}
	httpx.WriteJSON(w, http.StatusCreated, out)
}

// sharePassword refuses a request without a share password that meets
// the rule (internal/pwrule): the user share (what) leaves only encrypted
// under it; the password is relayed to the server-party API and never
// logged.
func (a *accountAPI) sharePassword(w http.ResponseWriter, r *http.Request, pw *string, what string) bool {
	if pw == nil || *pw == "" {
		a.refuse(w, r, 400, "invalid_argument", "share_password is required: "+what+" is returned encrypted under it")
		return false
	}
	if err := pwrule.Check(*pw); err != nil {
		a.refuse(w, r, 400, "weak_password", "share_password: "+pwruleMessage(err))
		return false
	}
	return true
}

// generateUserShare asks the server-party API to run the user party,
// authorised by a token for that party in that session alone.
func (a *accountAPI) generateUserShare(ctx context.Context, sessionID, userParty string, password *string, op string) (string, error) {
	tok, err := a.c.cfg.Minter.MintParty(sessionID, userParty, a.cfg.Timeout)
	if err != nil {
		return "", fmt.Errorf("server-party API: mint token: %w", err)
	}
	body := map[string]any{"session_id": sessionID, "share_password": *password}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(a.cfg.PartyAPIURL, "/")+"/api/v1/shares/"+op, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
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
		Xpub: xpubOf(wl), Epoch: wl.Epoch,
	})
}

// refresh gives the account's holders new shares of the same key: the
// server holders hand it to themselves and to the user party, which the
// server-party API runs with a new device identity and returns encrypted
// under share_password. The new epoch becomes active only once every
// holder has stored its new share; from then on only the new user share
// signs with the CLI party, the old one getting stale_epoch. If the
// answer is lost on the way, the remedy is another refresh.
func (a *accountAPI) refresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SharePassword *string `json:"share_password"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		a.refuseErr(w, r, err)
		return
	}
	if !a.sharePassword(w, r, req.SharePassword, "the new user share") {
		return
	}
	id := r.PathValue("id")
	wl, err := a.c.store.GetWallet(r.Context(), id)
	if err == nil && !hasUserHolder(wl) {
		err = store.ErrNotFound // a co-managed wallet, not an account
	}
	if err != nil {
		httpx.Write(w, storeStatus(err, "account"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	cr, err := a.c.createRefresh(ctx, id, a.cfg.Timeout)
	if err != nil {
		if status.Code(err) == codes.AlreadyExists {
			a.refuse(w, r, http.StatusConflict, "conflict", status.Convert(err).Message())
			return
		}
		a.refuseErr(w, r, err)
		return
	}
	s := cr.s
	a.requested(r, auditRefreshRequested, s, wl.UserID, slog.Int("epoch", s.reshare.Epoch))
	type shareResult struct {
		share string
		err   error
	}
	sharec := make(chan shareResult, 1)
	go func() {
		sh, err := a.generateUserShare(ctx, s.id, s.userParty, req.SharePassword, "refresh")
		sharec <- shareResult{sh, err}
	}()
	// The user party's call ends only after the session does, unless it
	// failed: then the session cannot complete, and fails at once rather
	// than at its join timeout.
	var sr shareResult
	gotShare := false
	select {
	case sr = <-sharec:
		gotShare = true
		if sr.err != nil {
			a.c.fail(s, "user_party", "the server-party API could not run the user party: "+sr.err.Error(), nil)
		}
	case <-s.done:
	case <-ctx.Done():
	}
	final, err := a.c.wait(ctx, s)
	if err != nil {
		a.c.fail(s, "timeout", "account API request deadline passed", nil)
		httpx.WriteError(w, 504, "deadline_exceeded", "refresh did not finish in time")
		return
	}
	if f := final.GetFailed(); f != nil {
		cancel()
		httpx.WriteError(w, 502, "session_failed", f.Reason)
		return
	}
	if !gotShare {
		select {
		case sr = <-sharec:
		case <-ctx.Done():
			httpx.WriteError(w, 504, "deadline_exceeded", "the new user share did not arrive in time; refresh again")
			return
		}
	}
	if sr.err != nil {
		httpx.WriteError(w, 502, "session_failed", "new user share not received ("+sr.err.Error()+"); the new epoch is active: refresh again")
		return
	}
	done := final.GetCompleted()
	httpx.WriteJSON(w, http.StatusOK, accountJSON{
		AccountID: done.WalletId, UserID: wl.UserID, PublicKey: hex.EncodeToString(done.PublicKey), Address: done.Address,
		Threshold: wl.SignersNeeded, Parties: len(wl.Holders), UserShare: sr.share, Xpub: xpubOf(wl), Epoch: int(done.Epoch),
	})
}

// address derives the account's non-hardened BIP32 child at ?path= and
// returns its public key and address.
func (a *accountAPI) address(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("path")
	if raw == "" {
		a.refuse(w, r, 400, "invalid_argument", "path is required, e.g. ?path=m/0/5")
		return
	}
	path, err := hd.ParsePath(raw)
	if err != nil {
		a.refuse(w, r, 400, "invalid_argument", err.Error())
		return
	}
	wl, err := a.c.store.GetWallet(r.Context(), r.PathValue("id"))
	if err == nil && !hasUserHolder(wl) {
		err = store.ErrNotFound
	}
	if err != nil {
		httpx.Write(w, storeStatus(err, "account"))
		return
	}
	cc, err := wl.ChainCodeOrLegacy()
	if err != nil {
		a.refuse(w, r, 409, "failed_precondition", err.Error())
		return
	}
	child, err := hd.Derive(wl.PublicKey, cc, path)
	if err != nil {
		a.refuse(w, r, 400, "invalid_argument", err.Error())
		return
	}
	httpx.WriteJSON(w, 200, map[string]string{
		"path": path.String(), "public_key": hex.EncodeToString(child.PublicKey), "address": share.Address(child.PublicKey),
	})
}

func (a *accountAPI) sign(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Message string `json:"message"`
		// Path: sign with the account's BIP32 child at this path
		// ("m/0/5", non-hardened); absent: the account key.
		Path *string `json:"path"`
	}
	if err := httpx.Decode(w, r, &req); err != nil {
		a.refuseErr(w, r, err)
		return
	}
	var path hd.Path
	if req.Path != nil {
		p, err := hd.ParsePath(*req.Path)
		if err != nil {
			a.refuse(w, r, 400, "invalid_argument", err.Error())
			return
		}
		path = p
	}
	msg := strings.TrimPrefix(strings.TrimPrefix(req.Message, "0x"), "0X")
	digest, err := hex.DecodeString(msg)
	if err != nil {
		a.refuse(w, r, 400, "invalid_argument", "message must be hex")
		return
	}
	if len(digest) != 32 {
		a.refuse(w, r, 400, "invalid_argument", fmt.Sprintf("message must be a 32-byte digest (64 hex chars), got %d bytes", len(digest)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.Timeout)
	defer cancel()
	// The account API signs for accounts only; a co-managed wallet made
	// over gRPC is not an account and signs with its client.
	wl, err := a.c.store.GetWallet(ctx, r.PathValue("id"))
	if err != nil || wl.UserID == "" || !hasUserHolder(wl) {
		if err == nil || errors.Is(err, store.ErrNotFound) {
			a.refuse(w, r, 404, "not_found", "account not found")
		} else {
			a.refuseErr(w, r, storeStatus(err, "account"))
		}
		return
	}
	cr, err := a.c.createSign(ctx, signSpec{walletID: r.PathValue("id"), digest: digest, path: path, within: a.cfg.Timeout})
	if err != nil {
		a.refuseErr(w, r, err)
		return
	}
	a.requested(r, auditSignRequested, cr.s, wl.UserID, slog.String("digest", hex.EncodeToString(digest)), slog.String("path", path.String()))
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
	done := final.GetCompleted()
	out := signatureJSON(done.Signature)
	out["path"] = path.String()
	out["public_key"], out["address"] = hex.EncodeToString(done.PublicKey), done.Address
	if len(path) > 0 {
		// The key that signed: the account's child at path.
		out["public_key"], out["address"] = hex.EncodeToString(done.SigningPublicKey), done.SigningAddress
	}
	httpx.WriteJSON(w, 200, out)
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

// pwruleMessage is the rule's message for the user (never the password).
func pwruleMessage(err error) string {
	var pe *pwrule.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return "not accepted"
}

package auth

import "net/http"

// Guard wraps h with the REST API checks, in this order:
//
//  1. the client address (RemoteIP) must be allowed by allow, else
//     writeErr(w, 403, "forbidden_ip", …); a nil allow allows all;
//  2. the request must carry exactly one X-API-Key header equal to apiKey
//     (KeyEqual), else writeErr(w, 401, "unauthorized", …).
//
// Requests whose URL path is exactly one of open (e.g. "/health") skip both
// checks. writeErr decides the response shape; the messages Guard passes it
// never contain the key that was sent or the one expected, and Guard logs
// nothing.
//
// Guard panics if apiKey is empty or writeErr or h is nil: these are
// programming errors, services refuse to start without a key.
func Guard(apiKey string, allow *Allowlist, open []string, writeErr func(w http.ResponseWriter, status int, code, msg string), h http.Handler) http.Handler {
	if apiKey == "" {
		panic("auth.Guard: empty API key")
	}
	if writeErr == nil || h == nil {
		panic("auth.Guard: nil writeErr or handler")
	}
	openSet := make(map[string]bool, len(open))
	for _, p := range open {
		openSet[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openSet[r.URL.Path] {
			h.ServeHTTP(w, r)
			return
		}
		if !allow.AllowsAll() {
			ip, ok := RemoteIP(r)
			if !ok || !allow.Allows(ip) {
				writeErr(w, http.StatusForbidden, "forbidden_ip", "client address not allowed")
				return
			}
		}
		keys := r.Header.Values("X-API-Key")
		switch {
		case len(keys) == 0:
			writeErr(w, http.StatusUnauthorized, "unauthorized", "missing X-API-Key header")
			return
		case len(keys) > 1:
			writeErr(w, http.StatusUnauthorized, "unauthorized", "more than one X-API-Key header")
			return
		case !KeyEqual(keys[0], apiKey):
			writeErr(w, http.StatusUnauthorized, "unauthorized", "invalid API key")
			return
		}
		h.ServeHTTP(w, r)
	})
}

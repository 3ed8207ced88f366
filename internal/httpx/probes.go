package httpx

import (
	"context"
	"net/http"
)

// ProbePaths are the probe routes every port with /health also serves;
// they are open, like /health, and say no more than a status.
var ProbePaths = []string{"/livez", "/readyz"}

// AddProbes adds GET /livez (200 while the process serves) and GET
// /readyz (ready's code and status: 503 while a dependency is down or the
// service is draining) to mux.
func AddProbes(mux *http.ServeMux, ready func(context.Context) (int, string)) {
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		code, st := ready(r.Context())
		WriteJSON(w, code, map[string]any{"status": st})
	})
}

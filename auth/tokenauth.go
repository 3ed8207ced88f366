package auth

import (
	"errors"
	"net/http"
	"slices"
)

// TokenAuth returns a GuardConfig.Authenticate that takes exactly one
// "Authorization: Bearer" token, verified by v, of one of kinds. The
// verified claims go into the request's context (FromContext); the caller
// is named "token:<kind>:<subject>". An X-API-Key header is refused: a
// service that takes tokens must not be handed a key that works elsewhere.
func TokenAuth(v *Verifier, kinds ...string) func(r *http.Request) (string, *http.Request, string) {
	return func(r *http.Request) (string, *http.Request, string) {
		if len(r.Header.Values("X-API-Key")) > 0 {
			return "", nil, "this API takes a bearer token, not X-API-Key"
		}
		h := r.Header.Values("Authorization")
		if len(h) != 1 {
			return "", nil, "missing or repeated Authorization header"
		}
		tok, ok := BearerToken(h[0])
		if !ok {
			return "", nil, "Authorization is not a bearer token"
		}
		c, err := v.Verify(tok)
		if err != nil {
			code := "invalid"
			if ae, ok := errors.AsType[*Error](err); ok {
				code = string(ae.Code)
			}
			return "", nil, "token refused: " + code
		}
		if !slices.Contains(kinds, c.Kind) {
			return "", nil, "a " + c.Kind + " token is not accepted here"
		}
		return "token:" + c.Kind + ":" + c.Subject, r.WithContext(NewContext(r.Context(), c)), ""
	}
}

package webstatic_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rwadurian/tsskit/internal/webstatic"
)

func TestHandler(t *testing.T) {
	now := time.Now()
	root := fstest.MapFS{
		"tss.wasm":       {Data: []byte("\x00asm raw"), ModTime: now},
		"tss.wasm.br":    {Data: []byte("brotli"), ModTime: now},
		"tss.wasm.gz":    {Data: []byte("gzip"), ModTime: now},
		"wasm_exec.js":   {Data: []byte("js"), ModTime: now},
		"old.js":         {Data: []byte("new"), ModTime: now},
		"old.js.br":      {Data: []byte("stale"), ModTime: now.Add(-time.Hour)},
		"index.html":     {Data: []byte("<html>"), ModTime: now},
		"sub/index.html": {Data: []byte("<sub>"), ModTime: now},
	}
	h := webstatic.Handler(root)
	get := func(path, accept string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	cases := []struct {
		path, accept, body, ctype, enc string
		code                           int
	}{
		{"/tss.wasm", "gzip, deflate, br", "brotli", "application/wasm", "br", 200},
		{"/tss.wasm", "gzip", "gzip", "application/wasm", "gzip", 200},
		{"/tss.wasm", "br;q=0, gzip", "gzip", "application/wasm", "gzip", 200},
		{"/tss.wasm", "", "\x00asm raw", "application/wasm", "", 200},
		{"/wasm_exec.js", "br", "js", "text/javascript; charset=utf-8", "", 200},
		{"/old.js", "br", "new", "text/javascript; charset=utf-8", "", 200}, // a stale .br is not served
		{"/", "", "<html>", "text/html; charset=utf-8", "", 200},
		{"/sub/", "", "<sub>", "text/html; charset=utf-8", "", 200},
		{"/tss.wasm.br", "", "", "", "", 404},
		{"/../../etc/passwd", "", "", "", "", 404},
		{"/missing", "", "", "", "", 404},
	}
	for _, c := range cases {
		rec := get(c.path, c.accept)
		if rec.Code != c.code {
			t.Errorf("%s (%s): %d, want %d", c.path, c.accept, rec.Code, c.code)
			continue
		}
		if c.code != 200 {
			continue
		}
		if rec.Body.String() != c.body || rec.Header().Get("Content-Type") != c.ctype || rec.Header().Get("Content-Encoding") != c.enc {
			t.Errorf("%s (%s): body %q type %q enc %q", c.path, c.accept, rec.Body.String(), rec.Header().Get("Content-Type"), rec.Header().Get("Content-Encoding"))
		}
		if rec.Header().Get("Vary") != "Accept-Encoding" || rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: headers %v", c.path, rec.Header())
		}
	}
	// Revalidation: the ETag answers 304.
	first := get("/tss.wasm", "br")
	req := httptest.NewRequest("GET", "/tss.wasm", nil)
	req.Header.Set("Accept-Encoding", "br")
	req.Header.Set("If-None-Match", first.Header().Get("ETag"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	post := httptest.NewRecorder()
	h.ServeHTTP(post, httptest.NewRequest("POST", "/tss.wasm", nil))
	if post.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", post.Code)
	}
}

func TestHandlerRoots(t *testing.T) {
	now := time.Now()
	app := fstest.MapFS{"index.html": {Data: []byte("app"), ModTime: now}, "assets/a.js": {Data: []byte("a"), ModTime: now}}
	pub := fstest.MapFS{"index.html": {Data: []byte("public"), ModTime: now}, "tss.wasm": {Data: []byte("wasm"), ModTime: now}}
	h := webstatic.Handler(app, pub)
	for path, want := range map[string]string{"/": "app", "/assets/a.js": "a", "/tss.wasm": "wasm"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s: %d %q, want %q", path, rec.Code, rec.Body.String(), want)
		}
	}
}

// Package webstatic serves the browser build (public/: tss.wasm,
// wasm_exec.js, tss-worker.js, later the admin app): the right
// Content-Type (application/wasm for .wasm, which instantiateStreaming
// requires), the precompressed variant (.br, .gz) the browser accepts, and
// cache headers: revalidate every time (ETag), since the names carry no
// content hash.
package webstatic

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Handler serves files from roots, the first root that has a name winning
// (e.g. the admin app's build, then public/ with tss.wasm). Directory
// listings are off; "/" serves index.html when there is one.
func Handler(roots ...fs.FS) http.Handler {
	return &handler{roots: roots}
}

type handler struct {
	roots []fs.FS
	root  fs.FS
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	for _, root := range h.roots {
		if st, err := fs.Stat(root, name); err == nil && (!st.IsDir() || fileExists(root, path.Join(name, "index.html"))) {
			(&handler{root: root}).serve(w, r)
			return
		}
	}
	http.NotFound(w, r)
}

func fileExists(root fs.FS, name string) bool {
	st, err := fs.Stat(root, name)
	return err == nil && !st.IsDir()
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	if st, err := fs.Stat(h.root, name); err == nil && st.IsDir() {
		name = path.Join(name, "index.html")
	}
	if strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
		http.NotFound(w, r) // encodings are chosen by Accept-Encoding, not by name
		return
	}
	st, err := fs.Stat(h.root, name)
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".wasm":
		ctype = "application/wasm"
	case ".js", ".mjs":
		ctype = "text/javascript; charset=utf-8"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	serve, encoding := name, ""
	accept := r.Header.Get("Accept-Encoding")
	for _, enc := range []struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
		if acceptsEncoding(accept, enc.token) {
			if st2, err := fs.Stat(h.root, name+enc.ext); err == nil && !st2.IsDir() && !st2.ModTime().Before(st.ModTime()) {
				serve, encoding = name+enc.ext, enc.token
				break
			}
		}
	}
	data, err := fs.ReadFile(h.root, serve)
	if err != nil {
		http.Error(w, "read error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("Vary", "Accept-Encoding")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if encoding != "" {
		hdr.Set("Content-Encoding", encoding)
	}
	hdr.Set("ETag", etag(data))
	http.ServeContent(w, r, "", st.ModTime(), bytes.NewReader(data))
}

func etag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// acceptsEncoding reports whether an Accept-Encoding header admits token
// (q=0 excludes it).
func acceptsEncoding(header, token string) bool {
	for _, part := range strings.Split(header, ",") {
		f := strings.Split(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(f[0]), token) {
			continue
		}
		for _, p := range f[1:] {
			if q := strings.TrimSpace(p); q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
		}
		return true
	}
	return false
}

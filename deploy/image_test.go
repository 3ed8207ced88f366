package deploy_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImage checks the image make image built (TSSKIT_IMAGE names it; make
// test-image sets it): its configuration, every file in it, and the binary
// taken out of it and run here (containers themselves need not run).
func TestImage(t *testing.T) {
	img := os.Getenv("TSSKIT_IMAGE")
	if img == "" {
		t.Skip("TSSKIT_IMAGE is not set: make test-image builds the image and runs this")
	}
	engine := os.Getenv("TSSKIT_IMAGE_ENGINE")
	if engine == "" {
		engine = "podman"
	}
	root := repoRoot(t)
	dir := t.TempDir()

	// The configuration.
	b, err := exec.Command(engine, "image", "inspect", img).Output()
	if err != nil {
		t.Fatalf("%s image inspect %s: %v", engine, img, err)
	}
	var inspect []struct {
		Architecture string
		Config       struct {
			User       string
			Entrypoint []string
			Cmd        []string
			WorkingDir string
			Env        []string
			Labels     map[string]string
		}
	}
	if err := json.Unmarshal(b, &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v %s", err, b)
	}
	cfg := inspect[0].Config
	uid, gid, _ := strings.Cut(cfg.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("User %q: want a numeric, non-root uid", cfg.User)
	}
	if n, err := strconv.Atoi(gid); err != nil || n == 0 {
		t.Errorf("User %q: want a numeric, non-root gid", cfg.User)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/usr/local/bin/tsskit"}) {
		t.Errorf("Entrypoint %q, want [/usr/local/bin/tsskit]", cfg.Entrypoint)
	}
	if cfg.WorkingDir != "/srv/tsskit" {
		t.Errorf("WorkingDir %q, want /srv/tsskit (tsskit dev's default --web-dir and .data resolve there)", cfg.WorkingDir)
	}
	if inspect[0].Architecture != runtime.GOARCH {
		t.Errorf("architecture %s, want %s", inspect[0].Architecture, runtime.GOARCH)
	}
	commit := cfg.Labels["org.opencontainers.image.revision"]
	if commit == "" || commit == "unknown" {
		t.Errorf("label org.opencontainers.image.revision = %q: want the commit", commit)
	}
	if want := os.Getenv("TSSKIT_IMAGE_COMMIT"); want != "" && commit != want {
		t.Errorf("label revision %q, want %q", commit, want)
	}

	// Every file.
	archive := filepath.Join(dir, "image.tar")
	if b, err := exec.Command(engine, "image", "save", "--format", "docker-archive", "-o", archive, img).CombinedOutput(); err != nil {
		t.Fatalf("image save: %v\n%s", err, b)
	}
	files := imageFiles(t, archive)
	uidN, _ := strconv.Atoi(uid)

	want := map[string]byte{ // path -> tar type
		"etc": tar.TypeDir, "etc/ssl": tar.TypeDir, "etc/ssl/certs": tar.TypeDir,
		"etc/ssl/certs/ca-certificates.crt": tar.TypeReg, "etc/passwd": tar.TypeReg, "etc/group": tar.TypeReg,
		"usr": tar.TypeDir, "usr/local": tar.TypeDir, "usr/local/bin": tar.TypeDir, "usr/local/bin/tsskit": tar.TypeReg,
		"var": tar.TypeDir, "var/lib": tar.TypeDir, "var/lib/tsskit": tar.TypeDir,
		"srv": tar.TypeDir, "srv/tsskit": tar.TypeDir, "srv/tsskit/.data": tar.TypeSymlink,
		"srv/tsskit/public": tar.TypeDir, "srv/tsskit/examples": tar.TypeDir, "srv/tsskit/examples/admin-web": tar.TypeDir,
	}
	// The browser files: exactly those of this tree, byte for byte.
	same := map[string]string{} // image path -> file here
	for _, f := range []string{"tss.wasm", "tss-worker.js"} {
		for _, variant := range []string{f, f + ".br", f + ".gz"} {
			local := filepath.Join(root, "public", variant)
			if _, err := os.Stat(local); err == nil || variant == f { // .br and .gz: if made
				want["srv/tsskit/public/"+variant] = tar.TypeReg
				same["srv/tsskit/public/"+variant] = local
			}
		}
	}
	dist := filepath.Join(root, "examples", "admin-web", "dist")
	err = filepath.WalkDir(dist, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dist, p)
		name := path.Join("srv/tsskit/examples/admin-web/dist", filepath.ToSlash(rel))
		if d.IsDir() {
			want[name] = tar.TypeDir
		} else {
			want[name] = tar.TypeReg
			same[name] = p
		}
		return nil
	})
	if err != nil {
		t.Fatalf("examples/admin-web/dist (make web): %v", err)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		f := files[p]
		typ, ok := want[p]
		switch {
		case !ok:
			t.Errorf("unexpected file in the image: %s", p)
			continue
		case f.hdr.Typeflag != typ:
			t.Errorf("%s: type %c, want %c", p, f.hdr.Typeflag, typ)
		}
		mode := fs.FileMode(f.hdr.Mode)
		if f.hdr.Mode&(0o4000|0o2000) != 0 {
			t.Errorf("%s: setuid or setgid bit (%o)", p, f.hdr.Mode)
		}
		if typ != tar.TypeSymlink && mode&0o002 != 0 {
			t.Errorf("%s: writable by anyone (%v)", p, mode)
		}
		owner := 0
		if p == "var/lib/tsskit" {
			owner = uidN
		}
		if f.hdr.Uid != owner {
			t.Errorf("%s: owned by uid %d, want %d", p, f.hdr.Uid, owner)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if _, ok := files[p]; !ok {
			t.Errorf("missing from the image: %s", p)
		}
	}
	for p, local := range same {
		if f, ok := files[p]; ok {
			b, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(b) != sha256.Sum256(f.data) {
				t.Errorf("%s differs from %s", p, local)
			}
		}
	}
	if l := files["srv/tsskit/.data"]; l != nil && l.hdr.Linkname != "/var/lib/tsskit" {
		t.Errorf("srv/tsskit/.data -> %s, want /var/lib/tsskit", l.hdr.Linkname)
	}
	if f := files["etc/ssl/certs/ca-certificates.crt"]; f != nil {
		if !x509.NewCertPool().AppendCertsFromPEM(f.data) {
			t.Error("ca-certificates.crt holds no certificate")
		}
	}
	if f := files["etc/passwd"]; f != nil {
		found := false
		for line := range strings.SplitSeq(string(f.data), "\n") {
			fields := strings.Split(line, ":")
			if len(fields) == 7 && fields[2] == uid && fields[3] == gid {
				found = true
			}
		}
		if !found {
			t.Errorf("/etc/passwd names no user %s:\n%s", cfg.User, f.data)
		}
	}

	// The binary: static, and it runs.
	f := files["usr/local/bin/tsskit"]
	if f == nil {
		t.FailNow()
	}
	bin := filepath.Join(dir, "tsskit")
	if err := os.WriteFile(bin, f.data, 0o755); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("tsskit is not ELF: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("tsskit has a %v program header: not a static binary", p.Type)
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("tsskit links %v", libs)
	}
	ef.Close()
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("tsskit version: %v\n%s", err, out)
	}
	line := strings.TrimSpace(string(out))
	if !strings.HasPrefix(line, "tsskit ") || !strings.Contains(line, "(commit "+commit+", go") {
		t.Errorf("tsskit version = %q, want the commit %s in it", line, commit)
	}
	t.Logf("%s; image %s", line, img)
	out, err = exec.Command(bin, "dev", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "usage: tsskit dev") || !strings.Contains(string(out), "-web-dir") {
		t.Errorf("tsskit dev --help: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "healthcheck", "-h").CombinedOutput(); err != nil {
		t.Errorf("tsskit healthcheck -h: %v\n%s", err, out)
	}
}

type imageFile struct {
	hdr  *tar.Header
	data []byte
}

// imageFiles reads a docker-archive (image save) and returns the file
// system its layers make, applied in order.
func imageFiles(t *testing.T, archive string) map[string]*imageFile {
	t.Helper()
	entries := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			entries[path.Clean(h.Name)] = b
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	files := map[string]*imageFile{}
	for _, l := range manifest[0].Layers {
		var r io.Reader = bytes.NewReader(entries[path.Clean(l)])
		br := bufio.NewReader(r)
		if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			gz, err := gzip.NewReader(br)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		} else {
			r = br
		}
		lr := tar.NewReader(r)
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l, err)
			}
			name := strings.TrimPrefix(path.Clean(h.Name), "./")
			if strings.HasPrefix(path.Base(name), ".wh.") {
				t.Errorf("layer %s deletes %s: the final stage only adds files", l, name)
				continue
			}
			var data []byte
			if h.Typeflag == tar.TypeReg {
				if data, err = io.ReadAll(lr); err != nil {
					t.Fatal(err)
				}
			}
			files[name] = &imageFile{hdr: h, data: data}
		}
	}
	return files
}

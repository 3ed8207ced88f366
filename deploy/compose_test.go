package deploy_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Containers cannot run on every machine the tests run on, so compose.yaml
// is checked statically against the real binary and against what
// ceremony.sh really makes.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]any            `yaml:"networks"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Profiles    []string          `yaml:"profiles"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Restart     string            `yaml:"restart"`
	Networks    yaml.Node         `yaml:"networks"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// aliases are the names the service has on the compose network.
func (s composeService) aliases(name string) []string {
	names := []string{name}
	if s.Networks.Kind == yaml.MappingNode {
		var nets map[string]struct {
			Aliases []string `yaml:"aliases"`
		}
		if err := s.Networks.Decode(&nets); err == nil {
			for _, n := range nets {
				names = append(names, n.Aliases...)
			}
		}
	}
	return names
}

// interpolation is ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
// ${VAR?error} (compose's own syntax); $$ is a literal $.
var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate does compose's variable substitution on one value, recording
// the variables it names.
func interpolate(s string, env map[string]string, used map[string]bool) (string, error) {
	var err error
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := interpolation.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		used[name] = true
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?":
			if v == "" && err == nil {
				err = fmt.Errorf("%s: %s", name, arg)
			}
		case "?":
			if !set && err == nil {
				err = fmt.Errorf("%s: %s", name, arg)
			}
		}
		return v
	})
	return out, err
}

// loadCompose parses compose.yaml with env as .env, interpolating every
// scalar, and returns the variables it references.
func loadCompose(t *testing.T, env map[string]string) (*composeFile, map[string]bool, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	used := map[string]bool{}
	var ierr error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
			v, err := interpolate(n.Value, env, used)
			if err != nil && ierr == nil {
				ierr = err
			}
			n.Value = v
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	var f composeFile
	if err := doc.Decode(&f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return &f, used, ierr
}

// readEnvFile reads KEY=value lines (comments and blank lines skipped).
func readEnvFile(t *testing.T, path string) (map[string]string, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=value: %q", path, line)
		}
		if _, dup := env[k]; dup {
			t.Fatalf("%s: %s twice", path, k)
		}
		env[k] = v
		order = append(order, k)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env, order
}

// ceremony runs ceremony.sh init with the host-built binary into a
// temporary directory, then certifies the three server parties as the
// script's certify step does in their containers: each party makes its
// identity key in its own vault (--print-identity), and the script
// certifies it. It returns the output directory; data/spN in it holds
// server party N's vault.
func ceremony(t *testing.T, bin string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("ceremony.sh needs openssl: apt-get install -y openssl")
	}
	out := t.TempDir()
	script := filepath.Join(repoRoot(t), "deploy", "compose", "ceremony.sh")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "OUT="+out, "TSSKIT="+bin, "ENGINE=", "COMPOSE=")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ceremony.sh %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	run("init")
	env, _ := readEnvFile(t, filepath.Join(out, ".env"))
	for i := 1; i <= 3; i++ {
		// out/data/spN stands for the party's volume (/var/lib/tsskit).
		cmd := exec.Command(bin, "serverparty", "--print-identity", fmt.Sprintf("--party-id=server-%d", i),
			"--data-dir", filepath.Join(out, "data", fmt.Sprintf("sp%d", i)))
		cmd.Env = append(os.Environ(), "CRYPTO_MASTER_KEY="+env[fmt.Sprintf("SP%d_CRYPTO_MASTER_KEY", i)])
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("print-identity: %v", err)
		}
		var id struct {
			Key string `json:"identity_key"`
		}
		if err := json.Unmarshal(b, &id); err != nil {
			t.Fatalf("print-identity: %v: %s", err, b)
		}
		run("certify", fmt.Sprintf("server-%d", i), id.Key)
	}
	// Nothing is overwritten: a second init or certify is refused.
	for _, args := range [][]string{{"init"}, {"certify", "server-1", strings.Repeat("ab", 32)}} {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "OUT="+out, "TSSKIT="+bin)
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "exists") {
			t.Errorf("ceremony.sh %s again: %v, %s; want a refusal", args, err, b)
		}
	}
	return out
}

const (
	secretsMount = "/run/secrets/tsskit"
	binInImage   = "/usr/local/bin/tsskit"
)

func TestCompose(t *testing.T) {
	bin := tsskitBinary(t)
	out := ceremony(t, bin)
	root := repoRoot(t)

	env, envOrder := readEnvFile(t, filepath.Join(out, ".env"))
	documented, _ := readEnvFile(t, filepath.Join(root, "deploy", "compose", ".env.example"))
	cf, used, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("compose.yaml with the .env ceremony.sh wrote: %v", err)
	}

	t.Run("variables", func(t *testing.T) {
		for v := range used {
			if _, ok := documented[v]; !ok {
				t.Errorf("compose.yaml uses ${%s}, which .env.example does not document", v)
			}
		}
		for v := range documented {
			if !used[v] && v != "COMPOSE_PROFILES" {
				t.Errorf(".env.example documents %s, which compose.yaml does not use", v)
			}
		}
		for _, v := range envOrder {
			if _, ok := documented[v]; !ok {
				t.Errorf("ceremony.sh writes %s, which .env.example does not document", v)
			}
		}
		for v := range documented {
			if _, ok := env[v]; !ok {
				t.Errorf("ceremony.sh does not write %s", v)
			}
		}
		if _, _, err := loadCompose(t, map[string]string{}); err == nil || !strings.Contains(err.Error(), "ceremony.sh") {
			t.Errorf("compose.yaml without .env: %v; want a refusal naming ceremony.sh", err)
		}
	})

	helps := map[string]commandHelp{}
	for _, c := range []string{"router", "coordinator", "serverparty", "healthcheck"} {
		helps[c] = helpOf(t, bin, c)
	}
	profiles := map[string][]string{} // profile -> services
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		s := cf.Services[name]
		t.Run(name, func(t *testing.T) {
			if len(s.Profiles) != 1 || (s.Profiles[0] != "embedded" && s.Profiles[0] != "scale") {
				t.Fatalf("profiles %v: want exactly one of embedded, scale", s.Profiles)
			}
			profiles[s.Profiles[0]] = append(profiles[s.Profiles[0]], name)
			if s.Restart == "" {
				t.Error("no restart policy")
			}
			if s.Image == "" {
				t.Error("no image")
			}
			if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
				t.Fatal("no health check")
			}
			if s.Image != "tsskit:latest" {
				return // postgres, redis
			}
			checkTsskitService(t, name, s, helps, out)
		})
	}

	t.Run("profiles", func(t *testing.T) {
		for _, p := range []string{"embedded", "scale"} {
			names := map[string]string{} // network name -> service
			for _, n := range profiles[p] {
				for _, a := range cf.Services[n].aliases(n) {
					if other, dup := names[a]; dup {
						t.Errorf("%s: %s and %s are both %q on the network", p, other, n, a)
					}
					names[a] = n
				}
			}
			for _, want := range []string{"router", "coordinator", "sp1", "sp2", "sp3"} {
				if _, ok := names[want]; !ok {
					t.Errorf("profile %s has no %s", p, want)
				}
			}
			if p == "scale" {
				for _, want := range []string{"postgres", "redis"} {
					if _, ok := names[want]; !ok {
						t.Errorf("profile scale has no %s", want)
					}
				}
			}
			// Host ports: none published twice within a profile.
			host := map[string]string{}
			for _, n := range profiles[p] {
				for _, port := range cf.Services[n].Ports {
					h, _ := splitPort(t, port)
					if other, dup := host[h]; dup {
						t.Errorf("%s: %s and %s both publish %s", p, other, n, h)
					}
					host[h] = n
				}
				for dep := range cf.Services[n].DependsOn {
					if !slices.Contains(profiles[p], dep) {
						t.Errorf("%s depends on %s, which is not in profile %s", n, dep, p)
					}
				}
			}
		}
		if env["COMPOSE_PROFILES"] != "embedded" {
			t.Errorf("ceremony.sh: COMPOSE_PROFILES=%q, want embedded by default", env["COMPOSE_PROFILES"])
		}
	})

	t.Run("volumes", func(t *testing.T) {
		for name, s := range cf.Services {
			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					continue
				}
				if _, ok := cf.Volumes[src]; !ok {
					t.Errorf("%s: volume %s is not declared", name, src)
				}
			}
		}
	})

	t.Run("ceremony output", func(t *testing.T) {
		for path, want := range map[string]os.FileMode{".env": 0o600, "secrets": 0o700 | os.ModeDir, "secrets/root.key": 0o600, "secrets/ca.key": 0o600} {
			fi, err := os.Stat(filepath.Join(out, path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != want {
				t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
			}
		}
		// The coordinator's key and certificate: it can mint tokens.
		cmd := exec.Command(bin, "token", "--signing-key", "secrets/coordinator/signing.key", "--certificate", "secrets/coordinator/coordinator.cert")
		cmd.Dir = out
		cmd.Env = append(os.Environ(), "TSSKIT_TRUST_ROOT="+env["TSSKIT_TRUST_ROOT"])
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("tsskit token with the ceremony's coordinator key: %v\n%s", err, b)
		}
	})
}

// checkTsskitService checks a tsskit service of compose.yaml against the
// binary's own help and the files ceremony.sh made.
func checkTsskitService(t *testing.T, name string, s composeService, helps map[string]commandHelp, out string) {
	if len(s.Command) == 0 {
		t.Fatal("no command")
	}
	sub := s.Command[0]
	h, ok := helps[sub]
	if !ok {
		t.Fatalf("command %q: want router, coordinator or serverparty", sub)
	}
	flags := map[string]string{}
	for i := 1; i < len(s.Command); i++ {
		a := s.Command[i]
		if !strings.HasPrefix(a, "-") {
			t.Fatalf("argument %q is not a flag", a)
		}
		f, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !h.flags[f] {
			t.Errorf("tsskit %s has no flag --%s", sub, f)
		}
		if !hasValue && i+1 < len(s.Command) && !strings.HasPrefix(s.Command[i+1], "-") {
			i++
			v = s.Command[i]
		}
		flags[f] = v
	}
	for _, f := range []string{"insecure-listen", "insecure-dial"} {
		if _, ok := flags[f]; ok {
			t.Errorf("--%s: every port here serves TLS", f)
		}
	}
	for k := range s.Environment {
		if !h.env[k] {
			t.Errorf("environment %s: tsskit %s does not read it (its -h lists %v)", k, sub, slices.Sorted(maps.Keys(h.env)))
		}
	}
	if _, ok := s.Environment["MPC_API_KEY"]; ok && sub == "serverparty" {
		t.Error("a server party is given MPC_API_KEY: with the account API's key it could sign account wallets (it refuses to start)")
	}
	listens := map[string]bool{}
	for _, f := range []string{"addr", "api-addr", "metrics-addr", "health-addr"} {
		if v, ok := flags[f]; ok {
			_, p, err := net.SplitHostPort(v)
			if err != nil {
				t.Errorf("--%s %q: %v", f, v, err)
			}
			listens[p] = true
		}
	}
	if sub == "router" && flags["addr"] == "" {
		listens["8082"] = true
	}
	for _, port := range s.Ports {
		if _, c := splitPort(t, port); !listens[c] {
			t.Errorf("publishes %s, but listens on %v", port, slices.Sorted(maps.Keys(listens)))
		}
	}

	// The health check runs the image's tsskit against a port it listens on,
	// over TLS, with the environment it has.
	hc := s.Healthcheck.Test
	if hc[0] != "CMD" || len(hc) != 4 || hc[1] != binInImage || hc[2] != "healthcheck" {
		t.Errorf("health check %q: want [CMD %s healthcheck URL]", hc, binInImage)
	} else if !strings.HasPrefix(hc[3], "https://localhost:") {
		t.Errorf("health check URL %s: want https://localhost:PORT/...", hc[3])
	} else {
		hostport, _, _ := strings.Cut(strings.TrimPrefix(hc[3], "https://"), "/")
		if _, p, _ := net.SplitHostPort(hostport); !listens[p] {
			t.Errorf("health check on port %s, which it does not listen on", p)
		}
		for _, k := range []string{"TSSKIT_TLS_CA", "TSSKIT_TLS_CERT", "TSSKIT_TLS_KEY"} {
			if s.Environment[k] == "" {
				t.Errorf("no %s: the service and its health check need it", k)
			}
		}
	}

	// Secrets: its own directory of secrets/, and every file it names there.
	var secretDir string
	for _, v := range s.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		dst, _, _ = strings.Cut(dst, ":")
		if dst == secretsMount {
			if !strings.HasSuffix(v, ":ro") {
				t.Errorf("%s is not read-only", v)
			}
			secretDir = filepath.Join(out, src)
		}
	}
	if secretDir == "" {
		t.Fatalf("no secrets mounted at %s", secretsMount)
	}
	var named []string
	for _, v := range s.Environment {
		named = append(named, v)
	}
	for _, v := range flags {
		named = append(named, v)
	}
	for _, v := range named {
		if rel, ok := strings.CutPrefix(v, secretsMount+"/"); ok {
			if _, err := os.Stat(filepath.Join(secretDir, rel)); err != nil {
				t.Errorf("%s: ceremony.sh did not make it: %v", v, err)
			}
		}
	}
	// Its TLS certificate names it (as the others dial it) and localhost
	// (as its health check does), under the CA every service trusts.
	pair, err := tls.LoadX509KeyPair(filepath.Join(secretDir, "tls.pem"), filepath.Join(secretDir, "tls.key"))
	if err != nil {
		t.Fatalf("TLS pair: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(secretDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	aliases := s.aliases(name)
	for _, dns := range []string{aliases[len(aliases)-1], "localhost"} {
		_, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: dns, Roots: pool,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
		if err != nil {
			t.Errorf("TLS certificate for %s: %v", dns, err)
		}
	}
	// A server party's certificate from the root verifies under the root.
	if sub == "serverparty" {
		cmd := exec.Command(tsskitBinary(t), "identity", "show", filepath.Join(secretDir, "party.cert"))
		cmd.Env = append(os.Environ(), "TSSKIT_TRUST_ROOT="+s.Environment["TSSKIT_TRUST_ROOT"])
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "party id:     "+flags["party-id"]) {
			t.Errorf("party.cert: %v\n%s", err, b)
		}
	}
}

// splitPort splits a published port "[addr:]host:container" into the host
// side (addr:port) and the container port.
func splitPort(t *testing.T, p string) (host, container string) {
	t.Helper()
	i := strings.LastIndex(p, ":")
	if i < 0 {
		t.Fatalf("port %q: want host:container", p)
	}
	host, container = p[:i], p[i+1:]
	if !strings.Contains(host, ":") {
		host = "0.0.0.0:" + host
	}
	return host, container
}

package deploy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestComposeEmbeddedAsProcesses runs the embedded profile's services as
// compose.yaml starts them (its commands, its environment with the .env
// and the secrets ceremony.sh made), as processes on loopback instead of
// containers: each compose name (router, coordinator, sp1) becomes
// localhost, which every service certificate also names, each container
// port a free loopback port, /var/lib/tsskit a temporary directory and
// /run/secrets/tsskit the service's secrets directory. The server-party
// API's allowlist (the compose network) becomes 127.0.0.1, and the parties
// keep no pre-parameter pool, to spare the CPU. Then every service's own
// health check must pass, and the coordinator must have admitted all three
// certified server parties over TLS.
func TestComposeEmbeddedAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	bin := tsskitBinary(t)
	out := ceremony(t, bin)
	env, _ := readEnvFile(t, filepath.Join(out, ".env"))
	cf, _, err := loadCompose(t, env)
	if err != nil {
		t.Fatal(err)
	}
	services := []string{"router", "coordinator", "sp1", "sp2", "sp3"}

	// One free loopback port per (service, container port).
	ports := map[string]string{}
	port := func(svc, p string) string {
		k := svc + ":" + p
		if ports[k] == "" {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			_, ports[k], _ = net.SplitHostPort(ln.Addr().String())
			ln.Close()
		}
		return ports[k]
	}
	rewrite := func(svc, v string) string {
		if rel, ok := strings.CutPrefix(v, secretsMount+"/"); ok {
			return filepath.Join(out, "secrets", svc, rel)
		}
		if v == "/var/lib/tsskit" {
			return filepath.Join(out, "data", svc)
		}
		if strings.HasPrefix(v, ":") {
			return "127.0.0.1:" + port(svc, v[1:])
		}
		for _, other := range services {
			if rest, ok := strings.CutPrefix(v, other+":"); ok {
				return "localhost:" + port(other, rest)
			}
			if rest, ok := strings.CutPrefix(v, "https://"+other+":"); ok {
				return "https://localhost:" + port(other, rest)
			}
		}
		return v
	}

	type proc struct {
		cmd *exec.Cmd
		log bytes.Buffer
		env []string
	}
	procs := map[string]*proc{}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		for _, name := range services {
			if p := procs[name]; p != nil {
				p.cmd.Wait()
				if t.Failed() {
					t.Logf("---- %s ----\n%s", name, tail(p.log.String(), 3000))
				}
			}
		}
	}()
	for _, name := range services {
		s := cf.Services[name]
		var args []string
		for _, a := range s.Command {
			if f, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(f, "-") {
				a = f + "=" + rewrite(name, v)
			} else if !strings.HasPrefix(a, "-") {
				a = rewrite(name, a)
			}
			args = append(args, a)
		}
		if s.Command[0] == "serverparty" {
			args = append(args, "--preparams-pool=-1")
		}
		p := &proc{env: []string{"PATH=" + os.Getenv("PATH")}}
		for k, v := range s.Environment {
			if k == "ALLOWED_IPS" && name == "sp1" {
				v = "127.0.0.1"
			}
			p.env = append(p.env, k+"="+rewrite(name, v))
		}
		p.cmd = exec.CommandContext(ctx, bin, args...)
		p.cmd.Env = p.env
		p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
		if err := os.MkdirAll(filepath.Join(out, "data", name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[name] = p
	}

	// Each service's health check, as compose runs it: the image's tsskit
	// in the service's environment.
	deadline := time.Now().Add(90 * time.Second)
	for _, name := range services {
		s := cf.Services[name]
		url := s.Healthcheck.Test[3]
		hostport, path, _ := strings.Cut(strings.TrimPrefix(url, "https://"), "/")
		_, p, _ := net.SplitHostPort(hostport)
		url = "https://localhost:" + port(name, p) + "/" + path
		for {
			cmd := exec.Command(bin, "healthcheck", url)
			cmd.Env = procs[name].env
			b, err := cmd.CombinedOutput()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: health check %s: %v\n%s", name, url, err, b)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	// The pool: three certified parties, registered over TLS.
	caPEM, err := os.ReadFile(filepath.Join(out, "secrets", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	healthURL := "https://localhost:" + port("coordinator", "4000") + "/api/v1/health"
	for {
		req, _ := http.NewRequest(http.MethodGet, healthURL, nil)
		req.Header.Set("X-API-Key", env["MPC_API_KEY"])
		var h struct {
			Components struct {
				Pool struct {
					Healthy int `json:"healthy"`
				} `json:"pool"`
			} `json:"components"`
		}
		resp, err := client.Do(req)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err == nil && h.Components.Pool.Healthy == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool: %d healthy parties, %v; want 3", h.Components.Pool.Healthy, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

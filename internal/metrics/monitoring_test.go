package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/internal/metrics"
	"go.yaml.in/yaml/v3"
)

var (
	metricRe   = regexp.MustCompile(`\btsskit_[a-z_]+`)
	selectorRe = regexp.MustCompile(`(tsskit_[a-z_]+)\{([^}]*)\}`)
	labelKeyRe = regexp.MustCompile(`([a-z_]+)\s*(=~|!=|!~|=)`)
	groupingRe = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

type reporter interface {
	Helper()
	Errorf(format string, a ...any)
}

// failures records what checkExpr reports.
type failures struct{ n int }

func (f *failures) Helper()               {}
func (f *failures) Errorf(string, ...any) { f.n++ }

// checkExpr: every tsskit metric an expression names exists (a histogram
// by its _bucket/_sum/_count series), and every label it selects or
// groups by is one of those metrics' labels (or le for buckets).
func checkExpr(t reporter, where, expr string, cat map[string][]string) {
	t.Helper()
	base := func(name string) (string, bool) {
		if _, ok := cat[name]; ok {
			return name, true
		}
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok {
				if _, ok := cat[b]; ok {
					return b, true
				}
			}
		}
		return "", false
	}
	var known []string
	names := metricRe.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: no tsskit metric in %q", where, expr)
	}
	for _, n := range names {
		b, ok := base(n)
		if !ok {
			t.Errorf("%s: metric %s does not exist", where, n)
			continue
		}
		known = append(known, cat[b]...)
		if strings.HasSuffix(n, "_bucket") {
			known = append(known, "le")
		}
	}
	for _, m := range selectorRe.FindAllStringSubmatch(expr, -1) {
		b, ok := base(m[1])
		if !ok {
			continue
		}
		for _, k := range labelKeyRe.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(cat[b], k[1]) {
				t.Errorf("%s: %s has no label %q", where, m[1], k[1])
			}
		}
	}
	for _, g := range groupingRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(known, l) {
				t.Errorf("%s: groups by %q, which none of its metrics has", where, l)
			}
		}
	}
}

// The alert rules and the Grafana dashboard only use metrics and labels
// tsskit defines: renaming a metric without them fails here.
func TestMonitoringFiles(t *testing.T) {
	cat := metrics.Catalog()
	dir := filepath.Join("..", "..", "deploy", "monitoring")

	b, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v: alert, expr, severity and summary are required", r)
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, cat)
		}
	}
	if n < 8 {
		t.Fatalf("%d alert rules", n)
	}

	b, err = os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkExpr(t, "panel "+p.Title, q.Expr, cat)
			for _, m := range metricRe.FindAllString(q.Expr, -1) {
				used[strings.TrimSuffix(m, "_bucket")] = true
			}
		}
	}
	// The dashboard shows every metric tsskit has.
	for name := range cat {
		if !used[name] && name != "tsskit_party_session_duration_seconds" && name != "tsskit_party_sessions_total" &&
			name != "tsskit_grpc_request_duration_seconds" && name != "tsskit_http_request_duration_seconds" &&
			name != "tsskit_pool_preparams_ready" && name != "tsskit_pool_assigned_sessions" &&
			name != "tsskit_party_running_sessions" && name != "tsskit_sessions_started_total" {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}

// A broken reference is caught (the check above is not vacuous).
func TestMonitoringCheckCatches(t *testing.T) {
	cat := metrics.Catalog()
	for _, expr := range []string{
		`rate(tsskit_sesions_finished_total[5m])`,
		`sum by (wallet) (rate(tsskit_sessions_finished_total[5m]))`,
		`tsskit_pool_parties{stat="healthy"}`,
	} {
		f := &failures{}
		checkExpr(f, "probe", expr, cat)
		if f.n == 0 {
			t.Errorf("%q passed the check", expr)
		}
	}
}

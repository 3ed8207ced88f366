package helmtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The release every test renders: name and namespace.
const (
	release   = "tsskit"
	namespace = "wallets"
)

var (
	repoRoot  string
	chartDir  string
	helmBin   string
	tsskitBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if repoRoot, err = filepath.Abs("../../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	chartDir = filepath.Join(repoRoot, "deploy", "helm", "tsskit")
	helmBin = os.Getenv("HELM")
	if helmBin == "" {
		helmBin = filepath.Join(repoRoot, ".tools", "bin", "helm")
	}
	if _, err := os.Stat(helmBin); err != nil {
		fmt.Fprintf(os.Stderr, "helm not found at %s: run scripts/helm-tool.sh (make test-helm does), or set HELM\n", helmBin)
		return 1
	}
	// The binary the chart runs, built from this tree: the flags the chart
	// passes must be flags it knows.
	dir, err := os.MkdirTemp("", "tsskit-helm-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tsskitBin = filepath.Join(dir, "tsskit")
	build := exec.Command("go", "build", "-o", tsskitBin, "./cmd/tsskit")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/tsskit: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// object is one rendered manifest, decoded into its API type.
type object struct {
	Source string // the template it came from
	Kind   string
	Name   string
	Obj    any
}

// decoders know every kind the chart may render; a kind without one fails.
var decoders = map[string]func() any{
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &serviceMonitor{} },
}

// serviceMonitor is the part of prometheus-operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart may use, field names as in its
// API: a field outside it is a misspelling or needs adding here.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []smEndpoint `json:"endpoints"`
	} `json:"spec"`
}

type smEndpoint struct {
	Port          string      `json:"port,omitempty"`
	Path          string      `json:"path,omitempty"`
	Scheme        string      `json:"scheme,omitempty"`
	Interval      string      `json:"interval,omitempty"`
	ScrapeTimeout string      `json:"scrapeTimeout,omitempty"`
	TLSConfig     *smTLS      `json:"tlsConfig,omitempty"`
	Relabelings   []smRelabel `json:"relabelings,omitempty"`
}

type smTLS struct {
	ServerName         string                    `json:"serverName,omitempty"`
	InsecureSkipVerify bool                      `json:"insecureSkipVerify,omitempty"`
	CA                 smSecretOrConfigMap       `json:"ca"`
	Cert               smSecretOrConfigMap       `json:"cert"`
	KeySecret          *corev1.SecretKeySelector `json:"keySecret,omitempty"`
}

type smSecretOrConfigMap struct {
	Secret    *corev1.SecretKeySelector    `json:"secret,omitempty"`
	ConfigMap *corev1.ConfigMapKeySelector `json:"configMap,omitempty"`
}

type smRelabel struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    string   `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Replacement  string   `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

// decodeStrict decodes one YAML document into v as strictly as the API
// server reads it: duplicate keys, unknown fields and trailing data are
// errors, and field names match case-sensitively. encoding/json's
// DisallowUnknownFields alone would take "securitycontext" for
// "securityContext"; sigs.k8s.io/json (what the API server decodes with)
// does not.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the object")
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

var (
	docSep    = regexp.MustCompile(`(?m)^---\s*$`)
	sourceRe  = regexp.MustCompile(`(?m)^# Source: (\S+)`)
	blankOnly = regexp.MustCompile(`^(\s*(#.*)?\n?)*$`)
)

// decodeAll splits helm's output into documents and decodes each strictly.
func decodeAll(out []byte) ([]object, error) {
	var objs []object
	for _, doc := range docSep.Split(string(out), -1) {
		if blankOnly.MatchString(doc) {
			continue
		}
		src := "?"
		if m := sourceRe.FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s: %v", src, err)
		}
		mk := decoders[tm.APIVersion+"/"+tm.Kind]
		if mk == nil {
			return nil, fmt.Errorf("%s: no decoder for %s %s: add one to the test", src, tm.APIVersion, tm.Kind)
		}
		v := mk()
		if err := decodeStrict([]byte(doc), v); err != nil {
			return nil, fmt.Errorf("%s (%s): %v", src, tm.Kind, err)
		}
		meta := v.(metav1.Object)
		if meta.GetName() == "" {
			return nil, fmt.Errorf("%s (%s): no name", src, tm.Kind)
		}
		objs = append(objs, object{Source: src, Kind: tm.Kind, Name: meta.GetName(), Obj: v})
	}
	return objs, nil
}

// helm runs the pinned helm binary.
func helm(args ...string) ([]byte, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+os.TempDir()+"/tsskit-helm-cache",
		"HELM_CONFIG_HOME="+os.TempDir()+"/tsskit-helm-config", "HELM_DATA_HOME="+os.TempDir()+"/tsskit-helm-data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, lintOutput(args, stdout.Bytes()), stderr.String())
	}
	return stdout.Bytes(), nil
}

// lintOutput is helm lint's report (on stdout), for its errors.
func lintOutput(args []string, out []byte) string {
	if len(args) > 0 && args[0] == "lint" {
		return string(out)
	}
	return ""
}

// template renders the chart with the given helm flags (-f, --set).
func template(args ...string) ([]byte, error) {
	return helm(append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
}

// render renders and decodes, failing the test on any error.
func render(t *testing.T, args ...string) *rendered {
	t.Helper()
	out, err := template(args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("rendered with %v: %v", args, err)
	}
	return newRendered(objs)
}

// variants are the values files under values/, each a deployment shape.
func variants(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("values/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files: %v", err)
	}
	return files
}

// rendered is one release's objects, indexed.
type rendered struct {
	objs      []object
	workloads []workload
}

// workload is a Deployment or StatefulSet, with what the checks need.
type workload struct {
	Kind, Name string
	Replicas   int
	Template   *corev1.PodTemplateSpec
	Sts        *appsv1.StatefulSet
}

func (w workload) component() string { return w.Template.Labels["app.kubernetes.io/component"] }

func newRendered(objs []object) *rendered {
	r := &rendered{objs: objs}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			r.workloads = append(r.workloads, workload{Kind: o.Kind, Name: o.Name, Replicas: int(*v.Spec.Replicas), Template: &v.Spec.Template})
		case *appsv1.StatefulSet:
			r.workloads = append(r.workloads, workload{Kind: o.Kind, Name: o.Name, Replicas: int(*v.Spec.Replicas), Template: &v.Spec.Template, Sts: v})
		}
	}
	return r
}

func (r *rendered) workload(component string) (workload, bool) {
	for _, w := range r.workloads {
		if w.component() == component {
			return w, true
		}
	}
	return workload{}, false
}

func find[T any](r *rendered) []T {
	var out []T
	for _, o := range r.objs {
		if v, ok := o.Obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func (r *rendered) service(name string) *corev1.Service {
	for _, s := range find[*corev1.Service](r) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

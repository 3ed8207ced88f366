package helmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Every component the chart deploys.
var components = []string{"router", "coordinator", "serverparty", "partyapi"}

func TestLint(t *testing.T) {
	for _, f := range variants(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := helm("lint", "--strict", chartDir, "--namespace", namespace, "-f", f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVariants(t *testing.T) {
	for _, f := range variants(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := render(t, "-f", f)
			tls := strings.Contains(readFile(t, f), "tls:\n  enabled: true")
			mutual := strings.Contains(readFile(t, f), "mutual: true")
			for _, c := range components {
				if _, ok := r.workload(c); !ok {
					t.Fatalf("no workload for %s", c)
				}
			}
			t.Run("security", func(t *testing.T) { checkSecurity(t, r) })
			t.Run("secrets only referenced", func(t *testing.T) { checkSecrets(t, r) })
			t.Run("party ids from pod names", func(t *testing.T) { checkPartyIDs(t, r) })
			t.Run("coordinator peers", func(t *testing.T) { checkCoordinatorPeers(t, r, tls) })
			t.Run("network policies", func(t *testing.T) { checkNetworkPolicies(t, r) })
			t.Run("probes", func(t *testing.T) { checkProbes(t, r, tls, mutual) })
			t.Run("draining", func(t *testing.T) { checkDraining(t, r) })
			t.Run("log format", func(t *testing.T) { checkLogFormat(t, r, "json") })
			t.Run("flags and env exist", func(t *testing.T) { checkFlags(t, r) })
			t.Run("services", func(t *testing.T) { checkServices(t, r) })
			t.Run("disruption budgets", func(t *testing.T) { checkPDBs(t, r) })
			t.Run("resources", func(t *testing.T) { checkResources(t, r) })
			t.Run("transport", func(t *testing.T) { checkTransport(t, r, tls, mutual) })
			t.Run("names", func(t *testing.T) { checkNames(t, r) })
		})
	}
}

func readFile(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// containers returns a pod's init containers and containers.
func containers(p *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(p.InitContainers), p.Containers...)
}

func checkSecurity(t *testing.T, r *rendered) {
	for _, w := range r.workloads {
		pod := w.Template.Spec
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: service account token mounted; no tsskit service calls the API", w.Name)
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			t.Errorf("%s: shares a host namespace", w.Name)
		}
		podSC := pod.SecurityContext
		for _, c := range containers(&pod) {
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s/%s: no securityContext", w.Name, c.Name)
				continue
			}
			nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && podSC != nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot)
			if !nonRoot {
				t.Errorf("%s/%s: may run as root", w.Name, c.Name)
			}
			uid := sc.RunAsUser
			if uid == nil && podSC != nil {
				uid = podSC.RunAsUser
			}
			if uid != nil && *uid == 0 {
				t.Errorf("%s/%s: runs as uid 0", w.Name, c.Name)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: root filesystem writable", w.Name, c.Name)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s/%s: privilege escalation allowed", w.Name, c.Name)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s/%s: privileged", w.Name, c.Name)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s/%s: capabilities not all dropped: %+v", w.Name, c.Name, sc.Capabilities)
			}
		}
	}
}

// secretEnv are the variables that carry secrets: only ever from a Secret.
var secretEnv = []string{"MPC_API_KEY", "CRYPTO_MASTER_KEY", "DATABASE_URL", "REDIS_URL"}

func checkSecrets(t *testing.T, r *rendered) {
	for _, o := range r.objs {
		if o.Kind == "Secret" || o.Kind == "ConfigMap" {
			t.Errorf("%s renders a %s: secrets are referenced by name, never rendered", o.Source, o.Kind)
		}
	}
	secretLike := regexp.MustCompile(`(?i)(postgres(ql)?|rediss?)://|-----BEGIN|\b[0-9a-f]{64}\b`)
	for _, w := range r.workloads {
		pod := w.Template.Spec
		for _, c := range containers(&pod) {
			for _, e := range c.Env {
				if e.Name == "JWT_SECRET_KEY" || e.Name == "TSSKIT_SIGNING_KEY" {
					t.Errorf("%s/%s sets %s", w.Name, c.Name, e.Name)
				}
				// The account API's key belongs to the coordinator alone:
				// a server party holding it could sign account wallets.
				if e.Name == "MPC_API_KEY" && !strings.Contains(w.Name, "coordinator") {
					t.Errorf("%s/%s is given MPC_API_KEY", w.Name, c.Name)
				}
				if slices.Contains(secretEnv, e.Name) {
					if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" {
						t.Errorf("%s/%s: %s is not a Secret reference", w.Name, c.Name, e.Name)
					}
					continue
				}
				if e.Name != "TSSKIT_TRUST_ROOT" && e.Name != "TSSKIT_REVOKED" && secretLike.MatchString(e.Value) {
					t.Errorf("%s/%s: %s looks like a secret inlined: %q", w.Name, c.Name, e.Name, e.Value)
				}
			}
			for _, a := range c.Args {
				if secretLike.MatchString(a) {
					t.Errorf("%s/%s: argument looks like a secret inlined: %q", w.Name, c.Name, a)
				}
			}
			// Key and certificate files come from Secret volumes.
			for _, flag := range []string{"--signing-key", "--certificate", "--tls-key", "--tls-cert", "--tls-ca", "--tls-client-ca"} {
				path, ok := flagValue(c.Args, flag)
				if !ok {
					continue
				}
				v := volumeFor(&pod, c, path)
				if v == nil || v.Secret == nil || v.Secret.SecretName == "" {
					t.Errorf("%s/%s: %s %s is not on a Secret volume", w.Name, c.Name, flag, path)
				}
			}
		}
	}
}

// volumeFor is the volume mounted where path lives in container c.
func volumeFor(pod *corev1.PodSpec, c corev1.Container, path string) *corev1.Volume {
	var best corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") && len(m.MountPath) > len(best.MountPath) {
			best = m
		}
	}
	for i := range pod.Volumes {
		if best.Name != "" && pod.Volumes[i].Name == best.Name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// flagValue is the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func hasFlag(args []string, name string) bool {
	return slices.Contains(args, name) || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, name+"=") })
}

func container(t *testing.T, w workload, name string) corev1.Container {
	t.Helper()
	for _, c := range containers(&w.Template.Spec) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no container %s", w.Name, name)
	return corev1.Container{}
}

// podNameEnv says whether c has POD_NAME from the downward API.
func podNameEnv(c corev1.Container) bool {
	for _, e := range c.Env {
		if e.Name == "POD_NAME" {
			return e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
		}
	}
	return false
}

// coordinatorAddrs are the replicas' addresses, from the StatefulSet.
func coordinatorAddrs(t *testing.T, r *rendered) []string {
	t.Helper()
	w, _ := r.workload("coordinator")
	if w.Sts == nil {
		t.Fatal("the coordinator is not a StatefulSet: its replicas have no stable addresses")
	}
	port := containerPort(t, container(t, w, "coordinator"), "grpc")
	var out []string
	for i := range w.Replicas {
		out = append(out, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:%d", w.Name, i, w.Sts.Spec.ServiceName, namespace, port))
	}
	return out
}

func containerPort(t *testing.T, c corev1.Container, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return 0
}

func checkPartyIDs(t *testing.T, r *rendered) {
	coords := coordinatorAddrs(t, r)
	for _, comp := range []string{"serverparty", "partyapi"} {
		w, _ := r.workload(comp)
		if w.Sts == nil {
			t.Fatalf("%s is not a StatefulSet", comp)
		}
		if w.Sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
			t.Errorf("%s: pods start in order: a pod waiting for its certificate would hold back the rest", w.Name)
		}
		for _, name := range []string{"identity", "serverparty"} {
			c := container(t, w, name)
			if c.Args[0] != "serverparty" {
				t.Errorf("%s/%s runs %q", w.Name, name, c.Args[0])
			}
			if id, _ := flagValue(c.Args, "--party-id"); id != "$(POD_NAME)" || !podNameEnv(c) {
				t.Errorf("%s/%s: --party-id is %q, not the pod name", w.Name, name, id)
			}
		}
		c := container(t, w, "serverparty")
		if cert, _ := flagValue(c.Args, "--certificate"); !strings.HasSuffix(cert, "/$(POD_NAME).cert") {
			t.Errorf("%s: --certificate %q is not keyed by the pod name", w.Name, cert)
		}
		if got, _ := flagValue(c.Args, "--coordinator"); got != strings.Join(coords, ",") {
			t.Errorf("%s: --coordinator %q, want every replica %q", w.Name, got, strings.Join(coords, ","))
		}
		if hasFlag(c.Args, "--api-addr") != (comp == "partyapi") {
			t.Errorf("%s: --api-addr on the wrong parties", w.Name)
		}
		// Its vault: its own volume, or PostgreSQL under its party id.
		pg := slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "DATABASE_URL" })
		claims := slices.ContainsFunc(w.Sts.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == "data" })
		if pg == claims {
			t.Errorf("%s: vault in PostgreSQL %v, per-pod volume %v: want exactly one", w.Name, pg, claims)
		}
		if claims {
			rp := w.Sts.Spec.PersistentVolumeClaimRetentionPolicy
			if rp == nil || rp.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || rp.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("%s: shares' volumes not retained on scale-down or delete: %+v", w.Name, rp)
			}
		}
	}
}

func checkCoordinatorPeers(t *testing.T, r *rendered, tls bool) {
	addrs := coordinatorAddrs(t, r)
	w, _ := r.workload("coordinator")
	headless := r.service(w.Sts.Spec.ServiceName)
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("the coordinator's serviceName %s is not a headless Service", w.Sts.Spec.ServiceName)
	}
	if !selects(headless.Spec.Selector, w.Template.Labels) {
		t.Errorf("headless Service %s does not select the coordinator pods", headless.Name)
	}
	c := container(t, w, "coordinator")
	if !podNameEnv(c) {
		t.Fatal("coordinator has no POD_NAME")
	}
	peers, hasPeers := flagValue(c.Args, "--peers")
	if (w.Replicas > 1) != hasPeers {
		t.Fatalf("%d replicas, --peers given: %v", w.Replicas, hasPeers)
	}
	for i := range w.Replicas {
		pod := fmt.Sprintf("%s-%d", w.Name, i)
		adv, _ := flagValue(c.Args, "--advertise")
		adv = strings.ReplaceAll(adv, "$(POD_NAME)", pod)
		if adv != addrs[i] {
			t.Errorf("replica %d advertises %q, want %q", i, adv, addrs[i])
		}
		if !hasPeers {
			continue
		}
		// One pod template serves every replica, so --peers names them
		// all; a replica never forwards to its own --advertise. What is
		// left once it is taken out must be exactly the other replicas.
		list := strings.Split(peers, ",")
		others := slices.DeleteFunc(slices.Clone(list), func(p string) bool { return p == adv })
		if len(others) != len(list)-1 {
			t.Errorf("replica %d: its own address is not once in --peers %q", i, peers)
		}
		want := slices.DeleteFunc(slices.Clone(addrs), func(p string) bool { return p == adv })
		slices.Sort(others)
		slices.Sort(want)
		if !slices.Equal(others, want) {
			t.Errorf("replica %d: peers %v, want the other replicas %v", i, others, want)
		}
	}
	// The router and the server-party API, by their Services.
	router, _ := flagValue(c.Args, "--router")
	rw, _ := r.workload("router")
	wantRouter := fmt.Sprintf("%s.%s.svc.cluster.local:%d", rw.Name, namespace, containerPort(t, container(t, rw, "router"), "grpc"))
	if router != wantRouter || r.service(rw.Name) == nil {
		t.Errorf("--router %q, want the router Service %q", router, wantRouter)
	}
	api, _ := flagValue(c.Args, "--party-api")
	pw, _ := r.workload("partyapi")
	scheme := map[bool]string{true: "https", false: "http"}[tls]
	wantAPI := fmt.Sprintf("%s://%s.%s.svc.cluster.local:%d", scheme, pw.Name, namespace, containerPort(t, container(t, pw, "serverparty"), "api"))
	if api != wantAPI || r.service(pw.Name) == nil {
		t.Errorf("--party-api %q, want the server-party API Service %q", api, wantAPI)
	}
}

func selects(sel map[string]string, podLabels map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels))
}

func labelSelects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(podLabels))
}

// allows says whether a NetworkPolicy rule set lets traffic on port
// through with peers matching the given pod labels (same namespace).
func allows(t *testing.T, ports [][]networkingv1.NetworkPolicyPort, peers [][]networkingv1.NetworkPolicyPeer, podLabels map[string]string, port int) bool {
	for i := range ports {
		portOK := len(ports[i]) == 0 || slices.ContainsFunc(ports[i], func(p networkingv1.NetworkPolicyPort) bool {
			return p.Port == nil || p.Port.IntValue() == port
		})
		peerOK := len(peers[i]) == 0 || slices.ContainsFunc(peers[i], func(p networkingv1.NetworkPolicyPeer) bool {
			return p.PodSelector != nil && p.NamespaceSelector == nil && p.IPBlock == nil && labelSelects(t, p.PodSelector, podLabels)
		})
		if portOK && peerOK {
			return true
		}
	}
	return false
}

func policyFor(t *testing.T, r *rendered, w workload) *networkingv1.NetworkPolicy {
	t.Helper()
	var found *networkingv1.NetworkPolicy
	for _, np := range find[*networkingv1.NetworkPolicy](r) {
		if labelSelects(t, &np.Spec.PodSelector, w.Template.Labels) {
			if found != nil {
				t.Errorf("%s: several NetworkPolicies select it", w.Name)
			}
			found = np
		}
	}
	if found == nil {
		t.Fatalf("%s: no NetworkPolicy", w.Name)
	}
	if !slices.Contains(found.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(found.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("%s: policy %s does not restrict both directions", w.Name, found.Name)
	}
	return found
}

func ingressRules(np *networkingv1.NetworkPolicy) ([][]networkingv1.NetworkPolicyPort, [][]networkingv1.NetworkPolicyPeer) {
	var ports [][]networkingv1.NetworkPolicyPort
	var peers [][]networkingv1.NetworkPolicyPeer
	for _, r := range np.Spec.Ingress {
		ports, peers = append(ports, r.Ports), append(peers, r.From)
	}
	return ports, peers
}

func egressRules(np *networkingv1.NetworkPolicy) ([][]networkingv1.NetworkPolicyPort, [][]networkingv1.NetworkPolicyPeer) {
	var ports [][]networkingv1.NetworkPolicyPort
	var peers [][]networkingv1.NetworkPolicyPeer
	for _, r := range np.Spec.Egress {
		ports, peers = append(ports, r.Ports), append(peers, r.To)
	}
	return ports, peers
}

func checkNetworkPolicies(t *testing.T, r *rendered) {
	ws := map[string]workload{}
	nps := map[string]*networkingv1.NetworkPolicy{}
	for _, c := range components {
		ws[c], _ = r.workload(c)
		nps[c] = policyFor(t, r, ws[c])
	}
	port := func(comp, name string) int {
		main := ws[comp].Template.Spec.Containers[0]
		return containerPort(t, main, name)
	}
	// flow: from → to on to's port; both sides must allow it.
	flow := func(from, to, portName string) {
		p := port(to, portName)
		ep, epeers := egressRules(nps[from])
		if !allows(t, ep, epeers, ws[to].Template.Labels, p) {
			t.Errorf("%s may not connect to %s:%d", from, to, p)
		}
		ip, ipeers := ingressRules(nps[to])
		if !allows(t, ip, ipeers, ws[from].Template.Labels, p) {
			t.Errorf("%s does not accept %s on %d", to, from, p)
		}
	}
	flow("coordinator", "router", "grpc")
	flow("coordinator", "partyapi", "api")
	flow("coordinator", "coordinator", "grpc")
	flow("serverparty", "coordinator", "grpc")
	flow("serverparty", "router", "grpc")
	flow("partyapi", "coordinator", "grpc")
	flow("partyapi", "router", "grpc")
	// Flows that must not exist.
	noFlow := func(from, to string, p int) {
		ip, ipeers := ingressRules(nps[to])
		if allows(t, ip, ipeers, ws[from].Template.Labels, p) {
			t.Errorf("%s accepts %s on %d", to, from, p)
		}
	}
	noFlow("serverparty", "partyapi", port("partyapi", "api"))
	noFlow("router", "partyapi", port("partyapi", "api"))
	noFlow("router", "serverparty", 8083)
	noFlow("coordinator", "serverparty", 8083)
	// A pool party's health port is for the kubelet, which probes from the
	// node (a NetworkPolicy does not filter a pod's own node): no rule
	// admits it, from any source.
	hp := port("serverparty", "health")
	for _, rule := range nps["serverparty"].Spec.Ingress {
		if len(rule.Ports) == 0 || slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port == nil || p.Port.IntValue() == hp }) {
			t.Errorf("serverparty: an ingress rule admits the health port %d: %+v", hp, rule)
		}
	}
	// Nobody inside dials out where tsskit does not.
	ep, epeers := egressRules(nps["router"])
	if allows(t, ep, epeers, ws["coordinator"].Template.Labels, port("coordinator", "grpc")) {
		t.Error("the router may connect to the coordinator")
	}
	// Metrics, where served, from the monitoring peers only.
	for _, c := range components {
		for _, cp := range ws[c].Template.Spec.Containers[0].Ports {
			if cp.Name != "metrics" {
				continue
			}
			found := false
			for _, rule := range nps[c].Spec.Ingress {
				if slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
					return p.Port != nil && p.Port.IntValue() == int(cp.ContainerPort)
				}) {
					found = true
					if len(rule.From) == 0 || slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool { return p.NamespaceSelector == nil && p.IPBlock == nil }) {
						t.Errorf("%s: metrics open beyond the monitoring namespace: %+v", c, rule.From)
					}
				}
			}
			if !found {
				t.Errorf("%s: metrics port not admitted", c)
			}
		}
	}
	// PostgreSQL and Redis: egress only where configured and used.
	for _, c := range components {
		main := ws[c].Template.Spec.Containers[0]
		for env, p := range map[string]int{"DATABASE_URL": 5432, "REDIS_URL": 6379} {
			uses := slices.ContainsFunc(main.Env, func(e corev1.EnvVar) bool { return e.Name == env })
			open := false
			for _, rule := range nps[c].Spec.Egress {
				if slices.ContainsFunc(rule.Ports, func(pp networkingv1.NetworkPolicyPort) bool { return pp.Port != nil && pp.Port.IntValue() == p }) {
					open = true
				}
			}
			if uses != open {
				t.Errorf("%s: uses %s %v, egress to port %d %v", c, env, uses, p, open)
			}
		}
	}
}

// probePaths are /health and the probes every port with /health serves
// (internal/httpx/probes.go AddProbes).
var probePaths = []string{"/health", "/livez", "/readyz"}

// served are the HTTP paths each component serves, by container port
// name: /health, /livez and /readyz on the gRPC ports
// (internal/stack/stack.go HealthHandler), the account API
// (coordinator/account.go), the server-party API and a pool party's
// --health-addr (serverparty/api.go API and ProbeHandler); /metrics on
// --metrics-addr.
var served = map[string]map[string][]string{
	"router":      {"grpc": probePaths, "metrics": {"/metrics"}},
	"coordinator": {"grpc": probePaths, "api": probePaths, "metrics": {"/metrics"}},
	"serverparty": {"health": probePaths, "metrics": {"/metrics"}},
	"partyapi":    {"api": probePaths, "metrics": {"/metrics"}},
}

// probePath is the path each kind of probe asks: /livez answers 200 while
// the process serves at all (a restart would not help with anything
// else); /readyz answers 503 while a dependency is down, a party is not
// registered, or it drains (docs/operations.md, "Probes").
var probePath = map[string]string{"liveness": "/livez", "readiness": "/readyz"}

// portFlag is the flag that sets the address of a named port.
var portFlag = map[string]map[string]string{
	"router":      {"grpc": "--addr", "metrics": "--metrics-addr"},
	"coordinator": {"grpc": "--addr", "api": "--api-addr", "metrics": "--metrics-addr"},
	"serverparty": {"health": "--health-addr", "metrics": "--metrics-addr"},
	"partyapi":    {"api": "--api-addr", "metrics": "--metrics-addr"},
}

// TestServedRoutes keeps the served table above honest: the routes are in
// the source where it says, in the function that serves each port.
func TestServedRoutes(t *testing.T) {
	health := `mux.HandleFunc("GET /health"`
	for _, tc := range []struct{ file, fn, route string }{
		// The probes themselves.
		{"internal/httpx/probes.go", "func AddProbes(", `mux.HandleFunc("GET /livez"`},
		{"internal/httpx/probes.go", "func AddProbes(", `mux.HandleFunc("GET /readyz"`},
		// The router's and the coordinator's gRPC ports.
		{"internal/stack/stack.go", "func HealthHandler(", health},
		{"internal/stack/stack.go", "func HealthHandler(", "httpx.AddProbes(mux,"},
		// The account API.
		{"coordinator/account.go", "func (c *Coordinator) AccountAPI(", health},
		{"coordinator/account.go", "func (c *Coordinator) AccountAPI(", "httpx.AddProbes(mux,"},
		{"coordinator/account.go", "func (c *Coordinator) AccountAPI(", `Open: append([]string{"/health"}, httpx.ProbePaths...)`},
		// The server-party API.
		{"serverparty/api.go", "func (p *Party) API(", health},
		{"serverparty/api.go", "func (p *Party) API(", "httpx.AddProbes(mux, p.Ready)"},
		{"serverparty/api.go", "func (p *Party) API(", `Open: append([]string{"/health"}, httpx.ProbePaths...)`},
		// A pool party's --health-addr, served with the party's TLS.
		{"serverparty/api.go", "func (p *Party) ProbeHandler(", health},
		{"serverparty/api.go", "func (p *Party) ProbeHandler(", "httpx.AddProbes(mux, p.Ready)"},
		{"internal/stack/stack.go", "func (s *Stack) AddServerParty(", `s.ListenTLS("serverparty-health", o.HealthAddr, p.ProbeHandler(), o.TLS.Server)`},
		{"cmd/tsskit/commands.go", "func runServerParty(", `fs.String("health-addr"`},
		// Draining: the binary may take --drain-timeout plus its grace
		// time to exit; checkDraining wants the pod's grace above that.
		{"internal/stack/stack.go", "func (s *Stack) AddServerParty(", "o.DrainTimeout+GraceTime"},
		{"internal/stack/stack.go", "", "const GraceTime = 10 * time.Second"},
		{"cmd/tsskit/commands.go", "func runServerParty(", `fs.Duration("drain-timeout"`},
		// Metrics.
		{"internal/metrics/metrics.go", "", `mux.Handle("GET /metrics"`},
	} {
		src := readFile(t, filepath.Join(repoRoot, tc.file))
		where := tc.file
		if tc.fn != "" {
			src = funcBody(src, tc.fn)
			where += " " + strings.TrimSuffix(tc.fn, "(")
		}
		if !strings.Contains(src, tc.route) {
			t.Errorf("%s no longer has %s: update the chart's probes and this test", where, tc.route)
		}
	}
}

// funcBody is the Go function in src whose declaration starts with decl,
// up to its closing brace at the start of a line; "" if there is none.
func funcBody(src, decl string) string {
	i := strings.Index(src, "\n"+decl)
	if i < 0 {
		return ""
	}
	body := src[i+1:]
	if j := strings.Index(body, "\n}\n"); j >= 0 {
		body = body[:j+3]
	}
	return body
}

func checkProbes(t *testing.T, r *rendered, tls, mutual bool) {
	for _, w := range r.workloads {
		comp := w.component()
		c := w.Template.Spec.Containers[0]
		// Every named port is where its flag says it listens.
		for _, p := range c.Ports {
			flag := portFlag[comp][p.Name]
			v, ok := flagValue(c.Args, flag)
			if flag == "" || !ok || v != ":"+strconv.Itoa(int(p.ContainerPort)) {
				t.Errorf("%s: port %s %d is not what %s says (%q)", w.Name, p.Name, p.ContainerPort, flag, v)
			}
		}
		probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
		for kind, p := range probes {
			if p == nil {
				t.Errorf("%s: no %s probe", w.Name, kind)
				continue
			}
			var name string
			switch {
			case p.HTTPGet != nil:
				name = p.HTTPGet.Port.String()
			case p.TCPSocket != nil:
				name = p.TCPSocket.Port.String()
			}
			// Probes must not depend on metrics being on.
			if name == "metrics" {
				t.Errorf("%s: %s probe on the metrics port", w.Name, kind)
			}
			switch {
			case p.HTTPGet != nil:
				if mutual {
					t.Errorf("%s: %s probe over HTTP under mutual TLS: the kubelet has no client certificate", w.Name, kind)
				}
				containerPort(t, c, name)
				if !slices.Contains(served[comp][name], p.HTTPGet.Path) {
					t.Errorf("%s: %s probe GET %s on %s, which serves %v", w.Name, kind, p.HTTPGet.Path, name, served[comp][name])
				}
				if p.HTTPGet.Path != probePath[kind] {
					t.Errorf("%s: %s probe GET %s, want %s", w.Name, kind, p.HTTPGet.Path, probePath[kind])
				}
				if want := map[bool]corev1.URIScheme{true: corev1.URISchemeHTTPS, false: corev1.URISchemeHTTP}[tls]; p.HTTPGet.Scheme != want {
					t.Errorf("%s: %s probe scheme %s, want %s", w.Name, kind, p.HTTPGet.Scheme, want)
				}
			case p.TCPSocket != nil:
				if !mutual {
					t.Errorf("%s: %s probe is a TCP check where %s can be asked", w.Name, kind, probePath[kind])
				}
				// The same port the HTTP probe would ask.
				containerPort(t, c, name)
				if !slices.Contains(served[comp][name], probePath[kind]) {
					t.Errorf("%s: %s TCP check on %s, which does not serve %s", w.Name, kind, name, probePath[kind])
				}
			default:
				t.Errorf("%s: %s probe of an unexpected kind", w.Name, kind)
			}
		}
	}
}

// drainGrace is how much longer than --drain-timeout the pod's
// terminationGracePeriodSeconds must be: the binary may take the drain
// plus its shutdown grace (internal/stack GraceTime, 10 s, checked in
// TestServedRoutes) to exit, and a margin for the rest.
const drainGrace = 10

// checkDraining: server parties drain on SIGTERM for --drain-timeout, and
// the kubelet waits longer than that before it kills them; the router and
// the coordinator have no drain.
func checkDraining(t *testing.T, r *rendered) {
	for _, w := range r.workloads {
		c := w.Template.Spec.Containers[0]
		v, ok := flagValue(c.Args, "--drain-timeout")
		if comp := w.component(); comp != "serverparty" && comp != "partyapi" {
			if ok {
				t.Errorf("%s: --drain-timeout on a %s", w.Name, comp)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no --drain-timeout: a rolling update would cut its sessions at the default", w.Name)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("%s: --drain-timeout %q: %v", w.Name, v, err)
			continue
		}
		if d < time.Minute {
			t.Errorf("%s: --drain-timeout %s, shorter than a keygen can take", w.Name, d)
		}
		g := w.Template.Spec.TerminationGracePeriodSeconds
		if g == nil || time.Duration(*g)*time.Second <= d+drainGrace*time.Second {
			t.Errorf("%s: terminationGracePeriodSeconds %v, want above --drain-timeout %s + %d s", w.Name, g, d, drainGrace)
		}
	}
}

// checkLogFormat: every service gets --log-format, one source for it.
func checkLogFormat(t *testing.T, r *rendered, want string) {
	for _, w := range r.workloads {
		c := w.Template.Spec.Containers[0]
		if v, _ := flagValue(c.Args, "--log-format"); v != want {
			t.Errorf("%s: --log-format %q, want %q", w.Name, v, want)
		}
		if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "TSSKIT_LOG_FORMAT" }) {
			t.Errorf("%s: TSSKIT_LOG_FORMAT beside --log-format", w.Name)
		}
	}
}

// help is what `tsskit <command> -h` says: its flags and its environment.
type help struct {
	flags map[string]bool
	env   string
}

var helps = map[string]help{}

func commandHelp(t *testing.T, cmd string) help {
	t.Helper()
	if h, ok := helps[cmd]; ok {
		return h
	}
	out, err := exec.Command(tsskitBin, cmd, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("tsskit %s -h: %v\n%s", cmd, err, out)
	}
	s := string(out)
	flagsPart, env, _ := strings.Cut(s, "\nenvironment:")
	h := help{flags: map[string]bool{}, env: env}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(flagsPart, -1) {
		h.flags["--"+m[1]] = true
	}
	if len(h.flags) == 0 {
		t.Fatalf("tsskit %s -h lists no flags:\n%s", cmd, s)
	}
	helps[cmd] = h
	return h
}

func checkFlags(t *testing.T, r *rendered) {
	for _, w := range r.workloads {
		for _, c := range containers(&w.Template.Spec) {
			if len(c.Args) == 0 {
				t.Errorf("%s/%s: no arguments", w.Name, c.Name)
				continue
			}
			cmd := c.Args[0]
			h := commandHelp(t, cmd)
			for _, a := range c.Args[1:] {
				name, _, _ := strings.Cut(a, "=")
				if !strings.HasPrefix(name, "--") || !h.flags[name] {
					t.Errorf("%s/%s: tsskit %s has no flag %q", w.Name, c.Name, cmd, name)
				}
			}
			for _, e := range c.Env {
				if e.Name == "POD_NAME" {
					continue
				}
				if !regexp.MustCompile(`\b` + e.Name + `\b`).MatchString(h.env) {
					t.Errorf("%s/%s: tsskit %s does not read %s", w.Name, c.Name, cmd, e.Name)
				}
			}
		}
	}
}

func checkServices(t *testing.T, r *rendered) {
	for _, s := range find[*corev1.Service](r) {
		var w *workload
		for i := range r.workloads {
			if selects(s.Spec.Selector, r.workloads[i].Template.Labels) {
				if w != nil {
					t.Errorf("Service %s selects several workloads", s.Name)
				}
				w = &r.workloads[i]
			}
		}
		if w == nil {
			t.Errorf("Service %s selects no pods", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			containerPort(t, w.Template.Spec.Containers[0], p.TargetPort.String())
		}
	}
	for _, w := range r.workloads {
		if w.Sts != nil && r.service(w.Sts.Spec.ServiceName) == nil {
			t.Errorf("%s: serviceName %s is not rendered", w.Name, w.Sts.Spec.ServiceName)
		}
	}
	for _, sm := range find[*serviceMonitor](r) {
		matched := 0
		for _, s := range find[*corev1.Service](r) {
			if labelSelects(t, &sm.Spec.Selector, s.Labels) {
				matched++
				if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }) {
					t.Errorf("ServiceMonitor selects Service %s without a %s port", s.Name, sm.Spec.Endpoints[0].Port)
				}
			}
		}
		// One Service per component: every pod scraped exactly once.
		if matched != len(components) {
			t.Errorf("ServiceMonitor selects %d Services, want %d", matched, len(components))
		}
	}
}

func checkPDBs(t *testing.T, r *rendered) {
	for _, w := range r.workloads {
		n := 0
		for _, p := range find[*policyv1.PodDisruptionBudget](r) {
			if labelSelects(t, p.Spec.Selector, w.Template.Labels) {
				n++
				if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
					t.Errorf("PodDisruptionBudget %s bounds nothing", p.Name)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets", w.Name, n)
		}
	}
}

func checkResources(t *testing.T, r *rendered) {
	for _, w := range r.workloads {
		for _, c := range containers(&w.Template.Spec) {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[res]; !ok {
					t.Errorf("%s/%s: no %s request", w.Name, c.Name, res)
				}
				if _, ok := c.Resources.Limits[res]; !ok {
					t.Errorf("%s/%s: no %s limit", w.Name, c.Name, res)
				}
			}
		}
	}
}

// checkTransport: TLS flags exactly when TLS is on, cleartext flags only
// when TLS is off (and then only because a value said so).
func checkTransport(t *testing.T, r *rendered, tls, mutual bool) {
	for _, w := range r.workloads {
		c := w.Template.Spec.Containers[0]
		for flag, want := range map[string]bool{
			"--tls-cert": tls, "--tls-key": tls, "--tls-ca": tls, "--tls-client-ca": mutual,
			"--insecure-listen": !tls, "--insecure-dial": !tls,
		} {
			if hasFlag(c.Args, flag) != want {
				t.Errorf("%s: %s given: %v, want %v", w.Name, flag, !want, want)
			}
		}
	}
	for _, sm := range find[*serviceMonitor](r) {
		ep := sm.Spec.Endpoints[0]
		if (ep.Scheme == "https") != tls || (ep.TLSConfig != nil) != tls {
			t.Errorf("ServiceMonitor scheme %s, TLS config %v, with TLS %v", ep.Scheme, ep.TLSConfig != nil, tls)
		}
		if mutual && (ep.TLSConfig.Cert.Secret == nil || ep.TLSConfig.KeySecret == nil) {
			t.Error("ServiceMonitor presents no client certificate under mutual TLS")
		}
	}
}

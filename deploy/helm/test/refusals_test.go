package helmtest

import (
	"fmt"
	"strings"
	"testing"
)

// TestRefusals: values that cannot work fail rendering with a message that
// says what to set.
func TestRefusals(t *testing.T) {
	min := []string{"-f", "values/minimal.yaml"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"defaults", nil, "trustRoot is required"},
		{"router replicas without Redis", append(min, "--set", "router.replicas=2"), "set redis.existingSecret"},
		{"coordinator replicas without PostgreSQL", append(min, "--set", "coordinator.replicas=3"), "set database.existingSecret"},
		{"pool vault in PostgreSQL", append(min, "--set", "serverParty.vault=postgres"), "one pod could read and decrypt every other party's shares"},
		{"no transport security", append(min, "--set", "insecure.listen=false"), "no transport security"},
		{"TLS without its Secret", append(min, "--set", "tls.enabled=true"), "set tls.existingSecret"},
		{"mutual TLS without TLS", append(min, "--set", "tls.mutual=true"), "mutual TLS is TLS first"},
		{"no signing key", append(min, "--set", "coordinator.signing.existingSecret="), "coordinator.signing.existingSecret is required"},
		{"no master key", append(min, "--set", "serverParty.masterKey.existingSecret="), "CRYPTO_MASTER_KEY"},
		{"no certificates", append(min, "--set", "serverParty.certificates.existingSecret="), "<party id>.cert"},
		{"no account API callers", append(min, "--set", "coordinator.allowedIPs=null"), "coordinator.allowedIPs is required"},
		{"uncertified replica", []string{"-f", "values/tls.yaml", "--set", "serverParty.replicas=4"},
			"party tsskit-serverparty-3 is not in serverParty.certificates.partyIds"},
		{"misspelt value", append(min, "--set", "router.replica=2"), "additional properties 'replica' not allowed"},
		{"secret inlined as a value", append(min, "--set", "apiKey.value=abc"), "additional properties 'value' not allowed"},
		{"unknown vault", append(min, "--set", "serverParty.vault=s3"), "serverParty.vault"},
		{"ServiceMonitor without metrics", append(min, "--set", "serviceMonitor.enabled=true", "--set", "metrics.enabled=false"), "needs metrics.enabled"},
		{"negative drain", append(min, "--set", "serverParty.drainTimeoutSeconds=-1"), "drainTimeoutSeconds"},
		{"drain as a duration", append(min, "--set", "partyApi.drainTimeoutSeconds=60s"), "drainTimeoutSeconds"},
		{"unknown log format", append(min, "--set", "logFormat=xml"), "logFormat"},
		{"health port on the metrics port", append(min, "--set", "serverParty.healthPort=9090"), "ports of their own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := template(tc.args...)
			if err == nil {
				t.Fatalf("rendered:\n%.400s", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestScaling: the pool's size is one value; the parties' coordinator
// list follows the coordinator's replicas.
func TestScaling(t *testing.T) {
	r := render(t, "-f", "values/replicas.yaml", "--set", "serverParty.replicas=7", "--set", "coordinator.replicas=4")
	pool, _ := r.workload("serverparty")
	if pool.Replicas != 7 {
		t.Errorf("pool of %d, want 7", pool.Replicas)
	}
	coords := coordinatorAddrs(t, r)
	if len(coords) != 4 {
		t.Fatalf("%d coordinator addresses", len(coords))
	}
	for _, comp := range []string{"serverparty", "partyapi"} {
		w, _ := r.workload(comp)
		got, _ := flagValue(container(t, w, "serverparty").Args, "--coordinator")
		if got != strings.Join(coords, ",") {
			t.Errorf("%s registers with %q", comp, got)
		}
	}
	checkCoordinatorPeers(t, r, false)

	// One coordinator: no peers, an advertised address all the same (its
	// --instance stays its own across restarts).
	one := render(t, "-f", "values/minimal.yaml")
	w, _ := one.workload("coordinator")
	c := container(t, w, "coordinator")
	if hasFlag(c.Args, "--peers") || !hasFlag(c.Args, "--advertise") {
		t.Errorf("one coordinator: %v", c.Args)
	}
	// SQLite on a volume of its own.
	if len(w.Sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("one coordinator without PostgreSQL keeps SQLite on %d volumes", len(w.Sts.Spec.VolumeClaimTemplates))
	}

	// Without metrics the pool parties listen on their health port alone,
	// and are probed there.
	off := render(t, "-f", "values/minimal.yaml", "--set", "metrics.enabled=false")
	sp, _ := off.workload("serverparty")
	checkProbes(t, off, false, false)
	if ports := sp.Template.Spec.Containers[0].Ports; len(ports) != 1 || ports[0].Name != "health" {
		t.Errorf("pool party without metrics has ports %+v, want health alone", ports)
	}
	checkNetworkPolicies(t, off)
}

// TestDrainAndLogValues: the drain time, the probes' port and the log
// format follow their values.
func TestDrainAndLogValues(t *testing.T) {
	r := render(t, "-f", "values/minimal.yaml", "--set", "serverParty.drainTimeoutSeconds=300",
		"--set", "partyApi.drainTimeoutSeconds=120", "--set", "serverParty.healthPort=9184", "--set", "logFormat=text")
	for comp, want := range map[string][2]int64{"serverparty": {300, 320}, "partyapi": {120, 140}} {
		w, _ := r.workload(comp)
		c := w.Template.Spec.Containers[0]
		if v, _ := flagValue(c.Args, "--drain-timeout"); v != fmt.Sprintf("%ds", want[0]) {
			t.Errorf("%s: --drain-timeout %q, want %ds", comp, v, want[0])
		}
		if g := w.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != want[1] {
			t.Errorf("%s: terminationGracePeriodSeconds %v, want %d", comp, g, want[1])
		}
	}
	checkDraining(t, r)
	checkProbes(t, r, false, false)
	checkNetworkPolicies(t, r)
	checkLogFormat(t, r, "text")
	sp, _ := r.workload("serverparty")
	if p := sp.Template.Spec.Containers[0].ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "health" {
		t.Errorf("pool party readiness probe %+v, want on the health port", p)
	}
}

// TestServerPartyFlags: the flags the chart gives a pool party are flags
// of the binary built from this tree, as its help lists them.
func TestServerPartyFlags(t *testing.T) {
	h := commandHelp(t, "serverparty")
	for _, f := range []string{"--health-addr", "--drain-timeout", "--log-format", "--api-addr", "--metrics-addr"} {
		if !h.flags[f] {
			t.Errorf("tsskit serverparty -h does not list %s", f)
		}
	}
}

// TestMisspeltFieldFails: the strict decoder refuses a field the API type
// does not have, and a duplicated key.
func TestMisspeltFieldFails(t *testing.T) {
	good := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  %s: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          %s: {readOnlyRootFilesystem: true}
`
	if _, err := decodeAll(fmt.Appendf(nil, good, "replicas", "securityContext")); err != nil {
		t.Fatalf("a correct Deployment: %v", err)
	}
	for _, bad := range [][2]string{{"replica", "securityContext"}, {"replicas", "securitycontext"}} {
		_, err := decodeAll(fmt.Appendf(nil, good, bad[0], bad[1]))
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%v: %v", bad, err)
		}
	}
	dup := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  name: y\n"
	if _, err := decodeAll([]byte(dup)); err == nil {
		t.Error("a duplicated key decoded")
	}
	sm := "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  endpoints: [{port: metrics, intervall: 30s}]\n"
	if _, err := decodeAll([]byte(sm)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("a misspelt ServiceMonitor field: %v", err)
	}
}

package helmtest

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// checkNames applies the API server's name rules the strict decoder does
// not: object and port names, label values, and the names of the pods a
// StatefulSet makes (its name, "-", the ordinal: a DNS label, and a party
// id).
func checkNames(t *testing.T, r *rendered) {
	for _, o := range r.objs {
		rule := validation.IsDNS1123Subdomain
		if o.Kind == "Service" {
			rule = validation.IsDNS1035Label
		}
		for _, msg := range rule(o.Name) {
			t.Errorf("%s %s: %s", o.Kind, o.Name, msg)
		}
	}
	for _, s := range find[*corev1.Service](r) {
		for _, p := range s.Spec.Ports {
			for _, msg := range validation.IsValidPortName(p.Name) {
				t.Errorf("Service %s port %q: %s", s.Name, p.Name, msg)
			}
		}
	}
	for _, w := range r.workloads {
		for k, v := range w.Template.Labels {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s: label %s=%s: %s", w.Name, k, v, msg)
			}
		}
		for _, c := range containers(&w.Template.Spec) {
			for _, p := range c.Ports {
				for _, msg := range validation.IsValidPortName(p.Name) {
					t.Errorf("%s/%s port %q: %s", w.Name, c.Name, p.Name, msg)
				}
			}
		}
		if w.Sts != nil {
			pod := fmt.Sprintf("%s-%d", w.Name, max(w.Replicas, 100)-1)
			for _, msg := range validation.IsDNS1123Label(pod) {
				t.Errorf("pod %s: %s", pod, msg)
			}
			// And its per-pod DNS name under the headless Service.
			fqdn := pod + "." + w.Sts.Spec.ServiceName + "." + namespace + ".svc.cluster.local"
			for _, msg := range validation.IsDNS1123Subdomain(fqdn) {
				t.Errorf("%s: %s", fqdn, msg)
			}
		}
	}
}

// TestLongReleaseName: a long release name is shortened so that every
// name stays within the API's limits.
func TestLongReleaseName(t *testing.T) {
	long := "wallets-production-" + strings.Repeat("x", 34)
	out, err := helm("template", long, chartDir, "--namespace", namespace, "-f", "values/replicas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, newRendered(objs))
}

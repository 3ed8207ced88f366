package helmtest

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Stand-ins for the Secrets' contents: well-formed, pointing nowhere.
var secretStandIns = map[string]string{
	"MPC_API_KEY":       strings.Repeat("ab", 16),
	"CRYPTO_MASTER_KEY": strings.Repeat("cd", 32),
	"DATABASE_URL":      "postgres://tsskit@127.0.0.1:1/tsskit?connect_timeout=1",
	"REDIS_URL":         "redis://127.0.0.1:1/0",
}

// TestConfigurationAccepted starts the coordinator and the server parties
// of the cleartext variants with exactly the rendered arguments and
// environment. With no files mounted, each must get past its flags, its
// environment and its transport checks (cleartext listeners and dials
// allowed by the chart's explicit values, the address forms the chart
// renders) and stop only at the first file a Secret would provide.
func TestConfigurationAccepted(t *testing.T) {
	for _, f := range []string{"values/minimal.yaml", "values/replicas.yaml", "values/servicemonitor.yaml"} {
		r := render(t, "-f", f)
		for _, comp := range []string{"coordinator", "serverparty", "partyapi"} {
			w, _ := r.workload(comp)
			c := w.Template.Spec.Containers[0]
			t.Run(f+"/"+comp, func(t *testing.T) {
				pod := w.Name + "-0"
				env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
				for _, e := range c.Env {
					env = append(env, e.Name+"="+envValue(t, e, pod))
				}
				var args []string
				for _, a := range c.Args {
					args = append(args, strings.ReplaceAll(a, "$(POD_NAME)", pod))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, tsskitBin, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 2 {
					t.Fatalf("want a configuration error (exit 2), got %v:\n%s", err, out)
				}
				if !strings.Contains(string(out), "/etc/tsskit/") {
					t.Fatalf("stopped before the mounted files:\n%s", out)
				}
			})
		}
	}
}

func envValue(t *testing.T, e corev1.EnvVar, pod string) string {
	t.Helper()
	switch {
	case e.ValueFrom == nil:
		return e.Value
	case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
		return pod
	case e.ValueFrom.SecretKeyRef != nil:
		v, ok := secretStandIns[e.Name]
		if !ok {
			t.Fatalf("no stand-in for the secret %s", e.Name)
		}
		return v
	}
	t.Fatalf("%s: unexpected source", e.Name)
	return ""
}

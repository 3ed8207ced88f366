// Package helmtest renders the tsskit Helm chart (deploy/helm/tsskit) with
// several sets of values and checks what it renders: every manifest decodes
// strictly into its Kubernetes API type, and the deployment keeps the
// promises the chart's README makes (non-root, read-only root filesystems,
// party ids from pod names, coordinator peers, secrets only by reference,
// NetworkPolicies, /livez and /readyz probes on ports that serve them,
// a termination grace above the drain timeout, flags the binary knows).
//
// It is a module of its own so that the main module does not depend on
// the Kubernetes API packages. make test-helm runs it.
package helmtest

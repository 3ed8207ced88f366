#!/usr/bin/env bash
# Installs Helm (pinned) into .tools/bin when missing, built from its Go
# module: the chart's tests (make test-helm) lint and render with it.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
# The Kubernetes version Helm assumes without a cluster (helm template,
# helm lint): its own Makefile sets it from the k8s.io modules it builds
# with (v0.37 for v3.22.0); without it, a plain go install says 1.20.
HELM_K8S_MINOR=37
tools="$PWD/.tools/bin"
mkdir -p "$tools"

stamp="$tools/.helm-$HELM_VERSION-k8s1.$HELM_K8S_MINOR"
if [ ! -x "$tools/helm" ] || [ ! -f "$stamp" ]; then
  echo "helm-tool: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (first time only)"
  start=$(date +%s)
  ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
  done
  GOBIN="$tools" GOFLAGS=-mod=mod go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -f "$tools"/.helm-*
  touch "$stamp"
  echo "helm-tool: built in $(( $(date +%s) - start ))s"
fi

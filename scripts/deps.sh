#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh machine, and nothing
# twice: each step checks first. Later steps (Chromium, wasmbrowsertest, npm
# packages) join here as the parts that need them arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

need_go="1.26"
if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go $need_go or newer is required (https://go.dev/dl/)" >&2
  exit 1
fi
have_go=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" != "$need_go" ]; then
  echo "deps: Go $need_go or newer is required, found $have_go" >&2
  exit 1
fi

echo "deps: go modules"
go mod download

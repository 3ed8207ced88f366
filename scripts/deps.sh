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

# Node packages (buf and protoc-gen-es for `make proto`; the SDK and the
# admin app later). npm ci only when the lock file changed since the last one.
need_node=20
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "deps: Node.js $need_node or newer with npm is required" >&2
  exit 1
fi
have_node=$(node -p 'process.versions.node.split(".")[0]')
if [ "$have_node" -lt "$need_node" ]; then
  echo "deps: Node.js $need_node or newer is required, found $(node --version)" >&2
  exit 1
fi
stamp=node_modules/.tsskit-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "deps: npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

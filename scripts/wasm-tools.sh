#!/usr/bin/env bash
# Installs what the browser tests need, each step only when missing:
# Debian's Chromium (apt) and wasmbrowsertest (pinned), the latter in
# .tools/bin as go_js_wasm_exec so that `GOOS=js GOARCH=wasm go test` runs
# test binaries in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

WASMBROWSERTEST_VERSION=v0.11.0
tools="$PWD/.tools/bin"
mkdir -p "$tools"

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "wasm-tools: installing Chromium (apt)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "wasm-tools: Chromium is missing and this is not root: run 'apt-get install -y chromium chromium-driver'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

stamp="$tools/.wasmbrowsertest-$WASMBROWSERTEST_VERSION"
if [ ! -x "$tools/wasmbrowsertest" ] || [ ! -f "$stamp" ]; then
  echo "wasm-tools: go install wasmbrowsertest@$WASMBROWSERTEST_VERSION"
  GOBIN="$tools" GOFLAGS=-mod=mod go install "github.com/agnivade/wasmbrowsertest@$WASMBROWSERTEST_VERSION"
  touch "$stamp"
fi
ln -sf wasmbrowsertest "$tools/go_js_wasm_exec"

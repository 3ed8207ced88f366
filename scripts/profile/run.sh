#!/usr/bin/env bash
# CPU profiles of one 2-of-3 keygen and one 2-party signing (see README.md):
#   wasm    the harness (three parties in one wasm instance) in headless
#           Chromium, profiled by Chromium through wasmbrowsertest
#   js      wasm/TestJSKeygenSign: the same session through the JS API
#           (envelopes cross as Uint8Array), to see the JS boundary
#   native  the harness natively, GOMAXPROCS=1 like the single wasm thread
# Usage: scripts/profile/run.sh [wasm] [js] [native]   (default: all three)
# Profiles, logs and test binaries go to $PROFILE_OUT (/tmp/tsskit-profile);
# summaries come from scripts/profile/summarize.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${PROFILE_OUT:-/tmp/tsskit-profile}
mkdir -p "$out"
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(wasm js native)

bash scripts/wasm-tools.sh
export PATH="$PWD/.tools/bin:$PATH"
echo "profile: $(chromium --version 2>/dev/null | head -1); $(go version); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

for w in "${which[@]}"; do
  case $w in
  wasm)
    GOOS=js GOARCH=wasm go test -tags profile -count=1 -v -timeout 30m -run TestProfileKeygenSign \
      -o "$out/wasm.test" -cpuprofile "$out/wasm.pprof" ./scripts/profile 2>&1 | tee "$out/wasm.log" ;;
  js)
    GOOS=js GOARCH=wasm go test -count=1 -v -timeout 30m -run TestJSKeygenSign \
      -o "$out/js.test" -cpuprofile "$out/js.pprof" ./wasm 2>&1 | tee "$out/js.log" ;;
  native)
    GOMAXPROCS=1 go test -tags profile -count=1 -v -timeout 30m -run TestProfileKeygenSign \
      -o "$out/native.test" -cpuprofile "$out/native.pprof" ./scripts/profile 2>&1 | tee "$out/native.log" ;;
  *) echo "unknown profile $w (wasm, js, native)" >&2; exit 2 ;;
  esac
done
ls -la "$out"

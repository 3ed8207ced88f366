#!/usr/bin/env bash
# Prints tsskit's benchmark figures for this machine and keeps the raw output
# in bench-out/. docs/benchmarks.md records the latest figures.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench-out
mkdir -p "$out"

run() { # name, go test args...
  local name=$1; shift
  echo "== $name"
  go test -run '^$' "$@" | tee "$out/$name.txt" | grep -E '^(Benchmark|ok|FAIL)' || true
}

# Every benchmark line is one run (-count): bench-out/bench.json keeps each
# figure's median, min–max and run count, and scripts/benchcmp compares two
# such files. Safe primes are a random search: the seeded benchmarks search
# the same candidate streams in every run (and tsskit and tss-lib the same
# seeds), so their runs differ only by the machine; the candidates and
# Fermat tests per prime are reported beside the time.
COUNT=${COUNT:-10}
run fermat     -bench 'BenchmarkFermat2/bits=1024'                    -benchtime 200x -count "$COUNT" ./party/preparams
run safeprime  -bench 'BenchmarkSafePrime1024(TSSLib)?Seeded$'        -benchtime 8x   -count "$COUNT" -timeout 90m ./party/preparams
run preparams  -bench 'BenchmarkGenerate'                             -benchtime 1x   -count "$COUNT" -timeout 30m ./party/preparams
run engine     -bench .                                               -benchtime 1x   -count "$COUNT" -timeout 30m ./party
# The services: the account API end to end in one process over loopback,
# and the router alone.
run account    -bench 'BenchmarkAccount'                              -benchtime 1x   -count "$COUNT" -timeout 60m ./coordinator
run router     -bench 'BenchmarkRouter'                               -benchtime 20000x -count "$COUNT" ./router
# The browser: build what the browser test builds, then measure in Chromium
# (BENCH_BROWSER=0 skips it: the Go figures alone).
if [ "${BENCH_BROWSER:-1}" != 0 ]; then
echo "== browser"
make -s wasm >/dev/null
scripts/wasm-tools.sh
mkdir -p bin public/e2e
go build -o bin/tsskit ./cmd/tsskit
npx esbuild sdk-ts/test/browser/e2e-page.ts --bundle --format=esm --log-level=warning --outfile=public/e2e/e2e.js
npx esbuild sdk-ts/test/browser/sdk-page.ts --bundle --format=esm --log-level=warning --outfile=public/e2e/sdk.js
cp sdk-ts/test/browser/index.html sdk-ts/test/browser/sdk.html public/e2e/
TSSKIT_BIN="$PWD/bin/tsskit" TSSKIT_WEB_DIR="$PWD/public" BENCH_OUT="$out" node sdk-ts/bench/browser.mjs | tee "$out/browser.txt"
# Pre-params on 1, 2 and 4 workers, interleaved runs (WORKER_RUNS, 10).
TSSKIT_BIN="$PWD/bin/tsskit" TSSKIT_WEB_DIR="$PWD/public" BENCH_OUT="$out" RUNS="${WORKER_RUNS:-10}" node sdk-ts/bench/workers.mjs | tee "$out/workers.md"
else
rm -f "$out/browser.json" "$out/browser.txt" "$out/browser-side-by-side.md" "$out/workers.json" "$out/workers.md"
fi
echo "raw output in $out/"

# Every figure of this run, with its spread, and the headline ratios.
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
go run ./scripts/benchcmp -collect "$out" -commit "$commit"
go run ./scripts/benchcmp -table "$out/bench.json" | tee "$out/table.md"
if [ "${BENCH_BROWSER:-1}" != 0 ]; then
# Browser vs native, one safe prime each, this run.
native=$(awk '/^BenchmarkSafePrime1024Seeded-/ {s+=$3/1e6; n++} END {print s/n}' "$out"/safeprime.txt)
browser=$(awk '/^BROWSER_PRIME_MS/ {print $2}' "$out"/browser.txt)
awk -v n="$native" -v b="$browser" 'BEGIN { printf "| one safe prime: Chromium wasm vs native | %.2f s vs %.2f s | %.1fx slower in the browser |\n", b/1000, n/1000, b/n }' | tee -a "$out/table.md"
grep '^|' "$out"/browser.txt | grep -v BROWSER_PRIME >> "$out/table.md"
# The browser side by side (baseline vs tsskit), also in browser.json.
echo
cat "$out/browser-side-by-side.md"
fi

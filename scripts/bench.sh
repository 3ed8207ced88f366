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

# Safe primes are a random search: several runs give a mean.
run safeprime  -bench 'BenchmarkSafePrime1024' -benchtime 8x  -count 1 ./party/preparams
run preparams  -bench 'BenchmarkGenerate'      -benchtime 3x  -count 1 ./party/preparams
run engine     -bench .                        -benchtime 3x  -count 1 -timeout 30m ./party
# The services: the account API end to end in one process over loopback,
# and the router alone.
run account    -bench 'BenchmarkAccount'       -benchtime 3x  -count 1 -timeout 30m ./coordinator
run router     -bench 'BenchmarkRouter'        -benchtime 20000x -count 1 ./router
# The browser: build what the browser test builds, then measure in Chromium.
echo "== browser"
make -s wasm >/dev/null
scripts/wasm-tools.sh
mkdir -p bin public/e2e
go build -o bin/tsskit ./cmd/tsskit
npx esbuild sdk-ts/test/browser/e2e-page.ts --bundle --format=esm --log-level=warning --outfile=public/e2e/e2e.js
npx esbuild sdk-ts/test/browser/sdk-page.ts --bundle --format=esm --log-level=warning --outfile=public/e2e/sdk.js
cp sdk-ts/test/browser/index.html sdk-ts/test/browser/sdk.html public/e2e/
TSSKIT_BIN="$PWD/bin/tsskit" TSSKIT_WEB_DIR="$PWD/public" BENCH_OUT="$out" node sdk-ts/bench/browser.mjs | tee "$out/browser.txt"
echo "raw output in $out/"

# One table from this run: tsskit beside tss-lib's own generator where there is one.
awk '
  /^Benchmark/ { name=$1; sub(/-[0-9]+$/, "", name); ns[name]=$3
                 for (i=5; i<NF; i+=2) extra[name, $(i+1)]=$i }
  function s(x) { return sprintf("%.2f s", x/1e9) }
  END {
    printf "\n| figure | tsskit | tss-lib baseline | ratio |\n|---|---|---|---|\n"
    printf "| one 1024-bit safe prime (mean) | %s | %s | %.1fx faster |\n", s(ns["BenchmarkSafePrime1024"]), s(ns["BenchmarkSafePrime1024TSSLib"]), ns["BenchmarkSafePrime1024TSSLib"]/ns["BenchmarkSafePrime1024"]
    printf "| full pre-params (mean) | %s | %s | %.1fx faster |\n", s(ns["BenchmarkGenerate"]), s(ns["BenchmarkGenerateTSSLib"]), ns["BenchmarkGenerateTSSLib"]/ns["BenchmarkGenerate"]
    printf "| 2-of-3 keygen, pre-params ready | %s | | |\n", s(ns["BenchmarkKeygen2of3"])
    printf "| 2-party sign | %s | | |\n", s(ns["BenchmarkSign2of3"])
    printf "| wire per keygen | %d envelopes, %d KB | | |\n", extra["BenchmarkKeygen2of3","envelopes/op"], extra["BenchmarkKeygen2of3","wire-B/op"]/1000
    printf "| wire per sign | %d envelopes, %d KB | | |\n", extra["BenchmarkSign2of3","envelopes/op"], extra["BenchmarkSign2of3","wire-B/op"]/1000
    printf "| REST account keygen, pooled pre-params | %s | cold pools: %s | %.1fx faster |\n", s(ns["BenchmarkAccountKeygen/pooled"]), s(ns["BenchmarkAccountKeygen/cold"]), ns["BenchmarkAccountKeygen/cold"]/ns["BenchmarkAccountKeygen/pooled"]
    printf "| REST account sign | %s | | |\n", s(ns["BenchmarkAccountSign"])
    r1="BenchmarkRouter/publishers=1"; r8="BenchmarkRouter/publishers=8"
    printf "| router, 1 publisher | %d env/s, p50 %.2f ms, p99 %.2f ms | | |\n", extra[r1,"envelopes/s"], extra[r1,"p50-ms"], extra[r1,"p99-ms"]
    printf "| router, 8 publishers | %d env/s, p50 %.2f ms, p99 %.2f ms | 1 publisher | %.1fx the throughput |\n", extra[r8,"envelopes/s"], extra[r8,"p50-ms"], extra[r8,"p99-ms"], extra[r8,"envelopes/s"]/extra[r1,"envelopes/s"]
  }' "$out"/safeprime.txt "$out"/preparams.txt "$out"/engine.txt "$out"/account.txt "$out"/router.txt | tee "$out/table.md"
# Browser vs native, one safe prime each, this run.
native=$(awk '/^BenchmarkSafePrime1024-/ {print $3/1e6}' "$out"/safeprime.txt)
browser=$(awk '/^BROWSER_PRIME_MS/ {print $2}' "$out"/browser.txt)
awk -v n="$native" -v b="$browser" 'BEGIN { printf "| one safe prime: Chromium wasm vs native | %.2f s vs %.2f s | %.1fx slower in the browser |\n", b/1000, n/1000, b/n }' | tee -a "$out/table.md"
grep '^|' "$out"/browser.txt | grep -v BROWSER_PRIME >> "$out/table.md"
# The browser side by side (baseline vs tsskit), also in browser.json.
echo
cat "$out/browser-side-by-side.md"

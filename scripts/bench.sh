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
echo "raw output in $out/"

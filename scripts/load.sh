#!/usr/bin/env bash
# Load test of the account REST API (make load): for each backend, starts
# `tsskit dev` on free loopback ports with a fresh data dir, waits for its
# pre-params pools, runs N concurrent keygens and M signs with
# scripts/load (every signature verified), stops the stack and writes
# bench-out/load-<backend>.{json,md} and bench-out/load.md. docs/load.md
# describes the knobs:
#
#   LOAD_KEYGENS (20)  LOAD_SIGNS (50)  LOAD_BACKENDS ("embedded postgres")
#   LOAD_KEYGEN_CONCURRENCY (all)  LOAD_SIGN_CONCURRENCY (10)
#   LOAD_POOL (keygens+1)  LOAD_TIMEOUT (20m)  LOAD_RATE_LIMIT (off)
#   LOAD_SEQUENTIAL (3)  LOAD_SEQUENTIAL_AFTER (0; at the end, after the pools refill)
#   LOAD_BURST (0: none; "3x": 3× the measured capacity)
#   LOAD_BURST_SIGNS (20)  LOAD_CRITERIA (0; 1: fail unless the overload criteria hold)
#   LOAD_SIGN_SLOTS (0: default; each server party's --sign-slots)
#   LOAD_DATABASE_URL  LOAD_REDIS_URL  LOAD_OUT (bench-out)
#   LOAD_PPROF (off; a loopback address: the stack serves Go's profiler there)
#
# Exits non-zero if any backend's run failed or had an error.
set -euo pipefail
cd "$(dirname "$0")/.."

keygens=${LOAD_KEYGENS:-20}
signs=${LOAD_SIGNS:-50}
backends=${LOAD_BACKENDS:-embedded postgres}
keygen_conc=${LOAD_KEYGEN_CONCURRENCY:-0}
sign_conc=${LOAD_SIGN_CONCURRENCY:-10}
pool=${LOAD_POOL:-$((keygens + 1))}
timeout=${LOAD_TIMEOUT:-20m}
rate_limit=${LOAD_RATE_LIMIT:-off}
database_url=${LOAD_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
redis_url=${LOAD_REDIS_URL:-redis://127.0.0.1:6379/0}
out=${LOAD_OUT:-bench-out}
sequential=${LOAD_SEQUENTIAL:-3}
sequential_after=${LOAD_SEQUENTIAL_AFTER:-0}
burst=${LOAD_BURST:-0}
burst_signs=${LOAD_BURST_SIGNS:-20}
sign_slots=${LOAD_SIGN_SLOTS:-0}
criteria=${LOAD_CRITERIA:-0}
pprof_args=()
if [ -n "${LOAD_PPROF:-}" ]; then pprof_args=(--pprof-addr "$LOAD_PPROF"); fi
# LOAD_BURST is a count of keygens or, as "<x>x", a multiple of the capacity
# the sequential keygens measure (scripts/load -burst-x).
burst_args=(-burst "$burst")
case $burst in
  *x) burst_args=(-burst-x "${burst%x}") ;;
esac
case $criteria in
  0) ;;
  1) burst_args+=(-criteria) ;;
  *) echo "load: LOAD_CRITERIA must be 0 or 1" >&2; exit 2 ;;
esac
parties=3

for b in $backends; do
  case $b in
    embedded | postgres) ;;
    *) echo "load: unknown backend '$b' in LOAD_BACKENDS (want: embedded, postgres)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsskit-load.XXXXXX")
stack_pid=
load_pid=
schema_url=

stop_stack() {
  [ -n "$stack_pid" ] || return 0
  local pid=$stack_pid status=0
  stack_pid=
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "load: the stack did not stop within 30 s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || status=$?
  if [ "$status" != 0 ]; then
    echo "load: the stack exited with status $status" >&2
  fi
}

drop_schema() {
  [ -n "$schema_url" ] || return 0
  local u=$schema_url
  schema_url=
  "$tmp/load" -drop-schema "$u" || echo "load: could not drop the load schema (see above)" >&2
}

cleanup() {
  if [ -n "$load_pid" ]; then
    kill -TERM "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
  fi
  stop_stack
  drop_schema
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== build"
go build -o "$tmp/tsskit" ./cmd/tsskit
go build -o "$tmp/load" ./scripts/load

# Fresh secrets for every run, handed over in the environment so that the
# stack neither prints nor stores them.
rand_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
MPC_API_KEY=$(rand_hex)
CRYPTO_MASTER_KEY=$(rand_hex)
export MPC_API_KEY CRYPTO_MASTER_KEY

# run_backend <backend>: one stack, one load run. Returns the load program's
# status.
run_backend() {
  local backend=$1 label env_args=()
  case $backend in
    embedded)
      label=embedded
      env_args=(-u DATABASE_URL -u REDIS_URL)
      ;;
    postgres)
      label=postgres+redis
      schema_url=$("$tmp/load" -create-schema "$database_url") || return 1
      env_args=("DATABASE_URL=$schema_url" "REDIS_URL=$redis_url")
      ;;
  esac
  local ports coord router api partyapi
  ports=$("$tmp/load" -free-ports 4) || return 1
  read -r coord router api partyapi <<<"${ports//$'\n'/ }"
  local data="$tmp/data-$backend" log="$tmp/stack-$backend.log"
  echo "== $label: tsskit dev, pre-params pool $pool per server party, --sign-slots $sign_slots, $keygens keygens, $signs signs"
  env -u ALLOWED_IPS -u TSSKIT_ORIGINS "${env_args[@]}" TSSKIT_LOG_FORMAT=json RATE_LIMIT="$rate_limit" \
    "$tmp/tsskit" dev --data-dir "$data" --server-parties "$parties" --preparams-pool "$pool" --web-addr "" --sign-slots "$sign_slots" "${pprof_args[@]}" \
    --coordinator-addr "127.0.0.1:$coord" --router-addr "127.0.0.1:$router" \
    --api-addr "127.0.0.1:$api" --party-api-addr "127.0.0.1:$partyapi" >"$log" 2>&1 &
  stack_pid=$!
  local status=0
  "$tmp/load" -api "http://127.0.0.1:$api" -party-api "http://127.0.0.1:$partyapi" \
    -stack-log "$log" -stack-pid "$stack_pid" -pool "$pool" -server-parties "$parties" \
    -keygens "$keygens" -signs "$signs" -keygen-concurrency "$keygen_conc" -sign-concurrency "$sign_conc" \
    -sequential "$sequential" -sequential-after "$sequential_after" "${burst_args[@]}" -burst-signs "$burst_signs" \
    -timeout "$timeout" -label "$label" -json "$out/load-$backend.json" -md "$out/load-$backend.md" &
  # In the background, so that a signal to this script is handled at once.
  load_pid=$!
  wait "$load_pid" || status=$?
  load_pid=
  stop_stack
  drop_schema
  # The stack's log, without the banner's tokens.
  grep -v 'token (12h' "$log" >"$out/load-$backend-stack.log" || true
  if [ "$status" != 0 ]; then
    echo "load: $label failed (status $status); the stack's log is in $out/load-$backend-stack.log; its last lines:" >&2
    tail -n 20 "$out/load-$backend-stack.log" >&2
  fi
  return "$status"
}

failed=()
reports=()
for backend in $backends; do
  rm -f "$out/load-$backend.json" "$out/load-$backend.md"
  run_backend "$backend" || failed+=("$backend")
  [ -f "$out/load-$backend.json" ] && reports+=("$out/load-$backend.json")
done

if [ ${#reports[@]} -gt 0 ]; then
  "$tmp/load" -combine "$out/load.md" "${reports[@]}"
  echo
  echo "== all backends ($out/load.md)"
  cat "$out/load.md"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "load: FAILED: ${failed[*]}" >&2
  exit 1
fi

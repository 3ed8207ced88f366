#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after the other, each for
# FUZZTIME, and prints one summary line per target. Fails if any target
# fails (a crash, a broken property, or a package that does not build).
#
#   FUZZTIME      how long each target fuzzes (go test -fuzztime): 15s by
#                 default; "1000x" runs a fixed number of inputs instead
#   FUZZPARALLEL  fuzzing worker processes per target (go test -parallel);
#                 unset: GOMAXPROCS
#   FUZZ_ONLY     an extended regexp: run only the targets whose
#                 "<package dir> <name>" matches, e.g. FUZZ_ONLY=party/seal
#                 or FUZZ_ONLY='FuzzDecode$'
#
# Targets are the "func FuzzXxx(" of every *_test.go file in the module's
# packages. Their seed corpora (f.Add and testdata/fuzz/<name>/) also run in
# every plain `go test`; this script is for the mutation phase. A failing
# input is written by go test to <package>/testdata/fuzz/<name>/: check it
# in with the fix, so that it stays a regression test. Inputs that only
# widen coverage stay in go's cache ($(go env GOCACHE)/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-15s}
FUZZPARALLEL=${FUZZPARALLEL:-}
FUZZ_ONLY=${FUZZ_ONLY:-}
GO=${GO:-go}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/tsskit-fuzz.XXXXXX")

# "<dir> <name>" for every fuzz target, in package order. go list -e lists
# packages even when one of them does not build (that target then fails
# below, with the compiler's message).
targets=()
while IFS= read -r dir; do
  rel=${dir#"$PWD"}
  rel=.${rel:-/}
  shopt -s nullglob
  files=("$dir"/*_test.go)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || continue
  while IFS= read -r name; do
    [ -n "$name" ] || continue
    if [ -n "$FUZZ_ONLY" ] && ! grep -Eq -- "$FUZZ_ONLY" <<<"${rel#./} $name"; then
      continue
    fi
    targets+=("$rel $name")
  done < <(grep -hoE '^func Fuzz[A-Za-z0-9_]*\(' "${files[@]}" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\($/\1/' | sort -u)
done < <("$GO" list -e -f '{{.Dir}}' ./...)

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found${FUZZ_ONLY:+ matching $FUZZ_ONLY}" >&2
  exit 1
fi

echo "fuzz: ${#targets[@]} targets, ${FUZZTIME} each${FUZZPARALLEL:+, $FUZZPARALLEL worker(s)}; logs in $logdir"
parallel=()
[ -z "$FUZZPARALLEL" ] || parallel=(-parallel "$FUZZPARALLEL")

# deadline_race LOG: the run failed with nothing but "context deadline
# exceeded" (no failing input written, no panic, no other message).
deadline_race() {
  grep -qx '    context deadline exceeded' "$1" || return 1
  ! grep -vE '^(fuzz: |warning: |--- FAIL: |    context deadline exceeded$|FAIL$|FAIL[[:space:]]|exit status [0-9]+$)' "$1" | grep -q .
}

passed=0
failed=0
raced=0
summary=()
for t in "${targets[@]}"; do
  pkg=${t% *}
  name=${t#* }
  log="$logdir/${pkg//[\/.]/_}.$name.log"
  start=$SECONDS
  set +e
  "$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "${parallel[@]}" "$pkg" >"$log" 2>&1
  rc=$?
  set -e
  secs=$((SECONDS - start))
  # The last progress line: "fuzz: elapsed: 15s, execs: 123 (8/sec), new interesting: 4 (total: 20)".
  progress=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$progress")
  newi=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$progress")
  note=
  if [ $rc -eq 0 ]; then
    status=ok
    passed=$((passed + 1))
  elif deadline_race "$log"; then
    # Go 1.26's fuzzing coordinator can report its own -fuzztime deadline
    # as a failure (go.dev/issue/75804, fixed in Go 1.27): the target ran
    # its full time and no input failed.
    status=ok
    note="  (go.dev/issue/75804: fuzztime deadline reported as a failure; no failing input)"
    passed=$((passed + 1))
    raced=$((raced + 1))
  else
    status=FAIL
    failed=$((failed + 1))
  fi
  line=$(printf '%-4s  %-28s %-26s execs %10s  new %4s  %4ss%s' \
    "$status" "$name" "$pkg" "${execs:-0}" "${newi:-0}" "$secs" "$note")
  summary+=("$line")
  echo "$line"
  if [ "$status" = FAIL ]; then
    # What went wrong, and where go test wrote the failing input.
    grep -E -A12 -- '--- FAIL|panic:|Failing input written|cannot|undefined|\.go:[0-9]+:[0-9]+:' "$log" | head -n 40 | sed 's/^/      /'
    echo "      full log: $log"
  fi
done

echo
echo "fuzz summary (FUZZTIME=$FUZZTIME):"
printf '  %s\n' "${summary[@]}"
raceNote=
[ "$raced" -eq 0 ] || raceNote=" ($raced of them after the fuzztime deadline race)"
echo "fuzz: ${#targets[@]} targets, $passed passed$raceNote, $failed failed"
[ "$failed" -eq 0 ]

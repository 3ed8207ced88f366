#!/usr/bin/env bash
# Groups the samples of a CPU profile from run.sh twice: by what the stack
# was doing (the innermost proof or step it is under) and by the leaf
# function's kind (math/big kernel, GC, JS boundary, ...). Percentages are of
# all samples except Chromium's "(idle)".
# Usage: scripts/profile/summarize.sh PROFILE [N]   (N: flat top-N, default 20)
#
# Chromium names wasm functions from the name section with / ( ) * turned
# into _, e.g. math_big.nat.montgomery, dlnproof.__Proof_.Verify; the
# patterns below match both spellings. Go's wasm port unwinds the wasm stack
# when a goroutine blocks, so a wasm sample's stack may stop short of the
# proof that called it; such samples fall into "caller unknown". A Go
# function that JS calls runs the scheduler on top of the caller's wasm
# stack, so a cut stack may show unrelated frames (e.g. a JS callback's)
# beneath it: math/big leaves without a proof frame count as "caller unknown"
# even when some of our frames are on the stack.
set -euo pipefail
prof=$1
n=${2:-20}
go tool pprof -traces -sample_index=samples "$prof" 2>/dev/null | awk '
function stackclass(s) {
  if (s ~ /testkit[._]*PreParams/) return "harness: fixture pre-params load"
  if (s ~ /preparams\.(Validate|Unmarshal|ValidatePreParams)|ValidatePreParams/) return "ours: pre-params validation"
  if (s ~ /dlnproof\.NewDLNProof/) return "DLN proof, prove (keygen r1)"
  if (s ~ /dlnproof\..*Verify|DlnProofVerifier/) return "DLN proof, verify (keygen r2)"
  if (s ~ /modproof\.NewProof/) return "Paillier-Blum modproof, prove (keygen r2)"
  if (s ~ /modproof\..*Verify/) return "Paillier-Blum modproof, verify (keygen r3)"
  if (s ~ /facproof\.NewProof/) return "facproof (no small factor), prove (keygen r2)"
  if (s ~ /facproof\..*Verify/) return "facproof (no small factor), verify (keygen r3)"
  if (s ~ /paillier\..*PrivateKey.*\.Proof\n/) return "Paillier key proof, prove (keygen r3)"
  if (s ~ /paillier\.Proof\.Verify/) return "Paillier key proof, verify (keygen r4)"
  if (s ~ /mta\./) return "signing: MtA + range proofs"
  if (s ~ /ecdsa.signing/) return "signing: other"
  if (s ~ /vss\.|schnorr\.|ECPoint|secp256k1|btcec|elliptic/) return "keygen: VSS / Schnorr / curve ops"
  if (s ~ /ecdsa.keygen/) return "keygen: other tss-lib"
  if (s ~ /tss-lib/) return "tss-lib: other"
  if (s ~ /^(math.big|math.bits|crypto.internal.fips140.bigmod)/) return "math/big, caller unknown (stack cut)"
  if (s ~ /rwadurian/) return "ours: party/, seal, wasm bridge"
  if (s ~ /^\(idle\)/) return "(idle)"
  if (s ~ /^\(program\)/) return "V8 (program): engine, compile, unattributed"
  if (s ~ /^\(garbage collector\)/) return "V8 garbage collector (JS heap)"
  if (s ~ /^runtime/) return "Go runtime, caller unknown"
  return "other (JS, syscall/js, stdlib)"
}
function leafclass(f) {
  if (f == "(idle)") return "(idle)"
  if (f == "(program)") return "V8 (program)"
  if (f == "(garbage collector)") return "V8 garbage collector"
  if (f ~ /syscall.js|wasm-to-js|js-to-wasm|^_|^runtime\.(wasmExit|wasmWrite|resetMemoryDataView|nanotime1|walltime|scheduleTimeoutEvent|clearTimeoutEvent|getRandomData)$|^(loadValue|storeValue|loadSlice|loadSliceOfValues|loadString|setInt64|getInt64|setInt32|getInt32|writeSync|run|debug|go|resume)$/) return "JS boundary (wasm_exec.js, syscall/js, trampolines)"
  if (f ~ /^math.big\..*(addMulVVW|mulAddVWW|mulWW|montgomery|basicMul|karatsuba|basicSqr|nat\.sqr|mulAddWW)/) return "math/big multiply (montgomery, addMulVVW...)"
  if (f ~ /^math.big\..*(div|reciprocal)/) return "math/big division (divW, divBasic...)"
  if (f ~ /^math.big/) return "math/big other"
  if (f ~ /^math.bits/) return "math/bits"
  if (f ~ /^runtime.*(gc|GC|scanobject|markroot|greyobject|findObject|sweep|wbBuf|Barrier|heapBits|scanblock|typePointers|markBits|spanOf|Mark|tryDeferToSpanScan|scanSpan|spanInlineMarkBits)/) return "Go GC"
  if (f ~ /^runtime.*(malloc|memclr|memmove|newobject|makeslice|growslice|nextFree|refill|mcentral|mheap|mspan|mcache|allocSpan)/) return "Go allocation, memclr/memmove"
  if (f ~ /^runtime|^wasm_pc_f_loop$|^gogo$|^callRet$/) return "Go runtime other (scheduler...)"
  if (f ~ /sha256|sha512|sha3|keccak|blake|hmac/) return "hashing"
  if (f ~ /rwadurian/) return "ours (leaf)"
  if (f ~ /tss-lib/) return "tss-lib (leaf)"
  if (f ~ /^[a-z0-9_\/]+\.|^(github|golang|google)/) return "Go other (stdlib, deps)"
  return "JS other"
}
function flush() {
  if (nf == 0) return
  sc = stackclass(stack); lc = leafclass(leaf)
  S[sc] += v; L[lc] += v; F[leaf] += v; tot += v
  if (lc ~ /^JS/) J[leaf] += v
  nf = 0; stack = ""
}
/^-----------\+/ { flush(); inb = 1; next }
!inb { next }
{
  line = $0; sub(/^ +/, "", line); sub(/ \(inline\)$/, "", line)
  if (nf == 0) { v = line; sub(/ .*/, "", v); v += 0; sub(/^[0-9]+ +/, "", line); leaf = line }
  stack = stack line "\n"; nf++
}
END {
  flush()
  idle = S["(idle)"] + 0; busy = tot - idle
  printf "samples: %d, idle %d, busy %d\n\n", tot, idle, busy
  printf "## by stack (innermost proof or step)\n| what | samples | %% of busy |\n|---|---:|---:|\n"
  for (k in S) if (k != "(idle)") printf "%s\t%d\t%.1f\n", k, S[k], 100*S[k]/busy | "sort -t\"\t\" -k2 -nr | awk -F\"\t\" \"{printf \\\"| %s | %s | %s |\\\\n\\\", \\$1, \\$2, \\$3}\""
  close("sort -t\"\t\" -k2 -nr | awk -F\"\t\" \"{printf \\\"| %s | %s | %s |\\\\n\\\", \\$1, \\$2, \\$3}\"")
  printf "\n## by leaf function kind\n| kind | samples | %% of busy |\n|---|---:|---:|\n"
  for (k in L) if (k != "(idle)") printf "%s\t%d\t%.1f\n", k, L[k], 100*L[k]/busy | "sort -t\"\t\" -k2 -nr | awk -F\"\t\" \"{printf \\\"| %s | %s | %s |\\\\n\\\", \\$1, \\$2, \\$3}\""
  close("sort -t\"\t\" -k2 -nr | awk -F\"\t\" \"{printf \\\"| %s | %s | %s |\\\\n\\\", \\$1, \\$2, \\$3}\"")
  printf "\n## JS-side leaves\n"
  for (k in J) printf "%d\t%s\n", J[k], k | "sort -nr | head -15"
  close("sort -nr | head -15")
}'
echo
echo "## flat top $n"
go tool pprof -top -nodecount="$n" "$prof" 2>/dev/null | sed -n '/flat%/,$p'

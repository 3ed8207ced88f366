#!/usr/bin/env bash
# The deployment ceremony for compose.yaml (docs/security.md, "The
# ceremony"), with tsskit's own commands and openssl:
#
#   ceremony.sh init     the deployment root, the coordinator's token key and
#                        certificate, a TLS CA and a certificate per service,
#                        and .env with fresh secrets
#   ceremony.sh certify  each server party makes its identity key in its own
#                        vault (compose run ... serverparty --print-identity)
#                        and the root certifies it
#   ceremony.sh certify PARTY_ID KEY   certify one identity key printed elsewhere
#   ceremony.sh          init, then certify
#
# Output, beside this script unless OUT says otherwise: secrets/ (mode 0700,
# git-ignored) with one directory per service, mounted read-only at
# /run/secrets/tsskit in that service's container and nowhere else, plus
# root.key and ca.key, which no container sees: move them offline once done;
# and .env (mode 0600), which compose reads for ${...} in compose.yaml.
# Nothing is ever overwritten: to start over, remove secrets/ and .env.
#
# Environment:
#   TSSKIT    a tsskit binary to run (default: tsskit on PATH, else the image
#             through ENGINE: ENGINE run --rm IMAGE ...)
#   ENGINE    docker or podman (default: whichever is installed)
#   IMAGE     the image (default tsskit:latest)
#   COMPOSE   the compose command for certify (default: "$ENGINE compose")
#   PROFILE   embedded (default) or scale, written to .env as COMPOSE_PROFILES
#   OUT       where secrets/ and .env go (default: this directory)
#   SUBNET    the compose network (default 172.29.89.0/24)
set -euo pipefail
umask 077

here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here}
PROFILE=${PROFILE:-embedded}
SUBNET=${SUBNET:-172.29.89.0/24}
IMAGE=${IMAGE:-tsskit:latest}
secrets="$OUT/secrets"
envfile="$OUT/.env"

# The services, their compose names in each profile, and the server
# parties' ids. TLS names: the compose service name (the scale profile's
# services carry the same names as network aliases) and localhost, which
# the health checks dial.
services=(router coordinator sp1 sp2 sp3)
party_id() { echo "server-${1#sp}"; }

die() {
  echo "ceremony: $*" >&2
  exit 1
}

case "$PROFILE" in embedded | scale) ;; *) die "PROFILE must be embedded or scale, not $PROFILE" ;; esac
command -v openssl >/dev/null 2>&1 || die "openssl is required (apt-get install -y openssl)"

if [ -z "${ENGINE:-}" ]; then
  if command -v docker >/dev/null 2>&1; then ENGINE=docker; elif command -v podman >/dev/null 2>&1; then ENGINE=podman; fi
fi

# tk runs a tsskit command in the secrets directory, with the host's binary
# or the image's. Paths given to it are relative to secrets/.
tk() {
  if [ -n "${TSSKIT:-}" ]; then
    (cd "$secrets" && "$TSSKIT" "$@")
  elif command -v tsskit >/dev/null 2>&1; then
    (cd "$secrets" && tsskit "$@")
  elif [ -n "${ENGINE:-}" ]; then
    "$ENGINE" run --rm -i --network none --user "$(id -u):$(id -g)" -e TSSKIT_TRUST_ROOT="${TSSKIT_TRUST_ROOT:-}" \
      -v "$secrets:/secrets" --workdir /secrets --entrypoint /usr/local/bin/tsskit "$IMAGE" "$@"
  else
    die "no tsskit: set TSSKIT to a binary, put tsskit on PATH, or install docker or podman and build the image (make image)"
  fi
}

# A service's secrets directory must be readable by the image's user
# (uid 65532). Run as root (rootful docker or podman), the files become
# 65532's and keys stay 0600. Otherwise (rootless podman maps the user's
# files into the container as root's), keys are 0644 and only the 0700
# secrets/ directory keeps other users of this host out.
own() {
  local dir=$1
  if [ "$(id -u)" -eq 0 ]; then
    chown -R 65532:65532 "$dir"
    chmod 0700 "$dir"
  else
    chmod 0755 "$dir"
    chmod 0644 "$dir"/*
  fi
}

tls_cert() { # service
  local svc=$1 dir="$secrets/$1" ext
  ext=$(mktemp)
  printf '%s\n' "subjectAltName=DNS:$svc,DNS:localhost,IP:127.0.0.1" \
    "extendedKeyUsage=serverAuth,clientAuth" "keyUsage=critical,digitalSignature" \
    "basicConstraints=critical,CA:FALSE" >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  openssl x509 -req -in "$dir/tls.csr" -CA "$secrets/ca.pem" -CAkey "$secrets/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 397 -sha256 -extfile "$ext" -out "$dir/tls.pem" 2>/dev/null
  rm -f "$dir/tls.csr" "$ext"
  cp "$secrets/ca.pem" "$dir/ca.pem"
}

init() {
  [ -e "$envfile" ] && die "$envfile exists: the ceremony has been run (remove it and secrets/ to start over)"
  [ -e "$secrets/root.key" ] && die "$secrets/root.key exists: the ceremony has been run (remove secrets/ and .env to start over)"
  mkdir -p "$secrets"
  chmod 0700 "$secrets"
  for s in "${services[@]}"; do mkdir -p "$secrets/$s"; done

  echo "ceremony: the deployment root"
  local root
  root=$(tk identity init --out root.key | sed -n 's/^TSSKIT_TRUST_ROOT=//p')
  [ -n "$root" ] || die "tsskit identity init printed no TSSKIT_TRUST_ROOT"
  export TSSKIT_TRUST_ROOT=$root

  echo "ceremony: the coordinator's token key and its certificate"
  local ckey
  ckey=$(tk identity key --out coordinator/signing.key)
  tk identity issue --root root.key --kind coordinator --party-id coordinator --key "$ckey" \
    --valid-for 8760h --out coordinator/coordinator.cert >/dev/null

  echo "ceremony: a TLS CA and a certificate for each service"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 -sha256 \
    -subj "/CN=tsskit compose CA" -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$secrets/ca.key" -out "$secrets/ca.pem" 2>/dev/null
  for s in "${services[@]}"; do tls_cert "$s"; done
  chmod 0600 "$secrets/root.key" "$secrets/ca.key"

  echo "ceremony: $envfile"
  local hex="openssl rand -hex"
  cat >"$envfile" <<EOF
# Written by ceremony.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Secrets: keep this file private.
# .env.example says what each variable is.
COMPOSE_PROFILES=$PROFILE
TSSKIT_IMAGE=$IMAGE
TSSKIT_SUBNET=$SUBNET
TSSKIT_PUBLISH_ADDR=127.0.0.1
TSSKIT_TRUST_ROOT=$root
TSSKIT_REVOKED=
TSSKIT_ORIGINS=
TSSKIT_LOG_FORMAT=json
MPC_API_KEY=$($hex 32)
ALLOWED_IPS=127.0.0.1,$SUBNET
TRUSTED_PROXIES=
RATE_LIMIT=
TSSKIT_SESSION_QUOTA=
SP1_CRYPTO_MASTER_KEY=$($hex 32)
SP2_CRYPTO_MASTER_KEY=$($hex 32)
SP3_CRYPTO_MASTER_KEY=$($hex 32)
POSTGRES_PASSWORD=$($hex 24)
REDIS_PASSWORD=$($hex 24)
EOF
  chmod 0600 "$envfile"
  for s in "${services[@]}"; do own "$secrets/$s"; done
  echo "ceremony: TSSKIT_TRUST_ROOT=$root (give it to every client: the SDK's trustRoot, CLI parties)"
}

issue() { # service identity-key
  local svc=$1 key=$2 id
  id=$(party_id "$svc")
  [[ "$key" =~ ^[0-9a-f]{64}$ ]] || die "$svc: not an identity key: $key"
  [ -e "$secrets/$svc/party.cert" ] && die "$secrets/$svc/party.cert exists: it is never overwritten"
  tk identity issue --root root.key --kind server --party-id "$id" --key "$key" --valid-for 8760h \
    --out "$svc/party.cert" >/dev/null || die "$svc: tsskit identity issue failed"
  own "$secrets/$svc"
  echo "ceremony: $svc ($id) certified: $key"
}

# print_identity makes a server party's identity key in its own vault (its
# volume, or PostgreSQL in the scale profile) and prints it.
print_identity() { # service
  local svc=$1 name=$1 compose=${COMPOSE:-} out
  [ -n "$compose" ] || { [ -n "${ENGINE:-}" ] || die "certify needs docker or podman (or COMPOSE)"; compose="$ENGINE compose"; }
  # shellcheck disable=SC2086 # COMPOSE may be several words
  if [ "$PROFILE" = scale ]; then
    name="scale-$svc"
    (cd "$here" && $compose --env-file "$envfile" --profile scale up -d --wait postgres >&2) || die "PostgreSQL did not start"
  fi
  # shellcheck disable=SC2086
  out=$(cd "$here" && $compose --env-file "$envfile" --profile "$PROFILE" run --rm -T --no-deps "$name" \
    serverparty --print-identity --party-id "$(party_id "$svc")" --data-dir /var/lib/tsskit) ||
    die "$svc: serverparty --print-identity failed"
  sed -n 's/.*"identity_key":"\([0-9a-f]*\)".*/\1/p' <<<"$out"
}

certify() {
  [ -f "$secrets/root.key" ] && [ -f "$envfile" ] || die "run 'ceremony.sh init' first"
  TSSKIT_TRUST_ROOT=$(sed -n 's/^TSSKIT_TRUST_ROOT=//p' "$envfile")
  export TSSKIT_TRUST_ROOT
  PROFILE=$(sed -n 's/^COMPOSE_PROFILES=//p' "$envfile")
  if [ $# -eq 2 ]; then
    local svc
    for svc in sp1 sp2 sp3; do
      if [ "$(party_id "$svc")" = "$1" ]; then
        issue "$svc" "$2"
        return
      fi
    done
    die "unknown party id $1 (compose.yaml runs server-1, server-2, server-3)"
  fi
  [ $# -eq 0 ] || die "usage: ceremony.sh certify [PARTY_ID IDENTITY_KEY]"
  for svc in sp1 sp2 sp3; do
    [ -e "$secrets/$svc/party.cert" ] && { echo "ceremony: $svc already certified"; continue; }
    issue "$svc" "$(print_identity "$svc")"
  done
}

case "${1:-all}" in
  init) init ;;
  certify) shift; certify "$@" ;;
  all) init; certify ;;
  -h | --help | help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $1 (init, certify)" ;;
esac

#!/usr/bin/env bash
# Installs what `make image` needs, each only when missing: Podman (apt),
# and busybox-static (apt), whose one static binary is the shell of the
# local builder image (scripts/image.sh).
set -euo pipefail

pkgs=()
command -v podman >/dev/null 2>&1 || pkgs+=(podman)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
[ ${#pkgs[@]} -eq 0 ] && exit 0

echo "image-tools: installing ${pkgs[*]} (apt)"
if [ "$(id -u)" -ne 0 ]; then
  echo "image-tools: ${pkgs[*]} missing and this is not root: run 'apt-get install -y ${pkgs[*]}'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${pkgs[@]}" >/dev/null

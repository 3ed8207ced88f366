#!/usr/bin/env bash
# Builds the tsskit container image (deploy/Containerfile) with Podman.
#
# The Containerfile's build stage is FROM ${BUILDER}, a public Go image by
# default. Here it is a local builder image made from this machine's own Go
# toolchain instead: `podman import` of a tarball of GOROOT, busybox-static
# (the shell the build stage's RUN lines need) and the CA bundle, tagged
# localhost/tsskit-builder:<go version> and made once. So the image builds
# where no image registry can be reached, from source, as a genuine
# multi-stage build, with the same Containerfile as anywhere else. The build
# stage gets this machine's module and build caches mounted (-v), so nothing
# is downloaded inside it (GOPROXY=off) and unchanged packages are not
# compiled again.
#
# RUN lines run with --isolation chroot: no OCI runtime, so the build also
# works inside CI containers without cgroup delegation, where starting a
# container is refused.
#
# Environment: IMAGE (default tsskit:latest), COMMIT (default: git's HEAD,
# 12 hex, "-dirty" for uncommitted changes), VERSION (default: the source's),
# BUILDER (a Go image to use instead of the local one), ISOLATION (chroot).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-tsskit:latest}
ISOLATION=${ISOLATION:-chroot}
if [ -z "${COMMIT:-}" ]; then
  COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    COMMIT="$COMMIT-dirty"
  fi
fi

for f in public/tss.wasm public/tss-worker.js examples/admin-web/dist/index.html; do
  if [ ! -f "$f" ]; then
    echo "image: $f is missing: run 'make wasm web' first (make image does)" >&2
    exit 1
  fi
done

scripts/image-tools.sh

goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
mounts=()
if [ -z "${BUILDER:-}" ]; then
  BUILDER="localhost/tsskit-builder:$gover"
  if ! podman image exists "$BUILDER"; then
    echo "image: making the builder image $BUILDER from $gover and busybox-static"
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/bin" "$stage/etc/ssl/certs" "$stage/tmp" "$stage/go/pkg/mod" "$stage/root/.cache/go-build" "$stage/src"
    chmod 1777 "$stage/tmp"
    cp /bin/busybox "$stage/bin/busybox"
    for applet in sh mkdir ln printf cat ls rm cp chmod env; do ln -s busybox "$stage/bin/$applet"; done
    cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
    # GOROOT less what a build never reads (tests, docs, API lists).
    base=$(basename "$goroot")
    tar -c --owner=0 --group=0 \
      -C "$stage" . \
      -C "$(dirname "$goroot")" --exclude="$base/test" --exclude="$base/doc" --exclude="$base/api" \
      --exclude="$base/misc" --exclude='*_test.go' --exclude='testdata' \
      --transform "s,^$base,usr/local/go," "$base" |
      podman import -q \
        --change 'ENV PATH=/usr/local/go/bin:/bin' --change 'ENV GOPATH=/go' --change 'ENV GOROOT=/usr/local/go' \
        --change 'ENV GOCACHE=/root/.cache/go-build' --change 'ENV GOTOOLCHAIN=local' --change 'ENV GOPROXY=off' \
        --change 'ENV GOFLAGS=-mod=readonly' --change 'WORKDIR /src' \
        - "$BUILDER" >/dev/null
  fi
  mounts=(-v "$(go env GOMODCACHE):/go/pkg/mod" -v "$(go env GOCACHE):/root/.cache/go-build")
fi

echo "image: building $IMAGE (commit $COMMIT) on $BUILDER"
args=(--isolation "$ISOLATION" -f deploy/Containerfile --ignorefile deploy/Containerfile.dockerignore
  --build-arg "BUILDER=$BUILDER" --build-arg "COMMIT=$COMMIT" -t "$IMAGE")
[ -n "${VERSION:-}" ] && args+=(--build-arg "VERSION=$VERSION")
podman build "${args[@]}" "${mounts[@]}" .
podman image inspect --format 'image: {{.RepoTags}} {{.Size}} bytes' "$IMAGE"

#!/bin/bash
# Installs what berth needs on a Debian 12 machine: system packages (only
# those missing), npm dependencies from the lock file, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  runc containerd docker-registry skopeo umoci busybox-static zstd
  protobuf-compiler libprotobuf-dev golang-go
  golang-github-containerd-containerd-dev golang-github-gogo-protobuf-dev
  golang-github-gogo-googleapis-dev util-linux procps apache2-utils
  containernetworking-plugins iptables iproute2
  gcc libc6-dev python3 jq curl tmux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# containerd's package enables its own daemon; berth's tests and bench start
# their own on temporary paths, so the system one is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet containerd 2>/dev/null; then
  systemctl stop containerd || true
fi

# containerd 1.7.13 (its ctr drives the Transfer service; the e2e tests compare
# with its daemon), built offline from the source in the shared tools beside
# the repository (../shared/tools, or BERTH_SHARED_TOOLS). build.sh keeps a
# build whose stamp matches the tarball, so this is instant once built.
CONTAINERD17=${BERTH_CONTAINERD17:-/var/tmp/containerd-1.7.13}
ctd17_build=""
for tools in "${BERTH_SHARED_TOOLS:-}" ../shared/tools ../../shared/tools; do
  if [[ -n $tools && -x $tools/containerd-1.7/build.sh ]]; then
    ctd17_build=$tools/containerd-1.7/build.sh
    break
  fi
done
if [[ -n $ctd17_build ]]; then
  "$ctd17_build" "$CONTAINERD17"
elif [[ ! -x $CONTAINERD17/bin/ctr ]]; then
  echo "install-deps: no shared tools (../shared/tools/containerd-1.7): containerd 1.7.13 not built;" \
    "the Transfer e2e tests will be skipped" >&2
fi

# crictl and critest (cri-tools 1.26.1), and the images critest pulls in a
# registry storage, for the CRI e2e tests (test/cri): built offline from the
# shared tools, cached under /var/tmp (instant once built; a cold run takes
# about 7 minutes for cri-tools, 20 s for the images). make-images.sh needs the
# gcc, libc6-dev, python3, jq and curl above and apt lists for `apt-get download`.
if [[ $(id -u) -eq 0 ]]; then
  ./test/cri/prepare.sh >/dev/null ||
    echo "install-deps: test/cri/prepare.sh failed: the CRI e2e tests will fail" >&2
else
  echo "install-deps: not root: cri-tools and the critest images not prepared (test/cri/prepare.sh)" >&2
fi

# A node_modules that is a symlink is shared with other checkouts (worktrees):
# npm ci would empty the shared folder under them, so leave it to its owner.
if [[ -L node_modules ]]; then
  echo "install-deps: node_modules is a symlink (shared with another checkout): npm ci skipped" >&2
elif [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build

# berth's shim (runtime io.containerd.berth.v1) on PATH, where containerd looks for shims
# (berthd also looks beside its own bin/berthd): a link to this checkout's wrapper, so the
# checkout installed last is the one both run. A file that is not a link is someone else's.
shim=/usr/local/bin/containerd-shim-berth-v1
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: not root: $shim not linked to this checkout" >&2
elif [[ -e $shim && ! -L $shim ]]; then
  echo "install-deps: $shim exists and is not a link: left alone" >&2
else
  ln -sfn "$PWD/bin/containerd-shim-berth-v1" "$shim"
fi

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

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build

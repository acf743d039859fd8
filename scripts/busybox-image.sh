#!/bin/bash
# Builds a tiny single-layer image from Debian's busybox-static, offline, as
# an OCI image layout archive that `ctr images import` reads:
#
#   scripts/busybox-image.sh <out.tar> [<name>]    (name: localhost/berth/busybox:latest)
#
# The layer holds /bin/busybox, a symlink in /bin for each of its applets,
# and /tmp; the config runs `sh` with the usual PATH. Every time in it is
# fixed and the archives are sorted, so the same busybox gives the same
# digests. index.json names the image twice: `io.containerd.image.name`
# (the full name, which ctr's import uses as is) and the OCI ref name (the
# tag, for tools that want a base name). Prints the manifest digest.
set -euo pipefail

BUSYBOX=/bin/busybox
EPOCH=1704067200 # 2024-01-01T00:00:00Z
CREATED=2024-01-01T00:00:00Z

usage() {
  echo "usage: $0 <out.tar> [<name>]" >&2
  exit 2
}
(($# == 1 || $# == 2)) || usage
out=$1
name=${2:-localhost/berth/busybox:latest}
# A name with a tag; nothing that would need escaping in JSON.
if [[ ! $name =~ ^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]]; then
  echo "busybox-image: $name: not an image name with a tag (e.g. localhost/berth/busybox:latest)" >&2
  exit 2
fi
tag=${name##*:}

# busybox-static's binary: a dynamically linked busybox would not run in an
# image without its libraries.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
  ! applets=$("$BUSYBOX" --list 2>/dev/null) || [[ -z $applets ]]; then
  echo "busybox-image: needs Debian's busybox-static at $BUSYBOX (apt-get install busybox-static)" >&2
  exit 1
fi

case $(dpkg --print-architecture) in
  amd64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  ppc64el) arch=ppc64le ;;
  s390x) arch=s390x ;;
  riscv64) arch=riscv64 ;;
  i386) arch=386 ;;
  *)
    echo "busybox-image: architecture $(dpkg --print-architecture) not handled" >&2
    exit 1
    ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-busybox-image.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# The root filesystem.
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/tmp"
chmod 0755 "$rootfs" "$rootfs/bin"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$BUSYBOX" "$rootfs/bin/busybox"
while IFS= read -r applet; do
  [[ -n $applet && $applet != busybox && $applet != */* ]] || continue
  ln -s busybox "$rootfs/bin/$applet"
done <<<"$applets"

# The layer: GNU tar, sorted, fixed times, numeric root ownership; gzip
# without a name or time in its header.
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
tar --create --file "$work/layer.tar" --directory "$rootfs" --format=gnu --sort=name \
  --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner bin tmp
gzip -n -9 <"$work/layer.tar" >"$work/layer.tar.gz"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
# Moves a file into the blob store; prints its hex digest.
blob() {
  local hex
  hex=$(sha "$1")
  mv "$1" "$layout/blobs/sha256/$hex"
  echo "$hex"
}

diff_id=$(sha "$work/layer.tar")
layer_size=$(size "$work/layer.tar.gz")
layer=$(blob "$work/layer.tar.gz")

printf '%s' "{\"created\":\"$CREATED\",\"architecture\":\"$arch\",\"os\":\"linux\",\
\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"sh\"]},\
\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]},\
\"history\":[{\"created\":\"$CREATED\",\"created_by\":\"scripts/busybox-image.sh: busybox-static\"}]}" >"$work/config.json"
config_size=$(size "$work/config.json")
config=$(blob "$work/config.json")

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config\",\"size\":$config_size},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}]}" \
  >"$work/manifest.json"
manifest_size=$(size "$work/manifest.json")
manifest=$(blob "$work/manifest.json")

printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"digest\":\"sha256:$manifest\",\"size\":$manifest_size,\
\"annotations\":{\"io.containerd.image.name\":\"$name\",\"org.opencontainers.image.ref.name\":\"$tag\"},\
\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}]}" >"$layout/index.json"

tar --create --file "$work/image.tar" --directory "$layout" --format=gnu --sort=name \
  --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner oci-layout index.json blobs
mv "$work/image.tar" "$out"
echo "sha256:$manifest"

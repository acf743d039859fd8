#!/bin/bash
# Prepares what the CRI tests and bench need, once per machine, cached under /var/tmp:
#
#   1. crictl and critest (cri-tools 1.26.1), built offline by the shared tools' build.sh into
#      $CRI_TOOLS (default /var/tmp/cri-tools-1.26.1/bin/{crictl,critest}).
#   2. every image critest pulls, plus registry.k8s.io/pause:3.6, built by the shared tools'
#      make-images.sh and pushed into a docker-registry STORAGE directory,
#      $CRI_IMAGES/registry (default /var/tmp/berth-cri-images/registry), under the upstream paths
#      (pause, e2e-test-images/*, k8s-staging-cri-tools/*). Each test then serves that storage with
#      a docker-registry of its own on a port of its own (pulls never write to it).
#
# Both steps are skipped when their stamp matches (build.sh's own stamp; for the images, the
# sha256 of make-images.sh, its src/ and the cri-tools tarball). A lock file serialises
# concurrent callers (tests of several worktrees, CI's install-deps). Prints nothing on stdout
# but the two directories, as `CRI_TOOLS_BIN=...` and `CRI_REGISTRY_STORAGE=...` lines.
#
#   BERTH_SHARED_TOOLS   the shared tools folder (default ../shared/tools or ../../shared/tools)
#   BERTH_CRI_TOOLS      default /var/tmp/cri-tools-1.26.1
#   BERTH_CRI_IMAGES     default /var/tmp/berth-cri-images (WORK of make-images.sh, the .deb cache,
#                        and the registry storage)
set -euo pipefail
cd "$(dirname "$0")/../.."

tools=""
for t in "${BERTH_SHARED_TOOLS:-}" ../shared/tools ../../shared/tools; do
  if [[ -n $t && -x $t/cri-tools/build.sh && -x $t/cri-tools/make-images.sh ]]; then
    tools=$(cd "$t/cri-tools" && pwd)
    break
  fi
done
if [[ -z $tools ]]; then
  echo "cri prepare: no shared tools with cri-tools/build.sh (../shared/tools, or set BERTH_SHARED_TOOLS)" >&2
  exit 2
fi
[[ $(id -u) == 0 ]] || { echo "cri prepare: run as root (make-images.sh needs it)" >&2; exit 2; }

CRI_TOOLS=${BERTH_CRI_TOOLS:-/var/tmp/cri-tools-1.26.1}
IMAGES=${BERTH_CRI_IMAGES:-/var/tmp/berth-cri-images}
case "$IMAGES" in /var/tmp/?*|/tmp/?*) ;; *) echo "cri prepare: refusing BERTH_CRI_IMAGES=$IMAGES (use a folder under /var/tmp or /tmp)" >&2; exit 2 ;; esac
mkdir -p "$IMAGES"
exec 9>"$IMAGES/.lock"
flock 9

log() { echo "[cri prepare] $*" >&2; }

# 1. crictl, critest
"$tools/build.sh" "$CRI_TOOLS" >&2

# 2. the images, in a registry storage
stamp=$(cat "$tools/make-images.sh" "$tools"/src/* "$tools/cri-tools-1.26.1.tar.gz" | sha256sum | cut -c1-64)
storage=$IMAGES/registry
if [[ $(cat "$storage/stamp" 2>/dev/null) != "$stamp" ]]; then
  start=$(date +%s)
  # make-images.sh fetches six .deb files with apt-get download: it needs package lists.
  if ! apt-cache show nginx >/dev/null 2>&1 || [[ -z $(apt-cache policy nginx | awk '/Candidate:/ {print $2}' | grep -v none) ]]; then
    log "apt-get update (package lists for apt-get download)"
    apt-get update -q >&2
  fi
  new=$IMAGES/registry.new
  rm -rf --one-file-system -- "$new"
  mkdir -p "$new/storage"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$new/config.yml" <<EOF
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: "$new/storage" }
  delete: { enabled: true }
  maintenance: { uploadpurging: { enabled: false } }
http: { addr: "127.0.0.1:$port", secret: berth-cri-prepare }
EOF
  # REGISTRY_* variables would override the config file
  env $(env | awk -F= '/^REGISTRY_/ {printf "-u %s ", $1}') docker-registry serve "$new/config.yml" 2>"$new/registry.log" &
  reg=$!
  trap 'kill "$reg" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    curl -fsS --noproxy '*' -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null && break
    sleep 0.1
  done
  log "building the critest images (make-images.sh) and pushing them to 127.0.0.1:$port"
  REGISTRY=127.0.0.1:$port WORK=$IMAGES/work "$tools/make-images.sh" >&2
  kill "$reg"
  wait "$reg" 2>/dev/null || true
  trap - EXIT
  cp "$IMAGES/work/out/IMAGES.txt" "$new/storage/IMAGES.txt"
  echo "$stamp" >"$new/storage/stamp"
  rm -rf --one-file-system -- "$storage"
  mv "$new/storage" "$storage"
  rm -rf --one-file-system -- "$new"
  log "images ready in $storage ($(($(date +%s) - start)) s)"
fi

echo "CRI_TOOLS_BIN=$CRI_TOOLS/bin"
echo "CRI_REGISTRY_STORAGE=$storage"

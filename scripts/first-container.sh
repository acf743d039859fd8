#!/bin/bash
# Makes sure a container named `first` runs on the daemon at <address>:
#
#   scripts/first-container.sh <address> [<namespace>]     (namespace: default)
#
# 1. builds the tiny busybox image offline (scripts/busybox-image.sh) and
#    imports it with ctr as localhost/berth/busybox:latest, unless the daemon
#    already has that image at the same digest;
# 2. leaves a running task `first` alone; anything else named `first` (a
#    stopped, created or paused task, a container without a task, a
#    snapshot left by a deleted container) is removed and the container is
#    run again, detached.
# Works against berthd and containerd alike: it only uses ctr.
set -euo pipefail
cd "$(dirname "$0")/.."

(($# == 1 || $# == 2)) || {
  echo "usage: $0 <address> [<namespace>]" >&2
  exit 2
}
address=$1
namespace=${2:-default}
IMAGE=localhost/berth/busybox:latest
ID=first
# pid 1 of the container: a shell that exits on SIGTERM (pid 1 ignores
# signals it has no handler for) and otherwise sleeps forever.
COMMAND=(sh -c 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done')

say() { echo "first-container: $*" >&2; }
c() { ctr --address "$address" --namespace "$namespace" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-first-container.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

digest=$(./scripts/busybox-image.sh "$work/busybox.tar" "$IMAGE")
have=$(c images ls | awk -v n="$IMAGE" '$1 == n { print $3 }')
if [[ $have == "$digest" ]]; then
  say "image $IMAGE is there ($digest)"
else
  say "importing $IMAGE ($digest)"
  c images import --base-name "${IMAGE%:*}" "$work/busybox.tar" >/dev/null
fi

# STATUS of task $ID, or nothing when there is none.
task_status() { c tasks ls | awk -v id="$ID" 'NR > 1 && $1 == id { print $3 }'; }

status=$(task_status)
if [[ $status == RUNNING ]]; then
  say "container $ID is already running"
  exit 0
fi
if [[ -n $status ]]; then
  say "task $ID is $status: removing it"
  c tasks rm --force "$ID" >/dev/null
fi
if c containers ls -q | grep -qx "$ID"; then
  say "container $ID has no running task: removing it"
  c containers rm "$ID"
fi
# `ctr run` prepares the rootfs snapshot under the container's id.
if c snapshots ls | awk -v id="$ID" 'NR > 1 && $1 == id { found = 1 } END { exit !found }'; then
  say "removing the snapshot $ID left behind"
  c snapshots rm "$ID"
fi

c run --detach "$IMAGE" "$ID" "${COMMAND[@]}"
status=$(task_status)
if [[ $status != RUNNING ]]; then
  say "container $ID did not start (task status: ${status:-none})"
  exit 1
fi
say "container $ID is running: ctr --address $address --namespace $namespace tasks ls"

#!/bin/bash
# Runs containerd 1.6's client integration tests (integration/client) against
# berthd and containerd, offline, with images from a local registry:
#
#   scripts/containerd-integration.sh <containerd-src> [--daemon berthd|containerd|both]
#                                     [--run <regexp>] [--out <dir>]
#
# <containerd-src> is containerd's source at a 1.6 tag, with its vendor/
# directory (e.g. `git archive v1.6.20 | tar -x -C /var/tmp/containerd-1.6.20`
# from a clone). Needs root, Go (Debian's golang-go), docker-registry, skopeo,
# umoci, busybox-static, and berthd built (npm run build). The tests use
# /var/lib/containerd-test and /run/containerd-test (their own fixed paths),
# so nothing else may use those while this runs. Prints, per daemon, how many
# tests passed and which failed; logs go to --out (default: the work dir).
# Takes a few minutes per daemon. Not part of CI: CI cannot fetch the source.
# Run it on a quiet host: TestContainerKillInit* fail when any process on the
# host has "sleep 1" in its command line (they grep the host's `ps ax`).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
cd "$here/.."
exec node --import tsx scripts/containerd-integration.ts "$@"

#!/bin/sh
# Regenerates golden-specs.json from containerd 1.6.20's CRI code: overlays
# golden_gen_test.go.txt into its pkg/cri/server package (nothing in the
# source tree is written) and runs it offline with the vendored modules.
# Usage: gen-golden.sh [containerd-1.6.20 source dir]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/var/tmp/containerd-1.6.20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"Replace":{"%s":"%s"}}\n' "$src/pkg/cri/server/zz_berth_golden_test.go" "$here/golden_gen_test.go.txt" >"$work/overlay.json"
cd "$src"
BERTH_GOLDEN_OUT="$here/golden-specs.json" GOFLAGS=-mod=vendor GOPROXY=off GOCACHE="${GOCACHE:-$work/gocache}" \
  go test -vet=off -overlay "$work/overlay.json" -run '^TestBerthGolden$' -count=1 ./pkg/cri/server/

#!/bin/bash
# The whole test suite: typecheck, lint, unit tests, then the root tiers
# (real ctr against a real berthd on temporary paths). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== typecheck"
npx tsc -p tsconfig.check.json
echo "== lint"
npx biome check src test bench scripts
echo "== build"
npm run build --silent

unit=$(find src test/api -name '*.test.ts' -not -name '*.root.test.ts' -not -name '*.e2e.test.ts' | sort)
e2e=$(find src test -name '*.root.test.ts' -o -name '*.e2e.test.ts' | sort)

echo "== unit"
node --import tsx --test --test-concurrency=2 --test-timeout=120000 $unit
if [[ $(id -u) -ne 0 ]]; then
  echo "== e2e: skipped (needs root)"
  exit 0
fi
echo "== e2e"
# One Go build cache for the run's Go test programs, removed afterwards.
BERTH_GOCACHE=$(mktemp -d /tmp/berth-gocache.XXXXXX)
export BERTH_GOCACHE
trap 'rm -rf -- "$BERTH_GOCACHE"' EXIT
node --import tsx --test --test-concurrency=1 --test-timeout=300000 $e2e

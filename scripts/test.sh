#!/bin/bash
# The whole test suite: typecheck, lint, unit tests (with the architecture
# test), then the root tiers (real ctr against a real berthd on temporary
# paths). Run as root for a full run: a rootless run skips the root and
# end-to-end tiers, and says so at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== typecheck"
npx tsc -p tsconfig.check.json
echo "== lint"
npx biome check src test bench scripts
echo "== build"
npm run build --silent

# Unit tier: rootless tests beside the code, the API tests and the tests of
# the tree itself (test/*.test.ts: the layer rules of docs/architecture.md).
unit=$(find src test/api test/cri -name '*.test.ts' -not -name '*.root.test.ts' -not -name '*.e2e.test.ts' | sort)
unit="$unit $(find test -maxdepth 1 -name '*.test.ts' | sort)"
root=$(find src test -name '*.root.test.ts' | sort)
e2e=$(find src test -name '*.e2e.test.ts' -not -path 'test/cri/*' | sort)
# The CRI acceptance tests (critest against containerd 1.6 and berthd, the crictl
# scenario) run apart, with a longer per-file limit: node's --test-timeout
# kills a whole file without its after() hooks, and test/cri leaves bridges,
# pods and shims behind when killed. Each bounds its own steps within this.
cri=$(find test/cri -name '*.e2e.test.ts' | sort)
# The task end-to-end files again with every container on berth's grouped
# shim (issue 14; test/helpers/runtime.ts adds the runtime to ctr's `run` and
# `containers create`), under berthd and under Debian's containerd; under
# containerd also the grouped-shim acceptance files (berthd's pass runs them
# above). ctr.e2e and events.e2e start no task.
BERTH_SHIM=io.containerd.berth.v1
shim_tasks="test/e2e/tasks.e2e.test.ts test/e2e/tty.e2e.test.ts test/e2e/checkpoint.e2e.test.ts
  test/e2e/restart-tasks.e2e.test.ts test/e2e/task-cycles.e2e.test.ts"
shim_acceptance=$(find test/e2e -name 'berth-shim-*.e2e.test.ts' | sort)
count() { wc -w <<<"$1" | tr -d ' '; }

summary() {
  echo
  echo "== tiers"
  echo "   unit (rootless):     ran     ($(count "$unit") files)"
  if [[ $1 == ran ]]; then
    echo "   root:                ran     ($(count "$root") files)"
    echo "   end-to-end:          ran     ($(count "$e2e") files)"
    echo "   berth shim tasks:    $shim_ran"
    echo "   CRI (test/cri):      ran     ($(count "$cri") files)"
  else
    echo "   root:                SKIPPED ($(count "$root") files): $2"
    echo "   end-to-end:          SKIPPED ($(count "$e2e") files): $2"
    echo "   berth shim tasks:    SKIPPED: $2"
    echo "   CRI (test/cri):      SKIPPED ($(count "$cri") files): $2"
    echo
    echo "!! This was NOT a full run: the root and end-to-end tiers did not run ($2)."
    echo "!! Run 'sudo npm test' for the whole suite."
  fi
}

echo "== unit"
node --import tsx --test --test-concurrency=2 --test-timeout=120000 $unit
if [[ $(id -u) -ne 0 ]]; then
  summary skipped "they need root: mounts, runc, shims, the real ctr"
  exit 0
fi
echo "== root and end-to-end"
# One Go build cache for the run's Go test programs, removed afterwards.
BERTH_GOCACHE=$(mktemp -d /tmp/berth-gocache.XXXXXX)
export BERTH_GOCACHE
trap 'rm -rf -- "$BERTH_GOCACHE"' EXIT
status=0
node --import tsx --test --test-concurrency=1 --test-timeout=300000 $root $e2e || status=$?
if [[ -x bin/containerd-shim-berth-v1 ]]; then
  echo "== end-to-end tasks on $BERTH_SHIM (berthd)"
  BERTH_E2E_RUNTIME=$BERTH_SHIM \
    node --import tsx --test --test-concurrency=1 --test-timeout=300000 $shim_tasks || status=$?
  echo "== end-to-end tasks on $BERTH_SHIM (containerd)"
  BERTH_E2E_DAEMON=containerd BERTH_E2E_RUNTIME=$BERTH_SHIM \
    node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
    $shim_tasks $shim_acceptance || status=$?
  shim_ran="ran     ($(count "$shim_tasks") files under berthd, $(count "$shim_tasks $shim_acceptance") under containerd)"
else
  shim_ran="SKIPPED: no bin/containerd-shim-berth-v1 in this checkout"
fi
echo "== CRI (critest, crictl)"
node --import tsx --test --test-concurrency=1 --test-timeout=900000 $cri || status=$?
summary ran
exit $status

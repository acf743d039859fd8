#!/bin/bash
# The README's first command: install what is missing, build, and run
# berthd in the foreground with its default paths.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
exec ./bin/berthd "$@"

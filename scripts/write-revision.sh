#!/bin/sh
# Records the git commit in dist/REVISION for `Version` and `berthd -v`.
cd "$(dirname "$0")/.." || exit 1
mkdir -p dist
git rev-parse HEAD 2>/dev/null > dist/REVISION || echo unknown > dist/REVISION

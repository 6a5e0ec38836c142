#!/usr/bin/env bash
# The test suite as a fresh machine runs it: Mesa's shader cache starts empty, so every kernel
# the tests dispatch is compiled by lavapipe (LLVM) once. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
MESA_SHADER_CACHE_DIR="$cache" npx vitest run "$@"

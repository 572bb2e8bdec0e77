#!/usr/bin/env bash
# Runs every nextprism test: installs the Debian packages it needs, builds
# once, and runs ctest (unit, package, sanitizers + fuzzer, integration).
# Safe to run twice: the build tree under build/ is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${NEXTPRISM_BUILD_DIR:-build}
scripts/configure.sh "$build"
cmake --build "$build" -j"$(nproc)"
cd "$build"
exec ctest --output-on-failure --no-tests=error "$@"

#!/usr/bin/env bash
# Configures the build tree the README's two commands share (scripts/demo.sh,
# scripts/test.sh): one set of flags, so running one after the other
# rebuilds nothing.
#
#   scripts/configure.sh BUILD_DIR
#
# Release (-O3 -DNDEBUG), as the proxy image and host projects build: the
# integration tests run against optimised code (a -O1 tree once hid a
# failure that only the Release build showed). -g1 adds function names and
# line tables for backtraces without changing the generated code. The
# sanitizer build (tests/sanitize.cmake) stays at -O1, what ASan needs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cmake -S . -B "${1:?usage: scripts/configure.sh BUILD_DIR}" -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CXX_FLAGS_RELEASE=-O3 -DNDEBUG -g1"

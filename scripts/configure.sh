#!/usr/bin/env bash
# Configures the build tree the README's two commands share (scripts/demo.sh,
# scripts/test.sh): one set of flags, so running one after the other
# rebuilds nothing.
#
#   scripts/configure.sh BUILD_DIR
#
# -O1 with minimal debug information (function names and line tables, for
# backtraces) compiles in less than half the time of RelWithDebInfo's
# -O2 -g (the heaviest test: 84 -> 38 s on this 2-core machine). The
# benchmarks (benchmarks/run.sh) and the proxy image build Release trees of
# their own.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cmake -S . -B "${1:?usage: scripts/configure.sh BUILD_DIR}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"

#!/usr/bin/env bash
# Starts a dry-run proxy (real sshd, proxy/sshd_config, validator deciding
# but not executing) on loopback, runs bench_ssh_transport against it with
# JSON output, and stops it. Needs root (sshd). Usage:
#   benchmarks/run-ssh-benchmark.sh [BUILD_DIR] [extra benchmark flags]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
shift || true
cmake --build "$build" --target bench_ssh_transport nextprism-validate -j"$(nproc)" >/dev/null
dir=$build/bench-sshd
port=22422
tests/testbed/sshd.sh start "$dir" "$port" "$build/proxy/nextprism-validate" none dry-run
trap 'tests/testbed/sshd.sh stop "$dir"; ssh -O exit -o ControlPath="$dir/cm-%C" -p "$port" nextprism@127.0.0.1 2>/dev/null || true' EXIT
NEXTPRISM_SSHD_DIR=$dir NEXTPRISM_SSHD_PORT=$port "$build/benchmarks/bench_ssh_transport" \
  --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_out="$build/bench_ssh_transport.json" --benchmark_out_format=json "$@"
echo "JSON: $build/bench_ssh_transport.json"

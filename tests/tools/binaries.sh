#!/usr/bin/env bash
# Every binary the project ships speaks the one command-line layer
# (tools/nextprism/tools/command_line.hpp): --help (exit 0, usage line,
# exit-status table), --version (exit 0, "PROG VERSION"), an unknown option
# and a bad number exit 64 with one line saying so. The validator says it in
# the wire contract's form ("nextprism: usage: ...").
#   binaries.sh VERSION VALIDATE BROKER EXEC RUN NEXTPRISM AGENT
set -uo pipefail
version=$1
shift
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }
expect() { # expect WHAT STATUS ERR-SUBSTRING -- CMD...
  local what=$1 status=$2 needle=$3 out err rc
  shift 4
  err=$("$@" 2>&1 >/dev/null </dev/null)
  rc=$?
  [ "$rc" = "$status" ] || fail "$what: exit $rc, want $status (stderr: $err)"
  [[ $err == *"$needle"* ]] || fail "$what: stderr '$err' lacks '$needle'"
  [ "$(printf '%s' "$err" | grep -c '')" -le 1 ] || fail "$what: more than one stderr line: $err"
}
for bin in "$@"; do
  name=$(basename "$bin")
  help=$(env -i "$bin" --help 2>&1) || fail "$name --help: exit $?"
  [[ $help == "usage: $name "* ]] || fail "$name --help does not start with its usage line: ${help:0:80}"
  [[ $help == *"Exit status:"* ]] || fail "$name --help has no exit-status table"
  [[ $help == *"  64 "* ]] || fail "$name --help does not list 64 (usage)"
  v=$(env -i "$bin" --version 2>&1) || fail "$name --version: exit $?"
  [ "$v" = "$name $version" ] || fail "$name --version printed '$v', want '$name $version'"
  prefix="$name: "
  [ "$name" = nextprism-validate ] && prefix="nextprism: usage: "
  expect "$name --bogus" 64 "${prefix}unknown option --bogus (see --help)" -- env -i "$bin" --bogus
done
validate=$1 broker=$2 exec=$3 run=$4
# Numbers and ports are parsed strictly: once `--timeout abc` aborted and
# `--proxy h:67758` silently became port 2222.
common=(--user u --key /nonexistent --known-hosts /nonexistent)
expect "exec --timeout abc" 64 "nextprism-exec: --timeout: 'abc' is not a duration" -- \
  "$exec" --proxy 127.0.0.1:2222 "${common[@]}" --timeout abc nextcloud php occ status
expect "exec --proxy h:67758" 64 "nextprism-exec: --proxy: 'h:67758' is not HOST:PORT" -- \
  "$exec" --proxy h:67758 "${common[@]}" nextcloud php occ status
expect "exec without --proxy" 64 "nextprism-exec: --proxy is required" -- "$exec" "${common[@]}" nextcloud php occ status
expect "validate --max-running 5x" 64 "nextprism: usage: --max-running: '5x' is not a whole number" -- \
  env -i "$validate" --service nextcloud --max-running 5x
expect "validate NEXTPRISM_TIMEOUT=soon" 64 "nextprism: usage: NEXTPRISM_TIMEOUT: 'soon'" -- \
  env -i NEXTPRISM_TIMEOUT=soon "$validate" --service nextcloud
expect "broker --max-children 0" 64 "nextprism-broker: --max-children: '0' is not a whole number from 1 to 4096" -- \
  env -i "$broker" --socket /nonexistent --service nextcloud --max-children 0
expect "run with too few operands" 64 "nextprism-run: need CONFIG.json" -- "$run" config.json swarm
cli=$5
expect "nextprism with no command" 64 "nextprism: need a command (see --help)" -- "$cli"
expect "nextprism frobnicate" 64 "nextprism: unknown command frobnicate (see --help)" -- "$cli" frobnicate
for sub in exec check whitelist proxies; do
  h=$("$cli" "$sub" --help 2>&1) || fail "nextprism $sub --help: exit $?"
  [[ $h == "usage: nextprism $sub "* && $h == *"Exit status:"* ]] || fail "nextprism $sub --help: ${h:0:80}"
  expect "nextprism $sub --bogus" 64 "nextprism $sub: unknown option --bogus (see --help)" -- "$cli" "$sub" --bogus
done
# A timeout for a rule the whitelist does not have (a typo) would leave
# that command unbounded: refused as a configuration error.
typo=$(mktemp --suffix=.json)
echo '{"docker_host": null, "command_timeouts_ms": {"php occ file:scan": 1000}}' >"$typo"
expect "exec: a timeout for no rule" 78 "command_timeouts_ms.php occ file:scan: no whitelist rule" -- \
  "$cli" exec --config "$typo" nextcloud -- php occ status
rm -f "$typo"
expect "agent --max-runs-per-caller 0" 64 "nextprism-agent: --max-runs-per-caller:" -- "$6" --max-runs-per-caller 0
expect "agent --drain-timeout soon" 64 "nextprism-agent: --drain-timeout: 'soon' is not a duration" -- "$6" --drain-timeout soon
# A command's own options after the service are the command's.
expect "run: the command's --help is an operand" 78 "nextprism-run:" -- "$run" /nonexistent.json swarm nextcloud php occ --help
[ "$failed" = 0 ] && echo "ok: $# binaries: --help, --version, unknown options and strict values"
exit "$failed"

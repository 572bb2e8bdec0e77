#!/usr/bin/env bash
# The one command line against the stack test bed: exec through a proxy, a
# proxy only and the local engine; --json and --json-stream (progress from
# occ's -v entries); the progress line on a terminal (a pty by script(1))
# and never in a pipe; refused 65, unreachable 69 naming the proxy and its
# error, timed out 124, Ctrl-C 130 with the command gone from the target;
# check, whitelist check and proxies.
#   nextprism_cli.sh NEXTPRISM STACK_DIR DOCKER_SOCK
set -uo pipefail
bin=$1 stack=$2 sock=$3
export DOCKER_HOST=unix://$sock
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/stack_lib.sh"
stack_config "$work/c.json" 127.0.0.1:22622
stack_config "$work/closed.json" 127.0.0.1:22699 # nothing listens there (loopback)
ex=("$bin" exec --config "$work/c.json")

# ---- the three routes
out=$("${ex[@]}" -v nextcloud -- php occ status 2>"$work/err"); rc=$?
check "exec through the proxy: 0 and the command's output" sh -c "[ $rc = 0 ] && echo '$out' | grep -q 'installed: true'"
check "-v names the attempt and its proxy ($(cat "$work/err"))" grep -q "attempt 1: proxy 127.0.0.1:22622: ran" "$work/err"
check "-v names where it started, as it started" \
  grep -Eq "^nextprism: started through proxy 127.0.0.1:22622 in nptargets_nextcloud[^ ]* \(exec [0-9a-f]{12}\)$" "$work/err"
"${ex[@]}" -v --via proxy nextcloud php occ status >/dev/null 2>"$work/err"; rc=$?
check "--via proxy (no -- needed): 0" sh -c "[ $rc = 0 ] && grep -q 'proxy 127.0.0.1:22622' '$work/err'"
"${ex[@]}" -v --via direct nextcloud -- php occ status >/dev/null 2>"$work/err"; rc=$?
check "--via direct: the local engine ($(cat "$work/err"))" sh -c "[ $rc = 0 ] && grep -q 'the local engine: ran' '$work/err'"
check "--via direct: started on the local engine, in the service's task" \
  grep -Eq "^nextprism: started on the local engine in nptargets_nextcloud[^ ]* \(exec [0-9a-f]{12}\)$" "$work/err"

# ---- --json: one object on stdout, the command's output on stderr
json=$("${ex[@]}" --json nextcloud -- php occ status 2>"$work/err"); rc=$?
check "--json: one object ($json)" python3 -c "
import json, sys
j = json.loads(sys.argv[1])
assert j['outcome'] == 'succeeded' and j['exit_code'] == 0 and j['status'] == 0, j
assert j['route'] == '127.0.0.1:22622' and j['started_in'].startswith('nptargets_nextcloud'), j
assert j['attempts'] == [{'route': '127.0.0.1:22622', 'error': ''}], j
" "$json"
check "--json: the command's stdout went to stderr" grep -q "installed: true" "$work/err"

# ---- --json-stream: events as they happen, progress from occ's -v entries
"${ex[@]}" --json-stream nextcloud -- php occ files:scan -v slow3 >"$work/events" 2>"$work/err"; rc=$?
check "--json-stream: stdout chunks, progress 1..3 files, finished last (rc $rc)" python3 -c "
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e['event'] for e in ev]
assert kinds[-1] == 'finished' and kinds.count('finished') == 1, kinds
assert 'stdout' in kinds, kinds
assert kinds.count('started') == 1 and kinds.index('started') < kinds.index('stdout'), kinds
s = ev[kinds.index('started')]
assert s['route'] == '127.0.0.1:22622' and s['started_in'] == ev[-1]['started_in'], (s, ev[-1])
files = [e['files'] for e in ev if e['event'] == 'progress']
assert files[-1] == 3 and files == sorted(files), files
f = ev[-1]
assert f['outcome'] == 'succeeded' and f['files'] == 3 and f['folders'] == 1, f
" "$work/events"

# ---- the progress line: on a terminal only
script -qefc "$(printf '%q ' "${ex[@]}") nextcloud -- php occ files:scan -v slow3" /dev/null >"$work/tty" 2>&1; rc=$?
check "on a terminal: one status line with files, folders, rate (rc $rc)" \
  sh -c "grep -q '3 files, 1 folders, 00:0[0-9] elapsed, [0-9.]* files/s' '$work/tty'"
"${ex[@]}" nextcloud -- php occ files:scan -v slow2 >"$work/pipe.out" 2>"$work/pipe.err"; rc=$?
check "in a pipe: no status line, the scan's output whole (rc $rc)" \
  sh -c "[ $rc = 0 ] && ! grep -q 'files/s' '$work/pipe.out' '$work/pipe.err' && grep -c 'photo-' '$work/pipe.out' | grep -qx 2"

# ---- the tool's own failures: their codes and one line naming what failed where
"${ex[@]}" photoprism -- photoprism import originals/2024 >/dev/null 2>"$work/err"; rc=$?
check "refused: 65 with the rule ($(cat "$work/err"))" \
  sh -c "[ $rc = 65 ] && grep -q \"^nextprism: refused: argument: 'originals/2024' starts with 'originals'\" '$work/err'"
"$bin" exec --config "$work/closed.json" --via proxy nextcloud -- php occ status >/dev/null 2>"$work/err"; rc=$?
check "unreachable: 69 naming the proxy and what it met ($(cat "$work/err"))" \
  sh -c "[ $rc = 69 ] && grep -q '^nextprism: unreachable: .* (nextcloud): 127.0.0.1:22699 Connection refused' '$work/err'"
"${ex[@]}" --timeout 2s nextcloud -- php occ files:scan -v slow30 >/dev/null 2>"$work/err"; rc=$?
check "timed out: 124, stopped ($(tail -n 1 "$work/err"))" sh -c "[ $rc = 124 ] && grep -q '^nextprism: timed_out: ' '$work/err'"
check "the timed-out scan is gone from the target within 10 s" gone_from_target slow30

# ---- Ctrl-C: the command is stopped in the target, and the tool says so
"${ex[@]}" nextcloud -- php occ files:scan -v slow30 >/dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do in_target slow30 && break; sleep 0.1; done
check "the scan runs in the target" in_target slow30
kill -INT "$pid"
wait "$pid"; rc=$?
check "Ctrl-C: 130 and 'cancelled' ($(tr '\n' ' ' <"$work/err"))" \
  sh -c "[ $rc = 130 ] && grep -q 'stopping the command in the target' '$work/err' && grep -q '^nextprism: cancelled: ' '$work/err'"
check "after Ctrl-C the scan is gone from the target within 10 s" gone_from_target slow30

# ---- check, whitelist, proxies
out=$("$bin" check nextcloud -- php occ files:scan --all); rc=$?
check "check: allowed, with what runs and as whom" sh -c "[ $rc = 0 ] && echo '$out' | grep -q 'as user: *from the target: Config.User when not root, else www-data'"
echo '{"services": {"nextcloud": {"commands": [{"argv": ["php", "occ", "status"], "single_flight": "yes"}]}}}' >"$work/bad.json"
"$bin" whitelist check "$work/bad.json" 2>"$work/err"; rc=$?
check "whitelist check: 78 with the key path ($(cat "$work/err"))" \
  sh -c "[ $rc = 78 ] && grep -q 'single_flight: expected true or false' '$work/err'"
out=$("$bin" proxies --config "$work/c.json"); rc=$?
check "proxies: each service's proxy, its port open ($out)" \
  sh -c "[ $rc = 0 ] && echo '$out' | grep -q '^nextcloud.*127.0.0.1:22622.*port open' && echo '$out' | grep -q '^photoprism.*127.0.0.1:22623.*port open'"
out=$("$bin" proxies --config "$work/closed.json"); rc=$?
check "proxies: a closed port says so" sh -c "echo '$out' | grep -q '127.0.0.1:22699.*Connection refused'"
"$bin" exec --bogus 2>"$work/err"; rc=$?
check "a bad option: 64" sh -c "[ $rc = 64 ] && grep -q 'unknown option --bogus' '$work/err'"

[ "$fails" = 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "nextprism: every check passed"

#!/usr/bin/env bash
# nextprism-agent against the stack test bed, over real HTTP (curl):
# POST /v1/exec streams NDJSON (accepted, stdout, progress, finished with
# route and started_in); a refusal is 403 with the rule, a bad body 400;
# DELETE /v1/runs/{id} and a client that goes away stop the command in
# the target; /v1/runs, /admin/proxy-stats (pool, breaker, cache), /metrics
# (promtool check metrics), /healthz, /readyz; a token off loopback;
# --max-connections (503 beyond it, counted); named callers with a cap of
# runs each (429), the JSON-line log with the audit fields, SIGTERM's drain
# (runs go on, then are stopped); the unix socket (0660, peer credentials,
# a stale one replaced); the Python client over TCP and the socket; the
# status page rendered by headless chromium (its DOM shows the runs; a
# screenshot lands in the build tree). Chromium runs in a network
# namespace of its own with only loopback, with an agent of its own there
# (the local engine's socket is a file: no network needed).
#   nextprism_agent.sh AGENT STACK_DIR DOCKER_SOCK OUT_DIR
set -uo pipefail
bin=$1 stack=$2 sock=$3 out=$4
export DOCKER_HOST=unix://$sock
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/stack_lib.sh"
stack_config "$work/c.json" 127.0.0.1:22622
port=18187
url=http://127.0.0.1:$port
"$bin" --config "$work/c.json" --listen 127.0.0.1:$port 2>"$work/agent.log" &
pids+=($!)
for _ in $(seq 1 50); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
check "healthz answers" sh -c "curl -sf '$url/healthz' | grep -qx ok"
check "readyz: both services have a route" sh -c "curl -sf '$url/readyz' | grep -q '\"ready\":true'"

# ---- a run streamed as it happens
curl -sN -X POST "$url/v1/exec" -d '{"service":"nextcloud","argv":["php","occ","files:scan","-v","slow3"]}' \
  >"$work/events"
check "POST /v1/exec: accepted first, started before stdout, progress, one finished last" python3 -c "
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e['event'] for e in ev]
assert kinds[0] == 'accepted' and kinds[-1] == 'finished' and kinds.count('finished') == 1, kinds
assert 'stdout' in kinds, kinds
assert kinds.count('started') == 1 and kinds.index('started') < kinds.index('stdout'), kinds
s = ev[kinds.index('started')]
assert s['route'] == '127.0.0.1:22622' and s['started_in'] == ev[-1]['started_in'], (s, ev[-1])
files = [e['files'] for e in ev if e['event'] == 'progress']
assert files and files[-1] == 3 and files == sorted(files), files
f = ev[-1]
assert f['outcome'] == 'succeeded' and f['exit_code'] == 0 and f['route'] == '127.0.0.1:22622', f
assert f['started_in'].startswith('nptargets_nextcloud') and f['files'] == 3 and f['id'] == ev[0]['id'], f
" "$work/events"
code=$(curl -s -o "$work/refused" -w '%{http_code}' -X POST "$url/v1/exec" \
  -d '{"service":"nextcloud","argv":["php","occ","config:list"]}')
check "a refusal: 403 with the rule ($(cat "$work/refused"))" \
  sh -c "[ $code = 403 ] && grep -q 'is not allowed for nextcloud' '$work/refused'"
for body in '{"service":"nextcloud"}' '{"service":"nextcloud","argv":["php",1]}' 'not json' \
  '{"service":"nextcloud","argv":["php","occ","status"],"timeout":"soon"}' '{"service":"x","argv":["a"],"extra":1}'; do
  code=$(curl -s -o "$work/bad" -w '%{http_code}' -X POST "$url/v1/exec" -d "$body")
  check "a bad body is 400 with what is wrong: $body ($(cat "$work/bad"))" sh -c "[ $code = 400 ] && grep -q error '$work/bad'"
done

# ---- DELETE stops the command in the target
curl -sN -X POST "$url/v1/exec" -d '{"service":"nextcloud","argv":["php","occ","files:scan","slow30"]}' \
  >"$work/deleted" &
cpid=$!
for _ in $(seq 1 100); do in_target slow30 && break; sleep 0.1; done
check "the scan runs in the target" in_target slow30
id=$(head -1 "$work/deleted" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
code=$(curl -s -o "$work/del" -w '%{http_code}' -X DELETE "$url/v1/runs/$id")
check "DELETE /v1/runs/$id: 202 ($(cat "$work/del"))" sh -c "[ $code = 202 ] && grep -q '\"cancelled_by\":\"DELETE\"' '$work/del'"
wait "$cpid"
check "the stream ends with outcome cancelled" sh -c "tail -1 '$work/deleted' | grep -q '\"outcome\":\"cancelled\"'"
check "after DELETE the scan is gone from the target within 10 s" gone_from_target slow30
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url/v1/runs/$id")
check "DELETE of a finished run: 409" test "$code" = 409
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/runs/999999")
check "an unknown run: 404" test "$code" = 404

# ---- a client that goes away stops its run
curl -sN -m 3 -X POST "$url/v1/exec" -d '{"service":"nextcloud","argv":["php","occ","files:scan","slow30"]}' \
  >"$work/gone"
check "client gone: the scan is gone from the target within 10 s" gone_from_target slow30
gid=$(head -1 "$work/gone" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
check "client gone: the run says so" sh -c "curl -s '$url/v1/runs/$gid' | grep -q '\"cancelled_by\":\"client gone\"'"

# ---- the admin views
curl -s "$url/v1/runs" >"$work/runs"
check "GET /v1/runs lists the three runs, newest first" python3 -c "
import json, sys
runs = json.load(open(sys.argv[1]))
assert [r['outcome'] for r in runs[:3]] == ['cancelled', 'cancelled', 'succeeded'], runs
" "$work/runs"
curl -s "$url/admin/proxy-stats" >"$work/stats"
check "proxy-stats: counters, the endpoint's breaker and pool, the discovery cache" python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
assert s['executor']['runs'] == 3 and s['executor']['proxied'] == 3, s['executor']
ep = [e for e in s['endpoints'] if e['endpoint'] == '127.0.0.1:22622'][0]
assert ep['breaker'] == 'closed' and ep['pool']['handshakes'] >= 1 and ep['pool']['commands'] == 3, ep
assert ep['pool']['host_key'].startswith('SHA256:'), ep
assert any(c['service'] == 'nextcloud' and c['proxies'] for c in s['discovery']['cache']), s['discovery']
" "$work/stats"
curl -s "$url/metrics" >"$work/metrics"
check "/metrics passes promtool check metrics ($(promtool check metrics <"$work/metrics" 2>&1 | head -3))" \
  sh -c "promtool check metrics <'$work/metrics'"
check "/metrics counts the runs by outcome" sh -c "grep -qx 'nextprism_agent_runs_total{outcome=\"cancelled\"} 2' '$work/metrics' &&
  grep -qx 'nextprism_agent_runs_total{outcome=\"refused\"} 1' '$work/metrics' &&
  grep -q '^nextprism_pool_connections{endpoint=\"127.0.0.1:22622\"} ' '$work/metrics'"

# ---- a token: required everywhere but the probes, never in the log
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
"$bin" --config "$work/c.json" --listen 0.0.0.0:$((port + 1)) 2>"$work/refuse.log"; rc=$?
check "off loopback without a token: 78" sh -c "[ $rc = 78 ] && grep -q 'needs --token-file' '$work/refuse.log'"
"$bin" --config "$work/c.json" --listen 127.0.0.1:$((port + 1)) --token-file "$work/token" 2>"$work/tok.log" &
pids+=($!)
turl=http://127.0.0.1:$((port + 1))
for _ in $(seq 1 50); do curl -sf "$turl/healthz" >/dev/null && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' "$turl/v1/runs")
check "no token: 401" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-wrong-token" "$turl/v1/runs")
check "a wrong token: 401" test "$code" = 401
# The page holds no data and a browser's first request has no bearer: served;
# what it fetches is not.
code=$(curl -s -o "$work/page.html" -w '%{http_code}' "$turl/")
check "no token: the page at / is served (200) and holds no run" sh -c "[ $code = 200 ] && ! grep -q 'php occ' '$work/page.html'"
code=$(curl -s -o /dev/null -w '%{http_code}' "$turl/admin/proxy-stats")
check "no token: /admin/proxy-stats 401" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' "$turl/metrics")
check "no token: /metrics 401" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$work/token")" "$turl/v1/runs")
check "the token: 200" test "$code" = 200
check "the token is not in the log" sh -c "! grep -qF '$(cat "$work/token")' '$work/tok.log'"

# ---- named callers, the per-caller cap (429), the JSON-line log, SIGTERM's drain
tok_a=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
tok_b=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '# two apps, one token each\nsync-app %s\n\nreports %s\n' "$tok_a" "$tok_b" >"$work/callers"
"$bin" --config "$work/c.json" --listen 127.0.0.1:$((port + 4)) --token-file "$work/callers" \
  --max-runs-per-caller 1 --drain-timeout 2s 2>"$work/callers.log" &
callers_pid=$!
pids+=($callers_pid)
curl_c=http://127.0.0.1:$((port + 4))
for _ in $(seq 1 50); do curl -sf "$curl_c/healthz" >/dev/null && break; sleep 0.1; done
curl -sN -H "Authorization: Bearer $tok_a" -X POST "$curl_c/v1/exec" \
  -d '{"service":"nextcloud","argv":["php","occ","files:scan","slow30"]}' >"$work/c1" &
c1=$!
for _ in $(seq 1 100); do in_target slow30 && break; sleep 0.1; done
check "sync-app's first run is in the target" in_target slow30
code=$(curl -s -D "$work/c2.head" -o "$work/c2" -w '%{http_code}' -H "Authorization: Bearer $tok_a" -X POST \
  "$curl_c/v1/exec" -d '{"service":"nextcloud","argv":["php","occ","status"]}')
check "its second run over --max-runs-per-caller 1: 429, Retry-After, the cap named ($(cat "$work/c2"))" \
  sh -c "[ $code = 429 ] && grep -qi '^retry-after: 1' '$work/c2.head' && grep -q 'sync-app has 1 of its 1' '$work/c2'"
code=$(curl -s -o "$work/c3" -w '%{http_code}' -H "Authorization: Bearer $tok_b" -X POST "$curl_c/v1/exec" \
  -d '{"service":"nextcloud","argv":["php","occ","status"]}')
check "another caller is not held up by it: 200, succeeded" \
  sh -c "[ $code = 200 ] && tail -1 '$work/c3' | grep -q '\"outcome\":\"succeeded\"'"
curl -sf -H "Authorization: Bearer $tok_b" "$curl_c/metrics" >"$work/callers.metrics"
check "the 429 is counted in /metrics" sh -c "grep -qx 'nextprism_agent_runs_over_caller_cap_total 1' '$work/callers.metrics'"
kill -TERM "$callers_pid"
sleep 0.5
check "after SIGTERM no connection is accepted" sh -c "! curl -s -m 2 '$curl_c/healthz'"
check "... while the run in flight goes on (drain)" in_target slow30
wait "$c1"
check "after --drain-timeout 2s the run left is stopped: cancelled by 'agent stopping'" \
  sh -c "tail -1 '$work/c1' | grep -q '\"outcome\":\"cancelled\"' && tail -1 '$work/c1' | grep -q 'agent stopping'"
wait "$callers_pid"
rc=$?
check "the agent exits 0 once drained" test "$rc" = 0
check "the stopped scan is gone from the target within 10 s" gone_from_target slow30
check "the log is JSON lines with the audit fields, and no token" python3 -c "
import json, sys
lines = open(sys.argv[1]).read().splitlines()
ev = [json.loads(l) for l in lines]   # every line is one JSON object
kinds = [e['event'] for e in ev]
assert all(e['time'].endswith('Z') for e in ev), ev[0]
assert kinds[0] == 'listening' and ev[0]['tokens'] == 2, ev[0]
cap = [e for e in ev if e['event'] == 'over_caller_cap']
assert len(cap) == 1 and cap[0]['caller'] == 'sync-app' and cap[0]['peer'].startswith('127.0.0.1:'), cap
done = {e['caller']: e for e in ev if e['event'] == 'run_finished'}
assert set(done) == {'sync-app', 'reports'}, kinds
r = done['reports']
assert r['service'] == 'nextcloud' and r['rule'] == 'php occ status' and r['argv'] == ['php', 'occ', 'status'], r
assert r['outcome'] == 'succeeded' and r['route'] == '127.0.0.1:22622' and r['peer'].startswith('127.0.0.1:'), r
assert done['sync-app']['cancelled_by'] == 'agent stopping', done['sync-app']
assert kinds.index('stopping') < kinds.index('drain_timeout'), kinds
for t in sys.argv[2:]:
    assert t not in open(sys.argv[1]).read(), 'a token is in the log'
" "$work/callers.log" "$tok_a" "$tok_b"
printf 'bad line with three\n' >"$work/callers.bad"
"$bin" --config "$work/c.json" --listen 127.0.0.1:$((port + 4)) --token-file "$work/callers.bad" 2>"$work/callers.err"
rc=$?
check "a bad token file: 78 with its line ($(cat "$work/callers.err"))" \
  sh -c "[ $rc = 78 ] && grep -q 'callers.bad:1: NAME TOKEN or TOKEN' '$work/callers.err'"

# ---- SIGTERM with time enough: the run in flight finishes as it would have
"$bin" --config "$work/c.json" --listen 127.0.0.1:$((port + 4)) 2>"$work/drain.log" &
drain_pid=$!
pids+=($drain_pid)
for _ in $(seq 1 50); do curl -sf "$curl_c/healthz" >/dev/null && break; sleep 0.1; done
curl -sN -X POST "$curl_c/v1/exec" -d '{"service":"nextcloud","argv":["php","occ","files:scan","slow3"]}' >"$work/d1" &
d1=$!
for _ in $(seq 1 100); do in_target slow3 && break; sleep 0.1; done
kill -TERM "$drain_pid"
wait "$d1"
check "SIGTERM during a 3 s scan (drain 30 s): the scan finishes, succeeded" \
  sh -c "tail -1 '$work/d1' | grep -q '\"outcome\":\"succeeded\"'"
wait "$drain_pid"
rc=$?
check "... and the agent exits 0" test "$rc" = 0

# ---- --max-connections: one more than the cap is answered 503 at once, counted
"$bin" --config "$work/c.json" --listen 127.0.0.1:$((port + 3)) --max-connections 2 2>"$work/cap.log" &
pids+=($!)
curl_cap=http://127.0.0.1:$((port + 3))
for _ in $(seq 1 50); do curl -sf "$curl_cap/healthz" >/dev/null && break; sleep 0.1; done
exec 5<>/dev/tcp/127.0.0.1/$((port + 3)) 6<>/dev/tcp/127.0.0.1/$((port + 3)) # two idle connections: the cap
sleep 0.3
code=$(curl -s -m 5 -o "$work/cap.body" -w '%{http_code}' "$curl_cap/healthz")
check "over --max-connections: 503 ($code), a JSON error" sh -c "[ $code = 503 ] && grep -q 'maximum of connections' '$work/cap.body'"
exec 5>&- 6>&-
for _ in $(seq 1 50); do curl -sf "$curl_cap/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$curl_cap/metrics" >"$work/cap.metrics"
check "once they close: served again, the refusal counted in /metrics" sh -c "
  grep -qx 'nextprism_agent_connections_refused_total 1' '$work/cap.metrics' &&
  grep -qx 'nextprism_agent_connections_max 2' '$work/cap.metrics' &&
  grep -Eqx 'nextprism_agent_connections_open [12]' '$work/cap.metrics' && promtool check metrics <'$work/cap.metrics'"

# ---- the Python client (examples/python/nextprism_client.py), standard library only
"$bin" --config "$work/c.json" --listen 127.0.0.1:$((port + 2)) 2>"$work/py-agent.log" &
pids+=($!)
purl=http://127.0.0.1:$((port + 2))
for _ in $(seq 1 50); do curl -sf "$purl/healthz" >/dev/null && break; sleep 0.1; done
client=$(cd "$(dirname "$0")/../../examples/python" && pwd)
cat >"$work/client.py" <<PY
import sys, time
sys.path.insert(0, "$client")
from nextprism_client import Client, Refused
agent = Client("$purl")
assert agent.ready()
# A slow scan: its events arrive while it runs, started before its output.
run = agent.exec("nextcloud", ["php", "occ", "files:scan", "-v", "slow3"])
kinds, first_output_at = [], None
t0 = time.monotonic()
for e in run:
    kinds.append(e["event"])
    if e["event"] == "stdout" and first_output_at is None:
        first_output_at = time.monotonic() - t0
done_at = time.monotonic() - t0
assert kinds[0] == "started" and kinds[-1] == "finished" and "progress" in kinds, kinds
assert first_output_at is not None and first_output_at < done_at - 1, (first_output_at, done_at)
assert run.finished["outcome"] == "succeeded" and run.finished["files"] == 3, run.finished
assert agent.run(run.id)["outcome"] == "succeeded"
# A refusal raises, naming the rule.
try:
    agent.exec("nextcloud", ["php", "occ", "config:list"])
    raise AssertionError("not refused")
except Refused as e:
    assert e.status == 403 and "is not allowed for nextcloud" in e.error, e
# cancel() stops it in the target; the stream ends cancelled.
run = agent.exec("nextcloud", ["php", "occ", "files:scan", "slow30"])
for e in run:
    if e["event"] == "started":
        assert agent.cancel(run.id)["cancelled_by"] == "DELETE"
assert run.finished["outcome"] == "cancelled", run.finished
print("ok")
PY
check "the Python client: a scan's events as they come, a refusal raised, cancel()" python3 "$work/client.py"
check "after cancel() the scan is gone from the target within 10 s" gone_from_target slow30
python3 "$client/nextprism_client.py" --url "$purl" nextcloud php occ status >"$work/py.events"; rc=$?
check "nextprism_client.py as a tool: exit 0 and a finished event (rc $rc)" sh -c "[ $rc = 0 ] && tail -1 '$work/py.events' | grep -q '\"outcome\": \"succeeded\"'"

# ---- the unix socket: mode 0660, the kernel's word for who called, the Python client over it
usock=$work/agent.sock
"$bin" --config "$work/c.json" --listen off --socket "$usock" 2>"$work/unix.log" &
unix_pid=$!
pids+=($unix_pid)
for _ in $(seq 1 50); do curl -sf --unix-socket "$usock" http://agent/healthz >/dev/null && break; sleep 0.1; done
check "the socket is mode 0660 ($(stat -c %a "$usock" 2>&1))" test "$(stat -c %a "$usock")" = 660
curl -sN --unix-socket "$usock" -X POST http://agent/v1/exec \
  -d '{"service":"nextcloud","argv":["php","occ","status"]}' >"$work/unix.events"
check "POST /v1/exec over the unix socket: succeeded" \
  sh -c "tail -1 '$work/unix.events' | grep -q '\"outcome\":\"succeeded\"'"
python3 "$client/nextprism_client.py" --url "unix://$usock" nextcloud php occ status >"$work/py-unix.events"; rc=$?
check "the Python client over unix://: exit 0, succeeded (rc $rc)" \
  sh -c "[ $rc = 0 ] && tail -1 '$work/py-unix.events' | grep -q '\"outcome\": \"succeeded\"'"
check "the log names the caller by its uid and pid" \
  sh -c "grep '\"event\":\"run_finished\"' '$work/unix.log' | grep -q '\"peer\":\"unix:uid=$(id -u),pid='"
kill -KILL "$unix_pid"
wait "$unix_pid" 2>/dev/null
"$bin" --config "$work/c.json" --listen off --socket "$usock" 2>>"$work/unix.log" &
unix_pid=$!
pids+=($unix_pid)
for _ in $(seq 1 50); do curl -sf --unix-socket "$usock" http://agent/healthz >/dev/null && break; sleep 0.1; done
check "a socket left by a killed agent is replaced at start" curl -sf --unix-socket "$usock" http://agent/healthz
kill -TERM "$unix_pid"
wait "$unix_pid"
check "a stopped agent removes its socket" test ! -e "$usock"
: >"$work/not-a-socket"
"$bin" --config "$work/c.json" --listen off --socket "$work/not-a-socket" 2>"$work/unix-bad.log"; rc=$?
check "a file that is not a socket at the path: 69, left alone" sh -c "[ $rc = 69 ] && [ -f '$work/not-a-socket' ]"

# ---- the status page, in headless chromium, with only loopback
cat >"$work/page.sh" <<SH
set -u
ip link set lo up
"$bin" --config "$work/c.json" --via direct --listen 127.0.0.1:18189 2>"$work/page-agent.log" &
agent=\$!
for _ in \$(seq 1 50); do curl -sf http://127.0.0.1:18189/healthz >/dev/null && break; sleep 0.1; done
curl -sN -X POST http://127.0.0.1:18189/v1/exec -d '{"service":"nextcloud","argv":["php","occ","status"]}' >/dev/null
curl -sN -X POST http://127.0.0.1:18189/v1/exec -d '{"service":"photoprism","argv":["photoprism","status"]}' >/dev/null
flags="--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-default-apps --user-data-dir=$work/chromium \
  --virtual-time-budget=4000 --window-size=1280,760"
chromium \$flags --dump-dom http://127.0.0.1:18189/ >"$work/dom.html" 2>"$work/chromium.log"
chromium \$flags --screenshot="$out/agent-status.png" http://127.0.0.1:18189/ >>"$work/chromium.log" 2>&1
kill \$agent
SH
rm -f "$out/agent-status.png"
unshare --net bash "$work/page.sh"
check "the status page's DOM lists both runs with their outcome" sh -c "grep -q 'php occ status' '$work/dom.html' &&
  grep -q 'photoprism status' '$work/dom.html' && grep -q \"class=\\\"succeeded\\\"\" '$work/dom.html'"
check "a screenshot of the status page: $out/agent-status.png" sh -c "[ \$(stat -c %s '$out/agent-status.png' 2>/dev/null || echo 0) -gt 10000 ]"

[ "$fails" = 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "nextprism-agent: every check passed"

#!/usr/bin/env bash
# One command for every benchmark row, as root, in about 5-10 minutes:
#
#   benchmarks/run.sh [BUILD_DIR]          (default build-bench; configured if missing)
#
# Starts its own proxy (Debian's sshd, proxy/sshd_config via
# tests/testbed/sshd.sh, the real nextprism-validate as ForceCommand in
# dry-run mode) on 127.0.0.1:$NEXTPRISM_BENCH_PORT (22352), runs the rows in
# interleaved rounds (round r starts r rows further down the list: A B C,
# B C A, ...), one row per process, Google Benchmark JSON per row and round
# under $NEXTPRISM_BENCH_DIR/raw, then benchmarks/report.py writes
# docs/benchmarks.md, docs/benchmarks.json (the summary) and
# docs/benchmarks.png, and (when the agent section ran)
# benchmarks/report_agent.py docs/benchmarks-agent.md and .json; a run of
# the agent section alone (NEXTPRISM_BENCH_ONLY=agent) leaves
# docs/benchmarks.md as it is. Everything it starts is stopped by PID on exit,
# also on failure.
#
#   NEXTPRISM_BENCH_ROUNDS=5      rounds (at least 5 for the report's ratios)
#   NEXTPRISM_BENCH_DIR=DIR       work dir (default /tmp/nextprism-bench)
#   NEXTPRISM_BENCH_DOCKER=1      also the Docker rows and the proxy image's idle
#                                 memory (own dockerd, no Swarm)
#   NEXTPRISM_BENCH_ONLY=LIST     only these sections, comma-separated, of:
#                                 clients profile agent memory proxy validator
#                                 broker discovery docker image (docker and image
#                                 start the dockerd, as NEXTPRISM_BENCH_DOCKER=1
#                                 does; discovery's engine rows run when it is
#                                 up); the report says what it lacks
#   NEXTPRISM_IMAGE_CACHE=DIR     where proxy/build-image.sh keeps the proxy image's
#                                 tar (default $NEXTPRISM_BENCH_DIR/image-cache):
#                                 a cached image is loaded, not built
#   NEXTPRISM_BENCH_IDLE_ROUNDS=3 rounds of the proxy container idle against
#                                 its sshd alone (each settles 8 s)
#   NEXTPRISM_BENCH_HEAVY=0       skip the 128-in-flight and burst rows
#   NEXTPRISM_BENCH_BASELINE_VALIDATOR=FILE  also a proxy-side row with this
#                                 validator build (e.g. an earlier commit's)
#                                 behind /bin/sh, the proxy as it was
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build-bench}")
work=$(realpath -m "${NEXTPRISM_BENCH_DIR:-/tmp/nextprism-bench}")
port=${NEXTPRISM_BENCH_PORT:-22352}
rounds=${NEXTPRISM_BENCH_ROUNDS:-5}
heavy=${NEXTPRISM_BENCH_HEAVY:-1}
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (it starts sshd)" >&2; exit 1; }
only=${NEXTPRISM_BENCH_ONLY:-}
# want SECTION: whether this run measures it.
want() {
  case $1 in
  docker | image) [ -n "$only" ] && [[ ",$only," == *",$1,"* ]] || { [ -z "$only" ] && [ "${NEXTPRISM_BENCH_DOCKER:-0}" = 1 ]; } ;;
  *) [ -z "$only" ] || [[ ",$only," == *",$1,"* ]] ;;
  esac
}
for s in ${only//,/ }; do
  case $s in clients | profile | agent | memory | proxy | validator | broker | discovery | docker | image) ;;
  *) echo "run.sh: unknown section '$s' in NEXTPRISM_BENCH_ONLY" >&2; exit 2 ;; esac
done

[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_floor bench_ssh_transport bench_whitelist bench_docker_exec bench_discovery \
  bench_agent bench_agent_exec nextprism-agent nextprism-validate nextprism-broker -j1 >/dev/null
mkdir -p "$work"
bin=$build/benchmarks
validator=$build/proxy/nextprism-validate
broker=$build/proxy/nextprism-broker

sshd_dir=$work/sshd
raw=$work/raw
rm -rf "$raw"
mkdir -p "$raw" "$sshd_dir"
uptime >"$raw/load-start.txt"
# What was built: the tree may move while the rows run (others commit).
git -C "$root" rev-parse --short HEAD >"$raw/commit.txt"
git -C "$root" status --porcelain --untracked-files=no -- include proxy benchmarks | wc -l >"$raw/dirty.txt"
git -C "$root" status --porcelain --untracked-files=no -- include proxy benchmarks >"$raw/dirty-files.txt"
echo "${only:-all}" >"$raw/sections.txt"

# ---- everything started here is stopped by PID, on any exit.
variant_pid=""
broker_pid=""
docker_started=0
swarm_started=0
cleanup() {
  set +e
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then kill "$broker_pid"; fi
  [ "$docker_started" = 1 ] && DOCKER_HOST=unix://$work/dockerd/docker.sock docker rm -f np-bench-idle >/dev/null 2>&1
  [ "$swarm_started" = 1 ] && DOCKER_HOST=unix://$work/dockerd/docker.sock docker swarm leave --force >/dev/null 2>&1
  ssh -O exit -o ControlPath="$sshd_dir/cm-%C" -p "$port" nextprism@127.0.0.1 >/dev/null 2>&1
  if [ -n "$variant_pid" ] && kill -0 "$variant_pid" 2>/dev/null; then kill "$variant_pid"; fi
  "$root/tests/testbed/sshd.sh" stop "$sshd_dir" >/dev/null 2>&1
  [ -d "$work/sshd-docker" ] && "$root/tests/testbed/sshd.sh" stop "$work/sshd-docker" "$work/dockerd/docker.sock" >/dev/null 2>&1
  [ "$docker_started" = 1 ] && "$root/tests/testbed/dockerd.sh" stop "$work/dockerd" >/dev/null 2>&1
}
trap cleanup EXIT

export NEXTPRISM_SSHD_DIR=$sshd_dir NEXTPRISM_SSHD_PORT=$port

# run_row LABEL ROUND BINARY FILTER [ENV=VALUE...]: one row, one process.
run_row() {
  local label=$1 round=$2 binary=$3 filter=$4
  shift 4
  env "$@" "$binary" --benchmark_filter="$filter" --benchmark_out="$raw/$label.r$round.json" \
    --benchmark_out_format=json >"$raw/$label.r$round.txt" 2>&1 ||
    { echo "run.sh: row $label failed (round $round), continuing:" >&2; tail -3 "$raw/$label.r$round.txt" >&2
      echo "$label round $round: the benchmark exited non-zero" >>"$raw/failed-rows.txt"; }
  # A row that stopped on an error is reported, not fatal: the other rows stand.
  grep -q '"error_occurred": true' "$raw/$label.r$round.json" 2>/dev/null &&
    echo "$label round $round: $(grep -o '"error_message": "[^"]*"' "$raw/$label.r$round.json" | head -1)" \
      >>"$raw/failed-rows.txt"
  return 0
}

# rows_in_rounds ARRAY: LABEL|BINARY|FILTER entries, rotated every round.
rows_in_rounds() {
  local -n rows=$1
  local n=${#rows[@]} r i
  for r in $(seq 0 $((rounds - 1))); do
    for i in $(seq 0 $((n - 1))); do
      IFS='|' read -r label binary filter <<<"${rows[$(((i + r) % n))]}"
      run_row "$label" "$r" "$binary" "$filter"
    done
    echo "run.sh: $1 round $((r + 1))/$rounds done ($(cut -d, -f3- <<<"$(uptime)"))" >&2
    echo "$1 $((r + 1)) $(uptime | sed "s/.*load average: //")" >>"$raw/load-rounds.txt"
  done
}

# start_broker SOCKET PEER_UID GROUP STATE_DIR: a real nextprism-broker
# (dry-run requests need no engine; no stop helper: nothing runs), its
# PID in broker_pid, stopped by PID.
start_broker() {
  mkdir -p "$4/broker-locks"
  DOCKER_HOST=unix:///nonexistent "$broker" --socket "$1" --service nextcloud --peer-uid "$2" --socket-group "$3" \
    --audit-log "$4/broker-audit.log" --lock-dir "$4/broker-locks" --helper-image none 2>>"$work/broker.log" &
  broker_pid=$!
  for _ in $(seq 1 50); do [ -S "$1" ] && break; sleep 0.1; done
  [ -S "$1" ] || { echo "run.sh: the broker did not start: $(tail -3 "$work/broker.log")" >&2; exit 1; }
}
stop_broker() {
  kill "$broker_pid"
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=""
}

# as_session STATE_DIR COMMAND...: COMMAND in the environment sshd gives
# the validator for the rows' command (dry-run, its audit log and locks
# under STATE_DIR, no engine).
as_session() {
  local state=$1
  shift
  SSH_ORIGINAL_COMMAND="php occ files:scan '--path=/alice/files/My Photos'" NEXTPRISM_SERVICE=nextcloud \
    NEXTPRISM_DRY_RUN=1 NEXTPRISM_AUDIT_LOG=$state/audit.log NEXTPRISM_LOCK_DIR=$state \
    DOCKER_HOST=unix:///nonexistent "$@"
}

# ---- 1. The clients against one proxy (validator, dry-run).
if want clients || want profile || want agent || want memory || want proxy; then
  "$root/tests/testbed/sshd.sh" start "$sshd_dir" "$port" "$validator" none dry-run
fi
T=$bin/bench_ssh_transport F=$bin/bench_floor
ssh_rows=(
  "floor.k1|$F|^blocking/k:1/n:300/"
  "multiplexed.k1|$T|^pooled<nextprism::multiplexed>/k:1/n:300/"
  "exclusive.k1|$T|^pooled<nextprism::exclusive>/k:1/n:300/"
  "fresh_libssh2.k1|$T|^fresh_connection/k:1/n:20/"
  "openssh_controlmaster.k1|$T|^openssh_row/controlmaster/k:1/n:100/"
  "openssh_fresh.k1|$T|^openssh_row/fresh/k:1/n:20/"
  "paramiko.k1|$T|^paramiko/reused_connection/k:1/n:200/"
  "paramiko_fresh.k1|$T|^paramiko/fresh_connection/k:1/n:20/"
  "floor.k8|$F|^multi/k:8/n:800/"
  "multiplexed.k8|$T|^pooled<nextprism::multiplexed>/k:8/n:800/"
  "exclusive.k8|$T|^pooled<nextprism::exclusive>/k:8/n:800/"
  "floor.k32|$F|^multi/k:32/n:1000/"
  "multiplexed.k32|$T|^pooled<nextprism::multiplexed>/k:32/n:1000/"
  "exclusive.k32|$T|^pooled<nextprism::exclusive>/k:32/n:1000/"
)
if [ "$heavy" = 1 ]; then
  ssh_rows+=(
    "floor.k128|$F|^multi/k:128/n:1000/"
    "multiplexed.k128|$T|^pooled<nextprism::multiplexed>/k:128/n:1000/"
    "floor.burst|$F|^multi/k:35/n:1000/burst:1/"
    "multiplexed.burst|$T|^pooled<nextprism::multiplexed>/k:35/n:1000/burst:1/"
    "exclusive.burst|$T|^pooled<nextprism::exclusive>/k:35/n:1000/burst:1/"
  )
fi
if want clients; then rows_in_rounds ssh_rows; fi

# ---- 1b. Profiles of the 8-in-flight rows (not timed, not in the tables'
# figures): system calls per command (strace -f -c) for the floor and the
# multiplexed pool, and where the pool's client CPU goes (perf, by DSO).
if want profile && [ "${NEXTPRISM_BENCH_PROFILE:-1}" = 1 ]; then
  for row in "floor.k8|$F|^multi/k:8/n:800/" "multiplexed.k8|$T|^pooled<nextprism::multiplexed>/k:8/n:800/"; do
    IFS='|' read -r label binary filter <<<"$row"
    strace -f -c -o "$raw/profile-strace.$label.txt" "$binary" --benchmark_filter="$filter" >/dev/null 2>&1 || true
    if command -v perf >/dev/null; then
      perf record -F 1999 -o "$work/perf.$label.data" -- "$binary" --benchmark_filter="$filter" >/dev/null 2>&1 &&
        perf report -i "$work/perf.$label.data" --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' |
        head -15 >"$raw/profile-perf.$label.txt" || true
      perf report -i "$work/perf.$label.data" --comm "$(basename "$binary" | cut -c1-15)" --no-children --sort sym \
        --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 >"$raw/profile-perfsym.$label.txt" || true
    fi
  done
  echo "run.sh: profiles done" >&2
fi
ssh -O exit -o ControlPath="$sshd_dir/cm-%C" -p "$port" nextprism@127.0.0.1 >/dev/null 2>&1 || true

# ---- 1d. The agent (issue 21; here, before 1c, which stops this sshd):
# nextprism-agent serving POST /v1/exec against the same executor in the
# benchmark's own process, both through this proxy (agent_exec.cpp: one
# agent process per row, on a free loopback port, stopped by PID), at 1
# and 32 in flight, and 1,000 requests at once with the agent's memory;
# then its GET /metrics render (agent.cpp) once, 5 repetitions.
# benchmarks/report_agent.py writes docs/benchmarks-agent.md from them.
if want agent; then
  A=$bin/bench_agent_exec
  agent_rows=(
    "agent_inprocess.k1|$A|^inprocess/k:1/n:300/"
    "agent_http.k1|$A|^http/k:1/n:300/"
    "agent_inprocess.k32|$A|^inprocess/k:32/n:1000/"
    "agent_http.k32|$A|^http/k:32/n:1000/"
    "agent_burst|$A|^burst/n:1000/"
  )
  NEXTPRISM_BENCH_AGENT_LOG=$work/agent.log rows_in_rounds agent_rows
  "$bin/bench_agent" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_format=json \
    >"$raw/agent_metrics.json" 2>"$raw/agent_metrics.txt" ||
    echo "agent_metrics: the benchmark exited non-zero" >>"$raw/failed-rows.txt"
  { file -b "$build/examples/nextprism-agent"; ldd "$build/examples/nextprism-agent"; } >"$raw/agent-ldd.txt" 2>&1 || true
  echo "run.sh: agent done" >&2
fi

# ---- 1c. Memory. The client's RSS per kept connection and the sshd's PSS
# per connection (the processes it forked for them, summed), after conns
# connections each ran a command, minus before (support.hpp): the
# multiplexed and exclusive pools against the floor loop's bare libssh2
# sessions, one process per row. Against this sshd with /bin/sh as login
# shell and no ForceCommand, so that the pools' command (`sleep 2`) holds
# every connection busy while they open the others (a dry-run decision
# ends first and the pool reuses the connection); the floor runs `true`
# on each connection it opens. Then the validator's peak RSS for one
# dry-run decision (ru_maxrss through /usr/bin/time) against /bin/true's.
if want memory; then
  memory_rows=()
  for c in 1 8 32; do
    memory_rows+=("memory_floor.c$c|$F|^memory/conns:$c/"
      "memory_multiplexed.c$c|$T|^pooled_memory<nextprism::multiplexed>/conns:$c/"
      "memory_exclusive.c$c|$T|^pooled_memory<nextprism::exclusive>/conns:$c/")
  done
  "$root/tests/testbed/sshd.sh" stop "$sshd_dir"
  sed '/^ForceCommand /d' "$sshd_dir/sshd_config" >"$work/sshd_config.memory"
  "$root/tests/testbed/sshd.sh" launch "$sshd_dir" "$work/sshd_config.memory" "$work/sshd.memory.log" /bin/sh
  for _ in $(seq 1 50); do [ -s "$sshd_dir/sshd.pid" ] && break; sleep 0.1; done
  variant_pid=$(cat "$sshd_dir/sshd.pid")
  NEXTPRISM_BENCH_COMMAND=true NEXTPRISM_BENCH_HOLD="sleep 2" rows_in_rounds memory_rows
  kill "$variant_pid"
  for _ in $(seq 1 50); do kill -0 "$variant_pid" 2>/dev/null || break; sleep 0.05; done
  variant_pid=""
  mdir=$work/validator-state-memory
  mkdir -p "$mdir"
  for r in $(seq 0 $((rounds - 1))); do
    for _ in $(seq 1 20); do
      for cmd in "$validator" /bin/true; do
        as_session "$mdir" /usr/bin/time -f "$(basename "$cmd") %M" -a -o "$raw/maxrss.r$r.txt" \
          "$cmd" >/dev/null
      done
    done
    : >"$mdir/audit.log"
  done
  echo "run.sh: memory done" >&2
fi

# ---- 2. The proxy side decomposed: the floor loop (1 in flight) against
# sshd with the validator as the account's login shell (as shipped: sshd
# execs it, `-c` + its own path), then with /bin/sh as the login shell
# (sshd runs `/bin/sh -c <ForceCommand>`) and ForceCommand = the
# validator, /bin/true, and none (the client's `true` through the shell);
# and the validator as login shell handing its decision to a real
# nextprism-broker, as the image ships.
# Same port, one sshd at a time, restarted per row (interleaved).
if want proxy; then
"$root/tests/testbed/sshd.sh" stop "$sshd_dir"
base=$sshd_dir/sshd_config
rt=$(cat "$sshd_dir/runtime_dir")
sed -n 's/^ForceCommand //p' "$base" >"$raw/forcecommand.txt"
cp "$base" "$work/sshd_config.validator"
cp "$base" "$work/sshd_config.sh_validator"
sed 's|^ForceCommand .*|ForceCommand /bin/true|' "$base" >"$work/sshd_config.sh_true"
sed '/^ForceCommand /d' "$base" >"$work/sshd_config.sh_none"
variants=(validator sh_validator sh_true sh_none validator_broker)
# As the image ships: the validator hands its decision to a broker, which
# audits it (dry-run: and answers; nothing runs).
sed "s|^SetEnv .*|& NEXTPRISM_BROKER=$rt/broker.sock|" "$base" >"$work/sshd_config.validator_broker"
start_broker "$rt/broker.sock" "$(id -u nextprism)" "$(id -g nextprism)" "$rt/state"
baseline=${NEXTPRISM_BENCH_BASELINE_VALIDATOR:-}
if [ -n "$baseline" ] && [ -x "$baseline" ]; then
  # Beside the shipped copy, where the proxy account can reach it.
  install -m 0755 "$baseline" "$rt/nextprism-validate-baseline"
  sed "s|^ForceCommand .*|ForceCommand $rt/nextprism-validate-baseline|" "$base" >"$work/sshd_config.sh_baseline"
  variants+=(sh_baseline)
  { echo "$baseline"; file -b "$baseline"; ldd "$baseline" 2>&1; } >"$raw/baseline-validator.txt"
fi
# The login shell each variant's sshd gives the proxy account.
variant_shell() { [[ "$1" == validator* ]] && echo "$rt/nextprism-validate" || echo /bin/sh; }
variant_shell validator >"$raw/login-shell.txt"

start_variant() {
  local v=$1
  rm -f "$sshd_dir/sshd.pid"
  "$root/tests/testbed/sshd.sh" launch "$sshd_dir" "$work/sshd_config.$v" "$work/sshd.$v.log" "$(variant_shell "$v")"
  for _ in $(seq 1 50); do [ -s "$sshd_dir/sshd.pid" ] && break; sleep 0.1; done
  variant_pid=$(cat "$sshd_dir/sshd.pid")
}
stop_variant() {
  kill "$variant_pid"
  for _ in $(seq 1 50); do kill -0 "$variant_pid" 2>/dev/null || break; sleep 0.05; done
  variant_pid=""
}
for r in $(seq 0 $((rounds - 1))); do
  for i in $(seq 0 $((${#variants[@]} - 1))); do
    v=${variants[$(((i + r) % ${#variants[@]}))]}
    start_variant "$v"
    if [ "$v" = sh_none ]; then
      run_row "forcecommand_$v" "$r" "$F" "^blocking/k:1/n:300/" NEXTPRISM_BENCH_COMMAND=true
    else
      run_row "forcecommand_$v" "$r" "$F" "^blocking/k:1/n:300/"
    fi
    stop_variant
  done
done
stop_broker
echo "run.sh: proxy side done" >&2
fi

# ---- 3. The validator alone: start-up + decision (hyperfine, against
# /bin/true in the same run), and the decision in-process.
vdir=$work/validator-state
mkdir -p "$vdir"
if want validator; then
for r in $(seq 0 $((rounds - 1))); do
  cmds=("$validator" /bin/true)
  # Rotate the order every round.
  for _ in $(seq 1 $((r % ${#cmds[@]}))); do cmds=("${cmds[@]:1}" "${cmds[0]}"); done
  as_session "$vdir" \
    hyperfine -N --warmup 30 --runs 400 --output=null --export-json "$raw/validator_startup.r$r.json" \
    "${cmds[@]}" >"$raw/validator_startup.r$r.txt" 2>&1
  : >"$vdir/audit.log"
  "$bin/bench_whitelist" --benchmark_min_time=0.2 --benchmark_out="$raw/whitelist.r$r.json" \
    --benchmark_out_format=json >"$raw/whitelist.r$r.txt" 2>&1
done
if command -v perf >/dev/null; then
  as_session "$vdir" \
    perf stat -r 200 -e task-clock,page-faults,context-switches -o "$raw/profile-perfstat.validator.txt" \
    "$validator" >/dev/null 2>&1 || true
  perf stat -r 200 -e task-clock,page-faults,context-switches -o "$raw/profile-perfstat.true.txt" /bin/true || true
  # Where the validator's start-up + decision goes (by symbol, 300 runs).
  as_session "$vdir" \
    perf record -F 15000 -o "$work/perf.validator.data" -- \
    sh -c "for i in \$(seq 300); do '$validator' >/dev/null; done" >/dev/null 2>&1 &&
    perf report -i "$work/perf.validator.data" --comm nextprism-valid --no-children --sort sym --stdio \
      2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 >"$raw/profile-perfsym.validator.txt" || true
fi
{ file -b "$validator"; ldd "$validator"; } >"$raw/validator-ldd.txt" 2>&1 || true
echo "run.sh: validator done" >&2
fi

# ---- 3b. The broker hop: the validator's start-up + decision handing the
# decision to a real nextprism-broker (--broker: it audits, answers the
# dry run) against the same validator deciding and auditing alone, and
# /bin/true, in one hyperfine run per round (order rotated).
if want broker; then
  bsock=$vdir/broker.sock
  start_broker "$bsock" 0 0 "$vdir"
  for r in $(seq 0 $((rounds - 1))); do
    cmds=("$validator" "$validator --broker $bsock" /bin/true)
    for _ in $(seq 1 $((r % ${#cmds[@]}))); do cmds=("${cmds[@]:1}" "${cmds[0]}"); done
    as_session "$vdir" \
      hyperfine -N --warmup 30 --runs 400 --output=null --export-json "$raw/broker_hop.r$r.json" \
      "${cmds[@]}" >"$raw/broker_hop.r$r.txt" 2>&1
    : >"$vdir/audit.log"
    : >"$vdir/broker-audit.log"
  done
  stop_broker
  echo "run.sh: broker done" >&2
fi

# ---- 3c. Discovery without an engine: the cache's hit, a cached locate,
# a DNS lookup (/etc/hosts). Its engine rows run in section 4's dockerd.
if want discovery; then
  for r in $(seq 0 $((rounds - 1))); do
    "$bin/bench_discovery" --benchmark_min_time=0.2 "--benchmark_filter=map_find_copy|cache_fresh|cached_locate|getaddrinfo_direct|dns_lookup" \
      --benchmark_out="$raw/discovery_local.r$r.json" --benchmark_out_format=json >"$raw/discovery_local.r$r.txt" 2>&1
  done
  echo "run.sh: discovery (local) done" >&2
fi

# ---- 4. Docker: `php occ status` through the direct transport vs through
# the proxy (executing validator) on the same node, interleaved.
if want docker || want image; then
  mkdir -p "$work/cache"
  # Reuse a bootstrapped rootfs if the lead's build has one (read only).
  for t in "$root"/build/testbed/cache/php-base-*.tar; do
    [ -f "$t" ] && [ ! -f "$work/cache/$(basename "$t")" ] && cp "$t" "$work/cache/"
  done
  docker_started=1
  NEXTPRISM_NO_SWARM=1 NEXTPRISM_STANDINS=nextcloud NEXTPRISM_TESTBED_CACHE=$work/cache \
    "$root/tests/testbed/dockerd.sh" start "$work/dockerd"
  sock=$work/dockerd/docker.sock
  # Also for the image: the stand-in container and the socket's group.
  "$root/tests/testbed/sshd.sh" start "$work/sshd-docker" "$port" "$validator" "$sock"
  docker_rows=(
    "docker_direct|$bin/bench_docker_exec|^direct/n:30/"
    "docker_proxied|$bin/bench_docker_exec|^proxied/n:30/"
    "docker_exec_true|$bin/bench_docker_exec|^exec_true/n:30/"
  )
  export DOCKER_HOST=unix://$sock NEXTPRISM_SSHD_DIR=$work/sshd-docker
  if want docker; then rows_in_rounds docker_rows; fi
  # Discovery against a Swarm manager: this engine joins a Swarm of its
  # own (ports beside the default ones, which the tests' engine may hold),
  # with a target service and a proxy service labelled for it; GET round
  # trips on the kept connection, uncached label lookups, first lookups.
  if want discovery; then
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:23770 --data-path-port 23789 >/dev/null
    swarm_started=1
    docker service create --detach --name np-bench-target --restart-condition none \
      nextprism/standin-nextcloud:test >/dev/null
    docker service create --detach --name np-bench-target-proxy --mode global --restart-condition none \
      --label io.nextprism.proxy.target=nextcloud --label io.nextprism.proxy.port="$port" \
      nextprism/standin-nextcloud:test >/dev/null
    for _ in $(seq 1 100); do
      [ "$(docker service ps -q --filter desired-state=running --filter name=np-bench-target np-bench-target np-bench-target-proxy 2>/dev/null | wc -l)" -ge 2 ] &&
        [ "$(docker ps -q --filter label=com.docker.swarm.service.name | wc -l)" -ge 2 ] && break
      sleep 0.3
    done
    for r in $(seq 0 $((rounds - 1))); do
      NEXTPRISM_BENCH_SERVICE=nextcloud NEXTPRISM_BENCH_TARGET=np-bench-target \
        "$bin/bench_discovery" --benchmark_min_time=0.5 "--benchmark_filter=engine_round_trip|swarm_labels" \
        --benchmark_out="$raw/discovery_engine.r$r.json" --benchmark_out_format=json \
        >"$raw/discovery_engine.r$r.txt" 2>&1 ||
        echo "discovery_engine round $r: the benchmark exited non-zero" >>"$raw/failed-rows.txt"
    done
    docker service rm np-bench-target np-bench-target-proxy >/dev/null 2>&1 || true
    docker swarm leave --force >/dev/null 2>&1 || true
    swarm_started=0
    echo "run.sh: discovery (engine) done" >&2
  fi
  # The sshd goes, the port is the image's now; the stand-in stays.
  "$root/tests/testbed/sshd.sh" stop "$work/sshd-docker"
fi

# ---- 4b. The proxy image idle: the real image (proxy/build-image.sh,
# loaded from its cache when built before) run with the stack's
# containment against this engine, left to settle, then its cgroup's
# memory (memory.current, memory.stat anon/file: sampled once a second),
# `docker stats`, and its processes with their RSS and PSS; against the
# same image running its sshd alone (the baseline), in alternating rounds.
if want image; then
  img=$work/image
  rm -rf "$img"
  mkdir -p "$img"
  chmod 0755 "$img"
  tag=nextprism.invalid/proxy:bench
  t0=$(date +%s)
  NEXTPRISM_IMAGE_CACHE=${NEXTPRISM_IMAGE_CACHE:-$work/image-cache} NEXTPRISM_IMAGE_QUIET=1 \
    "$root/proxy/build-image.sh" "$tag" >/dev/null 2>"$raw/image-build.txt"
  echo "$(($(date +%s) - t0))" >"$raw/image-build-seconds.txt"
  ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$img/host_key"
  ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$img/client"
  echo "restrict $(cat "$img/client.pub")" >"$img/authorized_keys"
  chmod 0644 "$img/authorized_keys"
  # The stack's containment, for the proxy and for its baseline.
  contain=(--network host --read-only --tmpfs /run --tmpfs /tmp --cap-drop ALL --cap-add CHOWN --cap-add SETUID
    --cap-add SETGID --cap-add SYS_CHROOT --cap-add KILL
    -v "$img/host_key:/run/secrets/nextprism_host_ed25519_key:ro"
    -v "$img/authorized_keys:/etc/nextprism/authorized_keys:ro")
  # await_idle WHAT CHECK...: until CHECK succeeds in np-bench-idle (10 s);
  # if it never does, the container's log goes to failed-rows.txt and it
  # is removed: no sample of a container that did not start.
  await_idle() {
    local what=$1
    shift
    for _ in $(seq 1 50); do
      docker exec np-bench-idle "$@" >/dev/null 2>&1 && return 0
      sleep 0.2
    done
    { echo "idle $what: not ready in 10 s ($*); its log:"; docker logs np-bench-idle 2>&1 | tail -20; } \
      >>"$raw/failed-rows.txt"
    docker rm -f np-bench-idle >/dev/null
    return 1
  }
  run_proxy() {
    docker run -d --name np-bench-idle "${contain[@]}" \
      -e NEXTPRISM_SERVICE=nextcloud -e NEXTPRISM_PROXY_PORT="$port" -e NEXTPRISM_LISTEN_ADDRESS=127.0.0.1 \
      -e NEXTCLOUD_CONTAINER=np-ssh-nextcloud -v "$sock:/var/run/docker.sock" "$tag" >/dev/null
    await_idle proxy /usr/local/bin/nextprism-proxy health
  }
  # The baseline: the same image's sshd alone, with the configuration the
  # proxy wrote for itself, the same containment, no broker, drainer or
  # shell: what any proxy built on OpenSSH holds before it does anything.
  run_sshd_alone() {
    docker run -d --name np-bench-idle "${contain[@]}" -v "$img/sshd_config:/etc/nextprism-bench/sshd_config:ro" \
      --entrypoint /bin/sh "$tag" \
      -c 'mkdir -p /run/nextprism /run/sshd && exec /usr/sbin/sshd -D -e -f /etc/nextprism-bench/sshd_config' >/dev/null
    await_idle "sshd alone" test -s /run/nextprism/sshd.pid
  }
  # sample_idle OUT: after the settle, the cgroup (memory.current or v1's
  # usage_in_bytes; memory.stat anon, file) once a second, `docker stats`,
  # each process's RSS and PSS (all, anonymous, file-backed), and the
  # mappings of its sshd listener by PSS (the profile of the largest).
  sample_idle() {
    sleep "${NEXTPRISM_BENCH_SETTLE:-8}"
    local cid cg
    cid=$(docker inspect -f '{{.Id}}' np-bench-idle)
    cg=$(find /sys/fs/cgroup -maxdepth 5 -type f \( -name memory.current -o -name memory.usage_in_bytes \) \
      -path "*$cid*" | head -1)
    {
      echo "cgroup $cg"
      for _ in 1 2 3; do
        echo "sample $(cat "$cg") $(awk '$1 == "anon" || $1 == "rss" {printf "anon %s ", $2}
          $1 == "file" || $1 == "cache" {printf "file %s ", $2}' "$(dirname "$cg")/memory.stat")"
        sleep 1
      done
      echo "docker_stats $(docker stats --no-stream --format '{{.MemUsage}}' np-bench-idle)"
      docker top np-bench-idle -o pid,rss,args | tail -n +2 | while read -r pid rss args; do
        echo "process $pid $rss $(awk '$1 == "Pss:" {p = $2} $1 == "Pss_Anon:" {a = $2} $1 == "Pss_File:" {f = $2}
          END {printf "%d %d %d", p, a, f}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0 0 0) $args"
        case $args in *sshd*listener*)
          awk '/^[0-9a-f]+-[0-9a-f]+ / {name = NF >= 6 ? $6 : "[anon]"} $1 == "Pss:" {pss[name] += $2}
            END {for (n in pss) if (pss[n] > 0) printf "mapping %d %s\n", pss[n], n}' "/proc/$pid/smaps" |
            sort -k2,2nr | head -12 ;;
        esac
      done
    } >"$1"
    docker logs np-bench-idle >"${1%.txt}.log" 2>&1 || true
    docker rm -f np-bench-idle >/dev/null
  }
  # The configuration the proxy renders, for the baseline.
  docker rm -f np-bench-idle >/dev/null 2>&1 || true
  if run_proxy; then
    docker exec np-bench-idle cat /run/nextprism/sshd_config >"$img/sshd_config"
    chmod 0644 "$img/sshd_config"
    docker rm -f np-bench-idle >/dev/null
    # One container at a time (two would split the image's shared pages
    # between them), the order alternating per round.
    for r in $(seq 0 $((${NEXTPRISM_BENCH_IDLE_ROUNDS:-3} - 1))); do
      for which in $([ $((r % 2)) -eq 0 ] && echo "proxy sshd" || echo "sshd proxy"); do
        if [ "$which" = proxy ]; then run_proxy && sample_idle "$raw/idle.proxy.r$r.txt"
        else run_sshd_alone && sample_idle "$raw/idle.sshd.r$r.txt"; fi
      done
    done
  fi
  echo "run.sh: image done" >&2
fi

uptime >"$raw/load-end.txt"
if want docker || want image; then
  DOCKER_HOST=unix://$work/dockerd/docker.sock docker rm -f np-ssh-nextcloud >/dev/null 2>&1 || true
fi
# The agent section alone leaves docs/benchmarks.md (report.py) as it is.
if [ "$only" != agent ]; then
  /usr/bin/python3 "$root/benchmarks/report.py" --raw "$raw" --root "$root" --rounds "$rounds"
fi
if want agent; then
  /usr/bin/python3 "$root/benchmarks/report_agent.py" --raw "$raw" --root "$root" --rounds "$rounds"
fi

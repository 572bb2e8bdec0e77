#!/usr/bin/env bash
# A real 3-node Docker Swarm on this one machine, for the multi-node tests:
# three dockerds (Debian's docker.io) A, B and C, each in its own network
# namespace, joined by veth pairs to a bridge that lives in a fourth
# namespace of its own (nothing changes on the host's network). A is the
# manager, B and C join as workers. Each dockerd has its own data-root,
# exec-root, pidfile and socket under DIR, overlay2 storage (vfs where the
# kernel cannot mount an overlay: storage-driver.sh), no bridge, no
# iptables. Images are copied from an engine that has them (docker save |
# docker load, skipped when the image id matches); the stand-in targets and
# the proxies are deployed with docker stack deploy (tests/testbed/
# swarm-targets.yml, stacks/nextcloud-proxy.yaml, stacks/photoprism-proxy.yaml,
# stacks/agent.yaml), Nextcloud and its proxy on B, PhotoPrism and
# its proxy on C by node labels, as an operator would place them; the keys,
# secrets and configs made by scripts/nextprism-keys; the agent on
# a worker, on the attachable overlay nextprism_network.
#
#   swarm.sh start DIR [IMAGE_ENGINE_SOCKET]   start or reuse, deploy, wait until ready
#   swarm.sh stop DIR                          stop everything by PID, remove the namespaces
#   swarm.sh env DIR                           print the addresses and names (shell syntax)
#
# IMAGE_ENGINE_SOCKET: an engine that holds the stand-in images (the ctest
# fixture passes tests/testbed/dockerd.sh's); without it a plain engine is
# started under DIR/builder with dockerd.sh (which builds them, cached) and
# stopped again. The proxy image is built there from proxy/Dockerfile by
# proxy/build-image.sh (cache: NEXTPRISM_IMAGE_CACHE, default the source
# engine's cache: DIR/../cache, or DIR/cache for the builder).
#
# Network: NEXTPRISM_SWARM_NET (default 10.231.0, a /24 that must be unused
# on this host): A .1, B .2, C .3. Namespaces: $NEXTPRISM_SWARM_NAME-hub,
# -a, -b, -c (default npswarm). Node labels: io.nextprism.nextcloud=true on
# B, io.nextprism.photoprism=true on C. Proxies: port 2222 (nextcloud) on
# B, 2223 (photoprism) on C, published in host mode; on the overlay
# nextprism_network (NET+1.0/24) port 2222 at tasks.<target>-proxy. Keys
# under DIR/keys (scripts/nextprism-keys). The agent (stacks/agent.yaml): stack
# npcaller, on a worker, port 8087 of its node; its token in DIR/agent-tokens.
# A caller on node A: nsenter --net=/run/netns/npswarm-a … (DOCKER_HOST=
# unix://DIR/A/docker.sock). Prints timings on stderr; needs root.
set -euo pipefail
action=${1:?start|stop|env}
dir=$(realpath -m "${2:?directory}")
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
net=${NEXTPRISM_SWARM_NET:-10.231.0}
name=${NEXTPRISM_SWARM_NAME:-npswarm}
nodes="a b c"
targets=nptargets
proxies=npproxy
callers=npcaller
t0=$(date +%s.%N)

ns_of() { echo "$name-$1"; }
addr_of() { case $1 in a) echo "$net.1" ;; b) echo "$net.2" ;; c) echo "$net.3" ;; esac; }
upper() { echo "$1" | tr a-z A-Z; }
node_dir() { echo "$dir/$(upper "$1")"; }
sock_of() { echo "$(node_dir "$1")/docker.sock"; }
on() { local n=$1; shift; DOCKER_HOST="unix://$(sock_of "$n")" "$@"; }
in_ns() { local n=$1; shift; nsenter --net="/run/netns/$(ns_of "$n")" "$@"; }
alive() { local p; p="$(node_dir "$1")/dockerd.pid"; [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; }
elapsed() { echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}'; }
say() { [ "${NEXTPRISM_SWARM_QUIET:-0}" = 1 ] || echo "swarm.sh: [$(elapsed) s] $*" >&2; }
die() { echo "swarm.sh: $*" >&2; exit 1; }

print_env() {
  echo "NEXTPRISM_SWARM_NET=$net"
  for n in $nodes; do
    local u
    u=$(upper "$n")
    echo "NEXTPRISM_SWARM_NETNS_$u=$(ns_of "$n")"
    echo "NEXTPRISM_SWARM_ADDR_$u=$(addr_of "$n")"
    echo "NEXTPRISM_SWARM_SOCK_$u=$(sock_of "$n")"
  done
  echo "NEXTPRISM_SWARM_KEYS=$dir/keys"
}

# --- network ----------------------------------------------------------------

range_in_use() { # the /24 is on one of the host's interfaces or routes
  ip -4 -o addr show | awk '{print $4}' | grep -q "^$net\." && return 0
  ip -4 route show | awk '{print $1}' | grep -q "^$net\." && return 0
  return 1
}

setup_network() {
  local hub n ns
  hub=$(ns_of hub)
  if [ ! -e "/run/netns/$hub" ]; then
    range_in_use && die "$net.0/24 is in use on this host: set NEXTPRISM_SWARM_NET"
    ip netns add "$hub"
    ip -n "$hub" link set lo up
    ip -n "$hub" link add br0 type bridge
    ip -n "$hub" link set br0 up
  fi
  for n in $nodes; do
    ns=$(ns_of "$n")
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
      ip -n "$hub" link del "node-$n" 2>/dev/null || true
      ip -n "$hub" link add "node-$n" type veth peer name eth0 netns "$ns"
      ip -n "$hub" link set "node-$n" master br0 up
      ip -n "$ns" addr add "$(addr_of "$n")/24" dev eth0
    fi
    ip -n "$ns" link set eth0 up
    ip -n "$hub" link set "node-$n" up
  done
}

# --- engines ----------------------------------------------------------------

start_dockerd() {
  local n=$1 d driver
  d=$(node_dir "$n")
  alive "$n" && return 0
  mkdir -p "$d"
  driver=$("$here/storage-driver.sh" "$d/data")
  rm -f "$d/docker.sock"
  echo '{}' >"$d/daemon.json" # not the host's /etc/docker/daemon.json
  in_ns "$n" dockerd --config-file "$d/daemon.json" \
    --storage-driver "$driver" --bridge none --iptables=false --ip6tables=false \
    --shutdown-timeout 3 --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    -H "unix://$d/docker.sock" >>"$d/dockerd.log" 2>&1 &
}

wait_dockerd() {
  local n=$1
  for _ in $(seq 1 150); do
    on "$n" docker version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "swarm.sh: dockerd $(upper "$n") did not answer in 30 s; its log:" >&2
  tail -20 "$(node_dir "$n")/dockerd.log" >&2
  exit 1
}

swarm_state() { on "$1" docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
node_id() { on "$1" docker info --format '{{.Swarm.NodeID}}'; }

setup_swarm() {
  local n token a ids state=
  a=$(addr_of a)
  for _ in $(seq 1 50); do
    state=$(swarm_state a)
    [ "$state" = active ] || [ "$state" = inactive ] && break
    sleep 0.2 # pending: a restarted manager is still coming up
  done
  if [ "$state" != active ]; then
    on a docker swarm init --advertise-addr "$a" --listen-addr "$a:2377" >/dev/null
  fi
  # One finished task kept per slot: each keeps its container's layer (under
  # vfs a full copy of its image).
  on a docker swarm update --task-history-limit 1 >/dev/null
  token=$(on a docker swarm join-token -q worker)
  ids=$(on a docker node ls -q)
  for n in b c; do
    state=$(swarm_state "$n")
    if [ "$state" = active ] || [ "$state" = pending ]; then
      # Still a member of this swarm (it reconnects by itself after a restart)?
      grep -qx "$(node_id "$n")" <<<"$ids" && continue
      on "$n" docker swarm leave --force >/dev/null 2>&1 || true
    fi
    on "$n" docker swarm join --token "$token" --advertise-addr "$(addr_of "$n")" \
      --listen-addr "$(addr_of "$n"):2377" "$a:2377" >/dev/null
  done
  # Nodes of earlier incarnations of B or C (their data wiped) linger as down.
  local live
  live=$(for n in $nodes; do node_id "$n"; done)
  for id in $(on a docker node ls -q); do
    grep -qx "$id" <<<"$live" || on a docker node rm --force "$id" >/dev/null 2>&1 || true
  done
}

# node_state N: the manager's view of node N (ready, down, unknown, ...).
node_state() { on a docker node inspect -f '{{.Status.State}}' "$(node_id "$1")" 2>/dev/null || echo absent; }

# What a node says about itself and the last errors of its engine (the
# kernel-parameter noise of a namespaced dockerd left out).
node_diagnostics() {
  local n=$1
  echo "swarm.sh: node $(upper "$n"): manager says '$(node_state "$n")'; itself:" \
    "$(on "$n" docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.Error}}' 2>&1)" >&2
  grep 'level=error' "$(node_dir "$n")/dockerd.log" | grep -v 'kernel parameter' | tail -5 >&2 || true
}

# A worker whose engine restarted reconnects by itself, as a rule within
# seconds. One the manager still reports down after 45 s rejoins, as an
# operator would do it: leave, remove the old node, join with a new ID.
# workers_ready TRIES: whether both workers are ready within TRIES x 0.3 s.
workers_ready() {
  local n all
  for _ in $(seq 1 "$1"); do
    all=1
    for n in b c; do [ "$(node_state "$n")" = ready ] || all=0; done
    [ $all = 1 ] && return 0
    sleep 0.3
  done
  return 1
}

wait_nodes() {
  local n token id
  workers_ready 150 && return 0
  token=$(on a docker swarm join-token -q worker)
  for n in b c; do
    [ "$(node_state "$n")" = ready ] && continue
    node_diagnostics "$n"
    echo "swarm.sh: node $(upper "$n") not ready after 45 s: it rejoins" >&2
    id=$(node_id "$n")
    on "$n" docker swarm leave --force >/dev/null 2>&1 || true
    [ -z "$id" ] || on a docker node rm --force "$id" >/dev/null 2>&1 || true
    on "$n" docker swarm join --token "$token" --advertise-addr "$(addr_of "$n")" \
      --listen-addr "$(addr_of "$n"):2377" "$(addr_of a):2377" >/dev/null
  done
  workers_ready 100 && return 0
  for n in b c; do node_diagnostics "$n"; done
  die "the workers did not become ready"
}

# The placement an operator sets up: a label per target on the node that may
# run it. Re-applied on every start (a test may have drained a node or
# moved a label).
label_nodes() {
  local id
  for n in $nodes; do
    id=$(node_id "$n")
    args=()
    for l in $(on a docker node inspect -f '{{range $k, $v := .Spec.Labels}}{{$k}} {{end}}' "$id"); do
      case $l in io.nextprism.*) args+=(--label-rm "$l") ;; esac
    done
    on a docker node update --availability active "${args[@]}" "$id" >/dev/null
  done
  on a docker node update --label-add io.nextprism.nextcloud=true "$(node_id b)" >/dev/null
  on a docker node update --label-add io.nextprism.photoprism=true "$(node_id c)" >/dev/null
  # The proxies mount their node's socket through a Swarm template with the
  # node ID: all three nodes share this file system and one hostname.
  mkdir -p "$dir/nodes"
  for n in $nodes; do
    ln -sfn "$(node_dir "$n")" "$dir/nodes/$(node_id "$n")"
  done
}

# --- images -----------------------------------------------------------------

image_id() { DOCKER_HOST=$1 docker image inspect -f '{{.Id}}' "$2" 2>/dev/null || true; }

# copy_image ENGINE IMAGE NODES...: docker save | docker load where the id differs.
copy_image() {
  local from=$1 image=$2 want tar=
  shift 2
  want=$(image_id "$from" "$image")
  [ -n "$want" ] || die "image $image is not on the source engine $from"
  for n in "$@"; do
    [ "$(image_id "unix://$(sock_of "$n")" "$image")" = "$want" ] && continue
    if [ -z "$tar" ]; then
      tar=$dir/images.tmp.tar
      DOCKER_HOST=$from docker save -o "$tar" "$image"
    fi
    on "$n" docker load -q -i "$tar" >/dev/null
  done
  [ -z "$tar" ] || rm -f "$tar"
}

# The proxy image, built from proxy/Dockerfile by proxy/build-image.sh on
# the source engine (the nodes' own have no way out to the Debian mirror;
# cached: an unchanged one is neither rebuilt nor redeployed), tagged with
# the hash of its inputs.
proxy_image() {
  local engine=$1 hash
  DOCKER_HOST=$engine NEXTPRISM_IMAGE_QUIET=1 \
    "$source_dir/proxy/build-image.sh" nextprism.invalid/proxy:swarm >/dev/null
  hash=$(DOCKER_HOST=$engine docker image inspect -f '{{index .Config.Labels "nextprism.source"}}' nextprism.invalid/proxy:swarm)
  proxy_tag=nextprism.invalid/proxy:swarm-$hash
  DOCKER_HOST=$engine docker tag nextprism.invalid/proxy:swarm "$proxy_tag"
  DOCKER_HOST=$engine NEXTPRISM_IMAGE_QUIET=1 \
    "$source_dir/proxy/build-image.sh" --agent nextprism.invalid/agent:swarm >/dev/null
  hash=$(DOCKER_HOST=$engine docker image inspect -f '{{index .Config.Labels "nextprism.source"}}' nextprism.invalid/agent:swarm)
  caller_tag=nextprism.invalid/agent:swarm-$hash
  DOCKER_HOST=$engine docker tag nextprism.invalid/agent:swarm "$caller_tag"
}

# Earlier proxy images (those no container uses any more), on every node.
prune_proxy_images() {
  local n old
  for n in $nodes; do
    for old in $(on "$n" docker image ls --format '{{.Repository}}:{{.Tag}}' 'nextprism.invalid/proxy'); do
      case $old in nextprism.invalid/proxy:swarm-*) [ "$old" = "$proxy_tag" ] || on "$n" docker image rm "$old" >/dev/null 2>&1 || true ;; esac
    done
    for old in $(on "$n" docker image ls --format '{{.Repository}}:{{.Tag}}' 'nextprism.invalid/agent'); do
      case $old in nextprism.invalid/agent:swarm-*) [ "$old" = "$caller_tag" ] || on "$n" docker image rm "$old" >/dev/null 2>&1 || true ;; esac
    done
  done
}

# --- keys and stacks --------------------------------------------------------

# The attachable overlay the agent and the proxies share (a
# caller on a worker finds the proxies by Swarm's DNS there). Its subnet is
# fixed, next to the nodes' /24, so that known_hosts can name its tasks.
overlay_subnet() { local last=${net##*.}; echo "${net%.*}.$((last + 1))"; }
make_network() {
  on a docker network inspect nextprism_network >/dev/null 2>&1 && return 0
  on a docker network create --driver overlay --attachable --subnet "$(overlay_subnet).0/24" \
    nextprism_network >/dev/null
}

# The keys as an operator makes them (scripts/nextprism-keys): one host key
# per target, the client key, known_hosts for the nodes' addresses and the
# overlay, the secrets and configs in the Swarm (existing ones kept).
make_keys() {
  DOCKER_HOST=unix://$(sock_of a) "$source_dir/scripts/nextprism-keys" --dir "$dir/keys" --yes --swarm \
    --node "$(addr_of a)" --node "$(addr_of b)" --node "$(addr_of c)" --overlay "$(overlay_subnet).*" \
    init >"$dir/keys.log"
  # The agent's callers: one token, made once (a Docker secret, named by
  # its content: secrets are immutable).
  [ -s "$dir/agent-tokens" ] ||
    printf 'testbed %s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$dir/agent-tokens"
  chmod 600 "$dir/agent-tokens"
  agent_tokens_secret=nextprism_agent_tokens_$(sha256sum <"$dir/agent-tokens" | cut -c1-8)
  on a docker secret inspect "$agent_tokens_secret" >/dev/null 2>&1 ||
    on a docker secret create "$agent_tokens_secret" "$dir/agent-tokens" >/dev/null
  # The agent's executor configuration (a Docker config).
  cat >"$dir/caller.json" <<JSON
{"docker_host": null, "swarm": "on",
 "targets": {"nextcloud": "${targets}_nextcloud", "photoprism": "${targets}_photoprism"},
 "ssh": {"private_key": "/run/secrets/nextprism_client_key", "known_hosts": "/etc/nextprism/known_hosts", "port": 2222},
 "discovery": {"dns_name": "tasks.{service}-proxy"}, "command_timeout_ms": 120000}
JSON
}

# stack_env: the names of the current secrets and configs, and the settings
# of this bed, as `docker stack deploy` reads them.
stack_env() {
  local line
  while read -r line; do [ -n "${line#*=}" ] && echo "$line"; done <"$dir/keys/stack.env"
  echo "NEXTPRISM_PROXY_IMAGE=$proxy_tag"
  echo "NEXTPRISM_AGENT_IMAGE=$caller_tag"
  echo "NEXTPRISM_AGENT_CONFIG=$dir/caller.json"
  echo "NEXTPRISM_AGENT_CONFIG_NAME=nextprism_agent_config_$(sha256sum <"$dir/caller.json" | cut -c1-8)"
  echo "NEXTPRISM_AGENT_TOKENS_SECRET=nextprism_agent_tokens_$(sha256sum <"$dir/agent-tokens" | cut -c1-8)"
  echo "DOCKER_SOCKET=$dir/nodes/{{.Node.ID}}/docker.sock"
  echo "NEXTCLOUD_SERVICE=${targets}_nextcloud"
  echo "PHOTOPRISM_SERVICE=${targets}_photoprism"
}

deploy() {
  local envs
  mapfile -t envs < <(stack_env)
  on a docker stack deploy --resolve-image never -c "$here/swarm-targets.yml" "$targets" >/dev/null 2>"$dir/deploy.err" ||
    { cat "$dir/deploy.err" >&2; exit 1; }
  env "${envs[@]}" DOCKER_HOST="unix://$(sock_of a)" docker stack deploy --resolve-image never \
    -c "$source_dir/stacks/nextcloud-proxy.yaml" -c "$source_dir/stacks/photoprism-proxy.yaml" "$proxies" \
    >/dev/null 2>"$dir/deploy.err" || { cat "$dir/deploy.err" >&2; exit 1; }
  # --prune: a service the stack file no longer has (an older bed's) goes.
  env "${envs[@]}" DOCKER_HOST="unix://$(sock_of a)" docker stack deploy --resolve-image never --prune \
    -c "$source_dir/stacks/agent.yaml" "$callers" >/dev/null 2>"$dir/deploy.err" ||
    { cat "$dir/deploy.err" >&2; exit 1; }
}

# running_on SERVICE: the node IDs of the service's running tasks.
running_on() {
  on a docker service ps -q --filter desired-state=running "$1" 2>/dev/null |
    xargs -r env DOCKER_HOST="unix://$(sock_of a)" docker inspect \
      -f '{{if eq .Status.State "running"}}{{.NodeID}}{{end}}' 2>/dev/null | grep . || true
}

# proxies_current SERVICE NODE...: those nodes, and only they, run one task
# of it, running, of the image just deployed (a redeploy first replaces
# the old ones, node by node).
proxies_current() {
  local service=$1 states n
  shift
  states=$(on a docker service ps -q --filter desired-state=running "$service" 2>/dev/null |
    xargs -r env DOCKER_HOST="unix://$(sock_of a)" docker inspect \
      -f '{{.Status.State}} {{.Spec.ContainerSpec.Image}} {{.NodeID}}' 2>/dev/null) || return 1
  [ "$(grep -c . <<<"$states")" = "$#" ] || return 1
  for n in "$@"; do
    grep -q "^running $proxy_tag.* $(node_id "$n")\$" <<<"$states" || return 1
  done
}

banner() { # banner NODE-FROM ADDRESS PORT: the first bytes the proxy sends
  in_ns "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3 && head -c 8 <&3" 2>/dev/null || true
}

wait_ready() {
  local ready n port b c
  b=$(node_id b) c=$(node_id c)
  # A photoprism task left on another node (a test moved it): back to C.
  if [ -n "$(running_on ${targets}_photoprism)" ] && [ "$(running_on ${targets}_photoprism)" != "$c" ]; then
    on a docker service update --detach --force ${targets}_photoprism >/dev/null
  fi
  for _ in $(seq 1 400); do
    ready=1
    [ "$(running_on ${targets}_nextcloud)" = "$b" ] || ready=0
    [ "$(running_on ${targets}_photoprism)" = "$c" ] || ready=0
    # One proxy per node that may run the target (the labels: B, C).
    proxies_current ${proxies}_nextcloud-proxy b && proxies_current ${proxies}_photoprism-proxy c || ready=0
    [ -n "$(running_on ${callers}_agent)" ] || ready=0
    if [ $ready = 1 ]; then
      [ "$(banner a "$(addr_of b)" 2222)" = "SSH-2.0-" ] || ready=0
      [ "$(banner a "$(addr_of c)" 2223)" = "SSH-2.0-" ] || ready=0
    fi
    [ $ready = 1 ] && return 0
    sleep 0.3
  done
  echo "swarm.sh: the stacks did not become ready in 120 s" >&2
  on a docker service ls >&2
  on a docker service ps --no-trunc ${proxies}_nextcloud-proxy ${targets}_nextcloud ${targets}_photoprism >&2 || true
  for n in $nodes; do node_diagnostics "$n"; done
  exit 1
}

# --- stop -------------------------------------------------------------------

stop_all() {
  local n p pids pidfile
  # A test bed keeps nothing worth a grace period: kill the containers
  # (the stand-ins and proxies would otherwise take their 10 s each).
  for n in $nodes; do
    alive "$n" || continue
    on "$n" timeout 10 sh -c 'docker ps -q | xargs -r docker kill' >/dev/null 2>&1 &
  done
  wait
  # dockerd stops the rest on SIGTERM (--shutdown-timeout 3).
  for n in $nodes; do
    pidfile="$(node_dir "$n")/dockerd.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then kill "$(cat "$pidfile")"; fi
  done
  for _ in $(seq 1 100); do
    alive a || alive b || alive c || break
    sleep 0.2
  done
  # Whatever is left in a node's namespace (a killed dockerd leaves its
  # containerd, shims and host-network containers behind) is ours: by PID.
  for n in $nodes; do
    [ -e "/run/netns/$(ns_of "$n")" ] || continue
    pids=$(ip netns pids "$(ns_of "$n")" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  done
  # Shims that run in the host's namespace, found by their containerd's address.
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "-address $dir/[ABC]/exec/containerd/" &&
      kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  for n in $nodes; do rm -f "$(node_dir "$n")/dockerd.pid"; done
  say "engines stopped"
  # Mounts a dockerd leaves (netns files, shm, secrets), deepest first.
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  for n in $nodes hub; do
    [ -e "/run/netns/$(ns_of "$n")" ] && ip netns del "$(ns_of "$n")"
  done
  return 0
}

case $action in
start)
  [ "$(id -u)" -eq 0 ] || die "needs root (it starts dockerd and creates network namespaces)"
  mkdir -p "$dir"
  setup_network
  for n in $nodes; do start_dockerd "$n"; done
  for n in $nodes; do wait_dockerd "$n"; done
  say "engines up"
  setup_swarm
  wait_nodes
  label_nodes
  say "swarm formed, nodes labelled"
  source=${3:-}
  builder=
  if [ -z "$source" ]; then
    builder=$dir/builder
    NEXTPRISM_NO_SWARM=1 "$here/dockerd.sh" start "$builder"
    source=$builder/docker.sock
  fi
  copy_image "unix://$source" nextprism/standin-nextcloud:test b c
  copy_image "unix://$source" nextprism/standin-photoprism:test b c
  # The cache the source engine's stand-ins use (a builder's is under it).
  NEXTPRISM_IMAGE_CACHE=${NEXTPRISM_IMAGE_CACHE:-$(dirname "${builder:-$dir}")/cache} proxy_image "unix://$source"
  copy_image "unix://$source" "$proxy_tag" a b c
  copy_image "unix://$source" "$caller_tag" a b c
  [ -z "$builder" ] || "$here/dockerd.sh" stop "$builder"
  say "images on every node"
  make_network
  make_keys
  deploy
  wait_ready
  prune_proxy_images
  say "ready: nextcloud and its proxy on B, photoprism and its proxy on C, the agent on a worker"
  ;;
stop)
  stop_all
  [ ! -f "$dir/builder/dockerd.pid" ] || "$here/dockerd.sh" stop "$dir/builder"
  ;;
env) print_env ;;
*) echo "usage: swarm.sh start DIR [IMAGE_ENGINE_SOCKET] | stop DIR | env DIR" >&2; exit 2 ;;
esac

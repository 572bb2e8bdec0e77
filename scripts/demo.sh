#!/usr/bin/env bash
# The main job on the embedded default: a 3-node Docker Swarm on this one
# machine, and commands that cross nodes through the proxies (as root).
#
#  1. three dockerds A, B, C, each in its own network namespace
#     (10.231.0.1-3 by default, NEXTPRISM_SWARM_NET), A the manager, B and C
#     workers (tests/testbed/swarm.sh); stand-in images built locally,
#     nothing pulled;
#  2. the stand-in Nextcloud placed on B and PhotoPrism on C by node labels,
#     the proxy image built from proxy/Dockerfile (base made locally, cached),
#     keys by scripts/nextprism-keys, and the proxies deployed with
#     stacks/nextcloud-proxy.yaml and stacks/photoprism-proxy.yaml (one on
#     each node that may run its target), the agent (nextprism-agent, the
#     executor over HTTP) with stacks/agent.yaml on a worker;
#  3. from node A, `nextprism exec` (the Swarm-aware executor) finds each
#     target's node and the proxy there by their labels and runs
#     whitelisted commands through it over SSH; refusals show the reason;
#  4. C's proxy is killed: Swarm restarts it and the executor's retries
#     carry the next call through;
#  5. node A prints `occ status` from B and `photoprism status` from C.
# Everything it started is stopped at the end (also on failure or Ctrl-C),
# by PID; a second run reuses the build and the cached images.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${NEXTPRISM_BUILD_DIR:-build}
scripts/configure.sh "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target nextprism-cli >/dev/null
build=$(realpath "$build")
demo=$build/demo
swarm=$demo/swarm
cli_bin=$build/examples/nextprism
# The images' cache (proxy/build-image.sh's default place): built once.
export NEXTPRISM_IMAGE_CACHE=${NEXTPRISM_IMAGE_CACHE:-$build/image-cache}

cleanup() {
  echo "== stopping the Swarm (dockerds by PID, namespaces removed)"
  tests/testbed/swarm.sh stop "$swarm" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== 1. three dockerds in their own network namespaces, one Swarm"
tests/testbed/swarm.sh start "$swarm"
eval "$(tests/testbed/swarm.sh env "$swarm")"
on_a() { DOCKER_HOST=unix://$NEXTPRISM_SWARM_SOCK_A "$@"; }

echo "== 2. which node runs what (the nodes share one hostname here: told apart by ID)"
for n in A B C; do
  eval "sock=\$NEXTPRISM_SWARM_SOCK_$n addr=\$NEXTPRISM_SWARM_ADDR_$n"
  id=$(DOCKER_HOST=unix://$sock docker info --format '{{.Swarm.NodeID}}')
  role=$(on_a docker node inspect "$id" --format '{{.Spec.Role}}')
  labels=$(on_a docker node inspect "$id" --format '{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}} {{end}}')
  tasks=$(on_a docker node ps "$id" --filter desired-state=running --format '{{.Name}}' | sed 's/\..*//' | sort -u | tr '\n' ' ')
  echo "node $n ($addr, $role) ${labels:+labels: $labels}"
  echo "    runs: $tasks"
done
echo "   (a proxy runs on each node that may run its target, by the same label:"
echo "    B for Nextcloud, C for PhotoPrism; the executor uses the one on the node"
echo "    where the target's task runs)"

cat >"$demo/nextprism.json" <<JSON
{"docker_host": "unix://$NEXTPRISM_SWARM_SOCK_A",
 "targets": {"nextcloud": "nptargets_nextcloud", "photoprism": "nptargets_photoprism"},
 "ssh": {"private_key": "$NEXTPRISM_SWARM_KEYS/client_ed25519", "known_hosts": "$NEXTPRISM_SWARM_KEYS/known_hosts"}}
JSON

# A caller on node A: its network namespace, its engine.
from_a() {
  local service=$1
  shift
  echo "\$ (on node A) nextprism exec -v --config nextprism.json $service -- $*"
  local status=0
  nsenter --net="/run/netns/$NEXTPRISM_SWARM_NETNS_A" "$cli_bin" exec -v --config "$demo/nextprism.json" \
    "$service" -- "$@" || status=$?
  echo "(exit $status)"
}

echo "== 3. commands from node A, through the proxy on the target's node"
echo "   (-v: the route; discovery asks A's manager API which node runs the"
echo "    target and which proxy task runs there, then SSH to that proxy)"
from_a nextcloud php occ status
from_a nextcloud php occ files:scan '--path=/alice/files/My Photos'
from_a photoprism photoprism index phone
from_a photoprism photoprism index no-such-folder
echo "   (PhotoPrism logged an error and exited 0: reported as a failure, exit 1)"
from_a nextcloud php occ files:scan alice';' id
from_a photoprism photoprism import originals/2024
from_a nextcloud php occ memories:index --clear

echo "== the audit records on node B's proxy (docker logs of its task)"
DOCKER_HOST=unix://$NEXTPRISM_SWARM_SOCK_B docker ps -q --filter label=com.docker.swarm.service.name=npproxy_nextcloud-proxy |
  head -1 | xargs -r -I{} env DOCKER_HOST=unix://$NEXTPRISM_SWARM_SOCK_B docker logs {} 2>&1 | grep '"decision"' | tail -3

echo "== 4. C's proxy killed: Swarm restarts it, the executor retries"
c_proxy=$(DOCKER_HOST=unix://$NEXTPRISM_SWARM_SOCK_C docker ps -q --filter label=com.docker.swarm.service.name=npproxy_photoprism-proxy | head -1)
DOCKER_HOST=unix://$NEXTPRISM_SWARM_SOCK_C docker kill "$c_proxy" >/dev/null
start=$(date +%s.%N)
from_a photoprism photoprism status
echo "   answered $(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}') s after the kill"

echo "== the agent on a worker (no manager API there): an app's curl, over HTTP to"
echo "   port 8087 of that node; the agent finds tasks.<target>-proxy by Swarm's DNS on"
echo "   the overlay nextprism_network and runs the command through the proxy there"
token=$(awk '{print $2; exit}' "$swarm/agent-tokens")
for n in B C; do
  eval "sock=\$NEXTPRISM_SWARM_SOCK_$n addr=\$NEXTPRISM_SWARM_ADDR_$n"
  agent=$(DOCKER_HOST=unix://$sock docker ps -q --filter label=com.docker.swarm.service.name=npcaller_agent | head -1)
  [ -n "$agent" ] || continue
  for _ in $(seq 1 50); do
    nsenter --net="/run/netns/$NEXTPRISM_SWARM_NETNS_A" curl -sf "http://$addr:8087/readyz" >/dev/null && break
    sleep 0.2
  done
  echo "\$ (on node A) curl -H 'Authorization: Bearer …' -d '{\"service\":\"photoprism\",\"argv\":[\"photoprism\",\"status\"]}' http://$addr:8087/v1/exec"
  nsenter --net="/run/netns/$NEXTPRISM_SWARM_NETNS_A" curl -sN -H "Authorization: Bearer $token" \
    -d '{"service":"photoprism","argv":["photoprism","status"]}' "http://$addr:8087/v1/exec" || true
  echo "   (the agent's status page: http://$addr:8087/#token=… from node A's network)"
done

echo "== 5. node A: occ status from B, photoprism status from C"
from_a nextcloud php occ status --output=json
from_a photoprism photoprism status

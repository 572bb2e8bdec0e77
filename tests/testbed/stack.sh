#!/usr/bin/env bash
# The executor's test bed on the test engine's single-node Swarm: the
# stand-in targets and the proxies deployed with `docker stack deploy`
# (stacks/nextcloud-proxy.yaml and stacks/photoprism-proxy.yaml, keys,
# secrets and configs by scripts/nextprism-keys, the proxy image built from proxy/Dockerfile by
# proxy/build-image.sh, cached under DIR/../cache or NEXTPRISM_IMAGE_CACHE).
#
#   stack.sh start DIR             keys under DIR, image, both stacks, wait for sshd
#   stack.sh stop DIR              remove both stacks
#
# DOCKER_HOST must point at the engine (tests/testbed/dockerd.sh). Ports:
# 22622 (nextcloud proxy), 22623 (photoprism proxy), published in host
# mode (every address of the engine's network namespace).
set -euo pipefail
action=${1:?start|stop}
dir=$(realpath -m "${2:?directory}")
here=$(cd "$(dirname "$0")" && pwd)
: "${DOCKER_HOST:?DOCKER_HOST must point at the test engine}"
targets=nptargets
proxies=npproxy

wait_gone() {
  local ids
  for _ in $(seq 1 150); do
    ids=$(docker ps -q --filter "label=com.docker.stack.namespace=$1") ||
      { echo "stack.sh: the engine does not answer" >&2; return 1; }
    [ -z "$ids" ] && return 0
    sleep 0.2
  done
  echo "stack.sh: containers of stack $1 still running" >&2
  return 1
}

case $action in
start)
  mkdir -p "$dir"
  # The node may run both targets (their proxies' placement), the overlay
  # the stacks attach to, the keys, secrets and configs (scripts/nextprism-keys).
  docker node update --label-add io.nextprism.nextcloud=true --label-add io.nextprism.photoprism=true \
    "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
  docker network inspect nextprism_network >/dev/null 2>&1 ||
    docker network create --driver overlay --attachable nextprism_network >/dev/null
  "$here/../../scripts/nextprism-keys" --dir "$dir" --yes --swarm --node 127.0.0.1 \
    --target nextcloud:22622 --target photoprism:22623 init >"$dir/keys.log"
  NEXTPRISM_IMAGE_CACHE=${NEXTPRISM_IMAGE_CACHE:-$dir/../cache} NEXTPRISM_IMAGE_QUIET=1 \
    "$here/../../proxy/build-image.sh" nextprism.invalid/proxy:test >/dev/null
  docker stack deploy --resolve-image never -c "$here/targets.yml" "$targets" >/dev/null
  sock=${DOCKER_HOST#unix://}
  mapfile -t envs < <(grep -v '=$' "$dir/stack.env")
  env "${envs[@]}" NEXTPRISM_PROXY_IMAGE=nextprism.invalid/proxy:test \
    DOCKER_SOCKET=$sock NEXTCLOUD_SERVICE=${targets}_nextcloud PHOTOPRISM_SERVICE=${targets}_photoprism \
    NEXTCLOUD_PROXY_PORT=22622 PHOTOPRISM_PROXY_PORT=22623 \
    docker stack deploy --resolve-image never -c "$here/../../stacks/nextcloud-proxy.yaml" \
      -c "$here/../../stacks/photoprism-proxy.yaml" "$proxies" >/dev/null
  # Ready when both proxies greet, their tasks are running as the engine
  # reports them (with a healthcheck: after the first healthy check, which is
  # when discovery lists them) and both targets run.
  for _ in $(seq 1 300); do
    ready=1
    for s in nextcloud-proxy photoprism-proxy; do
      [ -n "$(docker service ps --filter desired-state=running --format '{{.CurrentState}}' \
              "${proxies}_$s" 2>/dev/null | grep '^Running')" ] || ready=0
    done
    for port in 22622 22623; do
      banner=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && head -c 8 <&3" 2>/dev/null || true)
      [ "$banner" = "SSH-2.0-" ] || ready=0
    done
    for s in nextcloud photoprism; do
      [ -n "$(docker ps -q --filter "label=com.docker.swarm.service.name=${targets}_$s")" ] || ready=0
    done
    [ $ready = 1 ] && exit 0
    sleep 0.2
  done
  echo "stack.sh: the stacks did not become ready in 60 s" >&2
  docker service ls >&2
  docker service logs "${proxies}_nextcloud-proxy" 2>&1 | tail -20 >&2
  exit 1
  ;;
stop)
  docker stack rm "$proxies" >/dev/null 2>&1 || true
  docker stack rm "$targets" >/dev/null 2>&1 || true
  wait_gone "$proxies" && wait_gone "$targets"
  ;;
*) echo "usage: stack.sh start DIR | stop DIR" >&2; exit 2 ;;
esac

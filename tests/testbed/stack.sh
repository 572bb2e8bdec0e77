#!/usr/bin/env bash
# The executor's test bed on the test engine's single-node Swarm: the
# stand-in targets and the proxies deployed with `docker stack deploy`
# (proxy/stack.yml, the proxy image built from proxy/Dockerfile by
# proxy/build-image.sh, cached under DIR/../cache or NEXTPRISM_IMAGE_CACHE).
#
#   stack.sh start DIR             keys under DIR, image, both stacks, wait for sshd
#   stack.sh stop DIR              remove both stacks
#
# DOCKER_HOST must point at the engine (tests/testbed/dockerd.sh). Ports:
# 22622 (nextcloud proxy), 22623 (photoprism proxy), on 127.0.0.1.
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
  [ -f "$dir/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C nextprism-stack-host -f "$dir/host_ed25519_key"
  [ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nextprism-stack-client -f "$dir/client_ed25519"
  echo "restrict $(cat "$dir/client_ed25519.pub")" >"$dir/authorized_keys"
  : >"$dir/known_hosts"
  for port in 22622 22623; do
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519_key.pub")" >>"$dir/known_hosts"
  done
  NEXTPRISM_IMAGE_CACHE=${NEXTPRISM_IMAGE_CACHE:-$dir/../cache} NEXTPRISM_IMAGE_QUIET=1 \
    "$here/../../proxy/build-image.sh" nextprism/proxy:test >/dev/null
  docker stack deploy -c "$here/targets.yml" "$targets" >/dev/null
  sock=${DOCKER_HOST#unix://}
  NEXTPRISM_PROXY_IMAGE=nextprism/proxy:test \
  NEXTPRISM_HOST_KEY=$dir/host_ed25519_key NEXTPRISM_AUTHORIZED_KEYS=$dir/authorized_keys \
  DOCKER_SOCKET=$sock NEXTCLOUD_SERVICE=${targets}_nextcloud PHOTOPRISM_SERVICE=${targets}_photoprism \
  NEXTCLOUD_PROXY_PORT=22622 PHOTOPRISM_PROXY_PORT=22623 \
    docker stack deploy -c "$here/../../proxy/stack.yml" "$proxies" >/dev/null
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

#!/usr/bin/env bash
# The main job on the embedded default, on this one machine (as root):
#  1. a real dockerd as a single-node Swarm (own sockets under build/demo),
#  2. the stand-in Nextcloud deployed as a Swarm service,
#  3. the proxy: Debian's sshd with proxy/sshd_config and nextprism-validate
#     as its ForceCommand, on 127.0.0.1:22522,
#  4. whitelisted commands through the SSH transport (nextprism-exec), an
#     attack refused, the same command through the direct transport, and
#     the proxy's audit log,
#  5. the Swarm-aware executor: targets and proxies deployed with
#     `docker stack deploy` (proxy/stack.yml, image assembled locally),
#     found by their labels, commands run through the proxy on the
#     target's node (nextprism-run).
# Everything it started is stopped at the end, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${NEXTPRISM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target nextprism-validate nextprism-exec nextprism-direct-exec nextprism-run >/dev/null
build=$(realpath "$build")
demo=$build/demo
port=22522
export DOCKER_HOST=unix://$demo/docker/docker.sock

cleanup() {
  tests/testbed/stack.sh stop "$demo/stack" >/dev/null 2>&1 || true
  docker service rm nextcloud >/dev/null 2>&1 || true
  tests/testbed/sshd.sh stop "$demo/sshd" || true
  tests/testbed/dockerd.sh stop "$demo/docker" || true
}
trap cleanup EXIT

echo "== 1. dockerd, Swarm, stand-in images (built locally, nothing pulled)"
tests/testbed/dockerd.sh start "$demo/docker"
docker info --format 'swarm: {{.Swarm.LocalNodeState}}, node {{.Swarm.NodeID}}'

echo "== 2. the stand-in Nextcloud as a Swarm service"
docker service rm nextcloud >/dev/null 2>&1 || true
docker service create --detach --name nextcloud --network host nextprism/standin-nextcloud:test >/dev/null
for _ in $(seq 1 100); do
  [ -n "$(docker ps -q --filter label=com.docker.swarm.service.name=nextcloud)" ] && break
  sleep 0.2
done
docker service ps nextcloud --format '{{.Name}} {{.CurrentState}}'

echo "== 3. the proxy (sshd + nextprism-validate) on 127.0.0.1:$port"
NEXTPRISM_TARGET=nextcloud tests/testbed/sshd.sh start "$demo/sshd" "$port" \
  "$build/proxy/nextprism-validate" "$demo/docker/docker.sock"

exec_ssh() {
  "$build/examples/nextprism-exec" --proxy "127.0.0.1:$port" --user nextprism \
    --key "$demo/sshd/client_ed25519" --known-hosts "$demo/sshd/known_hosts" nextcloud "$@"
}
run() {
  echo "\$ nextprism-exec ... nextcloud $*"
  local status=0
  exec_ssh "$@" || status=$?
  echo "(exit $status)"
}

echo "== 4. commands through the SSH transport"
run php occ status
run php occ files:scan '--path=/alice/files/My Photos'
run php occ memories:index --user=alice --path=/Photos/
run php occ files:scan alice';' id
run php occ memories:index --clear
echo "\$ nextprism-direct-exec nextcloud php occ status --output=json   (direct transport)"
"$build/examples/nextprism-direct-exec" nextcloud php occ status --output=json

echo "== the proxy's audit log"
cat "$demo/sshd/state/audit.log"

echo "== 5. the Swarm-aware executor: proxies as a stack, found by their labels"
tests/testbed/stack.sh start "$demo/stack" "$build/proxy/nextprism-validate" 2>/dev/null
docker service ls --format '{{.Name}} {{.Mode}} {{.Replicas}}' --filter label=io.nextprism.proxy.target
cat >"$demo/nextprism.json" <<JSON
{"docker_host": "$DOCKER_HOST", "prefer_local": false,
 "containers": {"nextcloud": "nptargets_nextcloud", "photoprism": "nptargets_photoprism"},
 "ssh": {"private_key": "$demo/stack/client_ed25519", "known_hosts": "$demo/stack/known_hosts"}}
JSON
swarm_run() {
  echo "\$ nextprism-run -v nextprism.json swarm $*"
  local status=0
  "$build/examples/nextprism-run" -v "$demo/nextprism.json" swarm "$@" || status=$?
  echo "(exit $status)"
}
swarm_run nextcloud php occ status
swarm_run photoprism photoprism status
swarm_run nextcloud php occ files:scan --all

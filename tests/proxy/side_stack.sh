# A proxy stack of stacks/nextcloud-proxy.yaml beside the test bed's own (its
# image, host key and target), on a port of its own: what the stack tests of
# the proxy's configs share. Sourced, after setting
#   stack_dir  the bed's stack dir (stack.env, keys)    port  this stack's port
#   stack      this stack's name                        side_configs  the Swarm
#                                                       configs it creates
# It defines check, side_deploy, side_rc and until_side_rc, a $work dir, and
# the EXIT trap that removes the stack, its configs and $work.
# shellcheck shell=bash
: "${stack_dir:?}" "${port:?}" "${stack:?}" "${side_configs[@]?}"
stacks=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../stacks" && pwd)
service=${stack}_nextcloud-proxy
work=$(mktemp -d)
fails=0

check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1" >&2; fails=$((fails + 1)); fi
}

side_cleanup() {
  docker stack rm "$stack" >/dev/null 2>&1 || true
  for _ in $(seq 1 150); do
    [ -z "$(docker ps -q --filter "label=com.docker.stack.namespace=$stack")" ] && break
    sleep 0.2
  done
  sleep 1 # the engine frees a config only once the service is gone
  [ ${#side_configs[@]} = 0 ] || docker config rm "${side_configs[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap side_cleanup EXIT

# The bed's names (host key, image, key configs), less those given empty.
mapfile -t side_envs < <(grep -v '=$' "$stack_dir/stack.env")

side_deploy() { # side_deploy [-c COMPOSE...] [--] [VAR=VALUE...]
  local files=(-c "$stacks/nextcloud-proxy.yaml")
  while [ "${1:-}" = -c ]; do files+=(-c "$2"); shift 2; done
  [ "${1:-}" != -- ] || shift
  env "${side_envs[@]}" "$@" NEXTPRISM_PROXY_IMAGE=nextprism.invalid/proxy:test \
    DOCKER_SOCKET="${DOCKER_HOST#unix://}" NEXTCLOUD_SERVICE=nptargets_nextcloud NEXTCLOUD_PROXY_PORT="$port" \
    docker stack deploy --resolve-image never "${files[@]}" "$stack"
}

echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$stack_dir/host_nextcloud_ed25519.pub")" >"$work/known_hosts"
side_rc() { # side_rc KEY COMMAND: its exit status through this stack's proxy, output in $work/out
  ssh -p "$port" -i "$1" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes \
    -o BatchMode=yes -o IdentitiesOnly=yes -o ControlPath=none -o ConnectTimeout=5 nextprism@127.0.0.1 \
    "$2" >"$work/out" 2>&1 && echo 0 || echo $?
}
until_side_rc() { # until_side_rc KEY COMMAND RC: at most 90 s (the proxy up with what was deployed)
  for _ in $(seq 1 180); do
    [ "$(side_rc "$1" "$2")" = "$3" ] && return 0
    sleep 0.5
  done
  return 1
}

side_done() { # the verdict, and the service's tasks when something failed
  [ "$fails" = 0 ] || { echo "$fails check(s) failed" >&2; docker service ps --no-trunc "$service" >&2 || true; exit 1; }
  echo "all checks passed"
}

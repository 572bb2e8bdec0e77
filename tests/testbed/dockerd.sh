#!/usr/bin/env bash
# The tests' Docker engine: a real dockerd from Debian's docker.io, on its
# own socket and directories under DIR, vfs storage, no bridge, no iptables,
# as a single-node Swarm (advertise 127.0.0.1). Images are built locally
# from busybox; nothing is pulled.
#
#   dockerd.sh start DIR   start (or reuse a running one), swarm init, build images
#   dockerd.sh stop DIR    stop it by PID
#   NEXTPRISM_NO_SWARM=1   start without Swarm
#
# Prints nothing but errors on success. Needs root.
set -euo pipefail
action=${1:?start|stop}
dir=$(realpath -m "${2:?directory}")
here=$(cd "$(dirname "$0")" && pwd)
sock=$dir/docker.sock
pidfile=$dir/dockerd.pid
export DOCKER_HOST=unix://$sock

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case $action in
start)
  if [ "$(id -u)" -ne 0 ]; then
    echo "dockerd.sh: the integration tests need root (they start dockerd)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  if ! alive; then
    rm -f "$sock"
    dockerd --storage-driver vfs --bridge none --iptables=false --ip6tables=false \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
      -H "unix://$sock" >"$dir/dockerd.log" 2>&1 &
    started=$!
    for _ in $(seq 1 100); do
      docker version >/dev/null 2>&1 && break
      kill -0 "$started" 2>/dev/null || { echo "dockerd.sh: dockerd exited; its log:" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
      sleep 0.3
    done
    docker version >/dev/null || { echo "dockerd.sh: dockerd did not answer in 30 s" >&2; exit 1; }
  fi
  # NEXTPRISM_NO_SWARM=1: a plain engine (a second one on this host cannot
  # also bind the Swarm port 2377).
  if [ "${NEXTPRISM_NO_SWARM:-0}" != 1 ] &&
     [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  fi
  if ! docker image inspect nextprism/base:test >/dev/null 2>&1; then
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
      [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    mkdir -p "$root/usr/local/bin"
    chmod 755 "$root" "$root/bin" "$root/usr" "$root/usr/local" "$root/usr/local/bin"
    chmod 1777 "$root/tmp"
    tar -C "$root" -c . | docker import - nextprism/base:test >/dev/null
    rm -rf "$root"
  fi
  for standin in nextcloud photoprism; do
    # Rebuilt every start: cheap (COPY only) and always current.
    if ! out=$(docker build -q -t "nextprism/standin-$standin:test" "$here/standins/$standin" 2>&1); then
      echo "dockerd.sh: building the $standin stand-in failed:" >&2
      echo "$out" >&2
      exit 1
    fi
  done
  ;;
stop)
  if alive; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
  # A dockerd that was killed leaves its containerd and shims behind.
  cpid=$dir/exec/containerd/containerd.pid
  if [ -f "$cpid" ] && kill -0 "$(cat "$cpid")" 2>/dev/null; then
    kill "$(cat "$cpid")" 2>/dev/null || true
  fi
  pkill -f "containerd-shim.*$dir/" 2>/dev/null || true
  # A dockerd that was killed leaves mounts behind (network namespaces, its
  # data root bound onto itself, containers' shm): unmount everything under
  # DIR, deepest first, so that the directory can be removed.
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  ;;
*)
  echo "usage: dockerd.sh start|stop DIR" >&2
  exit 2
  ;;
esac

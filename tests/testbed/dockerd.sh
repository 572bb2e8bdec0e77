#!/usr/bin/env bash
# The tests' Docker engine: a real dockerd from Debian's docker.io, on its
# own socket and directories under DIR, overlay2 storage (vfs where the
# kernel cannot mount an overlay: tests/testbed/storage-driver.sh), no bridge, no iptables,
# as a single-node Swarm (advertise 127.0.0.1). Images are built locally
# (busybox; a debootstrapped Debian for the occ stand-in, its rootfs cached
# under the build tree); nothing is pulled.
#
#   dockerd.sh start DIR   start (or reuse a running one), swarm init, build images
#   dockerd.sh stop DIR    stop it by PID
#   NEXTPRISM_NO_SWARM=1   start without Swarm
#   NEXTPRISM_STANDINS="photoprism"  build only these stand-ins (default: both)
#   NEXTPRISM_TESTBED_CACHE=DIR  bootstrapped rootfs and build scratch
#                          (default: DIR/../cache)
#
# Prints nothing but errors on success. Needs root.
set -euo pipefail
action=${1:?start|stop}
dir=$(realpath -m "${2:?directory}")
here=$(cd "$(dirname "$0")" && pwd)
sock=$dir/docker.sock
pidfile=$dir/dockerd.pid
export DOCKER_HOST=unix://$sock
# Bootstrapped rootfs tarballs and build scratch, kept across engines.
cache=${NEXTPRISM_TESTBED_CACHE:-$(dirname "$dir")/cache}

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# The host's Debian mirror, from its apt sources (deb822 or one-line).
apt_mirror() {
  local m
  m=$(awk '/^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == "bookworm") s=1}
           /^$/ {if (s && u != "") {print u; exit} u=""; s=0}
           END {if (s && u != "") print u}' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$m" ] || { echo "dockerd.sh: no bookworm mirror in the apt sources" >&2; return 1; }
  echo "$m"
}

# debootstrap a minbase bookworm with php-cli and php-symfony-console into
# a tarball (about a minute, the packages come from the host's mirror).
bootstrap_php_base() {
  local tarball=$1 root mirror
  mirror=$(apt_mirror)
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  if ! debootstrap --variant=minbase --include="${php_packages// /,}" bookworm "$root" "$mirror" \
      >"$cache/debootstrap.log" 2>&1; then
    echo "dockerd.sh: debootstrap failed; its log ($cache/debootstrap.log):" >&2
    tail -20 "$cache/debootstrap.log" >&2
    umount "$root/proc" "$root/sys" 2>/dev/null || true
    rm -rf "$root"
    exit 1
  fi
  umount "$root/proc" "$root/sys" 2>/dev/null || true
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
  chmod 755 "$root" # mktemp made it 0700: it becomes the image's /
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
}

# build_standin NAME SOURCES BASE: the image nextprism/standin-NAME:test,
# unless its label nextprism.source already holds the sources' hash. The
# photoprism CLI is compiled on the host first (Debian's golang-go and
# golang-github-urfave-cli-dev, GOPATH mode, offline, static).
build_standin() {
  local name=$1 src=$2 base=$3 hash current context out
  hash=$( (echo "$base"; cd "$src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sha256sum | cut -c1-16)
  current=$(docker image inspect -f '{{index .Config.Labels "nextprism.source"}}' \
    "nextprism/standin-$name:test" 2>/dev/null || true)
  [ "$current" = "$hash" ] && return 0
  context=$src
  if [ "$name" = photoprism ]; then
    # The context (binary and folders) is kept for other engines.
    context=$cache/photoprism-$hash
    if [ ! -x "$context/photoprism" ]; then
      rm -rf "$cache"/photoprism-* && mkdir -p "$context"
      cp "$src/Dockerfile" "$context/"
      sh "$src/tree.sh" "$context/tree"
      if ! out=$(cd "$src" && GOPATH=/usr/share/gocode GO111MODULE=off CGO_ENABLED=0 GOFLAGS= \
          GOCACHE="$cache/go-build" go build -trimpath -ldflags='-s -w' -o "$context/photoprism.tmp" main.go 2>&1); then
        echo "dockerd.sh: building the photoprism stand-in CLI failed:" >&2
        echo "$out" >&2
        exit 1
      fi
      mv "$context/photoprism.tmp" "$context/photoprism"
    fi
  fi
  if ! out=$(docker build -q --label "nextprism.source=$hash" --build-arg "BASE=$base" \
      -t "nextprism/standin-$name:test" "$context" 2>&1); then
    echo "dockerd.sh: building the $name stand-in failed:" >&2
    echo "$out" >&2
    exit 1
  fi
}

case $action in
start)
  if [ "$(id -u)" -ne 0 ]; then
    echo "dockerd.sh: the integration tests need root (they start dockerd)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  if ! alive; then
    rm -f "$sock"
    driver=$("$here/storage-driver.sh" "$dir/data")
    dockerd --storage-driver "$driver" --bridge none --iptables=false --ip6tables=false \
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
  # Cached builds: the php base is tagged with a hash of its recipe (and its
  # rootfs kept under $cache, so a wiped engine re-imports it instead of
  # bootstrapping again); each stand-in carries a hash of its sources as
  # the label nextprism.source and is rebuilt only when that changes.
  mkdir -p "$cache"
  standins=${NEXTPRISM_STANDINS:-nextcloud photoprism}
  [[ " $standins " == *" photoprism "* ]] &&
    build_standin photoprism "$here/standins/photoprism" nextprism/base:test
  [[ " $standins " == *" nextcloud "* ]] || exit 0
  php_packages="php-cli php-symfony-console"
  php_hash=$(printf 'debootstrap --variant=minbase bookworm; %s; strip docs v2' "$php_packages" |
    sha256sum | cut -c1-16)
  php_base=nextprism/php-base:$php_hash
  if ! docker image inspect "$php_base" >/dev/null 2>&1; then
    tarball=$cache/php-base-$php_hash.tar
    if [ ! -s "$tarball" ]; then
      bootstrap_php_base "$tarball"
    fi
    docker import "$tarball" "$php_base" >/dev/null
  fi
  build_standin nextcloud "$here/standins/nextcloud" "$php_base"
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

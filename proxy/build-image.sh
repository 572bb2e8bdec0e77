#!/usr/bin/env bash
# Builds the proxy image from proxy/Dockerfile (multi-stage on Debian
# bookworm: the validator compiled from this repository, Debian's
# openssh-server), for a machine without a registry: the base image
# debian:bookworm-slim is made here when the engine does not have it
# (debootstrap --variant=minbase, `docker import` under that tag), then the
# same Dockerfile a user with a registry builds is built with
# `docker build --network host` (apt inside reaches the Debian mirror).
#
#   proxy/build-image.sh [TAG]         build or reuse; prints TAG (default nextprism.invalid/proxy:local)
#   proxy/build-image.sh --agent [TAG]  the agent's image instead (stacks/agent.Dockerfile,
#                                      default nextprism.invalid/agent:local)
#   proxy/build-image.sh --inputs-hash print the hash of what goes into the image
#   proxy/build-image.sh --check-sshd  only the sshd version gate (proxy/check-sshd.sh)
#
# Cached: the image carries the label nextprism.source, a hash of its build
# context (CMakeLists.txt, cmake/, include/, tools/, proxy/; the agent: examples/
# instead of proxy/) and of its base. An
# engine that has an image with that hash is not asked to build again; the
# image is also saved under the cache directory, so another engine (a fresh
# test engine, the Swarm's nodes) loads it instead of building.
#
#   DOCKER_HOST                 the engine (its network must reach the mirror to build)
#   NEXTPRISM_IMAGE_CACHE       cache directory (default: build/image-cache in the checkout)
#   NEXTPRISM_IMAGE_REBUILD=1   build even when cached (e.g. for Debian's security updates)
#
# Needs root for debootstrap (only when the base is made), docker, tar.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/.." && pwd)
if [ "${1:-}" = --check-sshd ]; then
  exec "$here/check-sshd.sh"
fi
cache=${NEXTPRISM_IMAGE_CACHE:-$source_dir/build/image-cache}
base=debian:bookworm-slim
# What makes the base: changing this text makes a new one.
base_recipe="debootstrap --variant=minbase bookworm; debian.sources main+updates+security; slim dpkg excludes v1"
say() { [ "${NEXTPRISM_IMAGE_QUIET:-0}" = 1 ] || echo "build-image.sh: $*" >&2; }
die() { echo "build-image.sh: $*" >&2; exit 1; }
sha() { sha256sum | cut -c1-16; }

# The build context, byte for byte the same for the same files (sorted,
# fixed times and owners): its hash is the cache key.
# (This script is no input: changing it rebuilds nothing.)
context_tar() {
  (cd "$source_dir" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
     --mode=go-w --exclude='*~' --exclude='*.swp' --exclude=proxy/build-image.sh \
     -cf - CMakeLists.txt cmake include tools "${context[@]}")
}

# The host's Debian mirrors (deb822 or one-line sources): "MAIN SECURITY".
apt_mirrors() {
  local main sec
  main=$(awk '/^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == "bookworm") s=1}
              /^$/ {if (s && u != "") {print u; exit} u=""; s=0} END {if (s && u != "") print u}' \
              /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  sec=$(awk '/^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == "bookworm-security") s=1}
             /^$/ {if (s && u != "") {print u; exit} u=""; s=0} END {if (s && u != "") print u}' \
             /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [ -n "$main" ] || main=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$sec" ] || sec=$(awk '$1 == "deb" && $3 == "bookworm-security" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  echo "${main:-http://deb.debian.org/debian} ${sec:-http://deb.debian.org/debian-security}"
}

# bootstrap_base TARBALL: a minbase bookworm as the slim image has it.
bootstrap_base() {
  local tarball=$1 root main sec
  read -r main sec < <(apt_mirrors)
  [ "$(id -u)" = 0 ] || die "making the base image needs root (debootstrap)"
  command -v debootstrap >/dev/null || die "making the base image needs debootstrap"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  say "making $base: debootstrap --variant=minbase bookworm from $main (about a minute)"
  if ! debootstrap --variant=minbase bookworm "$root" "$main" >"$cache/debootstrap.log" 2>&1; then
    umount "$root/proc" "$root/sys" 2>/dev/null || true
    rm -rf "$root"
    tail -20 "$cache/debootstrap.log" >&2
    die "debootstrap failed (log: $cache/debootstrap.log)"
  fi
  umount "$root/proc" "$root/sys" 2>/dev/null || true
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $main
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # As the slim image: no documentation, manuals or translations installed.
  cat >"$root/etc/dpkg/dpkg.cfg.d/nextprism-slim" <<'EXCLUDES'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EXCLUDES
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
  : >"$root/etc/hostname"
  chmod 755 "$root" # mktemp made it 0700: it becomes the image's /
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
}

# The base on this engine: one that is there (pulled by a user who has a
# registry, or made here earlier) is used as it is.
ensure_base() {
  local recipe_hash tarball
  recipe_hash=$(printf '%s' "$base_recipe" | sha)
  if docker image inspect "$base" >/dev/null 2>&1; then
    base_key=$(docker image inspect -f '{{index .Config.Labels "nextprism.base"}}' "$base")
    [ -n "$base_key" ] || base_key=$(docker image inspect -f '{{.Id}}' "$base")
    return 0
  fi
  mkdir -p "$cache"
  tarball=$cache/debian-bookworm-slim-$recipe_hash.tar
  [ -s "$tarball" ] || bootstrap_base "$tarball"
  docker import -c "LABEL nextprism.base=$recipe_hash" -c 'CMD ["bash"]' "$tarball" "$base" >/dev/null
  base_key=$recipe_hash
}

image=proxy dockerfile=proxy/Dockerfile context=(proxy)
if [ "${1:-}" = --agent ]; then
  image=agent dockerfile=stacks/agent.Dockerfile context=(examples stacks/agent.Dockerfile)
  shift
fi
case ${1:-} in
--inputs-hash)
  echo "$( (context_tar | sha256sum; printf '%s' "$base_recipe") | sha)"
  exit 0
  ;;
-*) echo "usage: build-image.sh [--agent] [TAG] | [--agent] --inputs-hash | --check-sshd" >&2; exit 2 ;;
esac
# A name no registry resolves (.invalid, RFC 2606): a node without the
# local copy fails to start the task instead of pulling someone's image
# that would then get the Docker socket; deploy with --resolve-image never.
tag=${1:-nextprism.invalid/$image:local}
# The project's version (the binaries' --version), also the image's label.
version=$(sed -n 's/^project(nextprism VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
[ -n "$version" ] || die "no version in CMakeLists.txt"
docker version >/dev/null 2>&1 || die "no Docker engine at ${DOCKER_HOST:-the default socket}"
mkdir -p "$cache"
ensure_base
context_file=$(mktemp "$cache/context.XXXXXX.tar")
trap 'rm -f "$context_file"' EXIT
context_tar >"$context_file"
hash=$( (sha256sum <"$context_file"; echo "$base_key") | sha)
built=nextprism.invalid/$image:src-$hash
saved=$cache/$image-$hash.tar
if [ "${NEXTPRISM_IMAGE_REBUILD:-0}" != 1 ] &&
   [ "$(docker image inspect -f '{{index .Config.Labels "nextprism.source"}}' "$built" 2>/dev/null)" = "$hash" ]; then
  say "$built is current (inputs unchanged)"
elif [ "${NEXTPRISM_IMAGE_REBUILD:-0}" != 1 ] && [ -s "$saved" ]; then
  say "loading $built from $saved (built earlier)"
  docker load -q -i "$saved" >/dev/null
else
  say "building $built from $dockerfile (apt inside; a few minutes)"
  started=$(date +%s)
  if ! docker build --network host -q -f "$dockerfile" --label "nextprism.source=$hash" \
      --label "org.opencontainers.image.version=$version" -t "$built" - \
      <"$context_file" >"$cache/build-$image.log" 2>&1; then
    tail -30 "$cache/build-$image.log" >&2
    die "docker build failed (log: $cache/build-$image.log; it needs the Debian mirror from the engine's network)"
  fi
  say "built in $(($(date +%s) - started)) s; saving it for other engines"
  rm -f "$cache/$image"-*.tar
  docker save -o "$saved.tmp" "$built" && mv "$saved.tmp" "$saved"
fi
[ "$tag" = "$built" ] || docker tag "$built" "$tag"
echo "$tag"

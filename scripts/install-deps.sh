#!/usr/bin/env bash
# Installs nextprism's build and test dependencies from Debian's packages.
# Idempotent: packages already present are skipped; safe to run twice.
# Daemons shipped by these packages (sshd, dockerd) are never started here:
# the tests start their own, on loopback, and stop them by PID.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libssh2-1-dev nlohmann-json3-dev catch2 libbenchmark-dev
  clang libclang-rt-14-dev
  docker.io openssh-server openssh-client debootstrap busybox-static
  php-cli php-symfony-console golang-go golang-github-urfave-cli-dev
  iproute2 procps util-linux python3 python3-paramiko libcap2-bin
  gnuplot-nox hyperfine
  curl prometheus chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi

# Keep package scripts from starting sshd/dockerd system services.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

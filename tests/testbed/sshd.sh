#!/usr/bin/env bash
# The tests' proxy: Debian's OpenSSH sshd on 127.0.0.1 with the project's
# proxy/sshd_config (only paths, port and environment adapted), generated
# ed25519 keys, and nextprism-validate as the ForceCommand, running against
# the test bed's dockerd.
#
#   sshd.sh start DIR PORT VALIDATOR DOCKER_SOCK [dry-run]
#                                   (re)start, keys kept across runs; DOCKER_SOCK
#                                   "none" with dry-run: a proxy that only decides
#   sshd.sh stop DIR                               stop it by PID
#   sshd.sh launch DIR CONFIG LOG SHELL   start sshd -f CONFIG -E LOG of a
#                          started proxy with SHELL as the account's login
#                          shell (the benchmarks' variants)
#   NEXTPRISM_TARGET=NAME  serve this Swarm service / container instead of
#                          creating the stand-in container np-ssh-nextcloud
#
# Writes DIR/client_ed25519 (+.pub), DIR/known_hosts, DIR/sshd.log.
#
# What the proxy account (not root) must execute or read lives outside the
# build tree, which may sit under a mode-700 home such as /root: the
# validator, its state (audit log, locks) and the engine's socket (bound
# there) are under /var/lib/nextprism-test/PORT (root-owned, 0755);
# DIR/state links to the state, DIR/validator names the validator's path.
set -euo pipefail
action=${1:?start|stop}
dir=$(realpath -m "${2:?directory}")
here=$(cd "$(dirname "$0")" && pwd)
source_config=$here/../../proxy/sshd_config
user=nextprism
pidfile=$dir/sshd.pid

# /var/lib/nextprism-test/PORT for a running proxy, from its own record.
runtime_dir() { [ -f "$dir/runtime_dir" ] && cat "$dir/runtime_dir" || true; }

# launch SHELL SSHD-ARGS...: sshd in a mount namespace of its own whose
# /etc/passwd gives the proxy account SHELL as its login shell. sshd runs
# every command as `SHELL -c <ForceCommand>`; as in the image, SHELL is the
# validator (it accepts exactly `-c` + its own path), so no shell runs
# between sshd and the validator. The host's account keeps its own shell:
# the test proxies of several ports (each its own validator) share it.
launch() {
  local shell=$1 rt pw
  shift
  rt=$(runtime_dir)
  pw=$rt/passwd
  [ -x "$shell" ] || { echo "sshd.sh: login shell $shell is not executable" >&2; return 1; }
  { grep -v "^$user:" /etc/passwd
    getent passwd "$user" | awk -F: -v OFS=: -v shell="$shell" '{ $7 = shell; print }'
  } >"$pw.tmp"
  chmod 0644 "$pw.tmp"
  mv "$pw.tmp" "$pw" # a running sshd keeps the file it bound
  # The bind needs a shell once, here, when sshd starts: not per session.
  unshare --mount --propagation private /bin/bash -c 'mount --bind "$0" /etc/passwd && exec /usr/sbin/sshd "$@"' \
    "$pw" "$@"
}

stop() {
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidfile"
  local rt
  rt=$(runtime_dir)
  if [ -n "$rt" ] && mountpoint -q "$rt/docker.sock" 2>/dev/null; then
    umount "$rt/docker.sock" 2>/dev/null || umount -l "$rt/docker.sock" 2>/dev/null || true
  fi
}

case $action in
start)
  port=${3:?port} validator=${4:?validator} sock=${5:?docker socket} mode=${6:-run}
  extra_env=""
  target=${NEXTPRISM_TARGET:-np-ssh-nextcloud}
  [ "$mode" = dry-run ] && extra_env=" NEXTPRISM_DRY_RUN=1"
  [ "$(id -u)" -eq 0 ] || { echo "sshd.sh: needs root (it starts sshd)" >&2; exit 1; }
  stop
  mkdir -p "$dir" /run/sshd
  chmod 755 "$dir"
  # The proxy's account: a system user; sshd sees the validator as its
  # login shell (launch), the host's passwd keeps /usr/sbin/nologin.
  if ! id "$user" >/dev/null 2>&1; then
    useradd --system --home-dir "/var/lib/$user" --create-home --shell /usr/sbin/nologin "$user"
  fi
  # No password, yet not locked: sshd refuses locked accounts even for keys.
  usermod -p '*' "$user"
  # The validator reads the engine socket (group) and stops timed-out
  # commands by PID (CAP_KILL), as the proxy image grants it.
  rt=/var/lib/nextprism-test/$port
  mkdir -p "$rt"
  chown root:root /var/lib/nextprism-test "$rt"
  chmod 0755 /var/lib/nextprism-test "$rt"
  echo "$rt" >"$dir/runtime_dir"
  install -m 0755 "$validator" "$rt/nextprism-validate.tmp"
  setcap cap_kill+ep "$rt/nextprism-validate.tmp"
  mv "$rt/nextprism-validate.tmp" "$rt/nextprism-validate"
  echo "$rt/nextprism-validate" >"$dir/validator"
  proxy_sock=none
  if [ "$sock" != none ]; then
    chgrp "$user" "$sock" && chmod 660 "$sock"
    # The engine's socket, reachable whatever the directories above it allow.
    proxy_sock=$rt/docker.sock
    [ -e "$proxy_sock" ] || touch "$proxy_sock"
    mount --bind "$sock" "$proxy_sock"
  fi
  mkdir -p "$rt/state"
  chown "$user:$user" "$rt/state"
  chmod 0750 "$rt/state"
  if [ ! -L "$dir/state" ]; then rm -rf "$dir/state"; fi
  ln -sfn "$rt/state" "$dir/state"
  [ -f "$dir/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C nextprism-test-host -f "$dir/host_ed25519_key"
  [ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nextprism-test-client -f "$dir/client_ed25519"
  [ -f "$dir/other_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C not-authorized -f "$dir/other_ed25519"
  # StrictModes checks every directory above authorized_keys: the build tree
  # may sit under a world-writable /tmp, so the file lives under /run.
  keys_dir=/run/nextprism-tests/$port
  mkdir -p "$keys_dir"
  chmod 755 /run/nextprism-tests "$keys_dir"
  echo "restrict $(cat "$dir/client_ed25519.pub")" >"$keys_dir/authorized_keys"
  chmod 644 "$keys_dir/authorized_keys"
  # Revoked keys: one a line (tests append; a missing file refuses every key).
  [ -f "$keys_dir/revoked_keys" ] || : >"$keys_dir/revoked_keys"
  chmod 644 "$keys_dir/revoked_keys"
  ln -sfn "$keys_dir/revoked_keys" "$dir/revoked_keys"
  cp "$keys_dir/authorized_keys" "$dir/authorized_keys" # for the tests to read
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519_key.pub")" >"$dir/known_hosts"
  sed -e "s|^Port .*|Port $port|" \
      -e "s|^ListenAddress .*|ListenAddress 127.0.0.1|" \
      -e "s|^PidFile .*|PidFile $pidfile|" \
      -e "s|^HostKey .*|HostKey $dir/host_ed25519_key|" \
      -e "s|^AuthorizedKeysFile .*|AuthorizedKeysFile $keys_dir/authorized_keys|" \
      -e "s|^RevokedKeys .*|RevokedKeys $keys_dir/revoked_keys|" \
      -e "s|^ForceCommand .*|ForceCommand $rt/nextprism-validate|" \
      -e "s|^SetEnv .*|SetEnv NEXTPRISM_SERVICE=nextcloud DOCKER_HOST=unix://$proxy_sock NEXTPRISM_AUDIT_LOG=$rt/state/audit.log NEXTPRISM_LOCK_DIR=$rt/state NEXTCLOUD_CONTAINER=$target$extra_env|" \
      "$source_config" >"$dir/sshd_config"
  # The target the proxy serves: a stand-in Nextcloud container.
  if [ "$sock" != none ] && [ -z "${NEXTPRISM_TARGET:-}" ]; then
    DOCKER_HOST=unix://$sock docker rm -f np-ssh-nextcloud >/dev/null 2>&1 || true
    DOCKER_HOST=unix://$sock docker run -d --name np-ssh-nextcloud --network none \
      nextprism/standin-nextcloud:test >/dev/null
  fi
  /usr/sbin/sshd -t -f "$dir/sshd_config"
  launch "${NEXTPRISM_PROXY_SHELL:-$rt/nextprism-validate}" -f "$dir/sshd_config" -E "$dir/sshd.log"
  for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || { echo "sshd.sh: sshd did not start:" >&2; tail "$dir/sshd.log" >&2; exit 1; }
  ;;
stop)
  stop
  sock=${3:-}
  [ -n "$sock" ] && DOCKER_HOST=unix://$sock docker rm -f np-ssh-nextcloud >/dev/null 2>&1 || true
  ;;
launch)
  [ "$(id -u)" -eq 0 ] || { echo "sshd.sh: needs root (it starts sshd)" >&2; exit 1; }
  config=${3:?config} log=${4:?log} shell=${5:?login shell}
  [ -n "$(runtime_dir)" ] || { echo "sshd.sh: $dir is not a started proxy" >&2; exit 1; }
  /usr/sbin/sshd -t -f "$config"
  launch "$shell" -f "$config" -E "$log"
  ;;
*) echo "usage: sshd.sh start DIR PORT VALIDATOR DOCKER_SOCK | stop DIR | launch DIR CONFIG LOG SHELL" >&2; exit 2 ;;
esac

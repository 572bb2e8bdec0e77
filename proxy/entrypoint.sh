#!/bin/sh
# The proxy container's entrypoint: writes sshd's configuration from the
# image's template and the service's environment, lets the proxy user use
# the node's Docker socket, and runs sshd in the foreground.
#
#   NEXTPRISM_SERVICE      the target service key (nextcloud | photoprism)
#   NEXTPRISM_PROXY_PORT   the SSH port on the node (host network)
#   <SERVICE>_CONTAINER    the target's Swarm service name (optional)
set -eu
service=${NEXTPRISM_SERVICE:?NEXTPRISM_SERVICE is not set}
port=${NEXTPRISM_PROXY_PORT:-2222}
case $service in *[!a-z0-9_-]*) echo "nextprism-proxy: bad NEXTPRISM_SERVICE" >&2; exit 64 ;; esac
case $port in ''|*[!0-9]*) echo "nextprism-proxy: bad NEXTPRISM_PROXY_PORT" >&2; exit 64 ;; esac
upper=$(echo "$service" | sed 'y/abcdefghijklmnopqrstuvwxyz-/ABCDEFGHIJKLMNOPQRSTUVWXYZ_/')
eval "target=\${${upper}_CONTAINER:-}"
case $target in *[!A-Za-z0-9_.-]*) echo "nextprism-proxy: bad ${upper}_CONTAINER" >&2; exit 64 ;; esac

socket=/var/run/docker.sock
if [ -S "$socket" ]; then
  gid=$(stat -c %g "$socket")
  if [ "$gid" != 0 ] && ! grep -q ":x:$gid:" /etc/group; then
    echo "docker-host:x:$gid:nextprism" >>/etc/group
  elif [ "$gid" = 0 ]; then
    # A root-only socket: the proxy user needs the group to use it.
    chgrp 1000 "$socket" 2>/dev/null && chmod g+rw "$socket" 2>/dev/null || true
  fi
fi

env_line="SetEnv NEXTPRISM_SERVICE=$service DOCKER_HOST=unix://$socket NEXTPRISM_AUDIT_LOG=/var/lib/nextprism/audit.log NEXTPRISM_LOCK_DIR=/var/lib/nextprism"
[ -n "$target" ] && env_line="$env_line ${upper}_CONTAINER=$target"
sed -e "s|^Port .*|Port $port|" -e "s|^SetEnv .*|$env_line|" \
  /etc/nextprism/sshd_config.in >/run/nextprism/sshd_config
exec /usr/sbin/sshd -D -e -f /run/nextprism/sshd_config

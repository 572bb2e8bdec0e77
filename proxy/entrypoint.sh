#!/bin/sh
# The proxy container's entrypoint: checks what it is given, writes sshd's
# configuration from the image's template and the service's environment,
# starts the audit drainer, the broker and sshd, and stops the container
# when any of them ends (Swarm then restarts the task).
#
# Privilege separation: sshd runs nextprism-validate as the account
# `nextprism` (uid 1000), which reaches nothing but the broker's socket.
# The broker (nextprism-broker, uid 101 `nextprism-broker`) is the only
# process in a group of the node's Docker socket and the only writer of the
# audit FIFO; it re-checks, records and runs what validators hand it.
#
#   NEXTPRISM_SERVICE         the target service key (nextcloud | photoprism)
#   NEXTPRISM_PROXY_PORT      the SSH port on the node (host network; 2222)
#   NEXTPRISM_LISTEN_ADDRESS  the address sshd listens on (0.0.0.0; better the
#                             node's own address), or
#   NEXTPRISM_LISTEN_INTERFACE  the interface whose IPv4 address it listens on
#   <SERVICE>_CONTAINER       the target's Swarm service name (optional)
#   /etc/nextprism/whitelist.json  the whitelist (optional: a Swarm config; the
#                             compiled-in default when absent)
#   NEXTPRISM_AUDIT_FILE      also append audit lines to this file (optional,
#                             on a volume), rotated at NEXTPRISM_AUDIT_FILE_MAX_BYTES
#                             (10485760), NEXTPRISM_AUDIT_FILE_KEEP (5) files kept
#   NEXTPRISM_MAX_RUNNING     commands running at once per service (40, see the broker)
#   NEXTPRISM_MAX_PER_KEY     commands running at once per caller key (32)
#   NEXTPRISM_TIMEOUT, NEXTPRISM_OUTPUT_STALL  the broker's deadline (14400 s) and
#                             output-stall limit (300 s)
#   NEXTPRISM_DRAIN_TIMEOUT   on SIGTERM, how long running commands may go on
#                             (20 s; keep it under the stack's stop_grace_period,
#                             30 s, which must also cover stopping the rest)
#
# SIGTERM (docker stop, a rolling update) drains: sshd's listener goes
# first (sessions on open connections go on), the broker answers new
# commands busy, lets running ones finish for NEXTPRISM_DRAIN_TIMEOUT and
# then stops them in the target; when it has ended, the audit drainer
# writes out what is left and the container exits 0.
#
# It never changes anything outside the container: the node's Docker
# socket is used through a group inside the container (its GID, given to
# the broker's account only in /run/nextprism/group, which /etc/group
# links to), or the proxy refuses to start: a socket of group root or
# writable by everyone. Every authorized_keys line must start with
# `restrict`. The root file system may be read-only: everything written
# lives under /run (a tmpfs).
set -eu
die() { echo "nextprism-proxy: $*" >&2; exit 64; }

# The image's healthcheck: sshd and the audit drainer both alive.
if [ "${1:-}" = health ]; then
  for pidfile in /run/nextprism/sshd.pid /run/nextprism/drainer.pid /run/nextprism/broker.pid; do
    [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "not running: $pidfile" >&2; exit 1; }
  done
  [ -p /run/nextprism/audit.fifo ] || { echo "no audit FIFO" >&2; exit 1; }
  [ -S /run/nextprism/broker.sock ] || { echo "no broker socket" >&2; exit 1; }
  exit 0
fi
service=${NEXTPRISM_SERVICE:?NEXTPRISM_SERVICE is not set}
port=${NEXTPRISM_PROXY_PORT:-2222}
listen=${NEXTPRISM_LISTEN_ADDRESS:-}
if [ -z "$listen" ] && [ -n "${NEXTPRISM_LISTEN_INTERFACE:-}" ]; then
  # A global service has one environment for every node: name the
  # interface, each task listens on its own node's address.
  case $NEXTPRISM_LISTEN_INTERFACE in *[!A-Za-z0-9_.-]*) die "bad NEXTPRISM_LISTEN_INTERFACE" ;; esac
  listen=$(ip -4 -o addr show dev "$NEXTPRISM_LISTEN_INTERFACE" 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -1)
  [ -n "$listen" ] || die "no IPv4 address on interface $NEXTPRISM_LISTEN_INTERFACE"
fi
listen=${listen:-0.0.0.0}
max_running=${NEXTPRISM_MAX_RUNNING:-40}
max_per_key=${NEXTPRISM_MAX_PER_KEY:-32}
timeout=${NEXTPRISM_TIMEOUT:-14400}
output_stall=${NEXTPRISM_OUTPUT_STALL:-300}
drain_timeout=${NEXTPRISM_DRAIN_TIMEOUT:-20}
case $service in ''|*[!a-z0-9_-]*) die "bad NEXTPRISM_SERVICE" ;; esac
case $port in ''|*[!0-9]*) die "bad NEXTPRISM_PROXY_PORT" ;; esac
case $listen in ''|*[!0-9a-fA-F.:]*) die "bad NEXTPRISM_LISTEN_ADDRESS (an IPv4 or IPv6 address)" ;; esac
case $max_running in ''|*[!0-9]*) die "bad NEXTPRISM_MAX_RUNNING" ;; esac
case $max_per_key in ''|*[!0-9]*) die "bad NEXTPRISM_MAX_PER_KEY" ;; esac
case $timeout in ''|*[!0-9]*) die "bad NEXTPRISM_TIMEOUT" ;; esac
case $output_stall in ''|*[!0-9]*) die "bad NEXTPRISM_OUTPUT_STALL" ;; esac
case $drain_timeout in ''|*[!0-9]*) die "bad NEXTPRISM_DRAIN_TIMEOUT" ;; esac
upper=$(echo "$service" | sed 'y/abcdefghijklmnopqrstuvwxyz-/ABCDEFGHIJKLMNOPQRSTUVWXYZ_/')
eval "target=\${${upper}_CONTAINER:-}"
case $target in *[!A-Za-z0-9_.-]*) die "bad ${upper}_CONTAINER" ;; esac

# Every key line carries `restrict` (no forwarding, pty, agent, X11, rc),
# first: an option list that does not start with it is refused, not fixed.
keys=/etc/nextprism/authorized_keys
[ -r "$keys" ] || die "$keys is missing (the nextprism_authorized_keys config)"
bad=$(grep -n -v -E '^[[:space:]]*(#|$)' "$keys" | grep -v -E '^[0-9]+:restrict([,[:space:]])' | cut -d: -f1 | tr '\n' ' ' || true)
[ -z "$bad" ] || die "$keys: line(s) ${bad}do not start with 'restrict' (write: restrict[,from=\"...\"] ssh-ed25519 AAAA... comment)"
grep -q -E '^restrict' "$keys" || die "$keys has no key"
[ -r /etc/nextprism/revoked_keys ] || die "/etc/nextprism/revoked_keys is missing (an empty file revokes nothing)"

# The node's Docker socket, used as it is. Its group must grant rw; that
# GID becomes a group of the broker's account inside this container only
# (never of the validator's: it cannot open the socket). Any GID but 0
# works: one that an account of the image already uses is joined, not
# replaced (deleting the image's own nextprism-broker group, 999 like a
# docker-ce host's docker group, made the proxy crash-loop); the
# validator's own group moves out of the way. /etc/passwd and /etc/group
# are links into /run, written here from the image's copies.
socket=/var/run/docker.sock
[ -S "$socket" ] || die "$socket is not a socket: bind the node's Docker socket"
gid=$(stat -c %g "$socket")
mode=$(stat -c %a "$socket")
case $mode in ?6?|?7?) ;; *) die "$socket is mode $mode: its group needs rw (Debian's docker.io: root:docker 0660)" ;; esac
case $mode in *[2367]) die "$socket is mode $mode: writable by every account, the validator's too; the proxy will not use it (make it 0660)" ;; esac
[ "$gid" != 0 ] || die "$socket belongs to group root (gid 0): the proxy will not use or change it; give it a docker group (dockerd --group, the default of Debian's docker.io: root:docker 0660)"
mkdir -p /run/nextprism /run/sshd
chmod 0755 /run/nextprism /run/sshd
moved=
if [ "$gid" = "$(awk -F: '$1 == "nextprism" { print $4 }' /etc/nextprism/passwd.in)" ]; then
  moved=64000
  while [ "$moved" = "$gid" ] || awk -F: -v g="$moved" '$3 == g { found = 1 } END { exit !found }' /etc/nextprism/group.in; do
    moved=$((moved + 1))
  done
fi
awk -F: -v OFS=: -v m="$moved" '$1 == "nextprism" && m != "" { $4 = m } { print }' \
  /etc/nextprism/passwd.in >/run/nextprism/passwd
awk -F: -v OFS=: -v g="$gid" -v m="$moved" '
  $1 == "nextprism" && m != "" { $3 = m }
  $3 == g { joined = 1; if ($1 != "nextprism-broker") $4 = ($4 == "" ? "" : $4 ",") "nextprism-broker" }
  { print }
  END { if (!joined) print "docker-host:x:" g ":nextprism-broker" }' /etc/nextprism/group.in >/run/nextprism/group
chmod 0644 /run/nextprism/passwd /run/nextprism/group
[ "$gid" != "$(id -g nextprism)" ] && ! id -G nextprism | tr ' ' '\n' | grep -qx "$gid" ||
  die "$socket: group $gid is still the validator account's"
id -G nextprism-broker | tr ' ' '\n' | grep -qx "$gid" || die "$socket: the broker's account did not get group $gid"

# State under /run: the locks and slots (the broker's alone: a validator
# cannot hold one), the audit FIFO (the broker may write it, not read it;
# the validator neither), sshd's configuration.
# (chmod before chown: without CAP_FOWNER root cannot chmod what it gave away)
mkdir -p /run/nextprism/locks
chmod 0700 /run/nextprism/locks
chown nextprism-broker:nextprism-broker /run/nextprism/locks
fifo=/run/nextprism/audit.fifo
rm -f "$fifo"
mkfifo -m 0620 "$fifo"
chown root:nextprism-broker "$fifo"
broker_socket=/run/nextprism/broker.sock

# The whitelist: the compiled-in default, or the whitelist config mounted at
# /etc/nextprism/whitelist.json (stacks/*-whitelist.yaml), checked here by the
# validator's own loader: a bad file stops the proxy with its key-path
# error in `docker service logs`. The broker and every session read it.
whitelist=/etc/nextprism/whitelist.json
whitelist_args=
if [ -e "$whitelist" ]; then
  /usr/local/bin/nextprism-validate --check-whitelist --service "$service" --whitelist "$whitelist" >&2 ||
    die "the whitelist config $whitelist is not a whitelist for $service (the line above says why); the proxy does not start"
  whitelist_args="--whitelist $whitelist"
fi

# The validator gets the service and the broker's socket, nothing of the engine.
# Its --timeout (the broker's) bounds its wait for the broker's answer.
env_line="SetEnv NEXTPRISM_SERVICE=$service NEXTPRISM_BROKER=$broker_socket NEXTPRISM_TIMEOUT=$timeout"
[ -z "$whitelist_args" ] || env_line="$env_line NEXTPRISM_WHITELIST=$whitelist"
sed -e "s|^Port .*|Port $port|" -e "s|^ListenAddress .*|ListenAddress $listen|" -e "s|^SetEnv .*|$env_line|" \
  /etc/nextprism/sshd_config.in >/run/nextprism/sshd_config
/usr/sbin/sshd -t -f /run/nextprism/sshd_config

# The audit drainer (root): FIFO → this container's stdout (docker service
# logs) and the optional file. It holds the FIFO before sshd takes callers.
set -- --audit-drain "$fifo"
if [ -n "${NEXTPRISM_AUDIT_FILE:-}" ]; then
  set -- "$@" --audit-file "$NEXTPRISM_AUDIT_FILE" \
    --audit-file-max-bytes "${NEXTPRISM_AUDIT_FILE_MAX_BYTES:-10485760}" \
    --audit-file-keep "${NEXTPRISM_AUDIT_FILE_KEEP:-5}"
fi
/usr/local/bin/nextprism-validate "$@" &
drainer=$!
echo "$drainer" >/run/nextprism/drainer.pid

# The broker: binds its socket as root (group nextprism, 0660: only the
# validator's account reaches it), then becomes nextprism-broker. It alone
# gets the engine's address and the target's name. Its stop helper is a
# container of this container's own image.
rm -f "$broker_socket"
(
  export DOCKER_HOST="unix://$socket" "${upper}_CONTAINER=${target:-$service}"
  exec /usr/local/bin/nextprism-broker --socket "$broker_socket" --service "$service" \
    --user nextprism-broker --peer-uid "$(id -u nextprism)" --socket-group "$(id -g nextprism)" \
    --audit-log "$fifo" --lock-dir /run/nextprism/locks --max-running "$max_running" \
    --max-per-key "$max_per_key" --timeout "$timeout" --output-stall "$output_stall" \
    --drain-timeout "$drain_timeout" $whitelist_args
) &
broker=$!
echo "$broker" >/run/nextprism/broker.pid
i=0
while [ ! -S "$broker_socket" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$broker_socket" ] || { kill "$drainer" "$broker" 2>/dev/null; die "the broker did not start"; }

/usr/sbin/sshd -D -e -f /run/nextprism/sshd_config &
sshd=$!
# The drain (see the top). sshd's sessions are children of their own
# (setsid): the listener's SIGTERM ends only the listener.
drain() {
  trap '' TERM INT
  echo "nextprism-proxy: stopping: no new connections, running commands get ${drain_timeout} s" >&2
  kill "$sshd" 2>/dev/null || true
  kill "$broker" 2>/dev/null || true
  wait "$broker" 2>/dev/null || true
  kill "$drainer" 2>/dev/null || true
  wait "$drainer" 2>/dev/null || true
  echo "nextprism-proxy: stopped" >&2
  exit 0
}
trap drain TERM INT
# PID 1 stays this shell: whichever of the three ends first ends the
# container, so that a dead drainer or broker never leaves sshd serving
# without an audit trail (the broker would refuse anyway: no reader on
# the FIFO; the validator cannot run anything without the broker).
while kill -0 "$drainer" 2>/dev/null && kill -0 "$sshd" 2>/dev/null && kill -0 "$broker" 2>/dev/null; do
  sleep 1
done
ended=sshd
kill -0 "$sshd" 2>/dev/null && ended="the audit drainer or the broker"
kill "$sshd" "$broker" "$drainer" 2>/dev/null || true
echo "nextprism-proxy: $ended ended; stopping" >&2
exit 1

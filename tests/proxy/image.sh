#!/usr/bin/env bash
# The proxy image as deployed: built from proxy/Dockerfile by
# proxy/build-image.sh (cached: reused when its inputs are unchanged), run with the
# stack file's containment (read-only root, tmpfs /run and /tmp, every
# capability dropped but five, host network), against the test bed's
# dockerd. Checks the sshd version gate, the entrypoint's refusals (a
# root-group or world-writable socket, a key line without `restrict`), any
# other socket group (105, 999, 1000) working, that the node's socket
# is left as it was, a command through sshd, the audit line on the
# container's stdout, the healthcheck, privilege separation, commands that
# really stop, the drain on docker stop, and that the container ends when
# its audit drainer does.
#
#   image.sh PORT      (DOCKER_HOST: the test bed's engine; NEXTPRISM_IMAGE_CACHE)
set -euo pipefail
port=${1:?port}
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../proxy/build-image.sh
tag=nextprism.invalid/proxy:image-test
sock=${DOCKER_HOST#unix://}
work=$(mktemp -d /run/nextprism-image-test.XXXXXX) # /run: StrictModes-clean, root-owned
chmod 0755 "$work"
fails=0
# A command as the proxy account with the groups sshd's initgroups gives it,
# by setpriv inside the container. Not `docker exec -u nextprism`: the daemon
# resolves a user name on the host's side of the container's file system,
# where /etc/passwd links into the container's own /run, so the name is unknown.
as_nextprism() { local c=$1; shift; docker exec "$c" setpriv --reuid=nextprism --regid=nextprism --init-groups -- "$@"; }
relays=()
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1" >&2; fails=$((fails + 1)); fi
}
cleanup() {
  docker rm -f np-img-proxy np-img-refuse np-img-nc np-img-gid >/dev/null 2>&1 || true
  [ ${#relays[@]} = 0 ] || kill "${relays[@]}" 2>/dev/null || true
  rm -rf "$work"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT

# ---- the sshd version gate (fake version strings) ----
gate() { NEXTPRISM_SSHD_VERSION=$1 NEXTPRISM_SSHD_DEB_VERSION=$2 "$build" --check-sshd >/dev/null 2>&1; }
check "gate refuses Debian 9.2p1 before deb12u3" \
  sh -c "! out=\$(NEXTPRISM_SSHD_VERSION='OpenSSH_9.2, OpenSSL 3.0.11' NEXTPRISM_SSHD_DEB_VERSION='1:9.2p1-2+deb12u2' '$build' --check-sshd 2>&1) && echo \"\$out\" | grep -q CVE-2024-6387"
check "gate refuses an upstream 9.7p1" sh -c "! NEXTPRISM_SSHD_VERSION='OpenSSH_9.7p1, OpenSSL 3.0.13' NEXTPRISM_SSHD_DEB_VERSION=none '$build' --check-sshd >/dev/null 2>&1"
check "gate refuses 8.5p1" sh -c "! NEXTPRISM_SSHD_VERSION='OpenSSH_8.5p1' NEXTPRISM_SSHD_DEB_VERSION=none '$build' --check-sshd >/dev/null 2>&1"
check "gate accepts Debian 1:9.2p1-2+deb12u3" gate 'OpenSSH_9.2, OpenSSL 3.0.11' '1:9.2p1-2+deb12u3'
check "gate accepts 9.8p1" gate 'OpenSSH_9.8p1, OpenSSL 3.3.1' none
check "gate accepts 8.4p1" gate 'OpenSSH_8.4p1' none
check "gate refuses what it cannot read" sh -c "! NEXTPRISM_SSHD_VERSION='garbage' '$build' --check-sshd >/dev/null 2>&1"

# ---- the image ----
"$build" "$tag" >/dev/null
# Built by proxy/Dockerfile: the gate passes on the image's own sshd (the
# build ran it), which is Debian's package, and no host key is baked in.
check "the image's sshd passes the gate" docker run --rm --network none --entrypoint /usr/local/lib/nextprism/check-sshd.sh "$tag"
check "the image's sshd is Debian's openssh-server" sh -c "docker run --rm --network none --entrypoint dpkg-query '$tag' -W -f='\${Status}' openssh-server | grep -q 'install ok installed'"
check "no host key in the image" sh -c "! docker run --rm --network none --entrypoint sh '$tag' -c 'ls /etc/ssh/ssh_host_*' >/dev/null 2>&1"
check "no setuid or setgid file in the image" sh -c "[ -z \"\$(docker run --rm --network none --entrypoint find '$tag' / -xdev -type f -perm /6000)\" ]"
label_version=$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$tag")
binary_version=$(docker run --rm --network none --entrypoint /usr/local/bin/nextprism-validate "$tag" --version)
check "the image's version label ($label_version) is its binaries' (--version: $binary_version)" \
  sh -c "[ -n '$label_version' ] && echo '$binary_version' | grep -qw -- '$label_version'"
check "the image's name resolves at no registry" sh -c "echo '$tag' | grep -q '^nextprism.invalid/'"
check "the image records its inputs' hash" sh -c "docker image inspect -f '{{index .Config.Labels \"nextprism.source\"}}' '$tag' | grep -q ."
ssh-keygen -q -t ed25519 -N '' -C image-test-host -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -C image-test-client -f "$work/client"
chmod 0600 "$work/host_key"
echo "restrict $(cat "$work/client.pub")" >"$work/authorized_keys"
echo "$(cut -d' ' -f1,2 "$work/client.pub") no-restrict" >"$work/bad_keys"
chmod 0644 "$work/authorized_keys" "$work/bad_keys"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"
docker run -d --name np-img-nc --network none nextprism/standin-nextcloud:test >/dev/null

containment=(--network host --read-only --tmpfs /run --tmpfs /tmp --cap-drop ALL
  --cap-add CHOWN --cap-add SETUID --cap-add SETGID --cap-add SYS_CHROOT --cap-add KILL
  -e NEXTPRISM_SERVICE=nextcloud -e NEXTPRISM_PROXY_PORT="$port" -e NEXTPRISM_LISTEN_ADDRESS=127.0.0.1
  -e NEXTCLOUD_CONTAINER=np-img-nc
  -v "$work/host_key:/run/secrets/nextprism_host_ed25519_key:ro")
refused() { # refused REASON_PATTERN SOCKET KEYS
  docker rm -f np-img-refuse >/dev/null 2>&1 || true
  local out rc=0
  out=$(docker run --name np-img-refuse "${containment[@]}" -v "$2:/var/run/docker.sock" \
    -v "$3:/etc/nextprism/authorized_keys:ro" "$tag" 2>&1) || rc=$?
  [ "$rc" = 64 ] && echo "$out" | grep -q -- "$1" || { echo "rc=$rc: $out" >&2; return 1; }
}

# A root:root socket is refused, and left as it was.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$work/root.sock"
chown 0:0 "$work/root.sock"; chmod 0660 "$work/root.sock"
before=$(stat -c '%u:%g %a %i' "$work/root.sock")
check "a root-group socket is refused" refused "belongs to group root" "$work/root.sock" "$work/authorized_keys"
check "the root-group socket is unchanged" test "$(stat -c '%u:%g %a %i' "$work/root.sock")" = "$before"
check "a key line without restrict is refused" refused "do not start with 'restrict'" "$sock" "$work/bad_keys"

ssh_=(ssh -p "$port" -i "$work/client" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes
  -o BatchMode=yes -o IdentitiesOnly=yes -o ControlPath=none nextprism@127.0.0.1)

# ---- any socket group but root: the engine's socket through a relay of
# each group (a python forwarder: the test bed's own socket stays as it
# is), the proxy started on it, a command run, the validator outside it.
# 999 is the image's own nextprism-broker group (and docker-ce's usual
# docker gid: the entrypoint deleted that group and crash-looped), 1000
# the validator's (it moves), 105 one nobody in the image has.
relay() { # relay GID MODE: a socket of that group and mode forwarding to the engine
  python3 - "$work/relay-$1.sock" "$sock" <<'PY' &
import os, socket, sys, threading
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen(64)
def pump(a, b):
    try:
        while (data := a.recv(65536)):
            b.sendall(data)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
while True:
    client, _ = listener.accept()
    engine = socket.socket(socket.AF_UNIX)
    engine.connect(sys.argv[2])
    threading.Thread(target=pump, args=(client, engine), daemon=True).start()
    threading.Thread(target=pump, args=(engine, client), daemon=True).start()
PY
  relays+=($!)
  for _ in $(seq 1 50); do [ -S "$work/relay-$1.sock" ] && break; sleep 0.1; done
  chown "0:$1" "$work/relay-$1.sock"
  chmod "$2" "$work/relay-$1.sock"
}
relays=()
broker_gid=$(docker run --rm --network none --entrypoint awk "$tag" -F: '$1 == "nextprism-broker" { print $3 }' /etc/nextprism/group.in)
check "the image's broker group is 999 ($broker_gid), as a docker-ce host's docker group" test "$broker_gid" = 999
for g in 105 999 1000; do
  relay "$g" 0660
  docker rm -f np-img-gid >/dev/null 2>&1 || true
  docker run -d --name np-img-gid "${containment[@]}" -v "$work/relay-$g.sock:/var/run/docker.sock" \
    -v "$work/authorized_keys:/etc/nextprism/authorized_keys:ro" "$tag" >/dev/null
  healthy=no
  for _ in $(seq 1 50); do
    docker exec np-img-gid /usr/local/bin/nextprism-proxy health >/dev/null 2>&1 && { healthy=yes; break; }
    sleep 0.2
  done
  check "socket group $g: the proxy starts ($(docker logs np-img-gid 2>&1 | grep nextprism-proxy | head -2 | tr '\n' ' '))" test "$healthy" = yes
  out=$("${ssh_[@]}" "php occ status" 2>&1) || true
  check "socket group $g: a command runs through it" grep -q "installed: true" <<<"$out"
  check "socket group $g: setpriv acts as uid 1000" test "$(as_nextprism np-img-gid id -u 2>&1)" = 1000
  groups=$(as_nextprism np-img-gid id -G 2>&1) || groups="failed: $groups"
  check "socket group $g: the validator's account is not in it (groups: $groups)" \
    sh -c "echo '$groups' | grep -Eqx '[0-9 ]+' && ! echo '$groups' | tr ' ' '\n' | grep -qx '$g'"
  docker rm -f np-img-gid >/dev/null 2>&1 || true
done
relay 998 0666
check "a world-writable socket is refused" refused "writable by every account" "$work/relay-998.sock" "$work/authorized_keys"
kill "${relays[@]}" 2>/dev/null || true

# The real run.
before=$(stat -c '%u:%g %a %i' "$sock")
docker run -d --name np-img-proxy "${containment[@]}" -v "$sock:/var/run/docker.sock" \
  -e NEXTPRISM_DRAIN_TIMEOUT=6 -v "$work/authorized_keys:/etc/nextprism/authorized_keys:ro" "$tag" >/dev/null
wait_healthy() {
  for _ in $(seq 1 50); do
    docker exec np-img-proxy /usr/local/bin/nextprism-proxy health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
wait_healthy || true
check "healthcheck passes" docker exec np-img-proxy /usr/local/bin/nextprism-proxy health
check "the node's socket is unchanged" test "$(stat -c '%u:%g %a %i' "$sock")" = "$before"
out=$("${ssh_[@]}" "php occ status" 2>"$work/ssh.err") || true
check "a command runs through the image's sshd" grep -q "installed: true" <<<"$out" || cat "$work/ssh.err" >&2
check "the audit line is on the container's stdout" sh -c "docker logs np-img-proxy 2>/dev/null | grep -q '\"event\":\"finished\".*\"outcome\":\"exited\"'"
check "the audit line names the key as sshd does" sh -c "docker logs np-img-proxy 2>/dev/null | grep -q '\"key_fp\":\"$(ssh-keygen -lf "$work/client.pub" | cut -d' ' -f2)\"'"
caps=$(docker exec np-img-proxy sh -c 'grep CapEff /proc/1/status' | awk '{print $2}' || true)
check "no NET_RAW (nor anything but the five) in PID 1's capabilities ($caps)" test "$caps" = "00000000000400e1"
check "the root file system is read-only" sh -c "! docker exec np-img-proxy sh -c 'echo x >/etc/x' 2>/dev/null"
check "only the broker may write the audit FIFO, nobody but root read it" sh -c "docker exec np-img-proxy stat -c '%U:%G %a' /run/nextprism/audit.fifo | grep -qx 'root:nextprism-broker 620'"
# ---- privilege separation: the validator's account reaches neither the
# engine nor the audit log; the broker alone does.
sock_gid=$(docker exec np-img-proxy stat -c %g /var/run/docker.sock)
check "the broker runs as nextprism-broker, in the socket's group" sh -c "
  pid=\$(docker exec np-img-proxy cat /run/nextprism/broker.pid) &&
  docker exec np-img-proxy grep -E '^(Uid|Groups):' /proc/\$pid/status | tr -s '\t ' ' ' | grep -q '^Uid: 101 ' &&
  docker exec np-img-proxy grep '^Groups:' /proc/\$pid/status | grep -qw '$sock_gid'"
groups=$(as_nextprism np-img-proxy id -G 2>&1) || groups="failed: $groups"
check "the validator's account is not in the socket's group (groups: $groups)" \
  sh -c "echo '$groups' | grep -Eqx '[0-9 ]+' && ! echo '$groups' | tr ' ' '\n' | grep -qx '$sock_gid'"
# The validator itself, as the account sshd runs it as, told to reach the engine directly: refused by the kernel.
out=$(as_nextprism np-img-proxy env SSH_ORIGINAL_COMMAND='php occ status' DOCKER_HOST=unix:///var/run/docker.sock \
  NEXTPRISM_AUDIT_LOG=/dev/null NEXTPRISM_LOCK_DIR=/tmp NEXTCLOUD_CONTAINER=np-img-nc \
  /usr/local/bin/nextprism-validate --service nextcloud 2>&1) && rc=0 || rc=$?
check "the validator cannot open docker.sock (rc $rc: $out)" sh -c "[ $rc = 75 ] && echo '$out' | grep -q 'ermission denied'"
out=$(as_nextprism np-img-proxy sh -c 'echo forged >/run/nextprism/audit.fifo' 2>&1) && rc=0 || rc=$?
check "the proxy account cannot write the audit FIFO (rc $rc: $out)" sh -c "[ $rc != 0 ] && echo '$out' | grep -q 'ermission denied'"
out=$(as_nextprism np-img-proxy ls /run/nextprism/locks 2>&1) && rc=0 || rc=$?
check "the proxy account cannot touch the locks (rc $rc: $out)" sh -c "[ $rc != 0 ] && echo '$out' | grep -q 'ermission denied'"
check "the broker's socket: root:nextprism 660" sh -c "docker exec np-img-proxy stat -c '%U:%G %a' /run/nextprism/broker.sock | grep -qx 'root:nextprism 660'"
# A live session's validator: uid 1000, no group of the socket.
"${ssh_[@]}" "php occ files:scan -v slow300" >/dev/null 2>&1 &
client=$!
for _ in $(seq 1 50); do
  [ "$(docker top np-img-nc -o pid,args 2>/dev/null | grep -c 'slow300' || true)" -gt 0 ] && break; sleep 0.2
done
status=$(docker exec np-img-proxy sh -c 'for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = nextprism-valid ] && ! grep -q audit-drain $d/cmdline && grep -E "^(Uid|Gid|Groups):" $d/status; done; true' | tr -s '\t ' ' ' || true)
check "a live session's validator runs as 1000 without the socket's group ($status)" sh -c "
  echo '$status' | grep -q '^Uid: 1000 1000 1000 1000' && ! echo '$status' | grep '^Groups:' | grep -qw '$sock_gid'"
# ---- commands that really stop: the client is killed, the helper
# container stops the command in the target, the lock goes with it.
# The engine keeps only its last 256 events: watch the helpers live.
timeout 60 docker events --filter label=io.nextprism.stop-helper --filter event=start --format '{{.Action}}' \
  >"$work/helpers" 2>/dev/null &
watcher=$!
sleep 0.5
kill -9 "$client"
stopped=no
for _ in $(seq 1 50); do
  if [ "$(docker top np-img-nc -o pid,args | grep -c 'slow300' || true)" = 0 ]; then stopped=yes; break; fi
  sleep 0.2
done
check "a killed client's command is gone from the target within 10 s" test "$stopped" = yes
check "its audit record says stopped" sh -c "docker logs np-img-proxy 2>/dev/null | grep -q '\"outcome\":\"stopped\".*client went away'"
out=$("${ssh_[@]}" "php occ files:scan alice" 2>&1) || true
check "the next single-flight command runs" grep -q "Starting scan for user 1 out of 1 (alice)" <<<"$out"
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
helpers=$(grep -c start "$work/helpers" || true)
check "the stop went through one helper container ($helpers started)" test "$helpers" = 1
# AutoRemove runs after the helper exits, asynchronously (under vfs it
# deletes a copy of the image's root file system: seconds when loaded).
for _ in $(seq 1 150); do
  [ -z "$(docker ps -aq --filter label=io.nextprism.stop-helper)" ] && break; sleep 0.2
done
check "no stop helper container is left (auto-removed within 30 s)" test -z "$(docker ps -aq --filter label=io.nextprism.stop-helper)"
# ---- a stop drains: what runs finishes, nothing new starts, and the
# container ends by itself (exit 0), not by the grace period's SIGKILL.
running_in_target() { [ "$(docker top np-img-nc -o pid,args 2>/dev/null | grep -c "$1" || true)" -gt 0 ]; }
until_running() { for _ in $(seq 1 50); do running_in_target "$1" && return 0; sleep 0.2; done; return 1; }
ssh_mux=(ssh -p "$port" -i "$work/client" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes
  -o BatchMode=yes -o IdentitiesOnly=yes -o ControlPath="$work/mux" nextprism@127.0.0.1)
"${ssh_mux[@]}" -o ControlMaster=yes -o ControlPersist=120 -f -N
"${ssh_[@]}" "php occ files:scan -v slow3" >"$work/drain1.out" 2>&1 &
long=$!
until_running slow3 || true
docker stop -t 30 np-img-proxy >/dev/null &
stopper=$!
for _ in $(seq 1 50); do
  docker logs np-img-proxy 2>&1 | grep -q 'nextprism-broker: stopping:' && break; sleep 0.1
done
out=$("${ssh_mux[@]}" "php occ status" 2>&1) && rc=0 || rc=$?
check "while draining, a command on an open connection is turned away busy (rc $rc: $out)" \
  sh -c "[ $rc = 66 ] && echo '$out' | grep -q 'the proxy is stopping'"
"${ssh_[@]}" -o ConnectTimeout=5 "php occ status" >/dev/null 2>&1 && rc=0 || rc=$?
check "while draining, a new connection is not accepted (ssh rc $rc)" test "$rc" = 255
wait "$long" && rc=0 || rc=$?
check "the command running at the stop finished, all its output (rc $rc)" \
  sh -c "[ $rc = 0 ] && grep -q 'photo-3.jpg' '$work/drain1.out'"
wait "$stopper" || true
check "the drained proxy exited 0 by itself ($(docker inspect -f '{{.State.ExitCode}}' np-img-proxy))" \
  test "$(docker inspect -f '{{.State.ExitCode}}' np-img-proxy)" = 0
check "the drained command's record was written out" \
  sh -c "docker logs np-img-proxy 2>/dev/null | grep '\"event\":\"finished\"' | grep 'slow3' | grep -q '\"outcome\":\"exited\"'"
"${ssh_mux[@]}" -O exit >/dev/null 2>&1 || true
# Longer than NEXTPRISM_DRAIN_TIMEOUT (6 s): stopped in the target, the caller told so.
docker start np-img-proxy >/dev/null
check "the proxy starts again after a drain" wait_healthy
"${ssh_[@]}" "php occ files:scan -v slow300" >"$work/drain2.out" 2>&1 &
long=$!
until_running slow300 || true
docker stop -t 30 np-img-proxy >/dev/null &
stopper=$!
wait "$long" && rc=0 || rc=$?
check "a command outlasting the drain is stopped, and the caller told (rc $rc)" \
  sh -c "[ $rc = 124 ] && grep -q 'the proxy is stopping; command stopped' '$work/drain2.out'"
check "... and it is gone from the target" sh -c "! docker top np-img-nc -o pid,args | grep -q slow300"
wait "$stopper" || true
check "that proxy too exited 0 before SIGKILL ($(docker inspect -f '{{.State.ExitCode}}' np-img-proxy))" \
  test "$(docker inspect -f '{{.State.ExitCode}}' np-img-proxy)" = 0
check "its record says stopped because the proxy stopped" \
  sh -c "docker logs np-img-proxy 2>/dev/null | grep -q '\"outcome\":\"stopped\".*the proxy is stopping'"
docker start np-img-proxy >/dev/null
wait_healthy || true
# The drainer dies: the container ends (Swarm restarts the task).
docker exec np-img-proxy sh -c 'kill -9 $(cat /run/nextprism/drainer.pid)'
for _ in $(seq 1 30); do [ "$(docker inspect -f '{{.State.Running}}' np-img-proxy)" = false ] && break; sleep 0.2; done
check "no drainer, no proxy" test "$(docker inspect -f '{{.State.Running}}' np-img-proxy)" = false
docker rmi -f "$tag" >/dev/null 2>&1 || true
[ "$fails" = 0 ] || { echo "$fails check(s) failed" >&2; exit 1; }
echo "all image checks passed"

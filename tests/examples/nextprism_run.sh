#!/usr/bin/env bash
# The example host program with its three assemblies, against the stack
# test bed: each runs `php occ status`; a refused command exits 65 and a
# configuration with an unknown key exits 78 naming the key; a PhotoPrism
# error (logged, exit 0 from the real CLI) exits 1 through every assembly
# and through nextprism-exec, with the line on stderr.
#   nextprism_run.sh NEXTPRISM_RUN STACK_DIR DOCKER_SOCK [NEXTPRISM_EXEC]
set -euo pipefail
bin=$1 stack=$2 sock=$3 exec_bin=${4:-}
config=$(mktemp --suffix=.json)
trap 'rm -f "$config"' EXIT
cat >"$config" <<JSON
{"docker_host": "unix://$sock", "prefer_local": false,
 "targets": {"nextcloud": "nptargets_nextcloud", "photoprism": "nptargets_photoprism"},
 "ssh": {"private_key": "$stack/client_ed25519", "known_hosts": "$stack/known_hosts"},
 "discovery": {"static": {"nextcloud": ["127.0.0.1:22622"], "photoprism": ["127.0.0.1:22623"]}},
 "retry": {"strategy": "fixed", "delay_ms": 100, "max_attempts": 2}}
JSON
for kind in swarm static direct; do
  out=$("$bin" "$config" "$kind" nextcloud php occ status)
  grep -q "installed: true" <<<"$out" || { echo "$kind: unexpected output: $out" >&2; exit 1; }
done
set +e
for kind in swarm static direct; do
  err=$("$bin" "$config" "$kind" photoprism photoprism index no-such-folder 2>&1 >/dev/null)
  status=$?
  [ $status = 1 ] && grep -q "reported a failure: .*level=error" <<<"$err" ||
    { echo "$kind: a PhotoPrism error must exit 1 (got $status): $err" >&2; exit 1; }
  "$bin" --trust-exit-status "$config" "$kind" photoprism photoprism index no-such-folder >/dev/null 2>&1
  [ $? = 0 ] || { echo "$kind: --trust-exit-status must pass the CLI's 0" >&2; exit 1; }
done
if [ -n "$exec_bin" ]; then
  err=$("$exec_bin" --proxy 127.0.0.1:22623 --user nextprism --key "$stack/client_ed25519" \
        --known-hosts "$stack/known_hosts" photoprism photoprism index no-such-folder 2>&1 >/dev/null)
  status=$?
  [ $status = 1 ] && grep -q "nextprism-exec: the command reported a failure: .*level=error" <<<"$err" ||
    { echo "nextprism-exec: a PhotoPrism error must exit 1 (got $status): $err" >&2; exit 1; }
  out=$("$exec_bin" --proxy 127.0.0.1:22623 --user nextprism --key "$stack/client_ed25519" \
        --known-hosts "$stack/known_hosts" photoprism photoprism status 2>&1)
  [ $? = 0 ] && grep -q "^operational" <<<"$out" || { echo "nextprism-exec: status: $out" >&2; exit 1; }
fi
msg=$("$bin" "$config" swarm photoprism photoprism import originals/2024 2>&1)
[ $? = 65 ] && grep -q "refused: argument: 'originals/2024' starts with 'originals'" <<<"$msg" ||
  { echo "a refused command must exit 65 naming the rule: $msg" >&2; exit 1; }
echo '{"ssh": {"prot": 22}}' >"$config"
msg=$("$bin" "$config" swarm nextcloud php occ status 2>&1)
[ $? = 78 ] && grep -q "ssh.prot: unknown key" <<<"$msg" || { echo "bad config: $msg" >&2; exit 1; }
echo "three assemblies ran; refusal, reported failures and configuration errors handled"

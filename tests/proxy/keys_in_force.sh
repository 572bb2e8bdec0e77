#!/usr/bin/env bash
# A revocation cannot be undone by a redeploy. A proxy stack of
# stacks/nextcloud-proxy.yaml beside the test bed's own (its image, host
# key and target), on its own port, with configs of its own: an
# authorized_keys of the bed's client key and a second key K, then a
# revocation of the bed's key (as a retired key is revoked). A deploy
# without the config names (no stack.env: Portainer, CI, a second
# operator) must fail naming the variable and leave the revocation in
# force; before, it went back to the default names, whose first
# revocation list is empty, and the retired key was accepted again.
#
#   keys_in_force.sh STACK_DIR PORT
#   (DOCKER_HOST: the test bed's engine, whose stack fixture is up)
set -euo pipefail
stack_dir=${1:?stack dir}
port=${2:?port}
stack=npkeys
id=$$
side_configs=("nptest_keys_auth_$id" "nptest_keys_revoked0_$id" "nptest_keys_revoked1_$id")
configs=("${side_configs[@]}")
. "$(dirname "$0")/side_stack.sh"

# ---- the keys: the bed's client key (to be revoked) and K (stays).
ssh-keygen -q -t ed25519 -N '' -C "nptest-k" -f "$work/k_ed25519"
{ echo "restrict $(cut -d' ' -f1,2 "$stack_dir/client_ed25519.pub")"
  echo "restrict $(cut -d' ' -f1,2 "$work/k_ed25519.pub")"; } >"$work/authorized_keys"
printf '# no key revoked\n' >"$work/revoked0"
cut -d' ' -f1,2 "$stack_dir/client_ed25519.pub" >"$work/revoked1"
ssh-keygen -k -f "$work/revoked.krl" "$work/revoked1" # a list sshd can read (the tool's check)
docker config create "${configs[0]}" "$work/authorized_keys" >/dev/null
docker config create "${configs[1]}" "$work/revoked0" >/dev/null
docker config create "${configs[2]}" "$work/revoked1" >/dev/null

# The bed's names (host key, image) without its key configs: this stack's own.
mapfile -t side_envs < <(printf '%s\n' "${side_envs[@]}" | grep -v '^NEXTPRISM_AUTHORIZED_KEYS_CONFIG=\|^NEXTPRISM_REVOKED_KEYS_CONFIG=')
deploy() { side_deploy -- "$@"; }
until_rc() { until_side_rc "$1" "php occ status" "$2"; } # until_rc KEY RC
rc_with() { side_rc "$1" "php occ status"; }             # rc_with KEY
bed_key=$stack_dir/client_ed25519
k_key=$work/k_ed25519

deploy NEXTPRISM_AUTHORIZED_KEYS_CONFIG="${configs[0]}" NEXTPRISM_REVOKED_KEYS_CONFIG="${configs[1]}" >/dev/null
check "nothing revoked: the bed's key runs php occ status" until_rc "$bed_key" 0
check "... and so does K" until_rc "$k_key" 0

deploy NEXTPRISM_AUTHORIZED_KEYS_CONFIG="${configs[0]}" NEXTPRISM_REVOKED_KEYS_CONFIG="${configs[2]}" >/dev/null
check "the bed's key revoked: refused (255)" until_rc "$bed_key" 255
check "... K still runs" until_rc "$k_key" 0

# Without the names: no deploy, and what is in force stays.
set +e
out=$(deploy 2>&1)
rc=$?
set -e
check "a deploy without stack.env's key configs fails (rc $rc)" test "$rc" != 0
check "... naming the variable ($out)" sh -c "echo '$out' | grep -q 'NEXTPRISM_AUTHORIZED_KEYS_CONFIG\|NEXTPRISM_REVOKED_KEYS_CONFIG'"
out=$(deploy NEXTPRISM_AUTHORIZED_KEYS_CONFIG="${configs[0]}" 2>&1) && rc=0 || rc=$?
check "... also with only the authorized_keys named (rc $rc): the revocation list is required" \
  sh -c "[ $rc != 0 ] && echo '$out' | grep -q NEXTPRISM_REVOKED_KEYS_CONFIG"
in_force=$(docker service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigName}} {{end}}' "$service")
check "the service still has the revocation in force ($in_force)" sh -c "echo '$in_force' | grep -qw '${configs[2]}'"
sleep 3
check "the revoked key is still refused" test "$(rc_with "$bed_key")" = 255
check "... and K still runs" test "$(rc_with "$k_key")" = 0

side_done

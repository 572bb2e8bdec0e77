#!/usr/bin/env bash
# The whitelist as a Swarm config, as an operator deploys it: a proxy stack of
# stacks/nextcloud-proxy.yaml + stacks/nextcloud-whitelist.yaml beside the test
# bed's own (its keys, image and target), on its own port. Checks that
# `--check-whitelist` passes a good file and names the key path of a bad one,
# that the deployed proxy enforces the config (a whitelist without
# `php occ status` refuses it, the compiled-in default runs it), that a
# rolling update to a bad config fails with the key-path error in
# `docker service logs` and rolls back to the whitelist in force, and that
# deploying without the overlay goes back to the default.
#
#   whitelist_config.sh VALIDATE STACK_DIR PORT
#   (DOCKER_HOST: the test bed's engine, whose stack fixture is up)
set -euo pipefail
validate=${1:?validate binary}
stack_dir=${2:?stack dir}
port=${3:?port}
stack=npwhitelist
run_id=$$
side_configs=("nptest_whitelist_good_$run_id" "nptest_whitelist_bad_$run_id")
. "$(dirname "$0")/side_stack.sh"

# ---- the files: the default without `php occ status`, and a schema error.
"$validate" --print-default-whitelist | python3 -c '
import json, sys
p = json.load(sys.stdin)
cmds = p["services"]["nextcloud"]["commands"]
p["services"]["nextcloud"]["commands"] = [c for c in cmds if c["argv"] != ["php", "occ", "status"]]
assert len(p["services"]["nextcloud"]["commands"]) == len(cmds) - 1
json.dump(p, sys.stdout)' >"$work/good.json"
python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
p["services"]["nextcloud"]["commands"][0]["single_flight"] = "yes"
json.dump(p, open(sys.argv[2], "w"))' "$work/good.json" "$work/bad.json"

out=$("$validate" --check-whitelist --service nextcloud --whitelist "$work/good.json" 2>&1) && rc=0 || rc=$?
check "--check-whitelist passes the good file ($out)" sh -c "[ $rc = 0 ] && echo '$out' | grep -q 'commands for nextcloud'"
out=$("$validate" --check-whitelist --service nextcloud --whitelist "$work/bad.json" 2>&1) && rc=0 || rc=$?
check "--check-whitelist refuses the bad one with 64 and the key path ($out)" \
  sh -c "[ $rc = 64 ] && echo '$out' | grep -q 'services.nextcloud.commands\[0\].single_flight'"

# ---- deployed.
docker config create "nptest_whitelist_good_$run_id" "$work/good.json" >/dev/null
docker config create "nptest_whitelist_bad_$run_id" "$work/bad.json" >/dev/null
deploy() { # deploy WHITELIST_CONFIG|none
  local overlay=(-c "$stacks/nextcloud-whitelist.yaml")
  [ "$1" != none ] || overlay=()
  side_deploy "${overlay[@]}" -- NEXTPRISM_WHITELIST_CONFIG="$1" >/dev/null
}
# Until `php occ status` answers RC (the proxy is up with that whitelist), at most 90 s.
until_status() { until_side_rc "$stack_dir/client_ed25519" "php occ status" "$1"; }

deploy "nptest_whitelist_good_$run_id"
check "with the whitelist config, 'php occ status' is refused (65)" until_status 65
check "... by the whitelist file's rule ($(cat "$work/out"))" grep -q "refused" "$work/out"
rc=$(side_rc "$stack_dir/client_ed25519" "php occ files:scan alice")
out=$(cat "$work/out")
check "... and what it allows runs (rc $rc)" sh -c "[ $rc = 0 ] && echo '$out' | grep -q 'Starting scan'"

# A rolling update to the bad config: the new task stops at start with the
# key-path error, Swarm rolls back, the good whitelist stays in force.
deploy "nptest_whitelist_bad_$run_id"
logged=no
for _ in $(seq 1 120); do
  if docker service logs "$service" 2>&1 | grep -q 'services.nextcloud.commands\[0\].single_flight'; then
    logged=yes
    break
  fi
  sleep 0.5
done
check "the bad config's key-path error is in docker service logs" test "$logged" = yes
check "the proxy says it does not start" sh -c "docker service logs '$service' 2>&1 | grep -q 'the proxy does not start'"
state=
for _ in $(seq 1 240); do
  state=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$service")
  [ "$state" = rollback_completed ] && break
  sleep 0.5
done
check "the update rolled back ($state)" test "$state" = rollback_completed
check "after the rollback the good whitelist is in force again" until_status 65

# Without the overlay: the compiled-in default.
deploy none
check "deployed without the whitelist config, the default runs 'php occ status'" until_status 0

side_done

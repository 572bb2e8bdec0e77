#!/usr/bin/env bash
# The main job on the embedded default: every form of the compiled-in
# whitelist, sent through nextprism-validate exactly as sshd would run it
# (the command in SSH_ORIGINAL_COMMAND, no shell), then a few attacks.
# Prints each decision and the audit log it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${NEXTPRISM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target nextprism-validate >/dev/null

validate=$build/proxy/nextprism-validate
audit=$build/demo-audit.log
: >"$audit"

run() {
  local service=$1 command=$2 status=0 out
  out=$(SSH_ORIGINAL_COMMAND=$command SSH_CLIENT="127.0.0.1 50000 2222" \
        "$validate" --service "$service" --dry-run --audit-log "$audit" 2>&1) || status=$?
  printf '%-10s %-62s exit %-3s %s\n' "$service" "$command" "$status" "$out"
}

echo "== allowed: the whitelist =="
run nextcloud  "php occ files:scan alice"
run nextcloud  "php occ files:scan --path='/alice/files/My Photos'"
run nextcloud  "php occ files:scan --generate-metadata alice"
run nextcloud  "php occ files:scan --all -v"
run nextcloud  "php occ memories:index --user=alice --folder=/Photos/"
run nextcloud  "php occ memories:index --force"
run nextcloud  "php occ status --output=json"
run photoprism "photoprism index --cleanup '2024/Summer Trip'"
run photoprism "photoprism import --move --dest=phone upload/phone"
run photoprism "photoprism status"
echo "== refused =="
run nextcloud  "php occ files:scan alice; id"
run nextcloud  "php occ user:add eve"
run nextcloud  "php occ memories:index --clear"
run nextcloud  "php occ files:scan --path=/alice/files/../../etc"
run photoprism "photoprism import /var/www/html/data"
run photoprism "photoprism --config-path=/tmp index"
echo "== audit log ($audit) =="
cat "$audit"

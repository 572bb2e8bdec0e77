# Shared by the example tools' tests against the stack test bed (sourced).
#   check DESCRIPTION COMMAND...     counts a failure in $fails
#   stack_config FILE NEXTCLOUD_PROXY   an executor configuration for the stack
#   in_target PATTERN / gone_from_target PATTERN   the nextcloud target's processes
# Needs $stack (the stack fixture's directory) and $sock (its engine).
fails=0
check() {
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1" >&2; fails=$((fails + 1)); fi
}
stack_config() {
  cat >"$1" <<JSON
{"docker_host": "unix://$sock", "prefer_local": false,
 "targets": {"nextcloud": "nptargets_nextcloud", "photoprism": "nptargets_photoprism"},
 "ssh": {"private_key": "$stack/client_ed25519", "known_hosts": "$stack/known_hosts"},
 "discovery": {"static": {"nextcloud": ["$2"], "photoprism": ["127.0.0.1:22623"]}},
 "retry": {"strategy": "fixed", "delay_ms": 100, "max_attempts": 2}}
JSON
}
nextcloud_target() { docker ps -q --filter label=com.docker.swarm.service.name=nptargets_nextcloud | head -1; }
in_target() { [ "$(docker top "$(nextcloud_target)" -o pid,args 2>/dev/null | grep -c "$1" || true)" -gt 0 ]; }
gone_from_target() { for _ in $(seq 1 50); do in_target "$1" || return 0; sleep 0.2; done; return 1; }

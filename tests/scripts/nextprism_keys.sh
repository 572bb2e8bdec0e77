#!/usr/bin/env bash
# scripts/nextprism-keys revoke, retire-client, add-caller, remove-caller,
# rotate-host and retire-host
# against a real OpenSSH sshd reading the files
# the script writes: a key given as the authorized_keys line the script itself
# writes ("restrict ssh-ed25519 ..."), as a .pub file or as a fingerprint is
# refused afterwards while every other key is still accepted; a line sshd
# would read as "revoke every key" is never written; a revocation list that
# is not one is not published.
#   nextprism_keys.sh NEXTPRISM_KEYS PORT
set -euo pipefail
keys_tool=${1:?nextprism-keys} port=${2:?port}
[ "$(id -u)" -eq 0 ] || { echo "nextprism_keys.sh: needs root (it starts sshd)" >&2; exit 1; }
# sshd checks the modes of every directory above the files it reads: /run.
work=$(mktemp -d /run/nextprism-keys-test.XXXXXX)
pid=
cleanup() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ ! -f "$work/sshd.log" ] || tail -20 "$work/sshd.log" >&2; exit 1; }
k=$work/k
keys() { "$keys_tool" --dir "$k" --no-swarm --target "nextcloud:$port" "$@"; }

keys --node 127.0.0.1 init >/dev/null
ssh-keygen -q -t ed25519 -N '' -C second-caller -f "$work/second"
ssh-keygen -q -t ed25519 -N '' -C third -f "$work/third"
# A second caller's key, in the form the script writes its own.
echo "restrict $(cat "$work/second.pub")" >>"$k/authorized_keys"

cp "$k/host_nextcloud_ed25519" "$work/host_first"
cat >"$work/sshd_config" <<CONF
ListenAddress 127.0.0.1:$port
HostKey $work/host_in_use
PidFile none
AuthorizedKeysFile $k/authorized_keys
RevokedKeys $k/revoked_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
ForceCommand /bin/echo accepted
CONF
mkdir -p /run/sshd
start_sshd() { # start_sshd HOST_KEY: (re)started, presenting that host key
  if [ -n "$pid" ]; then kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; fi
  install -m 0600 "$1" "$work/host_in_use"
  /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>>"$work/sshd.log" &
  pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "sshd did not listen on $port"
}
start_sshd "$work/host_first"
accepted() { # accepted KEY: the key logs in (host key checked against the script's known_hosts)
  [ "$(ssh -n -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o ConnectTimeout=5 \
    -o UserKnownHostsFile="$k/known_hosts" -o StrictHostKeyChecking=yes -i "$1" -p "$port" \
    root@127.0.0.1 2>>"$work/ssh.log")" = accepted ]
}
fp() { ssh-keygen -lf "$1" | cut -d' ' -f2; }

accepted "$k/client_ed25519" || fail "the client key is not accepted before any revocation"
accepted "$work/second" || fail "the second caller's key is not accepted before any revocation"

# 1. The authorized_keys line, as the script writes it.
out=$(keys revoke "$(grep second-caller "$k/authorized_keys")")
[[ $out == *"revoked $(fp "$work/second.pub")"* ]] || fail "revoke by line said: $out"
[ "$(grep -cv '^#' "$k/revoked_keys")" = 1 ] || fail "revoked_keys: $(cat "$k/revoked_keys")"
grep -qxF "$(cut -d' ' -f1,2 "$work/second.pub")" "$k/revoked_keys" || fail "revoked_keys lacks the key: $(cat "$k/revoked_keys")"
accepted "$work/second" && fail "the revoked key is still accepted"
accepted "$k/client_ed25519" || fail "revoking one key refused another (sshd read revoked_keys as revoke-all)"

# 2. Again, by fingerprint: nothing changes.
before=$(cat "$k/revoked_keys")
out=$(keys revoke "$(fp "$work/second.pub")")
[[ $out == *"already revoked $(fp "$work/second.pub")"* || $out == *"already revoked: $(fp "$work/second.pub")"* ]] ||
  fail "revoke by fingerprint again said: $out"
[ "$before" = "$(cat "$k/revoked_keys")" ] || fail "an already revoked key changed revoked_keys"

# 3. Not a key: refused, nothing written.
for bad in "restrict ssh-ed25519" "ssh-ed25519 AAAAnotbase64" "SHA256:$(printf 'A%.0s' $(seq 1 43))" "$work/missing.pub"; do
  if keys revoke "$bad" >"$work/out" 2>&1; then fail "revoke '$bad' succeeded: $(cat "$work/out")"; fi
  [ "$before" = "$(cat "$k/revoked_keys")" ] || fail "revoke '$bad' changed revoked_keys"
done

# 4. A .pub file: a second revocation still takes effect (before, every
#    revocation after the first said "already revoked").
out=$(keys revoke "$work/third.pub")
[[ $out == *"revoked $(fp "$work/third.pub")"* && $out != *already* ]] || fail "revoke by file said: $out"
[ "$(grep -cv '^#' "$k/revoked_keys")" = 2 ] || fail "revoked_keys: $(cat "$k/revoked_keys")"
accepted "$k/client_ed25519" || fail "the client key is refused after two revocations"

# 6. retire-client revokes the key it retires: refused even by a proxy whose
#    authorized_keys still lists it (an old config redeployed).
old_pub=$(cut -d' ' -f1,2 "$k/client_ed25519.pub")
cp "$k/client_ed25519" "$work/old"
keys --yes rotate-client >"$work/out" 2>&1 || fail "rotate-client: $(cat "$work/out")"
accepted "$k/client_ed25519.next" || fail "the next client key is not accepted during the rotation"
keys --yes retire-client >"$work/out" 2>&1 || fail "retire-client: $(cat "$work/out")"
grep -qxF "$old_pub" "$k/revoked_keys" || fail "retire-client did not revoke the old key: $(cat "$k/revoked_keys")"
echo "restrict $old_pub" >>"$k/authorized_keys"
accepted "$work/old" && fail "the retired key is accepted where authorized_keys still lists it"
accepted "$k/client_ed25519" || fail "the new client key is refused after the retirement"

# 7. One key per caller: add-caller makes its key and its authorized_keys
#    line (commented caller:NAME, what the proxy's audit records as
#    key_comment), with from= when asked; remove-caller drops and revokes it.
keys add-caller alice >"$work/out" 2>&1 || fail "add-caller alice: $(cat "$work/out")"
keys --from 192.0.2.7 add-caller bob >"$work/out" 2>&1 || fail "add-caller bob: $(cat "$work/out")"
grep -q "^restrict ssh-ed25519 [A-Za-z0-9+/=]* caller:alice$" "$k/authorized_keys" ||
  fail "alice's line: $(grep alice "$k/authorized_keys")"
grep -q '^restrict,from="192.0.2.7" ssh-ed25519 [A-Za-z0-9+/=]* caller:bob$' "$k/authorized_keys" ||
  fail "bob's line: $(grep bob "$k/authorized_keys")"
accepted "$k/callers/alice_ed25519" || fail "caller alice's own key is not accepted"
accepted "$k/callers/bob_ed25519" && fail "caller bob's key is accepted from 127.0.0.1 (from=192.0.2.7)"
accepted "$k/client_ed25519" || fail "the client key is refused once callers were added"
if keys add-caller alice >"$work/out" 2>&1; then fail "a second add-caller alice succeeded"; fi
if keys --from '10.0.0.1" ,command="sh' add-caller eve >"$work/out" 2>&1; then fail "a --from with a quote was taken"; fi
grep -q eve "$k/authorized_keys" && fail "eve got a line"
if keys add-caller 'Bad Name' >"$work/out" 2>&1; then fail "a caller name with a space was taken"; fi
cp "$k/callers/alice_ed25519" "$work/alice"
alice_pub=$(cut -d' ' -f1,2 "$k/callers/alice_ed25519.pub")
keys --yes remove-caller alice >"$work/out" 2>&1 || fail "remove-caller alice: $(cat "$work/out")"
grep -q "caller:alice" "$k/authorized_keys" && fail "alice's line is still in authorized_keys"
grep -qxF "$alice_pub" "$k/revoked_keys" ||
  fail "alice's key is not revoked: $(cat "$k/revoked_keys")"
accepted "$work/alice" && fail "the removed caller's key is still accepted"
accepted "$k/client_ed25519" || fail "the client key is refused after remove-caller"

# 8. The host key rotated: known_hosts trusts both keys while the proxies
#    move to the new one, then only the new, the old one @revoked (OpenSSH
#    refuses it even where another line would match).
keys --yes rotate-host nextcloud >"$work/out" 2>&1 || fail "rotate-host: $(cat "$work/out")"
[ -f "$k/host_nextcloud_ed25519.next" ] || fail "rotate-host made no next key"
[ "$(grep -c "^\[127.0.0.1\]:$port ssh-ed25519 " "$k/known_hosts")" = 2 ] ||
  fail "known_hosts during the rotation: $(cat "$k/known_hosts")"
accepted "$k/client_ed25519" || fail "during the rotation, the old host key is not trusted"
cp "$k/host_nextcloud_ed25519.next" "$work/host_second"
start_sshd "$work/host_second"
accepted "$k/client_ed25519" || fail "during the rotation, the new host key is not trusted"
keys --yes rotate-host nextcloud >"$work/out" 2>&1 || fail "rotate-host again: $(cat "$work/out")"
grep -q "under way" "$work/out" || fail "a second rotate-host did not keep the key under way: $(cat "$work/out")"
cmp -s "$k/host_nextcloud_ed25519.next" "$work/host_second" || fail "a second rotate-host replaced the next key"
keys --yes retire-host nextcloud >"$work/out" 2>&1 || fail "retire-host: $(cat "$work/out")"
cmp -s "$k/host_nextcloud_ed25519" "$work/host_second" || fail "after retire-host the new key is not the current one"
grep -qxF "@revoked * $(ssh-keygen -y -f "$work/host_first" | cut -d' ' -f1,2)" \
  "$k/known_hosts" || fail "the old host key is not @revoked: $(cat "$k/known_hosts")"
[ "$(grep -c "^\[127.0.0.1\]:$port ssh-ed25519 " "$k/known_hosts")" = 1 ] ||
  fail "known_hosts after the retirement: $(cat "$k/known_hosts")"
accepted "$k/client_ed25519" || fail "after the retirement, the new host key is not trusted"
start_sshd "$work/host_first"
: >"$work/ssh.log"
accepted "$k/client_ed25519" && fail "a proxy presenting the retired host key is trusted"
grep -qi "revoked" "$work/ssh.log" || fail "ssh did not say the host key is revoked: $(cat "$work/ssh.log")"
# ... also when the old key's line is merged back in (an old known_hosts).
echo "[127.0.0.1]:$port $(ssh-keygen -y -f "$work/host_first" | cut -d' ' -f1,2)" >>"$k/known_hosts"
accepted "$k/client_ed25519" && fail "the retired host key is trusted once an old line is back"
keys known-hosts >/dev/null 2>&1 || fail "known-hosts after the retirement"
grep -q '^@revoked ' "$k/known_hosts" || fail "known-hosts dropped the @revoked line: $(cat "$k/known_hosts")"
if keys --yes retire-host nextcloud >"$work/out" 2>&1; then fail "retire-host without a rotation succeeded"; fi
if keys --yes rotate-host nosuch >"$work/out" 2>&1; then fail "rotate-host of an unknown target succeeded"; fi
start_sshd "$work/host_second"
accepted "$k/client_ed25519" || fail "the client key is refused after the host key rotation"

# 5. A list sshd would read as revoke-all (edited by hand) is not published.
echo "restrict ssh-ed25519" >>"$k/revoked_keys"
if keys revoke "$work/second.pub" >"$work/out" 2>&1; then fail "a broken revoked_keys was accepted: $(cat "$work/out")"; fi
grep -q "is not a public key: sshd would refuse every key" "$work/out" || fail "no reason given: $(cat "$work/out")"
echo "ok: revoke by line, fingerprint and file; other keys still accepted; bad input and broken lists refused; retire-client revokes; callers added and removed; a host key rotated and the old one @revoked"

#!/usr/bin/env bash
# Builds the proxy image from this machine's own files: Debian's OpenSSH
# sshd and the shared libraries it and the validator load, busybox for the
# entrypoint's shell, proxy/sshd_config, and a built nextprism-validate.
# Nothing is pulled: the root file system is assembled here and imported.
#
#   proxy/build-image.sh VALIDATOR [TAG]     (TAG default: nextprism/proxy:local;
#                                           nextprism-broker is taken from VALIDATOR's
#                                           directory, or NEXTPRISM_BROKER_BIN)
#   proxy/build-image.sh --check-sshd        only the sshd version gate
#
# Needs a docker CLI that reaches the engine (DOCKER_HOST) and busybox-static.
#
# The version gate refuses an sshd open to CVE-2024-6387 ("regreSSHion",
# a signal-handler race in OpenSSH 8.5p1 to 9.7p1 that gives remote root):
# one in that range is accepted only as Debian's patched 9.2p1, package
# version 1:9.2p1-2+deb12u3 or later. NEXTPRISM_SSHD_VERSION (what `sshd -V`
# prints) and NEXTPRISM_SSHD_DEB_VERSION (the package version, "none" when
# not a Debian package) replace what is read from this machine (tests).
set -euo pipefail

check_sshd() {
  local banner deb major minor
  banner=${NEXTPRISM_SSHD_VERSION:-$(/usr/sbin/sshd -V 2>&1 | head -1 || true)}
  deb=${NEXTPRISM_SSHD_DEB_VERSION:-$(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null || echo none)}
  if ! [[ $banner =~ ^OpenSSH_([0-9]+)\.([0-9]+) ]]; then
    echo "build-image.sh: cannot tell the sshd version from '$banner'; refusing" >&2
    return 1
  fi
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  local v=$((major * 100 + minor))
  if ((v >= 805 && v <= 907)); then
    if ((v == 902)) && [ "$deb" != none ] && dpkg --compare-versions "$deb" ge "1:9.2p1-2+deb12u3"; then
      echo "sshd: ${banner%%,*} (Debian $deb, CVE-2024-6387 fixed)"
      return 0
    fi
    echo "build-image.sh: refusing sshd ${banner%%,*} (package $deb): OpenSSH 8.5p1 to 9.7p1 is" \
      "vulnerable to CVE-2024-6387 (regreSSHion); use Debian's openssh-server 1:9.2p1-2+deb12u3 or" \
      "later, or OpenSSH 9.8p1 or later" >&2
    return 1
  fi
  echo "sshd: ${banner%%,*} (package $deb)"
}

if [ "${1:-}" = --check-sshd ]; then
  check_sshd
  exit
fi
validator=${1:?usage: build-image.sh VALIDATOR [TAG]}
tag=${2:-nextprism/proxy:local}
here=$(cd "$(dirname "$0")" && pwd)
check_sshd
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

copy() { # a file and its directory, at the same path under $root
  install -D -m "$2" "$1" "$root$1"
}
libraries_of() { # the shared objects a program loads, the dynamic loader included
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
}
copy_libraries() {
  for lib in $(libraries_of "$1"); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

copy /usr/sbin/sshd 0755
copy_libraries /usr/sbin/sshd
# OpenSSH 9.8 split the per-connection part into sshd-session (and 10.0
# the authentication into sshd-auth): sshd execs them, so copy them too.
for helper in /usr/lib/openssh/sshd-session /usr/lib/openssh/sshd-auth /usr/libexec/sshd-session /usr/libexec/sshd-auth; do
  if [ -x "$helper" ]; then
    copy "$helper" 0755
    copy_libraries "$helper"
  fi
done
install -D -s -m 0755 "$validator" "$root/usr/local/bin/nextprism-validate"
copy_libraries "$validator"
# The broker (the proxy's privileged half), built beside the validator.
broker=${NEXTPRISM_BROKER_BIN:-$(dirname "$validator")/nextprism-broker}
[ -x "$broker" ] || { echo "build-image.sh: no broker at $broker (build nextprism-broker)" >&2; exit 1; }
install -D -s -m 0755 "$broker" "$root/usr/local/bin/nextprism-broker"
copy_libraries "$broker"
install -D -m 0755 /bin/busybox "$root/bin/busybox"
for applet in sh cat sed stat id mkdir chmod chown grep cut tr rm mkfifo sleep kill ip head; do
  ln -s busybox "$root/bin/$applet"
done
install -D -m 0644 "$here/sshd_config" "$root/etc/nextprism/sshd_config.in"
# Revoked keys: empty (a Swarm config may replace it); sshd refuses every
# key when the file is missing.
install -m 0644 /dev/null "$root/etc/nextprism/revoked_keys"
install -D -m 0755 "$here/entrypoint.sh" "$root/usr/local/bin/nextprism-proxy"

mkdir -p "$root/run/sshd" "$root/run/nextprism" "$root/var/lib/nextprism" "$root/tmp" "$root/proc" \
         "$root/sys" "$root/dev" "$root/etc"
chmod 0755 "$root" "$root/run/sshd"  # mktemp made the root 0700
chmod 1777 "$root/tmp"
# Accounts: root, sshd's privilege-separation user, the proxy's one login.
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:privsep:/run/sshd:/bin/false
nextprism-broker:x:101:101:nextprism broker:/nonexistent:/bin/false
nextprism:x:1000:1000:nextprism proxy:/var/lib/nextprism:/usr/local/bin/nextprism-validate
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
# /etc/group links to /run (a tmpfs: the root file system is read-only),
# where the entrypoint adds the Docker socket's group for the proxy user.
cat >"$root/etc/nextprism/group.in" <<'GROUP'
root:x:0:
nextprism-broker:x:101:
nextprism:x:1000:
nogroup:x:65534:
GROUP
ln -s /run/nextprism/group "$root/etc/group"
cat >"$root/etc/shadow" <<'SHADOW'
root:*:19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
nextprism-broker:*:19000:0:99999:7:::
nextprism:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
SHADOW
chmod 0640 "$root/etc/shadow"
echo "passwd: files" >"$root/etc/nsswitch.conf"
echo "group: files" >>"$root/etc/nsswitch.conf"
chown -R 0:0 "$root"
chown 1000:1000 "$root/var/lib/nextprism"

tar -C "$root" -c . | docker import \
  -c 'ENTRYPOINT ["/usr/local/bin/nextprism-proxy"]' \
  -c 'LABEL org.opencontainers.image.title=nextprism-proxy' - "$tag" >/dev/null
echo "$tag"

#!/usr/bin/env bash
# Builds the proxy image from this machine's own files: Debian's OpenSSH
# sshd and the shared libraries it and the validator load, busybox for the
# entrypoint's shell, proxy/sshd_config, and a built nextprism-validate.
# Nothing is pulled: the root file system is assembled here and imported.
#
#   proxy/build-image.sh VALIDATOR [TAG]     (TAG default: nextprism/proxy:local)
#
# Needs a docker CLI that reaches the engine (DOCKER_HOST) and busybox-static.
set -euo pipefail
validator=${1:?usage: build-image.sh VALIDATOR [TAG]}
tag=${2:-nextprism/proxy:local}
here=$(cd "$(dirname "$0")" && pwd)
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
install -D -s -m 0755 "$validator" "$root/usr/local/bin/nextprism-validate"
copy_libraries "$validator"
install -D -m 0755 /bin/busybox "$root/bin/busybox"
for applet in sh cat sed stat id mkdir chmod chown grep cut; do ln -s busybox "$root/bin/$applet"; done
install -D -m 0644 "$here/sshd_config" "$root/etc/nextprism/sshd_config.in"
install -D -m 0755 "$here/entrypoint.sh" "$root/usr/local/bin/nextprism-proxy"

mkdir -p "$root/run/sshd" "$root/run/nextprism" "$root/var/lib/nextprism" "$root/tmp" "$root/proc" \
         "$root/sys" "$root/dev" "$root/etc"
chmod 0755 "$root" "$root/run/sshd"  # mktemp made the root 0700
chmod 1777 "$root/tmp"
# Accounts: root, sshd's privilege-separation user, the proxy's one login.
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:privsep:/run/sshd:/bin/false
nextprism:x:1000:1000:nextprism proxy:/var/lib/nextprism:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nextprism:x:1000:
nogroup:x:65534:
GROUP
cat >"$root/etc/shadow" <<'SHADOW'
root:*:19000:0:99999:7:::
sshd:*:19000:0:99999:7:::
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

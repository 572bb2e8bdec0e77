#!/usr/bin/env bash
# The proxy image's sshd version gate, run by the image build (proxy/
# Dockerfile) against the sshd it just installed. It refuses an sshd open
# to CVE-2024-6387 ("regreSSHion", a signal-handler race in OpenSSH 8.5p1
# to 9.7p1 that gives remote root): one in that range is accepted only as
# Debian's patched 9.2p1, package version 1:9.2p1-2+deb12u3 or later.
#
#   check-sshd.sh        exit 0 and say which sshd, or exit 1 and say why not
#
# NEXTPRISM_SSHD_VERSION (what `sshd -V` prints) and NEXTPRISM_SSHD_DEB_VERSION
# (the package version, "none" when not a Debian package) replace what is
# read from this system (tests/proxy/image.sh feeds it fake versions).
set -euo pipefail
banner=${NEXTPRISM_SSHD_VERSION:-$(/usr/sbin/sshd -V 2>&1 | head -1 || true)}
deb=${NEXTPRISM_SSHD_DEB_VERSION:-$(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null || echo none)}
if ! [[ $banner =~ ^OpenSSH_([0-9]+)\.([0-9]+) ]]; then
  echo "check-sshd: cannot tell the sshd version from '$banner'; refusing" >&2
  exit 1
fi
v=$((BASH_REMATCH[1] * 100 + BASH_REMATCH[2]))
if ((v >= 805 && v <= 907)); then
  if ((v == 902)) && [ "$deb" != none ] && dpkg --compare-versions "$deb" ge "1:9.2p1-2+deb12u3"; then
    echo "sshd: ${banner%%,*} (Debian $deb, CVE-2024-6387 fixed)"
    exit 0
  fi
  echo "check-sshd: refusing sshd ${banner%%,*} (package $deb): OpenSSH 8.5p1 to 9.7p1 is" \
    "vulnerable to CVE-2024-6387 (regreSSHion); use Debian's openssh-server 1:9.2p1-2+deb12u3 or" \
    "later, or OpenSSH 9.8p1 or later" >&2
  exit 1
fi
echo "sshd: ${banner%%,*} (package $deb)"

#!/usr/bin/env bash
# Prints the storage driver for a test engine whose data root is DIR:
# overlay2 when this kernel mounts an overlay on DIR's file system (what
# dockerd's own overlay2 check needs), else vfs. vfs copies every layer and
# every container's root file system in full: a whole test run then needs
# several times the disk (it ran a CI machine out of space), so falling
# back is said on stderr.
#
#   storage-driver.sh DIR
#   NEXTPRISM_STORAGE_DRIVER=vfs|overlay2   no probe: this one
set -euo pipefail
dir=${1:?data root}
if [ -n "${NEXTPRISM_STORAGE_DRIVER:-}" ]; then
  echo "$NEXTPRISM_STORAGE_DRIVER"
  exit 0
fi
mkdir -p "$dir"
probe=$(mktemp -d "$dir/.overlay-probe.XXXXXX")
trap 'umount "$probe/merged" 2>/dev/null || true; rm -rf "$probe"' EXIT
mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
echo lower >"$probe/lower/file"
if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
     "$probe/merged" 2>/dev/null &&
   [ "$(cat "$probe/merged/file")" = lower ] && echo upper >"$probe/merged/file" &&
   [ "$(cat "$probe/upper/file")" = upper ]; then
  echo overlay2
else
  echo "storage-driver.sh: no overlay mount on $(df --output=target "$dir" | tail -1): vfs" \
    "(every layer a full copy: expect several times the disk)" >&2
  echo vfs
fi

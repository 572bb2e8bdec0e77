#!/bin/sh
# Writes the stand-in PhotoPrism's folders into DIR (tests only): the image
# copies DIR to /photoprism, owned by 1000:1000. slowN folders index at 1 s
# per file (see main.go); the import folder has an upload to move.
set -eu
d=${1:?directory}
photo() { mkdir -p "$(dirname "$1")"; printf 'stand-in photo\n' >"$1"; }
photo "$d/originals/2024/Summer Trip/IMG_0001.jpg"
photo "$d/originals/2024/Summer Trip/IMG_0002.jpg"
photo "$d/originals/phone/IMG_0100.jpg"
for n in 120 300; do
  i=1
  while [ $i -le $n ]; do photo "$d/originals/slow$n/photo-$i.jpg"; i=$((i + 1)); done
done
mkdir -p "$d/originals/interleave" "$d/originals/big-output"
photo "$d/import/upload/IMG_0200.jpg"
photo "$d/import/upload/2024/IMG_0201.jpg"
photo "$d/import/phone/IMG_0300.jpg"
mkdir -p "$d/storage/cache" "$d/storage/sidecar"

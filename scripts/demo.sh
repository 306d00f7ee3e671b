#!/usr/bin/env bash
# The hexz demo: builds a sample "disk image" from real files on this machine, packs it,
# inspects it, reads a range back (compared with the source bytes), verifies and extracts it.
# Usage: npm run demo   (or: bash scripts/demo.sh [WORKDIR])
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
hexz() { node "$here/bin/hexz.js" "$@"; }
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/hexz-demo.XXXXXX")}
mkdir -p "$work"
img=$work/sample.img
echo "== building a 256 MiB sparse sample image in $work from files under /usr"
rm -f "$img" "$work/sample.hxz" "$work/extracted.img"
truncate -s 256M "$img"
# A tar of real files at 1 MiB, the same tar again at 160 MiB (duplicate blocks), holes elsewhere.
tar -C /usr -cf "$work/files.tar" --ignore-failed-read share/doc lib/python3* bin 2>/dev/null || true
tar_bytes=$(stat -c %s "$work/files.tar")
max=$((100 * 1024 * 1024))
[ "$tar_bytes" -gt "$max" ] && tar_bytes=$max
dd if="$work/files.tar" of="$img" bs=1M seek=1 count=$((tar_bytes / 1048576)) conv=notrunc,sparse status=none
dd if="$work/files.tar" of="$img" bs=1M seek=160 count=$((tar_bytes / 1048576 / 4)) conv=notrunc,sparse status=none
rm -f "$work/files.tar"
echo "   $(du -h --apparent-size "$img" | cut -f1) apparent, $(du -h "$img" | cut -f1) allocated"

echo "== hexz pack --disk sample.img -o sample.hxz"
hexz pack --disk "$img" -o "$work/sample.hxz"

echo "== hexz inspect sample.hxz"
hexz inspect "$work/sample.hxz"

echo "== hexz cat --offset 5M --length 64K (compared with the same bytes of the image)"
hexz cat "$work/sample.hxz" --offset 5M --length 64K > "$work/range.bin"
dd if="$img" bs=64K skip=80 count=1 status=none | cmp - "$work/range.bin"
echo "   identical: $(sha256sum < "$work/range.bin" | cut -c1-16)…"

echo "== hexz verify sample.hxz"
hexz verify "$work/sample.hxz"

echo "== hexz extract sample.hxz -o extracted.img (sparse)"
hexz extract "$work/sample.hxz" -o "$work/extracted.img" --silent
cmp "$img" "$work/extracted.img"
echo "   identical to the source; $(du -h "$work/extracted.img" | cut -f1) allocated"
echo "== demo OK (files in $work)"

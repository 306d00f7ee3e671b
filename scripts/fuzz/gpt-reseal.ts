/**
 * Recomputes the CRC32s of every GPT header found where a reader looks for one (LBA 1 and the
 * last LBA, for 512- and 4096-byte sectors, and the LBA the primary names as its alternate):
 * first the entry array's CRC from the fields the header now holds, then the header's own CRC
 * over its (possibly changed) header size (UEFI 2.10 §5.3.2). CRC-32 is the IEEE one.
 */
import CRC32 from 'crc-32';

const crc = (b: Uint8Array) => CRC32.buf(b) >>> 0;
const MAX_ARRAY = 1 << 20;

/** Rewrites the CRCs of `b` in place; returns `b`. */
export function resealGpt(b: Uint8Array): Uint8Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u64 = (at: number) => dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 2 ** 32;
  const places = new Set<number>();
  for (const ss of [512, 4096]) {
    places.add(ss);
    places.add((Math.floor(b.length / ss) - 1) * ss);
    if (b.length >= ss + 40) places.add(u64(ss + 32) * ss);
  }
  for (const ss of [512, 4096]) {
    for (const at of places) {
      if (at % ss !== 0 || at <= 0 || at + ss > b.length || new TextDecoder().decode(b.subarray(at, at + 8)) !== 'EFI PART') continue;
      const size = dv.getUint32(at + 12, true);
      if (size < 92 || size > ss) continue;
      const arrayAt = u64(at + 72) * ss;
      const bytes = dv.getUint32(at + 80, true) * dv.getUint32(at + 84, true);
      if (bytes <= MAX_ARRAY && arrayAt + bytes <= b.length) dv.setUint32(at + 88, crc(b.subarray(arrayAt, arrayAt + bytes)), true);
      const header = b.slice(at, at + size);
      header.fill(0, 16, 20);
      dv.setUint32(at + 16, crc(header), true);
    }
  }
  return b;
}

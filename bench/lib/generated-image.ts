/** Generated inputs for the single-purpose benches (no dependency on hexz itself: the dist benches use them too). */
import { writeFileSync } from 'node:fs';

/**
 * The benchmarks' stand-in for the corpus disk when HEXZ_CORPUS is not set: 512 MiB of
 * {@link fillPseudoText} with a 16 MiB zero run every 64 MiB, written to `path`.
 */
export function writeGeneratedImage(path: string): string {
  const buf = Buffer.alloc(512 << 20);
  fillPseudoText(buf, 4242);
  for (let at = 0; at < buf.length; at += 64 << 20) buf.fill(0, at, at + (16 << 20));
  writeFileSync(path, buf);
  return path;
}

/** Fills `buf` with text-like pseudo-random bytes (xorshift32, each byte masked to 0x3f). */
export function fillPseudoText(buf: Buffer, seed = 12345): void {
  let x = seed;
  for (let i = 0; i + 4 <= buf.length; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; buf.writeUInt32LE((x >>> 0) & 0x3f3f3f3f, i); }
}

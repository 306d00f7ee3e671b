/** Offsets for the random-read section, and the raw bytes to check reads against. */
import { closeSync, openSync, readSync } from 'node:fs';
import { mulberry32 } from './prng.js';

/**
 * `n` distinct `len`-aligned offsets whose `len` bytes of the raw image are not all zero
 * (fixed seed).
 * @throws Error when the image has too few non-zero blocks.
 */
export function pickOffsets(path: string, size: number, n: number, len: number): { offsets: number[]; tries: number } {
  const rand = mulberry32(42);
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(len);
  const zero = Buffer.alloc(len);
  const seen = new Set<number>();
  const offsets: number[] = [];
  const slots = Math.floor(size / len);
  let tries = 0;
  try {
    while (offsets.length < n && tries < n * 1000) {
      tries++;
      const off = Math.floor(rand() * slots) * len;
      if (seen.has(off)) continue;
      seen.add(off);
      readSync(fd, buf, 0, len, off);
      if (!buf.equals(zero)) offsets.push(off);
    }
  } finally {
    closeSync(fd);
  }
  if (offsets.length < n) throw new Error(`found only ${offsets.length} non-zero ${len}-byte blocks in ${path}`);
  return { offsets, tries };
}

/** `len` bytes of the file at `off`. */
export function readRaw(path: string, off: number, len: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, off);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** The sample disk image `npm run bench` generates when there is no corpus. */
import { closeSync, ftruncateSync, lstatSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from './prng.js';

const MiB = 1 << 20;

/** Regular files under /usr (below 64 MiB each), in a fixed order: real text, binaries, compressed data. */
function usrFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory() && depth < 12) walk(p, depth + 1);
      else if (st.isFile() && st.size > 0 && st.size < 64 * MiB) files.push(p);
    }
  };
  for (const d of ['/usr/bin', '/usr/lib', '/usr/share', '/usr/libexec', '/usr/sbin']) walk(d, 0);
  if (files.length === 0) throw new Error('no files under /usr to build a sample image from');
  return files;
}

/** A reader of `n` bytes at a time from the files concatenated, wrapping around. */
function concatenated(files: string[]): (n: number) => Buffer {
  let fi = 0;
  let cur = Buffer.alloc(0);
  let curAt = 0;
  return (n) => {
    const parts: Buffer[] = [];
    let got = 0;
    let spins = 0;
    while (got < n) {
      if (curAt >= cur.length) {
        try {
          cur = readFileSync(files[fi++ % files.length]);
        } catch {
          cur = Buffer.alloc(0);
        }
        curAt = 0;
        if (++spins > files.length * 2 && got === 0) throw new Error('could not read files under /usr');
        continue;
      }
      const k = Math.min(n - got, cur.length - curAt);
      parts.push(cur.subarray(curAt, curAt + k));
      curAt += k;
      got += k;
    }
    return Buffer.concat(parts, n);
  };
}

/**
 * Writes a sparse sample image of `mib` MiB to `path`: extents of concatenated real files from
 * /usr (text, binaries, already-compressed data), holes, explicitly written zeros, duplicates of
 * earlier extents and some random bytes, with a fixed-seed PRNG.
 */
export function generateSampleImage(path: string, mib: number): void {
  const size = mib * MiB;
  const rand = mulberry32(0x5eed);
  const takeUsr = concatenated(usrFiles());
  const fd = openSync(path, 'w+');
  const written: { at: number; len: number }[] = [];
  try {
    let pos = 0;
    while (pos < size) {
      const len = Math.min(size - pos, (1 + Math.floor(rand() * 256)) * 16384); // 16 KiB .. 4 MiB
      const r = rand();
      let buf: Buffer | null = null;
      if (r < 0.40) buf = null; // hole
      else if (r < 0.82) buf = takeUsr(len);
      else if (r < 0.90 && written.length > 0) {
        // a duplicate of an earlier extent (block-aligned: both start on 16 KiB boundaries)
        const src = written[Math.floor(rand() * written.length)];
        const n = Math.min(len, src.len);
        buf = Buffer.alloc(n);
        readSync(fd, buf, 0, n, src.at);
      } else if (r < 0.95) buf = Buffer.alloc(len); // zeros written out (not a hole)
      else {
        buf = Buffer.allocUnsafe(len);
        for (let i = 0; i < len; i += 4) buf.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
      }
      if (buf) {
        writeSync(fd, buf, 0, buf.length, pos);
        written.push({ at: pos, len: buf.length });
      }
      pos += len;
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

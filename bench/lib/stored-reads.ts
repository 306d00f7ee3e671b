/**
 * Random 4 KiB reads inside stored (non-zero) entries of an archive's disk stream, shared by
 * the crypto and thin benchmarks. The decoded-block cache is off, so every read fetches, opens,
 * decodes and verifies its block; the same seed gives the same offsets for archives of the same
 * input and chunking, so two archives can be compared read for read.
 */
import { Archive } from '../../src/node/archive.js';
import { EntryKind } from '../../src/format/constants.js';
import { dropCaches, syncAll } from './page-cache.js';

/** Latencies in µs, and the share of reads whose block lives in a parent archive (slot > 0). */
export interface ReadStats {
  p50us: number;
  meanUs: number;
  parentShare: number;
}

/** `count` timed random reads of `path` (page cache as it is). */
export async function randomStoredReads(path: string, count: number, password?: string): Promise<ReadStats> {
  const a = await Archive.open(path, { password, cacheBytes: 0, readAheadBytes: 0 });
  const stored: { offset: number; length: number; slot: number }[] = [];
  for await (const e of a.entries('disk')) if (e.kind !== EntryKind.ZERO && e.length >= 4096) stored.push({ offset: e.offset, length: e.length, slot: e.slot });
  let seed = 42;
  const next = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
  const times: number[] = [];
  let inParent = 0;
  for (let i = 0; i < count; i++) {
    const e = stored[Math.floor(next() * stored.length)];
    if (e.slot > 0) inParent++;
    const off = e.offset + Math.floor(next() * (e.length - 4096 + 1));
    const t = process.hrtime.bigint();
    await a.readAt('disk', off, 4096);
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  await a.close();
  times.sort((p, q) => p - q);
  return { p50us: times[Math.floor(times.length / 2)], meanUs: times.reduce((s, v) => s + v, 0) / times.length, parentShare: inParent / count };
}

/**
 * 500 {@link randomStoredReads} right after a sync and dropping the page cache, dentries and
 * inodes; null when that is not allowed (not root).
 */
export async function coldStoredReads(path: string, password?: string): Promise<ReadStats | null> {
  syncAll();
  if (!dropCaches(3)) return null;
  return randomStoredReads(path, 500, password);
}

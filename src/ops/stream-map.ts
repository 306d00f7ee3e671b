import type { Archive } from '../archive/archive.js';
import { EntryKind, STREAM_NAMES, type StreamName } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { UsageError } from '../errors.js';

/** What the bytes of a stream are, as a picture shows them: bytes per region kind in each of `buckets` equal slices. */
export interface StreamMap {
  stream: StreamName;
  /** Logical size of the stream in bytes. */
  size: number;
  /**
   * Logical bytes per bucket, size / buckets (fractional): bucket b covers
   * [floor(b × bucketBytes), floor((b + 1) × bucketBytes)), the last one ending at `size`.
   */
  bucketBytes: number;
  /** Per bucket, bytes that are zero (holes, nothing stored). */
  zero: Float64Array;
  /** Per bucket, bytes stored in this archive (first copies). */
  data: Float64Array;
  /** Per bucket, bytes that repeat earlier content of this archive (deduplicated). */
  dedup: Float64Array;
  /** Per bucket, bytes read from a parent of a thin archive. */
  parent: Float64Array;
  /**
   * True when the index was too large to walk whole ({@link StreamMapOptions.maxEntries}): each
   * bucket was then measured on the first index leaf of its range and scaled to its length.
   */
  sampled: boolean;
}

/** Options of {@link streamMap}. */
export interface StreamMapOptions {
  /**
   * Most index entries walked (default 262,144: 16 MiB of index). A larger stream is sampled:
   * one index leaf per bucket, so a picture of a multi-TiB archive costs at most `buckets` leaf
   * reads, never its whole index.
   */
  maxEntries?: number;
  signal?: AbortSignal;
}

/**
 * Walks the index of `stream` (no block is read) and sums, for each of `buckets` equal slices of
 * its logical range, how many bytes are zero, own data, deduplicated, or referenced in a parent.
 * Cost: every index leaf of the stream, once; past `options.maxEntries`, one leaf per bucket
 * (then `sampled`).
 * @throws UsageError when `buckets` is not a positive integer or the stream is absent.
 * @throws CorruptArchiveError when an index node is damaged.
 */
export async function streamMap(archive: Archive, stream: StreamName, buckets: number, options: StreamMapOptions = {}): Promise<StreamMap> {
  const { signal } = options;
  if (!Number.isSafeInteger(buckets) || buckets < 1) throw new UsageError(`buckets must be a positive integer, got ${buckets}`);
  const size = archive.size(stream);
  const bucketBytes = size / buckets;
  const map: StreamMap = {
    stream, size, bucketBytes, zero: new Float64Array(buckets), data: new Float64Array(buckets), dedup: new Float64Array(buckets), parent: new Float64Array(buckets),
    sampled: archive.header.streams[STREAM_NAMES.indexOf(stream)].entryCount > (options.maxEntries ?? 262_144),
  };
  if (size === 0) return map;
  // Every bucket gets its share of the stream (ceil-sized buckets would leave the last ones empty).
  const edge = (b: number) => (b >= buckets ? size : Math.floor(b * bucketBytes));
  const bucketOf = (at: number) => {
    let b = Math.min(buckets - 1, Math.floor(at / bucketBytes));
    while (b > 0 && edge(b) > at) b--;
    while (b < buckets - 1 && edge(b + 1) <= at) b++;
    return b;
  };
  const kindOf = (e: IndexEntry) => (e.kind === EntryKind.ZERO ? map.zero : e.slot > 0 ? map.parent : e.kind !== EntryKind.DATA ? map.dedup : map.data);
  if (!map.sampled) {
    for await (const leaf of archive.entryLeaves(stream, 0, size, signal)) {
      for (const e of leaf) {
        const into = kindOf(e);
        // An entry can span several buckets (a long zero run): each gets its share.
        let at = e.offset;
        const end = e.offset + e.length;
        while (at < end) {
          const b = bucketOf(at);
          const to = Math.min(end, edge(b + 1));
          into[b] += to - at;
          at = to;
        }
      }
    }
    return map;
  }
  for (let b = 0; b < buckets; b++) {
    const from = edge(b);
    const to = edge(b + 1);
    if (to <= from) continue;
    const seen = { zero: 0, data: 0, dedup: 0, parent: 0 };
    let covered = 0;
    // The first leaf of the bucket's range stands for all of it.
    for await (const leaf of archive.entryLeaves(stream, from, to, signal)) {
      for (const e of leaf) {
        const n = Math.min(to, e.offset + e.length) - Math.max(from, e.offset);
        if (n <= 0) continue;
        const into = kindOf(e);
        seen[into === map.zero ? 'zero' : into === map.parent ? 'parent' : into === map.dedup ? 'dedup' : 'data'] += n;
        covered += n;
      }
      break;
    }
    const scale = covered > 0 ? (to - from) / covered : 0;
    for (const k of ['zero', 'data', 'dedup', 'parent'] as const) map[k][b] = seen[k] * scale;
  }
  return map;
}

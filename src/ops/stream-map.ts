import type { Archive } from '../archive/archive.js';
import { EntryKind, type StreamName } from '../format/constants.js';
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
}

/**
 * Walks the index of `stream` (no block is read) and sums, for each of `buckets` equal slices of
 * its logical range, how many bytes are zero, own data, deduplicated, or referenced in a parent.
 * Cost: every index leaf of the stream, once.
 * @throws UsageError when `buckets` is not a positive integer or the stream is absent.
 * @throws CorruptArchiveError when an index node is damaged.
 */
export async function streamMap(archive: Archive, stream: StreamName, buckets: number, signal?: AbortSignal): Promise<StreamMap> {
  if (!Number.isSafeInteger(buckets) || buckets < 1) throw new UsageError(`buckets must be a positive integer, got ${buckets}`);
  const size = archive.size(stream);
  const bucketBytes = size / buckets;
  const map: StreamMap = {
    stream, size, bucketBytes, zero: new Float64Array(buckets), data: new Float64Array(buckets), dedup: new Float64Array(buckets), parent: new Float64Array(buckets),
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
  for await (const leaf of archive.entryLeaves(stream, 0, size, signal)) {
    for (const e of leaf) {
      const into = e.kind === EntryKind.ZERO ? map.zero : e.slot > 0 ? map.parent : e.kind === EntryKind.DEDUP ? map.dedup : map.data;
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

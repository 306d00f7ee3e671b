/**
 * What an archive stores for byte ranges of its disk stream: the stored (compressed) bytes of
 * the index entries overlapping them, the least any reader of those ranges must fetch.
 */
import type { Archive } from '../../dist/index.js';
import type { ByteRange } from './debugfs.js';

/** Stored extents already counted, by `slot:storedOffset` (a deduplicated block is stored once). */
export type SeenExtents = Set<string>;

/**
 * Stored bytes of the entries of `archive`'s disk stream overlapping `ranges`, each stored extent
 * counted once across calls sharing `seen` (so metadata sharing a block with data is not counted
 * twice); ZERO entries store nothing.
 */
export async function storedBytesCovering(archive: Archive, ranges: ByteRange[], seen: SeenExtents = new Set()): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  for (const r of mergeRanges(ranges)) {
    for await (const leaf of archive.entryLeaves('disk', r.offset, r.offset + r.length)) {
      for (const e of leaf) {
        const key = `${e.slot}:${e.storedOffset}`;
        if (e.storedLength === 0 || seen.has(key)) continue;
        seen.add(key);
        bytes += e.storedLength;
        entries++;
      }
    }
  }
  return { bytes, entries };
}

/** The ranges sorted, overlapping and touching ones joined. */
export function mergeRanges(ranges: ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of [...ranges].filter((x) => x.length > 0).sort((a, b) => a.offset - b.offset)) {
    const last = out.at(-1);
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ ...r });
  }
  return out;
}

/** The same ranges moved by `by` bytes (a partition's ranges to disk ranges). */
export const shiftRanges = (ranges: ByteRange[], by: number): ByteRange[] => ranges.map((r) => ({ offset: r.offset + by, length: r.length }));

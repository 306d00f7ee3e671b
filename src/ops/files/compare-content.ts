/**
 * Whether two regular files (one in each of two archives) hold the same bytes, and how many
 * differ, reading as little as possible: where both files' maps put a range at the same place
 * of the disk and both archives' index entries there carry the same content hashes, the bytes
 * are equal without being read (a thin child against its parent: every unchanged file); holes
 * in both are equal; only what is left is read and compared.
 */
import type { StreamName } from '../../format/constants.js';
import { sameBytes, type IndexEntry } from '../../format/entry.js';
import type { Ext4Filesystem, FsNode } from '../../fs/ext4/index.js';
import type { Archive } from '../../archive/archive.js';
import { ByteRanges } from '../../util/byte-ranges.js';
import { FILE_PIECE_BYTES, filePieces, type FilePiece } from './read-file.js';

/** Granularity of {@link compareContent}'s changed-byte count, in bytes (a page). */
export const COMPARE_PAGE_BYTES = 4096;

/** One file of one archive. */
export interface ContentSide {
  archive: Archive;
  stream: StreamName;
  fs: Ext4Filesystem;
  /** Byte offset of the filesystem's partition in the stream. */
  partitionOffset: number;
  node: FsNode;
}

/** What comparing cost, accumulated over calls. */
export interface CompareStats {
  /** Bytes of file content proven equal from index hashes, without reading them. */
  bytesByIndex: number;
  /** Bytes of file content read, both sides together. */
  bytesRead: number;
}

/**
 * The bytes of B's file that differ from A's: the bytes of the {@link COMPARE_PAGE_BYTES} pages
 * of the file (aligned to its start) holding any difference, plus the part of the longer file
 * past the shorter one's end. 0 means equal content.
 * @param hashesComparable whether equal content hashes in the two archives mean equal bytes
 *   (both plain, or encrypted under one data key).
 * @throws CorruptArchiveError / CorruptImageError from what is read; AbortedError.
 */
export async function compareContent(a: ContentSide, b: ContentSide, hashesComparable: boolean, stats: CompareStats, signal?: AbortSignal): Promise<number> {
  const common = Math.min(a.node.size, b.node.size);
  const tail = Math.max(a.node.size, b.node.size) - common;
  const [mapA, mapB] = await Promise.all([collect(filePieces(a.fs, a.node, signal)), collect(filePieces(b.fs, b.node, signal))]);
  const toRead = new ByteRanges();
  let ia = 0;
  let ib = 0;
  for (let at = 0; at < common;) {
    while (end(mapA[ia]) <= at) ia++;
    while (end(mapB[ib]) <= at) ib++;
    const pa = mapA[ia];
    const pb = mapB[ib];
    const to = Math.min(end(pa), end(pb), common);
    if (pa.deviceOffset === null && pb.deviceOffset === null) {
      // Holes in both: zeros in both.
    } else if (pa.deviceOffset !== null && pb.deviceOffset !== null && hashesComparable
      && a.partitionOffset + pa.deviceOffset - pa.offset === b.partitionOffset + pb.deviceOffset - pb.offset) {
      const base = a.partitionOffset + pa.deviceOffset - pa.offset; // stream offset of file byte 0 here
      let differing = 0;
      for (const r of await differingByIndex(a, b, base + at, base + to, signal)) {
        toRead.add(r.start - base, r.end - base);
        differing += r.end - r.start;
      }
      stats.bytesByIndex += to - at - differing;
    } else toRead.add(at, to);
    at = to;
  }
  let changed = tail;
  for (const r of toRead.ranges) changed += await compareBytes(a, b, r.start, r.end, stats, signal);
  return changed;
}

const end = (p: FilePiece | undefined) => (p ? p.offset + p.length : Infinity);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Sub-ranges of stream range [from, to) where A's and B's index entries do not prove the bytes
 * equal. Equal: both zero runs, or both the same entry (offset, length and content hash).
 */
async function differingByIndex(a: ContentSide, b: ContentSide, from: number, to: number, signal?: AbortSignal): Promise<{ start: number; end: number }[]> {
  const [ea, eb] = await Promise.all([entries(a, from, to, signal), entries(b, from, to, signal)]);
  const out = new ByteRanges();
  let i = 0;
  let j = 0;
  for (let at = from; at < to;) {
    while (i < ea.length && ea[i].offset + ea[i].length <= at) i++;
    while (j < eb.length && eb[j].offset + eb[j].length <= at) j++;
    const x = ea[i];
    const y = eb[j];
    if (!x || !y) {
      out.add(at, to); // an index that does not reach here: let the read decide
      break;
    }
    const next = Math.min(to, x.offset + x.length, y.offset + y.length);
    if (!sameBytes(x, y, at)) out.add(at, next);
    at = next;
  }
  return out.ranges;
}

async function entries(side: ContentSide, from: number, to: number, signal?: AbortSignal): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const leaf of side.archive.entryLeaves(side.stream, from, to, signal)) out.push(...leaf);
  return out;
}

/** Reads [from, to) of both files in pieces and counts the bytes of the pages that differ. */
async function compareBytes(a: ContentSide, b: ContentSide, from: number, to: number, stats: CompareStats, signal?: AbortSignal): Promise<number> {
  let changed = 0;
  for (let at = from; at < to; at += FILE_PIECE_BYTES) {
    const n = Math.min(FILE_PIECE_BYTES, to - at);
    const [x, y] = await Promise.all([a.fs.read(a.node.ino, at, n, { signal }), b.fs.read(b.node.ino, at, n, { signal })]);
    stats.bytesRead += x.length + y.length;
    // Pages are aligned to the file, so a range starting mid-page counts from its start.
    for (let p = 0; p < n;) {
      const pageEnd = Math.min(n, COMPARE_PAGE_BYTES - ((at + p) % COMPARE_PAGE_BYTES) + p);
      if (!Buffer.from(x.buffer, x.byteOffset + p, pageEnd - p).equals(Buffer.from(y.buffer, y.byteOffset + p, pageEnd - p))) changed += pageEnd - p;
      p = pageEnd;
    }
  }
  return changed;
}

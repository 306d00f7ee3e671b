import type { FileHandle } from 'node:fs/promises';
import { DataRangeList } from './data-ranges.js';
import { readAt } from './read-at.js';
import type { ByteRange, FileContent } from './types.js';

/**
 * The content of a file stored in an uncompressed tar file on disk, read where it lies: the
 * stored parts (one for a plain file; the data parts of a GNU sparse file) sit back to back
 * from `dataOffset`; bytes outside them are zeros.
 */
export class TarFileContent implements FileContent {
  readonly dataRanges?: readonly ByteRange[];
  /**
   * Each stored part as three numbers: its offset in the file, its length, its offset in the
   * tar. A typed array rather than objects: a sparse map of 10^6 parts past 2 GiB would be 10^6
   * objects holding boxed numbers (~100 bytes a part instead of 24).
   */
  private readonly parts: Float64Array;
  private readonly count: number;

  /**
   * @param tar the open tar file (the tree closes it).
   * @param name names the tar in messages.
   * @param size the file's size in bytes.
   * @param segments the stored parts, in file order (from {@link TarEntry.segments}).
   */
  constructor(private readonly tar: FileHandle, private readonly name: string, dataOffset: number, readonly size: number, segments: readonly ByteRange[]) {
    let at = dataOffset;
    this.count = segments.length;
    this.parts = new Float64Array(3 * segments.length);
    segments.forEach((s, i) => {
      this.parts.set([s.offset, s.length, at], 3 * i);
      at += s.length;
    });
    const ranges = new DataRangeList(size);
    for (const s of segments) ranges.add(s.offset, s.offset + s.length);
    this.dataRanges = ranges.result();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const p = this.parts;
    const offsetOf = (i: number) => p[3 * i]!;
    const lengthOf = (i: number) => p[3 * i + 1]!;
    const atOf = (i: number) => p[3 * i + 2]!;
    if (this.count === 1 && offsetOf(0) <= offset && offset + length <= offsetOf(0) + lengthOf(0)) {
      return readAt(this.tar, atOf(0) + (offset - offsetOf(0)), length, this.name);
    }
    const out = new Uint8Array(length);
    const end = offset + length;
    // Binary search for the first part ending after `offset`.
    let lo = 0;
    for (let hi = this.count; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      if (offsetOf(mid) + lengthOf(mid) <= offset) lo = mid + 1;
      else hi = mid;
    }
    let hi = lo;
    while (hi < this.count && offsetOf(hi) < end) hi++;
    if (hi === lo) return out;
    // The parts are stored back to back: one read of the stored span they cover, then each
    // part copied to its place (a map of 200,000 one-byte parts is one read, not 200,000).
    const spanStart = atOf(lo) + Math.max(0, offset - offsetOf(lo));
    const spanEnd = atOf(hi - 1) + Math.min(lengthOf(hi - 1), end - offsetOf(hi - 1));
    const span = await readAt(this.tar, spanStart, spanEnd - spanStart, this.name);
    for (let i = lo; i < hi; i++) {
      const from = Math.max(offset, offsetOf(i));
      const to = Math.min(end, offsetOf(i) + lengthOf(i));
      if (from >= to) continue;
      const at = atOf(i) + (from - offsetOf(i)) - spanStart;
      out.set(span.subarray(at, at + (to - from)), from - offset);
    }
    return out;
  }
}

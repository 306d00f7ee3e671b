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
  /** Each stored part with its offset in the tar. */
  private readonly parts: Array<ByteRange & { at: number }>;

  /**
   * @param tar the open tar file (the tree closes it).
   * @param name names the tar in messages.
   * @param size the file's size in bytes.
   * @param segments the stored parts, in file order (from {@link TarEntry.segments}).
   */
  constructor(private readonly tar: FileHandle, private readonly name: string, dataOffset: number, readonly size: number, segments: readonly ByteRange[]) {
    let at = dataOffset;
    this.parts = segments.map((s) => {
      const part = { ...s, at };
      at += s.length;
      return part;
    });
    const ranges = new DataRangeList(size);
    for (const s of segments) ranges.add(s.offset, s.offset + s.length);
    this.dataRanges = ranges.result();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const only = this.parts.length === 1 ? this.parts[0]! : undefined;
    if (only && only.offset <= offset && offset + length <= only.offset + only.length) {
      return readAt(this.tar, only.at + (offset - only.offset), length, this.name);
    }
    const out = new Uint8Array(length);
    const end = offset + length;
    // Binary search for the first part ending after `offset`.
    let lo = 0;
    for (let hi = this.parts.length; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      const p = this.parts[mid]!;
      if (p.offset + p.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    let hi = lo;
    while (hi < this.parts.length && this.parts[hi]!.offset < end) hi++;
    if (hi === lo) return out;
    // The parts are stored back to back: one read of the stored span they cover, then each
    // part copied to its place (a map of 200,000 one-byte parts is one read, not 200,000).
    const first = this.parts[lo]!;
    const last = this.parts[hi - 1]!;
    const spanStart = first.at + Math.max(0, offset - first.offset);
    const spanEnd = last.at + Math.min(last.length, end - last.offset);
    const span = await readAt(this.tar, spanStart, spanEnd - spanStart, this.name);
    for (let i = lo; i < hi; i++) {
      const p = this.parts[i]!;
      const from = Math.max(offset, p.offset);
      const to = Math.min(end, p.offset + p.length);
      if (from >= to) continue;
      const at = p.at + (from - p.offset) - spanStart;
      out.set(span.subarray(at, at + (to - from)), from - offset);
    }
    return out;
  }
}

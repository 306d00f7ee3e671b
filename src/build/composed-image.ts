/**
 * A whole virtual disk made of pieces: fixed byte runs (a partition table and its backup) and
 * images placed at offsets (the filesystems of the partitions); everything else is zeros. The
 * packer reads it like any other disk image, asking for zero extents first.
 */
import { UsageError } from '../errors.js';
import type { DiskImage, ImageExtent } from '../image/types.js';

/** One piece of the disk; offsets in bytes from the disk's start. */
export type DiskPiece =
  | { offset: number; bytes: Uint8Array }
  | { offset: number; image: DiskImage };

function pieceSize(p: DiskPiece): number {
  return 'bytes' in p ? p.bytes.length : p.image.size;
}

/** The composed disk. */
export class ComposedImage implements DiskImage {
  readonly format = 'raw' as const;
  private readonly pieces: DiskPiece[];

  /**
   * @throws UsageError when pieces overlap or lie outside `size` (a layout bug or bad sizes).
   */
  constructor(readonly name: string, readonly size: number, pieces: DiskPiece[]) {
    this.pieces = [...pieces].sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const p of this.pieces) {
      if (p.offset < end) throw new UsageError(`${name}: disk pieces overlap at byte ${p.offset}`);
      end = p.offset + pieceSize(p);
      if (end > size) throw new UsageError(`${name}: a piece ends at byte ${end}, past the ${size}-byte disk`);
    }
  }

  async extents(offset: number, length: number): Promise<ImageExtent[]> {
    const end = Math.min(this.size, offset + length);
    const out: ImageExtent[] = [];
    const push = (e: ImageExtent) => {
      if (e.length <= 0) return;
      const last = out[out.length - 1];
      if (last && last.kind === e.kind && last.offset + last.length === e.offset) last.length += e.length;
      else out.push({ ...e });
    };
    let at = offset;
    for (const p of this.pieces) {
      const pEnd = p.offset + pieceSize(p);
      if (pEnd <= at || p.offset >= end) continue;
      push({ offset: at, length: Math.max(0, p.offset - at), kind: 'zero' });
      const from = Math.max(at, p.offset);
      const to = Math.min(end, pEnd);
      if ('bytes' in p) push({ offset: from, length: to - from, kind: 'data' });
      else for (const e of await p.image.extents(from - p.offset, to - from)) push({ ...e, offset: e.offset + p.offset });
      at = to;
    }
    push({ offset: at, length: end - at, kind: 'zero' });
    return out;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new UsageError(`read of ${length} bytes at ${offset} is outside the ${this.size}-byte disk`);
    const out = new Uint8Array(length);
    const end = offset + length;
    for (const p of this.pieces) {
      const pEnd = p.offset + pieceSize(p);
      if (pEnd <= offset || p.offset >= end) continue;
      const from = Math.max(offset, p.offset);
      const to = Math.min(end, pEnd);
      const bytes = 'bytes' in p ? p.bytes.subarray(from - p.offset, to - p.offset) : await p.image.read(from - p.offset, to - from);
      out.set(bytes, from - offset);
    }
    return out;
  }

  async close(): Promise<void> {
    for (const p of this.pieces) if ('image' in p) await p.image.close();
  }
}

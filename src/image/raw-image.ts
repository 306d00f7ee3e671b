/**
 * A raw disk image read as a block device: the file's bytes are the disk. Holes of sparse files
 * (SEEK_HOLE, when the platform can tell) are reported as zero extents.
 */
import type { FileHandle } from 'node:fs/promises';
import { openInputFile } from '../store/open-input-file.js';
import { StoreError, UsageError, throwIfAborted, wrapIoError } from '../errors.js';
import { createHoleFinder, type HoleFinder } from '../store/holes.js';
import type { ReadOptions } from '../store/types.js';
import type { DiskImage, ImageExtent } from './types.js';

/** A raw image opened read-only. Create with {@link RawImage.open} (or `openImage`). */
export class RawImage implements DiskImage {
  readonly format = 'raw' as const;

  private constructor(readonly name: string, private readonly fh: FileHandle, readonly size: number, private readonly holes: HoleFinder | null) {}

  /**
   * Opens `path`.
   * @throws StoreError when the file cannot be opened.
   */
  static async open(path: string): Promise<RawImage> {
    const { fh, stat, size } = await openInputFile(path, 'open image');
    // Block devices have no holes to find; only regular files are asked.
    return new RawImage(path, fh, size, stat.isFile() ? await createHoleFinder(fh.fd, size) : null);
  }

  async extents(offset: number, length: number): Promise<ImageExtent[]> {
    this.checkRange(offset, length);
    const end = offset + length;
    if (!this.holes) return length > 0 ? [{ offset, length, kind: 'data' }] : [];
    const out: ImageExtent[] = [];
    let pos = offset;
    while (pos < end) {
      const d = Math.min(end, this.holes.nextData(pos));
      if (d > pos) out.push({ offset: pos, length: d - pos, kind: 'zero' });
      if (d >= end) break;
      const h = Math.min(end, this.holes.nextHole(d));
      out.push({ offset: d, length: h - d, kind: 'data' });
      pos = h;
    }
    return out;
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.checkRange(offset, length);
    throwIfAborted(options?.signal, 'read');
    const buf = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw wrapIoError(err, this.name, 'read image');
    }
    if (done !== length) throw new StoreError(`${this.name}: image shrank while reading`, { archive: this.name, stage: 'read image' });
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new UsageError(`${this.name}: range ${offset}+${length} is outside the image (${this.size} bytes)`);
    }
  }
}

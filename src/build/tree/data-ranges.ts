import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { wrapIoError } from '../../errors.js';
import { createHoleFinder } from '../../store/holes.js';
import type { ByteRange } from './types.js';

/** The granularity of {@link FileContent.dataRanges}: the ext4 block size hexz builds with. */
export const DATA_BLOCK = 4096;
/**
 * The largest regular file the filesystems hexz builds can hold: ext4's extents address 2^32 − 1
 * blocks of 4096 bytes (16 TiB − 4 KiB; ext2's block maps hold less, which the layout checks).
 * A source file above it is refused when scanned, before its size enters any sum.
 */
export const MAX_FILE_BYTES = (2 ** 32 - 1) * DATA_BLOCK;

/**
 * Collects data ranges in ascending order, rounded outwards to {@link DATA_BLOCK} boundaries
 * (the end clamped to the file's size) and merged when they touch or overlap.
 */
export class DataRangeList {
  readonly ranges: ByteRange[] = [];

  /** @param size the file's size in bytes. */
  constructor(readonly size: number) {}

  /** Adds the data bytes `[start, end)`; must not start before an earlier range. */
  add(start: number, end: number): void {
    if (end <= start) return;
    const from = Math.floor(start / DATA_BLOCK) * DATA_BLOCK;
    const to = Math.min(this.size, Math.ceil(end / DATA_BLOCK) * DATA_BLOCK);
    const last = this.ranges[this.ranges.length - 1];
    if (last && from <= last.offset + last.length) {
      last.length = Math.max(last.length, to - last.offset);
    } else {
      this.ranges.push({ offset: from, length: to - from });
    }
  }

  /** Total bytes in the ranges. */
  get bytes(): number {
    return this.ranges.reduce((n, r) => n + r.length, 0);
  }

  /** The ranges, or undefined when one range covers the whole file (nothing sparse). */
  result(): ByteRange[] | undefined {
    const only = this.ranges.length === 1 ? this.ranges[0] : undefined;
    return only && only.offset === 0 && only.length === this.size ? undefined : this.ranges;
  }
}

/**
 * Asks the file system where a file's data lies (lseek SEEK_DATA / SEEK_HOLE), for files
 * whose allocated blocks are fewer than their size suggests.
 * @param path the file (bytes); opened without following symlinks.
 * @param size its size in bytes, as scanned.
 * @returns the data ranges rounded outwards to 4096 bytes, or undefined when the platform
 *   cannot tell or the file has no holes after all.
 * @throws StoreError when the file cannot be opened.
 */
export async function findDataRanges(path: Buffer, size: number, name: string): Promise<ByteRange[] | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw wrapIoError(err, name, 'find holes');
  }
  try {
    const holes = await createHoleFinder(fh.fd, size);
    if (!holes) return undefined;
    const list = new DataRangeList(size);
    for (let pos = holes.nextData(0); pos < size; ) {
      const end = holes.nextHole(pos);
      list.add(pos, end);
      if (end >= size) break;
      pos = holes.nextData(end);
    }
    return list.result();
  } finally {
    await fh.close();
  }
}

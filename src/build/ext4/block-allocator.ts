/**
 * Hands out the free blocks of a filesystem being laid out, in increasing order: each group's
 * metadata run (at the group's start) is skipped, and a request may be aligned so that a file
 * starts on an archive block boundary. Allocation is sequential, so the same requests in the
 * same order always give the same blocks (a reproducible, thin-friendly layout).
 */
import { UsageError } from '../../errors.js';
import { BLOCKS_PER_GROUP, groupOverhead, type Ext4Geometry } from './ext4-geometry.js';

/** A run of `len` blocks from `start`. */
export interface BlockRun {
  start: number;
  len: number;
}

/** The sequential allocator. */
export class BlockAllocator {
  private cursor = 0;
  /** Every run handed out, in order (adjacent runs merged). */
  readonly runs: BlockRun[] = [];
  private used = 0;

  constructor(private readonly geometry: Ext4Geometry) {
    this.cursor = groupOverhead(geometry, 0);
  }

  /** Blocks handed out so far. */
  get allocated(): number {
    return this.used;
  }

  /** The first block not yet handed out (everything from here to the end is free). */
  get next(): number {
    return this.cursor;
  }

  /** Moves the cursor out of a group's metadata run. */
  private skipMetadata(): void {
    const group = Math.floor(this.cursor / BLOCKS_PER_GROUP);
    const dataStart = group * BLOCKS_PER_GROUP + groupOverhead(this.geometry, group);
    if (this.cursor < dataStart) this.cursor = dataStart;
  }

  /** Moves the cursor to the next multiple of `align` blocks that is free. */
  align(align: number): void {
    if (align <= 1) return;
    for (;;) {
      this.skipMetadata();
      const aligned = Math.ceil(this.cursor / align) * align;
      if (aligned === this.cursor) return;
      this.cursor = aligned;
    }
  }

  /**
   * Allocates `count` blocks from the cursor on, split where group metadata intervenes.
   * @param what names what did not fit in the error (a function: only called then).
   * @throws UsageError when the filesystem is full.
   */
  allocate(count: number, what: string | (() => string)): BlockRun[] {
    const out: BlockRun[] = [];
    let left = count;
    while (left > 0) {
      this.skipMetadata();
      const group = Math.floor(this.cursor / BLOCKS_PER_GROUP);
      const groupEnd = Math.min((group + 1) * BLOCKS_PER_GROUP, this.geometry.blocksCount);
      if (this.cursor >= this.geometry.blocksCount) {
        throw new UsageError(`the filesystem is full: no room for ${typeof what === 'string' ? what : what()} (${this.geometry.blocksCount} blocks of 4 KiB); give a larger --size`);
      }
      const n = Math.min(left, groupEnd - this.cursor);
      if (n <= 0) {
        this.cursor = groupEnd;
        continue;
      }
      out.push({ start: this.cursor, len: n });
      const last = this.runs[this.runs.length - 1];
      if (last && last.start + last.len === this.cursor) last.len += n;
      else this.runs.push({ start: this.cursor, len: n });
      this.cursor += n;
      this.used += n;
      left -= n;
    }
    return out;
  }
}

import { EntryKind } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { CorruptArchiveError } from '../errors.js';

/** A zero run at least this long is a chunk of its own (no bytes), not zeros inside a data chunk. */
const ZERO_SPLIT = 256 << 10;

/** A planned chunk of a sequential read: its entries, the stored ones, and what it holds of the window. */
export interface Run {
  /** Logical offset of its first byte. */
  offset: number;
  length: number;
  /** The index entries overlapping it, in order. */
  entries: IndexEntry[];
  /** Those that are not zero entries (read and decoded). */
  stored: IndexEntry[];
  /** Their stored bytes (what the chunk holds of the read-ahead window). */
  storedBytes: number;
}

/**
 * Cuts the index entries of [start, end) into chunks of about `chunkBytes` logical bytes for
 * readSequential: a zero run of at least 256 KiB is a chunk of its own (nothing to read), a
 * shorter one rides inside the data chunk around it; entries are checked to tile the range.
 */
export class RunPlanner {
  private leaf: IndexEntry[] = [];
  private i = 0;
  private pos: number;

  constructor(
    private readonly leaves: AsyncIterator<IndexEntry[]>,
    start: number,
    private readonly end: number,
    private readonly chunkBytes: number,
    private readonly archive: string,
    private readonly stream: string,
  ) {
    this.pos = start;
  }

  /** Where the next chunk starts. */
  get position(): number {
    return this.pos;
  }

  /**
   * The next chunk, or undefined at the end of the range.
   * @throws CorruptArchiveError when the entries do not tile the range (or what the leaves throw).
   */
  async next(): Promise<Run | undefined> {
    if (this.pos >= this.end) return undefined;
    const run: Run = { offset: this.pos, length: 0, entries: [], stored: [], storedBytes: 0 };
    while (this.pos < this.end) {
      const e = await this.peek();
      if (!e || e.offset > this.pos || e.offset + e.length <= this.pos) {
        throw new CorruptArchiveError(`index entries do not tile the stream at offset ${this.pos}`, { archive: this.archive, stream: this.stream, offset: this.pos, stage: 'index' });
      }
      const to = Math.min(this.end, e.offset + e.length);
      const n = to - this.pos;
      const zero = e.kind === EntryKind.ZERO;
      if (run.entries.length) {
        // A long zero run is a chunk of its own; a short one rides inside the data around it.
        if (zero ? run.stored.length > 0 && n >= ZERO_SPLIT : run.stored.length === 0 && run.length >= ZERO_SPLIT) break;
        if ((run.stored.length > 0 || !zero) && run.length + n > this.chunkBytes) break;
      }
      run.entries.push(e);
      run.length += n;
      if (!zero) {
        run.stored.push(e);
        run.storedBytes += e.storedLength;
      }
      this.pos = to;
      if (to === e.offset + e.length) this.i++;
    }
    return run;
  }

  private async peek(): Promise<IndexEntry | undefined> {
    while (this.i >= this.leaf.length) {
      const r = await this.leaves.next();
      if (r.done) return undefined;
      this.leaf = r.value;
      this.i = 0;
    }
    return this.leaf[this.i];
  }
}

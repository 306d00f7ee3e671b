import type { StreamName } from '../format/constants.js';
import { UsageError } from '../errors.js';
import type { Archive } from './archive.js';

/** Where {@link ArchiveHandle.seek} measures from, as in lseek(2). */
export type Whence = 'set' | 'cur' | 'end';

/**
 * A file-like cursor over one stream of an archive: `read` advances the position, `seek`
 * moves it, `tell` reports it. Reads at the end return an empty array.
 */
export class ArchiveHandle {
  private pos = 0;

  constructor(private readonly archive: Archive, readonly stream: StreamName) {}

  /** Size of the stream in bytes. */
  get size(): number {
    return this.archive.size(this.stream);
  }

  /** Reads up to `length` bytes at the current position and advances past them. */
  async read(length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - this.pos));
    if (n === 0) return new Uint8Array(0); // at or past the end, like read(2)
    const out = await this.archive.readAt(this.stream, this.pos, n);
    this.pos += n;
    return out;
  }

  /**
   * Moves the position and returns the new one.
   * @throws UsageError when the result would be negative.
   */
  seek(offset: number, whence: Whence = 'set'): number {
    const base = whence === 'set' ? 0 : whence === 'cur' ? this.pos : this.size;
    const next = base + offset;
    if (!Number.isSafeInteger(next) || next < 0) throw new UsageError(`seek to ${next} is before the start of stream ${this.stream}`);
    this.pos = next;
    return next;
  }

  /** The current position in bytes. */
  tell(): number {
    return this.pos;
  }
}

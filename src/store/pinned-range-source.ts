import type { ByteSource, ReadOptions } from './types.js';

/**
 * Wraps a source and serves reads that fall entirely inside one range from bytes already held
 * in memory; all other reads go to the inner source. The archive reader pins a small index
 * this way at open, so random reads then cost one request (the block) instead of two.
 */
export class PinnedRangeSource implements ByteSource {
  constructor(private readonly inner: ByteSource, private readonly start: number, private readonly bytes: Uint8Array) {}

  get name(): string {
    return this.inner.name;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const end = this.start + this.bytes.length;
    if (offset >= this.start && offset + length <= end) {
      return this.bytes.subarray(offset - this.start, offset - this.start + length);
    }
    return this.inner.read(offset, length, options);
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

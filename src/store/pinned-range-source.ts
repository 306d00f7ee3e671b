import type { ByteSource, ReadOptions } from './types.js';
import { SourceWrapper } from './source-wrapper.js';

/**
 * Wraps a source and serves reads that fall entirely inside one range from bytes already held
 * in memory; all other reads go to the inner source. The archive reader pins a small index
 * this way at open, so random reads then cost one request (the block) instead of two.
 */
export class PinnedRangeSource extends SourceWrapper {
  constructor(inner: ByteSource, private readonly start: number, private readonly bytes: Uint8Array) {
    super(inner);
  }

  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const end = this.start + this.bytes.length;
    if (offset >= this.start && offset + length <= end) {
      return this.bytes.subarray(offset - this.start, offset - this.start + length);
    }
    return this.inner.read(offset, length, options);
  }

  override readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    const end = this.start + this.bytes.length;
    if (offset >= this.start && offset + target.length <= end) return super.readInto(offset, target, options);
    return this.readIntoInner(offset, target, options);
  }
}

import type { ByteSource, ReadOptions } from './types.js';

/**
 * A {@link ByteSource} that passes everything to the source it wraps; wrappers (counting,
 * pinning, caching, coalescing, retry, limits) extend it and override only what they change.
 */
export class SourceWrapper implements ByteSource {
  constructor(protected readonly inner: ByteSource) {}

  get name(): string {
    return this.inner.name;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.inner.read(offset, length, options);
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

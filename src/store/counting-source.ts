import type { ByteSource, ReadOptions } from './types.js';

/** Wraps a source and counts requests and bytes, so tests and benchmarks can see I/O. */
export class CountingSource implements ByteSource {
  requests = 0;
  bytesRead = 0;

  constructor(private readonly inner: ByteSource) {}

  get name(): string {
    return this.inner.name;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.requests++;
    const out = await this.inner.read(offset, length, options);
    this.bytesRead += out.length;
    return out;
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

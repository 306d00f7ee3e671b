import { SourceWrapper } from './source-wrapper.js';
import type { ReadOptions } from './types.js';

/** Wraps a source and counts requests and bytes, so tests and benchmarks can see I/O. */
export class CountingSource extends SourceWrapper {
  requests = 0;
  bytesRead = 0;

  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.requests++;
    const out = await this.inner.read(offset, length, options);
    this.bytesRead += out.length;
    return out;
  }

  override async readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    this.requests++;
    const n = await this.readIntoInner(offset, target, options);
    this.bytesRead += n;
    return n;
  }
}

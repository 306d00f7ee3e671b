import { SourceWrapper } from './source-wrapper.js';
import type { ByteSource, ReadOptions } from './types.js';

/**
 * Lets at most `limit` reads reach the wrapped source at once; the rest wait in order. Keeps a
 * remote server (and our memory) from being flooded by a burst of reads.
 */
export class LimitedSource extends SourceWrapper {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(inner: ByteSource, private readonly limit: number) {
    super(inner);
    if (!(limit >= 1)) throw new RangeError(`concurrency limit must be at least 1, got ${limit}`);
  }

  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    // A finished read hands its slot straight to the next waiter, so the limit is never exceeded.
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await this.inner.read(offset, length, options);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Reads running now (for tests). */
  get inFlight(): number {
    return this.active;
  }
}

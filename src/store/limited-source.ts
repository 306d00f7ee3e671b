import { AbortedError } from '../errors.js';
import { SourceWrapper } from './source-wrapper.js';
import type { ByteSource, ReadOptions } from './types.js';

/**
 * Lets at most `limit` reads reach the wrapped source at once; the rest wait in order (a waiter
 * whose signal aborts leaves the queue at once). Keeps a remote server (and our memory) from
 * being flooded by a burst of reads.
 */
export class LimitedSource extends SourceWrapper {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(inner: ByteSource, private readonly limit: number) {
    super(inner);
    if (!(limit >= 1)) throw new RangeError(`concurrency limit must be at least 1, got ${limit}`);
  }

  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.limited(() => this.inner.read(offset, length, options), options?.signal);
  }

  override readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    return this.limited(() => this.readIntoInner(offset, target, options), options?.signal);
  }

  private async limited<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    // A finished read hands its slot straight to the next waiter, so the limit is never exceeded.
    if (this.active < this.limit) this.active++;
    else await this.slot(signal);
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Waits for a finished read to hand over its slot; an abort leaves the queue at once. */
  private slot(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError('read cancelled'));
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        reject(new AbortedError('read cancelled'));
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reads running now (for tests). */
  get inFlight(): number {
    return this.active;
  }
}

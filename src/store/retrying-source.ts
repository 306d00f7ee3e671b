import { AbortedError, StoreError } from '../errors.js';
import { SourceWrapper } from './source-wrapper.js';
import type { ByteSource, ReadOptions } from './types.js';

/** How {@link RetryingSource} retries. */
export interface RetryOptions {
  /** Attempts after the first (default 4). */
  retries?: number;
  /** Delay before the first retry, in ms, doubled each time with ±50% jitter (default 100). */
  baseDelayMs?: number;
  /** Longest delay between attempts, in ms (default 2000). */
  maxDelayMs?: number;
  /** Injectable for tests: waits `ms` or rejects when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Injectable for tests: a number in [0, 1). */
  random?: () => number;
}

/**
 * Retries reads that fail with a transient {@link StoreError} (network errors, 5xx,
 * throttling), with exponential backoff and jitter; never permanent ones (404, 403, 416, an
 * object changed while open), which surface at once. Every attempt reads the same pinned
 * object, so a retry can never mix two versions of it.
 */
export class RetryingSource extends SourceWrapper {
  private readonly retries: number;
  private readonly base: number;
  private readonly max: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;

  constructor(inner: ByteSource, options: RetryOptions = {}) {
    super(inner);
    this.retries = options.retries ?? 4;
    this.base = options.baseDelayMs ?? 100;
    this.max = options.maxDelayMs ?? 2000;
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
  }

  override size(): Promise<number> {
    return this.attempt(() => this.inner.size());
  }

  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.attempt(() => this.inner.read(offset, length, options), options?.signal);
  }

  /** Each attempt reads the whole range into `target` again: a failed one may have filled part of it. */
  override readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    return this.attempt(() => this.readIntoInner(offset, target, options), options?.signal);
  }

  private async attempt<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof StoreError) || !err.transient || n >= this.retries || signal?.aborted) throw err;
        const delay = Math.min(this.max, this.base * 2 ** n) * (0.5 + this.random());
        await this.sleep(delay, signal);
      }
    }
  }
}

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError('read cancelled'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('read cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

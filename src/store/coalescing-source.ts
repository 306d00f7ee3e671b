import { AbortedError } from '../errors.js';
import { SourceWrapper } from './source-wrapper.js';
import type { ByteSource, ReadOptions } from './types.js';

/** How {@link CoalescingSource} merges reads. */
export interface CoalescingOptions {
  /** Largest gap between two reads that one request may bridge, in bytes (default 64 KiB). */
  maxGap?: number;
  /** Largest span of one merged request, in bytes (default 8 MiB). */
  maxSpan?: number;
}

interface Pending {
  offset: number;
  length: number;
  resolve: (bytes: Uint8Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Merges reads that arrive in the same turn of the event loop, from any number of callers, into
 * as few requests as possible: reads whose ranges are nearby (within `maxGap`) become one
 * request, each caller getting its slice. Over HTTP or S3 a request costs far more than the
 * bytes in a gap, so concurrent readers of neighbouring blocks pay for one round trip.
 */
export class CoalescingSource extends SourceWrapper {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly maxGap: number;
  private readonly maxSpan: number;

  constructor(inner: ByteSource, options: CoalescingOptions = {}) {
    super(inner);
    this.maxGap = options.maxGap ?? 64 << 10;
    this.maxSpan = options.maxSpan ?? 8 << 20;
  }

  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError('read cancelled'));
    return new Promise<Uint8Array>((resolve, reject) => {
      // A caller that aborts stops waiting; the merged request still serves the others.
      const onAbort = () => reject(new AbortedError('read cancelled'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.push({
        offset, length,
        resolve: (b) => { done(); resolve(b); },
        reject: (e) => { done(); reject(e); },
      });
      if (!this.scheduled) {
        this.scheduled = true;
        nextTurn(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.pending.sort((a, b) => a.offset - b.offset);
    this.pending = [];
    this.scheduled = false;
    let group: Pending[] = [];
    let start = 0;
    let end = 0;
    for (const p of batch) {
      const pEnd = p.offset + p.length;
      if (group.length && p.offset <= end + this.maxGap && Math.max(end, pEnd) - start <= this.maxSpan) {
        group.push(p);
        end = Math.max(end, pEnd);
        continue;
      }
      if (group.length) this.issue(group, start, end);
      group = [p];
      start = p.offset;
      end = pEnd;
    }
    if (group.length) this.issue(group, start, end);
  }

  private issue(group: Pending[], start: number, end: number): void {
    this.inner.read(start, end - start).then((bytes) => {
      // A short read means the source ended: each caller gets what exists of its range.
      for (const p of group) {
        const from = Math.min(p.offset - start, bytes.length);
        p.resolve(bytes.subarray(from, Math.min(from + p.length, bytes.length)));
      }
    }, (err: unknown) => {
      for (const p of group) p.reject(err);
    });
  }
}

/** Runs `fn` on the next turn of the event loop (after the current one's promise callbacks). */
function nextTurn(fn: () => void): void {
  if (typeof setImmediate === 'function') return void setImmediate(fn);
  // In a page: a message to ourselves is a new task at once, where setTimeout(0) may wait 1–4 ms.
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      fn();
    };
    channel.port2.postMessage(null);
    return;
  }
  setTimeout(fn, 0);
}

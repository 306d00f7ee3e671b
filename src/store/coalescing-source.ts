import { AbortedError } from '../errors.js';
import { SlabPool } from '../util/slab-pool.js';
import { copyInto, SourceWrapper } from './source-wrapper.js';
import type { ByteSource, ReadOptions } from './types.js';

/** How {@link CoalescingSource} merges reads. */
export interface CoalescingOptions {
  /** Largest gap between two reads that one request may bridge, in bytes (default 64 KiB). */
  maxGap?: number;
  /** Largest span of one merged request, in bytes (default 8 MiB). */
  maxSpan?: number;
  /**
   * `readInto` calls of at least this many bytes are not merged but passed straight down, into
   * the caller's buffer (default 512 KiB): a request that large gains little from merging, and
   * a merged one is read into the source's memory and copied out, a copy of every byte.
   */
  directBytes?: number;
}

interface Pending {
  offset: number;
  length: number;
  /** Where a {@link CoalescingSource.readInto} caller wants its bytes; undefined for read(). */
  target?: Uint8Array;
  /** Hands the caller its bytes (read: resolved as they are, which may be a view of a shared request buffer; readInto: copied into its target). */
  deliver: (bytes: Uint8Array) => void;
  reject: (err: unknown) => void;
}

/**
 * Merges reads that arrive in the same turn of the event loop, from any number of callers, into
 * as few requests as possible: reads whose ranges are nearby (within `maxGap`) become one
 * request, each caller getting its slice. Over HTTP or S3 a request costs far more than the
 * bytes in a gap, so concurrent readers of neighbouring blocks pay for one round trip.
 *
 * Small `readInto` calls merge the same way; a request that serves only them is read into memory
 * the source reuses (given back once their bytes are copied out). Large ones go straight to the
 * wrapped source, into the caller's buffer: a sequential reader's stored bytes then land in the
 * memory it reuses, never in fresh memory (which costs the kernel a zeroed page per 4 KiB).
 */
export class CoalescingSource extends SourceWrapper {
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly maxGap: number;
  private readonly maxSpan: number;
  private readonly directBytes: number;
  /** Reused memory of merged requests that serve only readInto callers. */
  private readonly scratch: SlabPool;

  constructor(inner: ByteSource, options: CoalescingOptions = {}) {
    super(inner);
    this.maxGap = options.maxGap ?? 64 << 10;
    this.maxSpan = options.maxSpan ?? 8 << 20;
    this.directBytes = options.directBytes ?? 512 << 10;
    // Ordinary memory: network chunks land in it at full speed, and it copies into a reader's
    // shared memory faster than shared memory would (util/copy-bytes.ts).
    this.scratch = new SlabPool(this.maxSpan, 2 * this.maxSpan, false);
  }

  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.enqueue<Uint8Array>(offset, length, undefined, (bytes, resolve) => resolve(bytes), options?.signal);
  }

  override readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    if (target.length >= this.directBytes) return this.readIntoInner(offset, target, options);
    return this.enqueue<number>(offset, target.length, target, (bytes, resolve) => resolve(copyInto(bytes, target)), options?.signal);
  }

  private enqueue<T>(offset: number, length: number, target: Uint8Array | undefined, deliver: (bytes: Uint8Array, resolve: (v: T) => void) => void, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError('read cancelled'));
    return new Promise<T>((resolve, reject) => {
      // A caller that aborts stops waiting; the merged request still serves the others. A
      // readInto caller that aborted is never written to after its promise settled.
      let settled = false;
      const onAbort = () => {
        settled = true;
        reject(new AbortedError('read cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.push({
        offset, length, target,
        deliver: (b) => {
          done();
          if (!settled) deliver(b, resolve);
        },
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
    // Every caller of the group is answered, whatever throws (a copy, an allocation): never one
    // left waiting, never an exception escaping the turn that flushes.
    const fail = (err: unknown) => {
      for (const p of group) p.reject(err);
    };
    // A short read means the source ended: each caller gets what exists of its range.
    const deliver = (bytes: Uint8Array) => {
      for (const p of group) {
        const from = Math.min(p.offset - start, bytes.length);
        try {
          p.deliver(bytes.subarray(from, Math.min(from + p.length, bytes.length)));
        } catch (err) {
          p.reject(err);
        }
      }
    };
    try {
      if (!group.every((p) => p.target)) {
        this.inner.read(start, end - start).then(deliver, fail);
        return;
      }
      // Into the source's own memory, then copied out, even for a single caller: the request has
      // no caller's signal (it serves the whole group), so it may still be writing after a caller
      // that aborted was told so and reused its buffer.
      const buf = this.scratch.take(end - start);
      // readInto callers exist only when the wrapped source has readInto (SourceWrapper).
      this.inner.readInto!(start, buf).then((n) => {
        deliver(buf.subarray(0, n));
        this.scratch.give(buf);
      }, fail);
    } catch (err) {
      fail(err);
    }
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

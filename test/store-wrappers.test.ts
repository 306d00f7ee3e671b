/**
 * The ByteSource wrappers on their own (src/store/): retry only transient failures, a
 * concurrency limit that is never exceeded, coalescing of same-turn reads from many callers,
 * and the page cache — each against a memory source that counts and can fail on cue.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedError, StoreError } from '../src/errors.ts';
import { MemorySource } from '../src/store/memory-source.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { RetryingSource } from '../src/store/retrying-source.ts';
import { LimitedSource } from '../src/store/limited-source.ts';
import { CoalescingSource } from '../src/store/coalescing-source.ts';
import { RangeCacheSource } from '../src/store/range-cache-source.ts';
import { SourceWrapper } from '../src/store/source-wrapper.ts';
import { PinnedRangeSource } from '../src/store/pinned-range-source.ts';
import { SlabPool } from '../src/util/slab-pool.ts';
import { copyBytes } from '../src/util/copy-bytes.ts';
import type { ReadOptions } from '../src/store/types.ts';
import { assertBytes, randomData } from './helpers.ts';

const data = randomData(1 << 20, 5);

/** Fails its next `n` reads with `error`, then reads normally. */
class Flaky extends SourceWrapper {
  failures = 0;
  constructor(private readonly error: () => Error, private n: number) {
    super(new MemorySource(data));
  }
  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    if (this.n-- > 0) {
      this.failures++;
      return Promise.reject(this.error());
    }
    return super.read(offset, length, options);
  }
}

const noSleep = async () => {};

/** Holds every read until `open()`; records the offsets that reached it. */
class Gate extends SourceWrapper {
  readonly offsets: number[] = [];
  private release!: () => void;
  private readonly opened = new Promise<void>((r) => (this.release = r));
  open(): void {
    this.release();
  }
  /** Opened at once (for chaining). */
  openNow(): this {
    this.release();
    return this;
  }
  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.offsets.push(offset);
    await this.opened;
    return super.read(offset, length, options);
  }
}

describe('RetryingSource', () => {
  test('retries a transient failure and returns the right bytes', async () => {
    const flaky = new Flaky(() => new StoreError('503', {}, { transient: true }), 3);
    const delays: number[] = [];
    const s = new RetryingSource(flaky, { sleep: async (ms) => void delays.push(ms), random: () => 0.5 });
    assertBytes(await s.read(1000, 500), data.subarray(1000, 1500));
    assert.equal(flaky.failures, 3);
    assert.deepEqual(delays, [100, 200, 400], 'exponential backoff');
  });

  test('never retries a permanent failure, nor a non-store error', async () => {
    for (const error of [() => new StoreError('404'), () => new TypeError('bug')]) {
      const flaky = new Flaky(error, 1);
      await assert.rejects(new RetryingSource(flaky, { sleep: noSleep }).read(0, 10), error().constructor as typeof Error);
      assert.equal(flaky.failures, 1);
    }
  });

  test('gives up after its retries with the last error', async () => {
    const flaky = new Flaky(() => new StoreError('reset', {}, { transient: true }), 100);
    await assert.rejects(new RetryingSource(flaky, { retries: 2, sleep: noSleep }).read(0, 10), (e: unknown) => e instanceof StoreError && e.transient);
    assert.equal(flaky.failures, 3);
  });

  test('an abort during the backoff ends the read at once', async () => {
    const flaky = new Flaky(() => new StoreError('503', {}, { transient: true }), 100);
    const controller = new AbortController();
    const p = new RetryingSource(flaky, { baseDelayMs: 60_000 }).read(0, 10, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(p, AbortedError);
  });
});

describe('LimitedSource', () => {
  test('never has more than `limit` reads in flight, and serves them all', async () => {
    let inFlight = 0;
    let most = 0;
    class Slow extends SourceWrapper {
      override async read(offset: number, length: number): Promise<Uint8Array> {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 1 + (offset % 3)));
        inFlight--;
        return super.read(offset, length);
      }
    }
    const s = new LimitedSource(new Slow(new MemorySource(data)), 3);
    const reads = Array.from({ length: 50 }, (_, i) => s.read(i * 100, 100));
    const got = await Promise.all(reads);
    got.forEach((b, i) => assertBytes(b, data.subarray(i * 100, i * 100 + 100), `read ${i}`));
    assert.equal(most, 3);
  });

  test('a waiter whose signal aborts leaves the queue at once; the others still run in order', async () => {
    const gate = new Gate(new MemorySource(data));
    const s = new LimitedSource(gate, 1);
    const first = s.read(0, 10);
    const controller = new AbortController();
    const aborted = s.read(10, 10, { signal: controller.signal });
    const third = s.read(20, 10);
    controller.abort();
    await assert.rejects(aborted, AbortedError);
    gate.open();
    assertBytes(await first, data.subarray(0, 10));
    assertBytes(await third, data.subarray(20, 30));
    assert.deepEqual(gate.offsets, [0, 20], 'the aborted read never reached the source');
    assert.equal(s.inFlight, 0);
  });
});

describe('CoalescingSource', () => {
  test('reads from many callers in the same turn become few requests, each caller its own slice', async () => {
    const counted = new CountingSource(new MemorySource(data));
    const s = new CoalescingSource(counted, { maxGap: 4096 });
    // Two clusters of neighbouring reads, far apart, issued by independent callers.
    const ranges = [[0, 100], [200, 300], [4000, 96], [100, 50], [900_000, 10], [903_000, 500]];
    const got = await Promise.all(ranges.map(([o, n]) => s.read(o, n)));
    got.forEach((b, i) => assertBytes(b, data.subarray(ranges[i][0], ranges[i][0] + ranges[i][1]), `read ${i}`));
    assert.equal(counted.requests, 2);
  });

  test('respects the span limit, the end of the source and failures', async () => {
    const counted = new CountingSource(new MemorySource(data));
    const s = new CoalescingSource(counted, { maxGap: 1 << 20, maxSpan: 1000 });
    const got = await Promise.all([s.read(0, 600), s.read(600, 600), s.read(data.length - 10, 100)]);
    assert.equal(counted.requests, 3);
    assert.equal(got[2].length, 10, 'short at the end');
    const failing = new CoalescingSource(new Flaky(() => new StoreError('boom'), 1));
    const results = await Promise.allSettled([failing.read(0, 10), failing.read(20, 10)]);
    assert.ok(results.every((r) => r.status === 'rejected'), 'every caller of a failed request sees the error');
  });
});

describe('RangeCacheSource', () => {
  test('serves repeated and neighbouring reads from cached pages, one request per missing run', async () => {
    const counted = new CountingSource(new MemorySource(data));
    const s = new RangeCacheSource(counted, { pageSize: 4096, budgetBytes: 64 << 10 });
    assertBytes(await s.read(100, 5000), data.subarray(100, 5100));
    assert.equal(counted.requests, 1);
    assertBytes(await s.read(4000, 4000), data.subarray(4000, 8000), 'inside cached pages');
    assert.equal(counted.requests, 1);
    // Pages 0-1 cached, 2-3 missing, 4 missing: one request for the run 2..4.
    assertBytes(await s.read(0, 5 * 4096), data.subarray(0, 5 * 4096));
    assert.equal(counted.requests, 2);
    // Concurrent reads of the same missing page share one request.
    await Promise.all([s.read(40_000, 10), s.read(40_010, 10)]);
    assert.equal(counted.requests, 3);
    assert.equal((await s.read(data.length - 5, 100)).length, 5, 'short at the end');
  });

  test('an abort ends only that caller\'s wait for a shared page fetch', async () => {
    const gate = new Gate(new MemorySource(data));
    const s = new RangeCacheSource(gate, { pageSize: 4096 });
    const controller = new AbortController();
    const aborted = s.read(100, 10, { signal: controller.signal });
    const other = s.read(200, 10);
    controller.abort();
    await assert.rejects(aborted, AbortedError);
    gate.open();
    assertBytes(await other, data.subarray(200, 210));
    assert.deepEqual(gate.offsets, [0], 'one fetch, shared and not cancelled');
  });
});

/** A memory source that also reads into a caller's buffer, and records which buffers it was given. */
class IntoSource extends MemorySource {
  readonly targets: Uint8Array[] = [];
  reads = 0;
  constructor() {
    super(data);
  }
  override async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    return super.read(offset, length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<number> {
    this.targets.push(target);
    const end = Math.min(data.length, offset + target.length);
    target.set(data.subarray(offset, end));
    return Math.max(0, end - offset);
  }
}

describe('readInto through the wrappers', () => {
  /** `readInto` at random offsets and lengths (some past the end) must fill what `read` returns. */
  async function sameAsRead(s: { readInto(o: number, t: Uint8Array, opts?: ReadOptions): Promise<number> }, what: string): Promise<void> {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    for (let i = 0; i < 40; i++) {
      const offset = next() % data.length;
      const length = 1 + (next() % (i % 2 ? 700_000 : 5000));
      const target = new Uint8Array(i % 3 ? new SharedArrayBuffer(length + 9) : new ArrayBuffer(length + 9), i % 9, length);
      target.fill(0xee);
      const n = await s.readInto(offset, target);
      const want = data.subarray(offset, Math.min(data.length, offset + length));
      assert.equal(n, want.length, `${what}: count at ${offset}+${length}`);
      assertBytes(target.subarray(0, n), want, `${what}: bytes at ${offset}+${length}`);
      assert.ok(target.subarray(n).every((b) => b === 0xee), `${what}: nothing written past the count`);
    }
  }

  test('every wrapper fills the caller\'s buffer with the bytes read() gives; over a source without readInto it offers none', async () => {
    const inner = () => new IntoSource();
    await sameAsRead(new CountingSource(inner()), 'counting');
    await sameAsRead(new RetryingSource(inner()), 'retrying');
    await sameAsRead(new LimitedSource(inner(), 2), 'limited');
    await sameAsRead(new CoalescingSource(inner()), 'coalescing');
    await sameAsRead(new RangeCacheSource(inner(), { budgetBytes: 1 << 20 }), 'cache');
    await sameAsRead(new PinnedRangeSource(inner(), 1000, data.subarray(1000, 9000)), 'pinned');
    // A test wrapper that overrides only read: readInto goes through that read.
    await sameAsRead(new Gate(inner()).openNow(), 'a wrapper with its own read');
    // Over a source that cannot read into a caller's buffer, none is offered (it would only add a copy).
    const stack = new RangeCacheSource(new CoalescingSource(new LimitedSource(new RetryingSource(new CountingSource(new MemorySource(data))), 2)));
    assert.equal(stack.readInto, undefined);
    assert.equal(new PinnedRangeSource(new MemorySource(data), 0, data.subarray(0, 10)).readInto, undefined);
  });

  test('large reads go down into the caller\'s own buffer (no copy); a retry rewrites it whole', async () => {
    const inner = new IntoSource();
    const s = new PinnedRangeSource(new RangeCacheSource(new CoalescingSource(new LimitedSource(new RetryingSource(inner), 4)), { budgetBytes: 1 << 20 }), 0, data.subarray(0, 4096));
    const target = new Uint8Array(new SharedArrayBuffer(600_000));
    assert.equal(await s.readInto(100, target), 600_000);
    assert.equal(inner.targets.length, 1);
    assert.equal(inner.targets[0].buffer, target.buffer, 'the innermost source was given the caller\'s memory');
    assert.equal(inner.reads, 0);
    assertBytes(target, data.subarray(100, 600_100), 'bytes');

    let failures = 1;
    class Torn extends IntoSource {
      override async readInto(offset: number, t: Uint8Array): Promise<number> {
        const n = await super.readInto(offset, t);
        if (failures-- > 0) {
          t.fill(0, n >> 1);
          throw new StoreError('cut mid-body', {}, { transient: true });
        }
        return n;
      }
    }
    const torn = new Torn();
    const retried = new RetryingSource(torn, { sleep: noSleep });
    const t2 = new Uint8Array(700_000);
    assert.equal(await retried.readInto(5, t2), 700_000);
    assertBytes(t2, data.subarray(5, 700_005), 'after the retry');
    assert.equal(torn.targets.length, 2);
  });

  test('small readInto calls of one turn are merged into one request, each caller gets its own bytes', async () => {
    const inner = new IntoSource();
    const counted = new CountingSource(inner);
    const s = new CoalescingSource(counted, { maxGap: 4096 });
    const ranges = [[0, 100], [200, 3000], [4000, 96], [900_000, 10], [903_000, 500]];
    const targets = ranges.map(([, n]) => new Uint8Array(new SharedArrayBuffer(n)));
    const got = await Promise.all(ranges.map(([o], i) => s.readInto(o, targets[i])));
    ranges.forEach(([o, n], i) => {
      assert.equal(got[i], n);
      assertBytes(targets[i], data.subarray(o, o + n), `read ${i}`);
    });
    assert.equal(counted.requests, 2);
    assert.ok(inner.targets.every((t) => !targets.some((c) => c.buffer === t.buffer)), 'a merged request is read into the source\'s own memory');
    // A caller that aborts is not written to after it was told so.
    const gate = new Gate(new IntoSource());
    const gated = new CoalescingSource(gate);
    const c = new AbortController();
    const mine = new Uint8Array(100).fill(0xaa);
    const p = gated.readInto(0, mine, { signal: c.signal });
    const other = gated.readInto(50, new Uint8Array(100));
    await new Promise((r) => setImmediate(r));
    c.abort();
    await assert.rejects(p, AbortedError);
    gate.open();
    assert.equal(await other, 100);
    assert.ok(mine.every((b) => b === 0xaa), 'the aborted caller\'s buffer stays untouched');
  });
});

describe('without SharedArrayBuffer (a page that is not cross-origin isolated)', () => {
  test('merged and direct readInto, copies and slab pools work on ordinary memory', async () => {
    const saved = globalThis.SharedArrayBuffer;
    // @ts-expect-error removed as in a page without cross-origin isolation
    delete globalThis.SharedArrayBuffer;
    try {
      const pool = new SlabPool(1 << 20, 4 << 20);
      const slab = pool.take(100_000);
      assert.equal(slab.length, 100_000);
      pool.give(slab);
      assert.equal(pool.take(90_000).buffer, slab.buffer, 'ordinary slabs are reused too');
      const t = new Uint8Array(70_000);
      copyBytes(data.subarray(3, 60_003), t, 5);
      assertBytes(t.subarray(5, 60_005), data.subarray(3, 60_003), 'copyBytes');
      const s = new RangeCacheSource(new CoalescingSource(new IntoSource()), { budgetBytes: 1 << 20 });
      const ranges = [[10, 70_000], [80_000, 100_000], [190_000, 600_000], [5, 100]];
      const targets = ranges.map(([, n]) => new Uint8Array(n));
      await Promise.all(ranges.map(([o], i) => s.readInto!(o, targets[i])));
      ranges.forEach(([o, n], i) => assertBytes(targets[i], data.subarray(o, o + n), `read ${i}`));
    } finally {
      globalThis.SharedArrayBuffer = saved;
    }
  });

  test('a merged request whose source throws at once fails every caller of the group, none left waiting', async () => {
    class Throws extends IntoSource {
      override readInto(): Promise<number> {
        throw new StoreError('refused at once');
      }
    }
    const s = new CoalescingSource(new Throws());
    const results = await Promise.allSettled([s.readInto!(0, new Uint8Array(100)), s.readInto!(200, new Uint8Array(100))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  });
});

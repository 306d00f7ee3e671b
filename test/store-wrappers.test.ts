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

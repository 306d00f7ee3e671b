/**
 * 1,000 readAt calls in flight at once on one Archive return the right bytes: random offsets
 * and lengths (many straddling block boundaries, some sequential so read-ahead joins in), on a
 * plain, an encrypted and a thin archive, with the default caches and with a cache too small to
 * hold what the reads share (so blocks are evicted while other reads wait for them), in the
 * calling thread and on decode workers. Every result is compared with the source bytes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { Archive, type OpenOptions } from '../src/index.ts';
import { AbortedError } from '../src/errors.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { FileSource } from '../src/store/file-source.ts';
import { SourceWrapper } from '../src/store/source-wrapper.ts';
import type { ByteSource, ReadOptions } from '../src/store/types.ts';
import { Rng, assertBytes, mixedData, packSmall, tempDir, writeData } from './helpers.ts';

const BLOCK = 16 * 1024;
const READS = 1000;
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };
const PASSWORD = 'concurrent';

const tmp = tempDir('hexz-conc-');
after(() => tmp.cleanup());

// A parent disk and a child that changes a tenth of its blocks (so a thin read mixes blocks of
// the child and of the parent), both with every kind of block (random, text, zero, duplicate).
const disk = mixedData(300 * BLOCK + 777, { unit: BLOCK, seed: 41 });
const childDisk = disk.slice();
{
  const rng = new Rng(43);
  const fresh = mixedData(30 * BLOCK, { unit: BLOCK, seed: 44 });
  for (let k = 0; k < 30; k++) {
    const at = rng.int(300) * BLOCK;
    childDisk.set(fresh.subarray(k * BLOCK, (k + 1) * BLOCK), at);
  }
}

/** `count` reads: random, at block boundaries ± a little, long ones, and sequential runs. */
function plannedReads(size: number, seed: number, count = READS): { offset: number; length: number }[] {
  const rng = new Rng(seed);
  const reads: { offset: number; length: number }[] = [];
  while (reads.length < count) {
    const kind = rng.int(5);
    let offset: number;
    let length: number;
    if (kind === 0) {
      offset = rng.int(size);
      length = rng.range(1, 3 * BLOCK);
    } else if (kind === 1) {
      // Straddles a boundary: starts just before one, ends just after the next.
      offset = Math.max(0, rng.range(1, Math.floor(size / BLOCK)) * BLOCK - rng.range(1, 64));
      length = rng.range(2, BLOCK + 128);
    } else if (kind === 2) {
      offset = rng.int(size);
      length = rng.range(4 * BLOCK, 20 * BLOCK);
    } else if (kind === 3 && reads.length > 0) {
      const prev = reads[reads.length - 1];
      offset = prev.offset + prev.length; // sequential: read-ahead starts
      length = rng.range(1, 2 * BLOCK);
    } else {
      offset = rng.int(size);
      length = rng.range(0, 16);
    }
    offset = Math.min(offset, size);
    length = Math.min(length, size - offset);
    reads.push({ offset, length });
  }
  return reads;
}

/** Issues every read at once, then checks each result against `expected`. */
async function readAllAtOnce(a: Archive, expected: Uint8Array, seed: number): Promise<void> {
  const reads = plannedReads(expected.length, seed);
  const results = await Promise.all(reads.map((r) => a.readAt('disk', r.offset, r.length)));
  results.forEach((got, k) => {
    const { offset, length } = reads[k];
    assertBytes(got, expected.subarray(offset, offset + length), `read ${k} [${offset}, +${length})`);
  });
}

/** Opens `path` with `options`, runs the reads twice (cold, then warm and mixed), closes. */
async function check(path: string, expected: Uint8Array, options: OpenOptions, seed: number): Promise<void> {
  const a = await Archive.open(path, options);
  try {
    await readAllAtOnce(a, expected, seed);
    await readAllAtOnce(a, expected, seed + 1);
  } finally {
    await a.close();
  }
}

const VARIANTS: [string, OpenOptions][] = [
  ['default caches', {}],
  ['a cache of two blocks, no read-ahead', { cacheBytes: 2 * BLOCK, readAheadBytes: 0 }],
  ['no cache, 2 decode workers', { cacheBytes: 0, decodeWorkers: 2 }],
];

describe('1,000 concurrent readAt calls', () => {
  const plain = tmp.path('plain.hxz');
  const encrypted = tmp.path('encrypted.hxz');
  const thin = tmp.path('thin.hxz');

  before(async () => {
    const raw = writeData(tmp.path('disk.raw'), disk);
    await packSmall({ disk: raw, output: plain, blockSize: BLOCK });
    await packSmall({ disk: raw, output: encrypted, blockSize: BLOCK, encrypt: { password: PASSWORD, kdf: KDF } });
    await packSmall({ disk: writeData(tmp.path('child.raw'), childDisk), output: thin, parent: plain });
    const a = await Archive.open(thin);
    try {
      assert.equal(a.parentRecords.length, 1);
      assert.ok(a.header.parents.referencedBytes > 0, 'the thin archive reads blocks from its parent');
    } finally {
      await a.close();
    }
  });

  test('one read at a time through a cache of two blocks, and blocks handed out by readEntries keep their bytes', async () => {
    // Each eviction happens with no read running, so its buffer is decoded into again at once:
    // a read that got a reused buffer too early, or a kept block that was reused, shows here.
    for (const [path, expected] of [[plain, disk], [thin, childDisk]] as const) {
      const a = await Archive.open(path, { cacheBytes: 2 * BLOCK, readAheadBytes: 0 });
      try {
        const kept: { bytes: Uint8Array; offset: number; length: number; copy: Uint8Array }[] = [];
        for (const e of (await collectEntries(a)).filter((x) => x.kind !== 0).slice(0, 8)) {
          const [bytes] = await a.readEntries('disk', [e]);
          kept.push({ bytes, offset: e.offset, length: e.length, copy: bytes.slice() });
        }
        for (const [k, r] of plannedReads(expected.length, 77, 400).entries()) {
          assertBytes(await a.readAt('disk', r.offset, r.length), expected.subarray(r.offset, r.offset + r.length), `read ${k}`);
        }
        for (const k of kept) assertBytes(k.bytes, k.copy, `block at ${k.offset} handed out by readEntries`);
      } finally {
        await a.close();
      }
    }
  });

  test('raw blocks of every length stay intact in the cache while later reads reuse the read buffers', async () => {
    // Incompressible content-defined chunks are stored raw and have all lengths: a raw block
    // "decodes" to a view of its stored bytes, which must not be the reused read buffer.
    const raw = writeData(tmp.path('random.raw'), mixedData(64 * BLOCK, { unit: BLOCK, seed: 51 }));
    const path = tmp.path('raw-cdc.hxz');
    await packSmall({ disk: raw, output: path, cdc: { min: 1024, avg: 4096, max: 16384 } });
    const expected = mixedData(64 * BLOCK, { unit: BLOCK, seed: 51 });
    const a = await Archive.open(path, { readAheadBytes: 0 });
    try {
      const entries = (await collectEntries(a)).filter((e) => e.kind !== 0 && e.encoding === 0);
      assert.ok(entries.length > 20 && new Set(entries.map((e) => e.length)).size > 5, 'raw blocks of many lengths');
      for (const e of entries) await a.readAt('disk', e.offset, e.length);
      // Every block is cached now; read them all again (cache hits) and compare.
      for (const e of entries) assertBytes(await a.readAt('disk', e.offset, e.length), expected.subarray(e.offset, e.offset + e.length), `raw block at ${e.offset}`);
    } finally {
      await a.close();
    }
  });

  test('a block a running read was handed keeps its bytes while the cache lets it go and later reads come and go', async () => {
    // Read R covers blocks k (cached) and k + 1 (its fetch held). Meanwhile, through a one-block
    // cache: a read of o1 pushes k out; a second read of o1 (a hit) starts and ends after that;
    // a read of o2 then needs a buffer. k's must not be it before R has copied k.
    const entries = await (async () => {
      const a = await Archive.open(plain);
      try {
        return await collectEntries(a);
      } finally {
        await a.close();
      }
    })();
    const data = (i: number) => entries[i].kind === 1 && entries[i].length === BLOCK;
    const k = entries.findIndex((_, i) => i + 1 < entries.length && data(i) && data(i + 1));
    const [o1, o2] = entries.map((_, i) => i).filter((i) => data(i) && i !== k && i !== k + 1);
    assert.ok(k >= 0 && o2 !== undefined, 'the test archive has the blocks it needs');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const source = new HoldSource(await FileSource.open(plain), entries[k + 1].storedOffset, held);
    const a = await Archive.open(source, { cacheBytes: BLOCK, readAheadBytes: 0 });
    try {
      const at = (i: number) => entries[i].offset;
      const check = async (i: number) => assertBytes(await a.readAt('disk', at(i), BLOCK), disk.subarray(at(i), at(i) + BLOCK), `block ${i}`);
      await check(k);
      const r = a.readAt('disk', at(k), 2 * BLOCK);
      await source.reached;
      for (const i of [o1, o1, o2]) await check(i);
      release();
      assertBytes(await r, disk.subarray(at(k), at(k) + 2 * BLOCK), 'the held read');
    } finally {
      release();
      await a.close();
    }
  });

  test('reads through a cache of two blocks over a source that answers out of order', async () => {
    // A read's blocks arrive at different times, so others' blocks are decoded (and the cache
    // lets go of some) between them: no buffer may be reused while a read could still copy it.
    for (const [path, expected, seed, reserveCache] of [[plain, disk, 500, false], [thin, childDisk, 510, false], [plain, disk, 520, true]] as const) {
      const a = await Archive.open(new JitterSource(await FileSource.open(path), seed), { cacheBytes: 2 * BLOCK, readAheadBytes: 0, parentDirs: [dirname(plain)], reserveCache });
      try {
        await readAllAtOnce(a, expected, seed);
      } finally {
        await a.close();
      }
    }
  });

  VARIANTS.forEach(([what, options], v) => {
    test(`plain archive, ${what}`, () => check(plain, disk, options, 100 + v * 10));
    test(`encrypted archive, ${what}`, () => check(encrypted, disk, { ...options, password: PASSWORD }, 200 + v * 10));
    test(`thin archive, ${what}`, () => check(thin, childDisk, options, 300 + v * 10));
  });
});

/** A source whose reads take `delayMs` and honour their AbortSignal, as a remote one does. */
class SlowSource extends SourceWrapper {
  constructor(inner: ByteSource, private readonly delayMs: number) {
    super(inner);
  }
  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(super.read(offset, length)), this.delayMs);
      options?.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new AbortedError('aborted'));
      }, { once: true });
    });
  }
}

describe('readers sharing a fetch', () => {
  test('aborting one read does not fail another reading the same blocks', async () => {
    const path = tmp.path('shared.hxz');
    await packSmall({ disk: writeData(tmp.path('shared.raw'), disk), output: path, blockSize: BLOCK, force: true });
    const file = await FileSource.open(path);
    const a = await Archive.open(new SlowSource(file, 50), { readAheadBytes: 0, preloadIndexBytes: 0 });
    try {
      const controller = new AbortController();
      const aborted = a.readAt('disk', 0, 8 * BLOCK, { signal: controller.signal });
      const other = a.readAt('disk', 0, 8 * BLOCK);
      setTimeout(() => controller.abort(), 10);
      await assert.rejects(aborted, AbortedError);
      assertBytes(await other, disk.subarray(0, 8 * BLOCK), 'the other reader');
    } finally {
      await a.close();
      await file.close();
    }
  });

  test('concurrent reads into one leaf share one read of it', async () => {
    const path = tmp.path('leaf.hxz');
    await packSmall({ disk: writeData(tmp.path('leaf.raw'), disk), output: path, blockSize: BLOCK, force: true });
    const counted = new CountingSource(await FileSource.open(path));
    const a = await Archive.open(counted, { readAheadBytes: 0, preloadIndexBytes: 0, cacheBytes: 0 });
    try {
      const before = counted.requests;
      const reads = Array.from({ length: 200 }, (_, i) => a.readAt('disk', i * 7, 1));
      await Promise.all(reads);
      // Every read needs the same block; the root is loaded at open: one leaf read (if the root is not the leaf) and one block read.
      assert.ok(counted.requests - before <= 2, `${counted.requests - before} requests`);
    } finally {
      await a.close();
      await counted.close();
    }
  });
});

async function collectEntries(a: Archive) {
  const out = [];
  for await (const e of a.entries('disk')) out.push(e);
  return out;
}

/** A source whose reads each wait 0–3 ms (seeded), every 50th 60 ms, so answers come back out of order. */
class JitterSource extends SourceWrapper {
  private readonly rng: Rng;
  private reads = 0;
  constructor(inner: ByteSource, seed: number) {
    super(inner);
    this.rng = new Rng(seed);
  }
  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    // Every 50th read is held for 60 ms: a load that runs long while many others come and go.
    const delay = ++this.reads % 50 === 0 ? 60 : this.rng.int(4);
    return new Promise((resolve, reject) => setTimeout(() => super.read(offset, length, options).then(resolve, reject), delay));
  }
}

/** A source that holds the read starting at `offset` until `until` settles; `reached` resolves when that read arrives. */
class HoldSource extends SourceWrapper {
  readonly reached: Promise<void>;
  private arrived!: () => void;
  constructor(inner: ByteSource, private readonly offset: number, private readonly until: Promise<void>) {
    super(inner);
    this.reached = new Promise((r) => (this.arrived = r));
  }
  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    if (offset === this.offset) {
      this.arrived();
      await this.until;
    }
    return super.read(offset, length, options);
  }
}

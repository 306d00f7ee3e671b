/**
 * Block-cache memory handed from a closed archive to the next one opened (archive/cache-segments.ts):
 * the next archive's reads are its own bytes, never what the closed one decoded into that memory;
 * memory a load may still be using is not handed on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Archive } from '../src/node/archive.ts';
import { keptCacheBytes } from '../src/archive/cache-segments.ts';
import { MemorySource } from '../src/store/memory-source.ts';
import { assertBytes, mixedData, packSmall, tempDir, writeData } from './helpers.ts';

const MiB = 1 << 20;
const BS = 65536;

test("a closed archive's cache memory serves the next archive, which reads only its own bytes", async () => {
  const tmp = tempDir();
  try {
    const x = mixedData(6 * MiB, { unit: BS, seed: 41 });
    const y = mixedData(6 * MiB, { unit: BS, seed: 42 });
    await packSmall({ disk: writeData(tmp.path('x.raw'), x), output: tmp.path('x.hxz'), blockSize: BS });
    await packSmall({ disk: writeData(tmp.path('y.raw'), y), output: tmp.path('y.hxz'), blockSize: BS });
    const before = keptCacheBytes();
    const a = await Archive.open(tmp.path('x.hxz'), { cacheBytes: 4 * MiB });
    for (let at = 0; at < x.length; at += BS) assertBytes(await a.readAt('disk', at + 100, 4096), x.subarray(at + 100, at + 4196), `x at ${at}`);
    await a.close();
    assert.ok(keptCacheBytes() > before, "the closed archive's cache memory is kept");
    const b = await Archive.open(tmp.path('y.hxz'), { cacheBytes: 4 * MiB });
    // Every block read twice: the second time from the cache, in memory that held x's blocks.
    for (let pass = 0; pass < 2; pass++) {
      for (let at = 0; at < y.length; at += BS) assertBytes(await b.readAt('disk', at + 7, 5000), y.subarray(at + 7, at + 5007), `y at ${at}, pass ${pass}`);
    }
    assert.ok(keptCacheBytes() < before + 4 * MiB, 'the next archive took it');
    await b.close();
  } finally {
    tmp.cleanup();
  }
});

test('an archive closed while a read is loading keeps its cache memory to itself', async () => {
  const tmp = tempDir();
  try {
    const x = mixedData(2 * MiB, { unit: BS, seed: 43 });
    await packSmall({ disk: writeData(tmp.path('x.raw'), x), output: tmp.path('x.hxz'), blockSize: BS });
    const bytes = readFileSync(tmp.path('x.hxz'));
    // A source that holds its reads until told: the read below is still loading at close().
    let hold = false;
    const waiting: (() => void)[] = [];
    const inner = new MemorySource(bytes, 'held');
    const source = {
      name: 'held',
      size: () => inner.size(),
      read: async (offset: number, length: number) => {
        if (hold) await new Promise<void>((resolve) => waiting.push(resolve));
        return inner.read(offset, length);
      },
    };
    const a = await Archive.open(source, { cacheBytes: 2 * MiB });
    assertBytes(await a.readAt('disk', 0, 4096), x.subarray(0, 4096), 'first read');
    hold = true;
    const pending = a.readAt('disk', MiB + 3, 4096);
    while (!waiting.length) await new Promise((r) => setImmediate(r));
    const kept = keptCacheBytes();
    await a.close();
    assert.equal(keptCacheBytes(), kept, 'nothing handed on while a load runs');
    hold = false;
    for (const w of waiting.splice(0)) w();
    assertBytes(await pending, x.subarray(MiB + 3, MiB + 4099), 'the read in flight completes with its own bytes');
  } finally {
    tmp.cleanup();
  }
});

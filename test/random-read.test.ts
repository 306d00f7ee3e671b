/**
 * Property-style random access: thousands of random ranges (crossing block boundaries,
 * zero-length, at the very end) compared with the source bytes, on archives with 4K blocks
 * and enough of them that the index has an internal level.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Archive, MemorySource } from '../src/index.ts';
import { assertBytes, mixedData, packSmall, Rng, tempDir, writeData } from './helpers.ts';

const BLOCK = 4096;
const SIZE = 6 * 1024 * 1024 + 1234; // > 1024 blocks: more than one leaf, so an internal level
const RANGES = 3000;

const tmp = tempDir('hexz-random-');
after(() => tmp.cleanup());
const data = mixedData(SIZE, { unit: BLOCK, seed: 2024 });
const input = writeData(tmp.path('input.bin'), data);

/** A random range biased towards the interesting cases. */
function randomRange(rng: Rng): [number, number] {
  const kind = rng.int(10);
  let offset: number;
  let length: number;
  switch (kind) {
    case 0: // zero-length, anywhere including the very end
      offset = rng.range(0, SIZE);
      length = 0;
      break;
    case 1: // ends exactly at the end
      length = rng.range(0, 3 * BLOCK);
      offset = SIZE - length;
      break;
    case 2: case 3: case 4: { // straddles a block boundary
      const boundary = rng.range(1, Math.floor(SIZE / BLOCK)) * BLOCK;
      offset = Math.max(0, boundary - rng.range(1, BLOCK));
      length = Math.min(SIZE - offset, rng.range(2, 3 * BLOCK));
      break;
    }
    case 5: // large, spanning many blocks
      offset = rng.range(0, SIZE - 1);
      length = Math.min(SIZE - offset, rng.range(BLOCK, 300 * 1024));
      break;
    default: // small, anywhere
      offset = rng.range(0, SIZE - 1);
      length = Math.min(SIZE - offset, rng.range(1, 200));
  }
  return [offset, length];
}

for (const compression of ['zstd', 'lz4'] as const) {
  describe(`${RANGES} random ranges, ${compression}, 4K blocks`, () => {
    const out = tmp.path(`random-${compression}.hxz`);
    before(async () => {
      await packSmall({ disk: input, output: out, blockSize: BLOCK, compression, workers: 2 });
    });

    test('the index has an internal level', async () => {
      const a = await Archive.open(out);
      const s = a.header.streams[0];
      await a.close();
      assert.ok(s.entryCount > 1024, `entryCount ${s.entryCount}`);
      assert.ok(s.rootLevel >= 1, `rootLevel ${s.rootLevel}`);
    });

    test('random ranges match the source (default cache and read-ahead)', async () => {
      const a = await Archive.open(out);
      try {
        const rng = new Rng(compression === 'zstd' ? 1 : 2);
        for (let i = 0; i < RANGES; i++) {
          const [offset, length] = randomRange(rng);
          assertBytes(await a.readAt('disk', offset, length), data.subarray(offset, offset + length), `#${i} readAt(${offset}, ${length})`);
        }
      } finally {
        await a.close();
      }
    });

    test('random ranges match with caches and read-ahead disabled, from memory', async () => {
      const a = await Archive.open(new MemorySource(readFileSync(out)), { cacheBytes: 0, indexCacheBytes: 0, readAheadBytes: 0 });
      const rng = new Rng(compression === 'zstd' ? 3 : 4);
      for (let i = 0; i < RANGES / 3; i++) {
        const [offset, length] = randomRange(rng);
        assertBytes(await a.readAt('disk', offset, length), data.subarray(offset, offset + length), `#${i} readAt(${offset}, ${length})`);
      }
    });

    test('random ranges match when blocks are decoded on worker threads', async () => {
      const a = await Archive.open(out, { decodeWorkers: 2, cacheBytes: 0 });
      try {
        const rng = new Rng(compression === 'zstd' ? 8 : 9);
        for (let i = 0; i < RANGES / 6; i++) {
          const [offset, length] = randomRange(rng);
          assertBytes(await a.readAt('disk', offset, length), data.subarray(offset, offset + length), `#${i} readAt(${offset}, ${length})`);
        }
      } finally {
        await a.close();
      }
    });

    test('concurrent random reads on one archive', async () => {
      const a = await Archive.open(out, { cacheBytes: 256 * 1024 });
      try {
        const rng = new Rng(compression === 'zstd' ? 5 : 6);
        for (let round = 0; round < 10; round++) {
          const ranges = Array.from({ length: 50 }, () => randomRange(rng));
          const results = await Promise.all(ranges.map(([o, n]) => a.readAt('disk', o, n)));
          results.forEach((got, k) => {
            const [o, n] = ranges[k];
            assertBytes(got, data.subarray(o, o + n), `round ${round} #${k} readAt(${o}, ${n})`);
          });
        }
      } finally {
        await a.close();
      }
    });

    test('sequential reads (read-ahead path) reproduce the stream', async () => {
      const a = await Archive.open(out, { readAheadBytes: 64 * 1024 });
      try {
        const rng = new Rng(7);
        let pos = 0;
        while (pos < SIZE) {
          const n = Math.min(SIZE - pos, rng.range(1, 3 * BLOCK));
          assertBytes(await a.readAt('disk', pos, n), data.subarray(pos, pos + n), `sequential readAt(${pos}, ${n})`);
          pos += n;
        }
      } finally {
        await a.close();
      }
    });
  });
}

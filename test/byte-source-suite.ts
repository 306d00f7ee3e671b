/**
 * One conformance suite for every {@link ByteSource} backend (restic's backend tests): each
 * backend is handed the same bytes and must give them back the same way — its size, reads at
 * random offsets and lengths, reads that reach or start past the end (short or empty, never an
 * error), zero-length reads, many reads in flight at once, and close. `test/byte-source.test.ts`
 * runs it over every backend.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ByteSource } from '../src/store/types.ts';
import { Rng, assertBytes, randomData } from './helpers.ts';

/** A backend under test, holding given bytes; `cleanup` removes what making it left behind. */
export interface SourceUnderTest {
  source: ByteSource;
  cleanup: () => Promise<void> | void;
}

/** Makes a source holding exactly `bytes` (a file written and opened, an object uploaded, ...). */
export type MakeSource = (bytes: Uint8Array) => Promise<SourceUnderTest>;

/** Options of {@link byteSourceSuite}. */
export interface SuiteOptions {
  /** node:test's `skip` (a reason string skips the whole suite). */
  skip?: string | boolean;
  /** Size of the main test object, in bytes (default 700 KiB + 3: past HttpSource's 64 KiB first read, odd). */
  size?: number;
}

/**
 * Registers the conformance tests for one backend as `describe(name)`.
 * @example
 * byteSourceSuite('MemorySource', async (bytes) => ({ source: new MemorySource(bytes), cleanup: () => {} }));
 */
export function byteSourceSuite(name: string, makeSource: MakeSource, options: SuiteOptions = {}): void {
  const size = options.size ?? (700 << 10) + 3;
  const data = randomData(size, 11);

  /** Runs `fn` on a fresh source holding `bytes`, always cleaning up (closing first). */
  const withSource = async (bytes: Uint8Array, fn: (s: ByteSource) => Promise<void>) => {
    const { source, cleanup } = await makeSource(bytes);
    try {
      await fn(source);
    } finally {
      await source.close?.();
      await cleanup();
    }
  };

  describe(`ByteSource conformance: ${name}`, { skip: options.skip }, () => {
    test('size is the number of bytes', () => withSource(data, async (s) => {
      assert.equal(await s.size(), size);
      assert.equal(typeof s.name, 'string');
      assert.ok(s.name.length > 0, 'a name for error messages');
    }));

    test('reads at random offsets and lengths return exactly those bytes', () => withSource(data, async (s) => {
      const rng = new Rng(7);
      // Small and large, aligned and odd, inside the first 64 KiB, across its edge, and deep.
      const cases: [number, number][] = [[0, 1], [0, 4096], [1, 65535], [65530, 20], [65536, 65536], [size - 1, 1], [size - 4096, 4096], [0, size]];
      for (let i = 0; i < 40; i++) {
        const offset = rng.int(size);
        cases.push([offset, 1 + rng.int(Math.min(size - offset, i % 2 ? 300 : 200_000))]);
      }
      for (const [offset, length] of cases) {
        assertBytes(await s.read(offset, length), data.subarray(offset, offset + length), `read(${offset}, ${length})`);
      }
    }));

    test('a read reaching past the end is short; one starting at or past the end is empty', () => withSource(data, async (s) => {
      assertBytes(await s.read(size - 10, 100), data.subarray(size - 10), 'straddling the end');
      assertBytes(await s.read(0, size + 1000), data, 'whole object and more');
      assert.equal((await s.read(size, 10)).length, 0, 'at the end');
      assert.equal((await s.read(size + 12345, 10)).length, 0, 'past the end');
    }));

    test('zero-length reads are empty, anywhere', () => withSource(data, async (s) => {
      for (const offset of [0, 100, 70_000, size - 1, size, size + 5]) assert.equal((await s.read(offset, 0)).length, 0, `read(${offset}, 0)`);
    }));

    test('an empty object has size 0 and reads nothing', () => withSource(new Uint8Array(0), async (s) => {
      assert.equal(await s.size(), 0);
      assert.equal((await s.read(0, 10)).length, 0);
      assert.equal((await s.read(5, 0)).length, 0);
    }));

    test('many concurrent reads each get their own bytes', () => withSource(data, async (s) => {
      const rng = new Rng(13);
      const reads = Array.from({ length: 64 }, () => {
        const offset = rng.int(size);
        return [offset, 1 + rng.int(50_000)] as const;
      });
      // Nothing read before: the first contact (where there is one) is shared by all of them.
      const got = await Promise.all(reads.map(([o, l]) => s.read(o, l)));
      reads.forEach(([o, l], i) => assertBytes(got[i], data.subarray(o, o + l), `concurrent read(${o}, ${l})`));
    }));

    test('returned bytes are not changed by later reads', () => withSource(data, async (s) => {
      const first = await s.read(1000, 5000);
      const copy = first.slice();
      await s.read(1000, 5000);
      await s.read(200_000, 70_000);
      assertBytes(first, copy, 'earlier result');
    }));

    test('close resolves, after reads or none', async () => {
      for (const readFirst of [true, false]) {
        const { source, cleanup } = await makeSource(data);
        try {
          if (readFirst) assertBytes(await source.read(100_000, 10), data.subarray(100_000, 100_010));
          await source.close?.();
        } finally {
          await cleanup();
        }
      }
    });
  });
}

/**
 * Content-defined chunking: FastCDC cut points are deterministic and independent of how the
 * input is split; shifted content dedups; packing is independent of the worker count; the
 * chunk-size options are validated; and CDC archives round-trip (holes included).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, openSync, closeSync, writeSync, ftruncateSync } from 'node:fs';
import { Archive, UsageError } from '../src/index.ts';
import { FastCdc } from '../src/chunk/fast-cdc.ts';
import { GEAR, makeGearTable } from '../src/chunk/gear-table.ts';
import { validateChunkParams } from '../src/chunk/chunk-params.ts';
import { getProfile, PROFILES } from '../src/pack/profiles.ts';
import { Chunker, RequiredFeature } from '../src/format/constants.ts';
import { assertBytes, mixedData, packSmall, randomData, readAll, readableOf, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-cdc-');
after(() => tmp.cleanup());

const PARAMS = { min: 2048, avg: 8192, max: 32768 };

/** Cut lengths of `data` pushed in pieces of the given sizes (cycled). */
function cuts(data: Uint8Array, pieces: number[], params = PARAMS): number[] {
  const c = new FastCdc(params);
  const out: number[] = [];
  let k = 0;
  for (let at = 0; at < data.length;) {
    const n = Math.min(pieces[k++ % pieces.length], data.length - at);
    out.push(...c.push(data.subarray(at, at + n)));
    at += n;
  }
  const last = c.finish();
  if (last) out.push(last);
  return out;
}

describe('FastCdc', () => {
  const data = randomData(1 << 20, 5);

  test('the gear table is the documented SplitMix64 sequence (FORMAT.md §3.2)', () => {
    assert.deepEqual([...GEAR.subarray(0, 4)], [1878401437, 580864896, 394809699, 2258508620]);
    assert.deepEqual(makeGearTable(), GEAR);
    assert.equal(new Set(GEAR).size, 256);
  });

  test('cut points do not depend on how the input is split', () => {
    const whole = cuts(data, [data.length]);
    assert.equal(whole.reduce((a, b) => a + b, 0), data.length);
    for (const pieces of [[1], [7, 4096, 1], [65536], [PARAMS.min], [PARAMS.avg - 1, 3], [100_003]]) {
      if (pieces[0] === 1 && pieces.length === 1) {
        assert.deepEqual(cuts(data.subarray(0, 200_000), pieces), cuts(data.subarray(0, 200_000), [200_000]), 'byte by byte');
      } else {
        assert.deepEqual(cuts(data, pieces), whole, `pieces ${pieces}`);
      }
    }
  });

  test('every chunk but the last lies in [min, max]; the average is near the target', () => {
    const c = cuts(data, [65536]);
    for (const n of c.slice(0, -1)) assert.ok(n >= PARAMS.min && n <= PARAMS.max, `chunk ${n}`);
    const mean = data.length / c.length;
    assert.ok(mean > PARAMS.avg * 0.7 && mean < PARAMS.avg * 1.6, `mean ${mean}`);
  });

  test('boundaries resynchronise after an insertion near the start', () => {
    const shifted = new Uint8Array(data.length + 5);
    shifted.set([9, 9, 9, 9, 9], 100);
    shifted.set(data.subarray(0, 100), 0);
    shifted.set(data.subarray(100), 105);
    const ends = (c: number[]) => { let at = 0; return new Set(c.map((n) => (at += n))); };
    const a = ends(cuts(data, [65536]));
    const b = [...ends(cuts(shifted, [65536]))].map((e) => e - 5);
    const common = b.filter((e) => a.has(e)).length;
    assert.ok(common >= a.size - 3, `${common} of ${a.size} boundaries shared`);
  });

  test('parameters are validated with clear errors', () => {
    assert.deepEqual(validateChunkParams({ ...PARAMS }), PARAMS);
    for (const [p, re] of [
      [{ min: 70000, avg: 65536, max: 131072 }, /min <= avg <= max/],
      [{ min: 16384, avg: 65536, max: 32768 }, /min <= avg <= max/],
      [{ min: 16384, avg: 60000, max: 131072 }, /power of two/],
      [{ min: 16, avg: 65536, max: 131072 }, /at least 64/],
      [{ min: 16384, avg: 65536, max: 8 << 20 }, /at most 4M/],
    ] as const) {
      assert.throws(() => validateChunkParams(p), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(p));
    }
  });
});

describe('pack --cdc', () => {
  test('bytes inserted or removed near the start dedup almost entirely (two streams of one archive)', async () => {
    const base = mixedData(8 << 20, { unit: 4096, seed: 77 });
    for (const [what, edited] of [
      ['inserted', Buffer.concat([base.subarray(0, 1000), Buffer.from('INSERTED BYTES'), base.subarray(1000)])],
      ['removed', Buffer.concat([base.subarray(0, 1000), base.subarray(1013)])],
    ] as const) {
      const out = tmp.path(`shift-${what}.hxz`);
      const r = await packSmall({ disk: writeData(tmp.path(`a-${what}`), base), memory: writeData(tmp.path(`b-${what}`), edited), output: out, cdc: true, force: true });
      const mem = r.streams.find((s) => s.name === 'memory')!;
      const nonZero = mem.logicalBytes - mem.zeroBytes;
      assert.ok(mem.dedupBytes >= 0.95 * nonZero, `${what}: ${mem.dedupBytes} of ${nonZero} bytes dedup`);
      const a = await Archive.open(out);
      try {
        assert.equal(a.header.chunker, Chunker.FASTCDC);
        assert.equal(a.header.requiredFeatures & RequiredFeature.CDC, RequiredFeature.CDC);
        assert.deepEqual([a.header.chunkMin, a.header.chunkAvg, a.header.chunkMax], [16384, 65536, 131072]);
        assertBytes(await readAll(a, 'disk'), base, 'disk');
        assertBytes(await readAll(a, 'memory'), edited, 'memory');
        const at = 3 << 20;
        assertBytes(await a.readAt('memory', at, 100_000), edited.subarray(at, at + 100_000), 'random read');
      } finally {
        await a.close();
      }
    }
  });

  test('the two halves of one stream dedup against each other after a shift', async () => {
    const half = randomData(2 << 20, 8);
    const data = Buffer.concat([half, Buffer.from([1, 2, 3]), half.subarray(7)]);
    const r = await packSmall({ disk: writeData(tmp.path('halves.raw'), data), output: tmp.path('halves.hxz'), cdc: { min: '4K', avg: '16K', max: '64K' } });
    assert.ok(r.streams[0].dedupBytes >= 0.45 * data.length, `${r.streams[0].dedupBytes} of ${data.length}`);
  });

  test('the archive does not depend on the worker count or on read sizes', async () => {
    const data = mixedData(3 << 20, { unit: 4096, seed: 91 });
    const file = writeData(tmp.path('det.raw'), data);
    // The metadata names the input (file vs pipe); the pipe's size is given as the file's is known,
    // since it sizes the front index area (FORMAT.md §7).
    const fixedId = { archiveId: new Uint8Array(16), createdMs: 0, metadata: {}, inputSizes: { disk: data.length } };
    const outs = [] as Buffer[];
    for (const [i, input] of [[1, file], [4, file], [3, readableOf(data, 11)]] as const) {
      const out = tmp.path(`det-${i}-${outs.length}.hxz`);
      await packSmall({ disk: input, output: out, cdc: true, workers: i, ...fixedId });
      outs.push(readFileSync(out));
    }
    assert.ok(outs[0].equals(outs[1]), '1 vs 4 workers');
    assert.ok(outs[0].equals(outs[2]), 'file vs odd-sized stream reads');
  });

  test('sparse input: holes are cut at their boundaries and read back exactly', async () => {
    const path = tmp.path('sparse.raw');
    const fd = openSync(path, 'w');
    const pieces: [number, Uint8Array][] = [[0, randomData(300_001, 1)], [5 << 20, randomData(70_000, 2)], [(5 << 20) + 200_000, randomData(1234, 3)]];
    for (const [at, bytes] of pieces) writeSync(fd, bytes, 0, bytes.length, at);
    ftruncateSync(fd, 9 << 20);
    closeSync(fd);
    const expected = new Uint8Array(9 << 20);
    for (const [at, bytes] of pieces) expected.set(bytes, at);
    const r = await packSmall({ disk: path, output: tmp.path('sparse.hxz'), cdc: true });
    assert.ok(r.streams[0].zeroBytes > (8 << 20), `zero ${r.streams[0].zeroBytes}`);
    const a = await Archive.open(tmp.path('sparse.hxz'));
    try {
      assertBytes(await readAll(a, 'disk'), expected, 'disk');
    } finally {
      await a.close();
    }
  });

  test('--block-size with --cdc is refused; chunk options are checked', async () => {
    await assert.rejects(packSmall({ disk: writeData(tmp.path('x.raw'), randomData(10, 1)), output: tmp.path('x.hxz'), cdc: true, blockSize: '64K' }), UsageError);
    await assert.rejects(packSmall({ disk: tmp.path('x.raw'), output: tmp.path('x.hxz'), cdc: { min: '128K', avg: '64K' } }), /min <= avg <= max/);
  });
});

describe('profiles', () => {
  test('each profile is valid and recorded; explicit options override it', async () => {
    const data = mixedData(1 << 20, { unit: 4096, seed: 5 });
    const file = writeData(tmp.path('prof.raw'), data);
    for (const name of Object.keys(PROFILES)) {
      const p = getProfile(name);
      const out = tmp.path(`prof-${name}.hxz`);
      const r = await packSmall({ disk: file, output: out, profile: name, level: p.compression === 'zstd' ? 3 : undefined, force: true });
      assert.equal(r.profile, name);
      assert.equal(r.compression, p.compression);
      assert.equal(r.cdc !== null, p.cdc !== false, name);
      if (p.cdc === false) assert.equal(r.blockSize, p.blockSize);
      const a = await Archive.open(out);
      try {
        assertBytes(await readAll(a, 'disk'), data, name);
      } finally {
        await a.close();
      }
    }
    const r = await packSmall({ disk: file, output: tmp.path('prof-override.hxz'), profile: 'ml', compression: 'zstd', blockSize: '64K' });
    assert.deepEqual([r.profile, r.compression, r.level, r.blockSize], ['ml', 'zstd', 3, 65536]);
    const r2 = await packSmall({ disk: file, output: tmp.path('prof-nocdc.hxz'), profile: 'archival', cdc: false });
    assert.equal(r2.cdc, null);
    assert.throws(() => getProfile('fast'), /unknown profile 'fast'/);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from '../src/pack/pack.js';
import { Archive } from '../src/node/archive.js';
import { UsageError } from '../src/errors.js';

const BS = 64 << 10;

async function withArchive(fn: (a: Archive, raw: Buffer, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hexz-view-'));
  try {
    // data, zero, zero, data, data, zero(partial tail)
    const raw = Buffer.alloc(5 * BS + 1000);
    raw.fill(7, 0, BS);
    raw.fill(9, 3 * BS, 5 * BS);
    writeFileSync(join(dir, 'disk.raw'), raw);
    await pack({ disk: join(dir, 'disk.raw'), output: join(dir, 'a.hxz'), blockSize: BS });
    const a = await Archive.open(join(dir, 'a.hxz'));
    try { await fn(a, raw, dir); } finally { await a.close(); }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('extents: holes and data merged, clipped to the range', async () => {
  await withArchive(async (a) => {
    const v = a.stream('disk');
    assert.equal(v.size, 5 * BS + 1000);
    assert.deepEqual(await v.extents(0, v.size), [
      { offset: 0, length: BS, zero: false },
      { offset: BS, length: 2 * BS, zero: true },
      { offset: 3 * BS, length: 2 * BS, zero: false },
      { offset: 5 * BS, length: 1000, zero: true },
    ]);
    assert.deepEqual(await v.extents(BS + 10, 3 * BS), [
      { offset: BS + 10, length: 2 * BS - 10, zero: true },
      { offset: 3 * BS, length: BS + 10, zero: false },
    ]);
    assert.deepEqual(await v.extents(0, v.size, { maxExtents: 2 }), [
      { offset: 0, length: BS, zero: false },
      { offset: BS, length: 2 * BS, zero: true },
    ]);
    assert.deepEqual(await v.extents(7, 0), []);
    await assert.rejects(v.extents(0, v.size + 1), UsageError);
    await assert.rejects(v.extents(-1, 2), UsageError);
  });
});

test('read through a view equals the source at any offset', async () => {
  await withArchive(async (a, raw) => {
    const v = a.stream('disk');
    for (const [off, len] of [[0, 10], [BS - 5, 10], [2 * BS, BS + 7], [5 * BS + 990, 10], [0, raw.length]]) {
      assert.deepEqual(Buffer.from(await v.read(off, len)), raw.subarray(off, off + len));
    }
    await assert.rejects(v.read(raw.length - 1, 2), UsageError);
    assert.throws(() => a.stream('memory'), UsageError);
  });
});

test('readWithExtents gives the bytes of read and the runs of extents, from one index walk', async () => {
  await withArchive(async (a, raw) => {
    const v = a.stream('disk');
    for (const [off, len] of [[0, 10], [BS - 5, 10], [BS + 10, 3 * BS], [2 * BS, BS + 7], [5 * BS + 990, 10], [0, raw.length], [3 * BS, 4096]]) {
      const got = await v.readWithExtents(off, len);
      assert.deepEqual(Buffer.from(got.data), raw.subarray(off, off + len), `bytes of [${off}, +${len})`);
      assert.deepEqual(got.extents, await v.extents(off, len), `runs of [${off}, +${len})`);
    }
    await assert.rejects(v.readWithExtents(raw.length - 1, 2), UsageError);
  });
});

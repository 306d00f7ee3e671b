/**
 * archiveExports: the exports a server reads through. Reads longer than two blocks go as runs to
 * a worker pool; they must equal the source at any offset and length (zero blocks, a thin
 * archive's parent blocks, ranges starting and ending inside blocks), and a damaged block must
 * be an error, never wrong bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import { Archive } from '../src/node/archive.js';
import { archiveExports } from '../src/serve/archive-exports.js';
import { startRunDecoderPool } from '../src/node/run-decoder-pool.js';
import { CorruptArchiveError } from '../src/errors.js';
import { assertBytes, mixedData, packSmall, Rng, tempDir, writeData } from './helpers.js';

const MiB = 1 << 20;
const BS = 65536;

test('pooled and in-thread reads equal the source, thin archive included', async () => {
  const tmp = tempDir();
  try {
    const v1 = mixedData(6 * MiB, { seed: 3 });
    v1.fill(0, 2 * MiB, 3 * MiB + 100);
    const v2 = Uint8Array.from(v1);
    v2.fill(0x77, 4 * MiB + 5, 4 * MiB + 300_000);
    await packSmall({ disk: writeData(tmp.path('v1.raw'), v1), output: tmp.path('v1.hxz'), blockSize: BS });
    await packSmall({ disk: writeData(tmp.path('v2.raw'), v2), output: tmp.path('v2.hxz'), blockSize: BS, parent: tmp.path('v1.hxz') });
    const a = await Archive.open(tmp.path('v2.hxz'));
    const pool = startRunDecoderPool(a, 2);
    try {
      const [pooled] = archiveExports([{ name: 'v2', archive: a, decoder: pool }]);
      const [plain] = archiveExports([{ name: 'v2', archive: a }]);
      const rng = new Rng(5);
      const cases: [number, number][] = [[0, v2.length], [2 * MiB - 7, MiB + 200], [4 * MiB, 256 << 10], [BS + 1, 3 * BS], [v2.length - 3 * BS - 1, 3 * BS + 1]];
      for (let i = 0; i < 40; i++) {
        const len = 1 + rng.int(MiB);
        cases.push([rng.int(v2.length - len), len]);
      }
      await Promise.all(cases.map(async ([off, len]) => {
        assertBytes(await pooled.read(off, len), v2.subarray(off, off + len), `pooled read of ${len} at ${off}`);
        assertBytes(await plain.read(off, len), v2.subarray(off, off + len), `in-thread read of ${len} at ${off}`);
      }));
    } finally {
      await pool.close();
      await a.close();
    }
  } finally {
    tmp.cleanup();
  }
});

test('pooled reads into recycled memory: every read equals the source, whatever the memory held before', async () => {
  const tmp = tempDir();
  try {
    // Data and holes interleaved at block and sub-block grain, so a read whose runs are partly
    // zero lands in memory that an earlier read filled with data.
    const data = mixedData(8 * MiB, { seed: 21 });
    for (let at = 0; at < data.length; at += 5 * BS) data.fill(0, at + 2 * BS, at + 4 * BS);
    data.fill(0, 6 * MiB, 8 * MiB);
    await packSmall({ disk: writeData(tmp.path('a.raw'), data), output: tmp.path('a.hxz'), blockSize: BS });
    const a = await Archive.open(tmp.path('a.hxz'));
    const pool = startRunDecoderPool(a, 2);
    try {
      const [exp] = archiveExports([{ name: 'a', archive: a, decoder: pool }]);
      assert.ok(exp.recycle, 'a pooled export lends memory back');
      const rng = new Rng(9);
      let shared = 0;
      for (let i = 0; i < 150; i++) {
        // Lengths cluster on a few sizes (nbdcopy's 256 KiB, qemu's 2 MiB) so memory is reused.
        const len = [256 << 10, 2 * MiB, 3 * BS + 1, 1 + rng.int(MiB)][i % 4];
        // Some wholly in the zero tail, some reaching into it (runs of only zero entries), the rest anywhere.
        const off = i % 10 === 9 ? 6 * MiB + rng.int(2 * MiB - len)
          : i % 5 === 3 ? Math.max(0, 6 * MiB - 1 - rng.int(Math.min(len, 600_000)))
            : rng.int(data.length - len);
        const got = await (i % 2 ? exp.read(off, len) : exp.readWithExtents!(off, len).then((r) => r.data));
        assertBytes(got, data.subarray(off, off + len), `read ${i}: ${len} bytes at ${off}`);
        // Scribble over lent memory before giving it back: the next read must not show any of
        // it. (Only lent memory: other results, such as the shared zeros, are read-only.)
        if (got.buffer instanceof SharedArrayBuffer) {
          shared++;
          got.fill(0xa5);
        }
        exp.recycle(got);
        exp.recycle(got); // a second give-back is ignored
      }
      assert.ok(shared > 100, `reads were served from recycled shared memory (${shared} of 150)`);
    } finally {
      await pool.close();
      await a.close();
    }
  } finally {
    tmp.cleanup();
  }
});

test('a damaged block fails a pooled read with CorruptArchiveError', async () => {
  const tmp = tempDir();
  try {
    const data = mixedData(2 * MiB, { seed: 8 });
    await packSmall({ disk: writeData(tmp.path('a.raw'), data), output: tmp.path('a.hxz'), blockSize: BS });
    const probe = await Archive.open(tmp.path('a.hxz'));
    let victim: { offset: number; storedOffset: number; storedLength: number } | undefined;
    for await (const e of probe.entries('disk')) if (e.kind !== 0 && e.offset >= MiB) { victim = e; break; }
    await probe.close();
    assert.ok(victim);
    const fd = openSync(tmp.path('a.hxz'), 'r+');
    const b = Buffer.alloc(1);
    const at = victim.storedOffset + Math.floor(victim.storedLength / 2);
    readSync(fd, b, 0, 1, at);
    b[0] ^= 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    const a = await Archive.open(tmp.path('a.hxz'));
    const pool = startRunDecoderPool(a, 2);
    try {
      const [exp] = archiveExports([{ name: 'a', archive: a, decoder: pool }]);
      await assert.rejects(exp.read(victim.offset - BS, 4 * BS), CorruptArchiveError);
      assertBytes(await exp.read(0, 4 * BS), data.subarray(0, 4 * BS), 'undamaged range');
    } finally {
      await pool.close();
      await a.close();
    }
  } finally {
    tmp.cleanup();
  }
});

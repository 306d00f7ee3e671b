/**
 * WorkerPool.configure: a pool started before its archive is known takes the archive's data
 * (here the keyed-hash key of an encrypted archive) in a setup message that every worker gets
 * before its first task.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Codec } from '../src/format/constants.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { keyedBlake3 } from '../src/crypto/content-hash.ts';
import { WorkerPool } from '../src/workers/worker-pool.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('configure before the first task: every worker hashes with the key it was sent; later configure is refused', async () => {
  const pool = new WorkerPool(2);
  try {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    pool.configure({ hashKey: key });
    const blocks = Array.from({ length: 6 }, (_, i) => new Uint8Array(4096).fill(i + 1));
    // Six tasks at once: the pool spreads them over both workers.
    const results = await Promise.all(blocks.map((b) => pool.compress([b], Codec.ZSTD, 3, { transfer: false })));
    results.forEach(([r], i) => {
      assert.equal(hex(r.hash), hex(keyedBlake3(key)(blocks[i])), `block ${i}: keyed hash`);
      assert.notEqual(hex(r.hash), hex(blake3(blocks[i])));
    });
    assert.throws(() => pool.configure({}), /before its first task/);
  } finally {
    await pool.close();
  }
});

test('without configure a pool hashes with plain BLAKE3', async () => {
  const pool = new WorkerPool(1);
  try {
    const block = new Uint8Array(4096).fill(9);
    const [r] = await pool.compress([block], Codec.ZSTD, 3, { transfer: false });
    assert.equal(hex(r.hash), hex(blake3(block)));
  } finally {
    await pool.close();
  }
});

/**
 * WorkerPool.configure: a pool started before its archive is known takes the archive's data
 * (here the keyed-hash key of an encrypted archive) in a setup message that every worker gets
 * before its first task.
 */
import { spawnSync } from 'node:child_process';
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

test('grow starts workers with the data last configured, also after tasks ran; never shrinks', async () => {
  const pool = new WorkerPool(1);
  try {
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    pool.configure({ hashKey: key });
    const first = new Uint8Array(4096).fill(3);
    const [r0] = await pool.compress([first], Codec.ZSTD, 3, { transfer: false });
    assert.equal(hex(r0.hash), hex(keyedBlake3(key)(first)));
    pool.grow(3);
    assert.equal(pool.size, 3);
    pool.grow(2);
    assert.equal(pool.size, 3, 'grow never stops workers');
    // Nine tasks at once go to the least-loaded workers: the new ones take most of them, and
    // each hashes with the configured key, not the constructor's (none).
    const blocks = Array.from({ length: 9 }, (_, i) => new Uint8Array(4096).fill(i + 10));
    const results = await Promise.all(blocks.map((b) => pool.compress([b], Codec.ZSTD, 3, { transfer: false })));
    results.forEach(([r], i) => assert.equal(hex(r.hash), hex(keyedBlake3(key)(blocks[i])), `block ${i}: keyed hash`));
  } finally {
    await pool.close();
  }
  assert.throws(() => pool.grow(4), /closed/);
});

test('ready resolves once every worker has loaded, and holds a process that has nothing else to wait for', async () => {
  const pool = new WorkerPool(2);
  try {
    await pool.ready();
    pool.grow(3);
    await pool.ready();
  } finally {
    await pool.close();
  }
  // Idle workers do not keep a process alive; waiting for them to start must (else Node exits
  // with 13, an unsettled top-level await, before 'up' is printed).
  const url = new URL('../src/workers/worker-pool.ts', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { WorkerPool } = await import(${JSON.stringify(url)}); const p = new WorkerPool(2); await p.ready(); console.log('up'); p.close();`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'up');
});

test('a worker that says it is ready after close() does not let the process exit before close() resolves', () => {
  // terminate() holds a worker until its exit event; a ready message handled after it (a worker
  // that finished loading just then) must not unreference it, or the event loop empties first
  // and close() never resolves (Node exits 13: an unsettled top-level await). The late message
  // is emitted by hand here, right after close() starts, where a real one can land.
  const url = new URL('../src/workers/worker-pool.ts', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    const { WorkerPool } = await import(${JSON.stringify(url)});
    const pool = new WorkerPool(2);
    await pool.ready();
    const closing = pool.close();
    for (const w of pool.workers) w.worker.emit('message', { id: -1, ready: true });
    await closing;
    console.log('closed');`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'closed');
});

test('ready rejects when the pool is closed before its workers start', async () => {
  const pool = new WorkerPool(1);
  const ready = pool.ready();
  ready.catch(() => {}); // checked below, after close
  await pool.close();
  await assert.rejects(ready, /closed/);
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

test('decodeRun reads stored bytes in shared memory in place, at any offset and filling the whole buffer', async () => {
  const pool = new WorkerPool(1);
  try {
    pool.configure({ slots: [{ verify: true }] });
    const { ZstdCodec } = await import('../src/codec/zstd-codec.ts');
    const block = Uint8Array.from({ length: 65536 }, (_, i) => (i * 31) % 251);
    const frame = new ZstdCodec().compress(block, 3)!;
    const blocks = [{ slot: 0, at: 0, storedLength: frame.length, storedOffset: 0, encoding: Codec.ZSTD, length: block.length, hash: blake3(block), skip: 0, take: block.length, to: 0 }];
    // A view that is all of a SharedArrayBuffer (no transfer may be attempted) and one inside a larger one.
    for (const [slab, at] of [[new SharedArrayBuffer(frame.length), 0], [new SharedArrayBuffer(frame.length + 100), 37]] as const) {
      const stored = new Uint8Array(slab, at, frame.length);
      stored.set(frame);
      const out = await pool.decodeRun({ stored, blocks, length: block.length });
      assert.equal(hex(out), hex(block));
      assert.equal(hex(stored), hex(frame), 'the stored bytes are left as they were');
    }
  } finally {
    await pool.close();
  }
});

test('checkDigests finds the first span whose leading checksum is wrong; it may come before configure', async () => {
  const pool = new WorkerPool(1);
  try {
    const spans: number[] = [];
    const bytes = new Uint8Array(10 * 1000);
    for (let i = 0; i < 10; i++) {
      const span = bytes.subarray(i * 1000, i * 1000 + 900 + i);
      span.fill(i + 1, 16);
      span.set(blake3(span.subarray(16)).subarray(0, 16), 0);
      spans.push(i * 1000, i * 1000 + 900 + i);
    }
    assert.equal(await pool.checkDigests(bytes.slice(), Float64Array.from(spans)), -1);
    const bad = bytes.slice();
    bad[6 * 1000 + 500] ^= 1;
    bad[8 * 1000 + 3] ^= 1;
    assert.equal(await pool.checkDigests(bad, Float64Array.from(spans)), 6);
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    pool.configure({ hashKey: key }); // a check uses no archive data: configure still comes first for real tasks
    const [r] = await pool.compress([new Uint8Array(4096).fill(1)], Codec.ZSTD, 3, { transfer: false });
    assert.equal(hex(r.hash), hex(keyedBlake3(key)(new Uint8Array(4096).fill(1))));
  } finally {
    await pool.close();
  }
});

/**
 * WorkerPool.configure: a pool started before its archive is known takes the archive's data
 * (here the keyed-hash key of an encrypted archive) in a setup message that every worker gets
 * before its first task.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
  await WorkerPool.releaseSpares(); // a kept worker would be up already
  const pool = new WorkerPool(1);
  const ready = pool.ready();
  ready.catch(() => {}); // checked below, after close
  await pool.close();
  await assert.rejects(ready, /closed/);
  // Its thread was still starting: it is not kept for the next pool, which starts its own.
  const next = new WorkerPool(1);
  try {
    let up = false;
    void next.ready().then(() => (up = true));
    await new Promise(setImmediate);
    assert.equal(up, false, 'a worker that had not come up was handed on as if it had');
    await next.ready();
  } finally {
    await next.close();
    await WorkerPool.releaseSpares();
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

test('a closed pool keeps idle workers for the next one: it starts at once, with its own data only', async () => {
  await WorkerPool.releaseSpares();
  const block = new Uint8Array(4096).fill(7);
  const first = new WorkerPool(2);
  const k1 = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  first.configure({ hashKey: k1 });
  const [r1] = await first.compress([block], Codec.ZSTD, 3, { transfer: false });
  assert.equal(hex(r1.hash), hex(keyedBlake3(k1)(block)));
  await first.ready();
  await first.close();
  // Both kept: the next pools are up before anything is sent to them.
  const second = new WorkerPool(1);
  const third = new WorkerPool(1);
  try {
    let up = false;
    const ready = second.ready().then(() => (up = true));
    await new Promise(setImmediate); // far less than a thread takes to start
    assert.equal(up, true, 'a kept worker is up already');
    await ready;
    // Without configure: plain BLAKE3, not the first pool's key.
    const [r2] = await second.compress([block], Codec.ZSTD, 3, { transfer: false });
    assert.equal(hex(r2.hash), hex(blake3(block)));
    const k3 = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
    third.configure({ hashKey: k3 });
    const [r3] = await third.compress([block], Codec.ZSTD, 3, { transfer: false });
    assert.equal(hex(r3.hash), hex(keyedBlake3(k3)(block)));
  } finally {
    await second.close();
    await third.close();
    await WorkerPool.releaseSpares();
  }
  // A process whose pools are closed exits at once: kept workers do not hold it.
  const url = new URL('../src/workers/worker-pool.ts', import.meta.url).href;
  const t = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { WorkerPool } = await import(${JSON.stringify(url)}); const p = new WorkerPool(2); await p.ready(); await p.close(); console.log('closed');`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'closed');
  assert.ok(Date.now() - t < 4000, `the process took ${Date.now() - t} ms to exit (kept workers are kept for 5 s)`);
});

test('built pools start from the bundled worker (npm run build), which hashes, compresses and decodes', (t) => {
  const dist = new URL('../dist/workers/worker-pool.js', import.meta.url);
  if (!existsSync(dist)) {
    if (process.env.CI) assert.fail('dist/ is missing: npm test builds it first');
    t.skip('no dist/ (run npm run build)');
    return;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const { WorkerPool, blockWorkerEntry } = await import(${JSON.stringify(dist.href)});
    const { blake3 } = await import(${JSON.stringify(new URL('../dist/hash/blake3.js', import.meta.url).href)});
    const pool = new WorkerPool(1);
    pool.configure({ slots: [{ verify: true }] });
    const block = new Uint8Array(65536).map((_, i) => (i * 31) % 251);
    const [c] = await pool.compress([block], 2, 3, { transfer: false });
    const out = await pool.decodeRun({ stored: c.stored.slice(), length: block.length, blocks: [{ slot: 0, at: 0, storedLength: c.stored.length, storedOffset: 0, encoding: c.encoding, length: block.length, hash: c.hash, skip: 0, take: block.length, to: 0 }] });
    console.log(JSON.stringify({ entry: blockWorkerEntry(), hash: Buffer.from(c.hash).equals(Buffer.from(blake3(block))), same: Buffer.from(out).equals(Buffer.from(block)), encoding: c.encoding }));
    await pool.close();`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.match(got.entry, /\/dist\/workers\/block-worker\.bundle\.js$/);
  assert.deepEqual({ hash: got.hash, same: got.same, encoding: got.encoding }, { hash: true, same: true, encoding: 2 });
});

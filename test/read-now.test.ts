/**
 * A warm local reader answers a small read without waiting (IndexTree.findNow,
 * BlockLoader.useNow): the index leaf and the block are read with the source's synchronous
 * readIntoSync, not read or readInto; without it, or for an encrypted archive, the reader takes
 * the asynchronous path. The bytes are the same either way; an aborted signal still aborts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Archive } from '../src/index.ts';
import { AbortedError } from '../src/errors.ts';
import { FileSource } from '../src/store/file-source.ts';
import type { ByteSource } from '../src/store/types.ts';
import { assertBytes, mixedData, packSmall, tempDir, writeData } from './helpers.ts';

const BLOCK = 16 * 1024;
const tmp = tempDir('hexz-readnow-');
after(() => tmp.cleanup());
const disk = mixedData(2000 * BLOCK, { unit: BLOCK, seed: 61 });
const plain = tmp.path('plain.hxz');
const encrypted = tmp.path('encrypted.hxz');

before(async () => {
  const raw = writeData(tmp.path('disk.raw'), disk);
  await packSmall({ disk: raw, output: plain, blockSize: BLOCK });
  await packSmall({ disk: raw, output: encrypted, blockSize: BLOCK, encrypt: { password: 'now', kdf: { memoryKiB: 256, iterations: 1, lanes: 1 } } });
});

/** A FileSource that counts which of its read methods are called, optionally without readIntoSync. */
async function countingFile(path: string, sync: boolean) {
  const inner = await FileSource.open(path);
  const calls = { read: 0, readInto: 0, readIntoSync: 0 };
  const source: ByteSource = {
    name: inner.name,
    local: true,
    size: () => inner.size(),
    read: (o, l, opt) => (calls.read++, inner.read(o, l, opt)),
    readInto: (o, t, opt) => (calls.readInto++, inner.readInto(o, t, opt)),
    ...(sync ? { readIntoSync: (o: number, t: Uint8Array) => (calls.readIntoSync++, inner.readIntoSync(o, t)) } : {}),
    close: () => inner.close(),
  };
  return { source, calls };
}

test('a local source that reads synchronously serves leaf and block reads through readIntoSync', async () => {
  const { source, calls } = await countingFile(plain, true);
  const a = await Archive.open(source, { readAheadBytes: 0 });
  try {
    // 2000 blocks: more than one leaf, so the first read at each far offset loads a leaf too.
    for (const block of [3, 1500, 700, 3, 1999]) {
      const before = { ...calls };
      const offset = block * BLOCK + 100;
      assertBytes(await a.readAt('disk', offset, 5000), disk.subarray(offset, offset + 5000), `block ${block}`);
      assert.equal(calls.read, before.read, `block ${block}: no asynchronous read`);
      assert.equal(calls.readInto, before.readInto, `block ${block}: no asynchronous readInto`);
    }
    assert.ok(calls.readIntoSync >= 5, `leaves and blocks read synchronously (${calls.readIntoSync})`);
    const before = calls.readIntoSync;
    await a.readAt('disk', 700 * BLOCK, 10);
    assert.equal(calls.readIntoSync, before, 'a cached block and leaf read nothing');
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(a.readAt('disk', 900 * BLOCK, 10, { signal: ac.signal }), AbortedError);
  } finally {
    await a.close();
  }
});

test('without readIntoSync, and for an encrypted archive, reads wait for the source as before', async () => {
  for (const [path, sync, password] of [[plain, false, undefined], [encrypted, true, 'now']] as const) {
    const { source, calls } = await countingFile(path, sync);
    const a = await Archive.open(source, { readAheadBytes: 0, password });
    try {
      const before = calls.read + calls.readInto;
      const offset = 1234 * BLOCK + 7;
      assertBytes(await a.readAt('disk', offset, 3 * BLOCK), disk.subarray(offset, offset + 3 * BLOCK), path);
      assert.ok(calls.read + calls.readInto > before, `${path}: read asynchronously`);
      if (password) assert.equal(calls.readIntoSync, 0, 'sealed nodes and blocks are not read synchronously');
    } finally {
      await a.close();
    }
  }
});

test('a large stored block the cache lets go during a read is read again whole', async () => {
  const MiB = 1 << 20;
  // Block 0 compresses; block 1 is random, stored raw at 1 MiB (more than a reused read buffer).
  const data = new Uint8Array(2 * MiB);
  data.fill(7, 0, MiB);
  data.set(mixedData(MiB, { unit: MiB, seed: 62 }).map((b, i) => (b ^ (i * 2654435761 >>> 24)) & 0xff), MiB);
  const path = tmp.path('large.hxz');
  await packSmall({ disk: writeData(tmp.path('large.raw'), data), output: path, blockSize: MiB });
  const a = await Archive.open(path, { cacheBytes: MiB, readAheadBytes: 0 });
  try {
    assertBytes(await a.readAt('disk', MiB + 10, 10), data.subarray(MiB + 10, MiB + 20), 'block 1 cached');
    // Loading block 0 pushes block 1 out of the one-block cache in the middle of this read.
    assertBytes(await a.readAt('disk', MiB - 10, 20), data.subarray(MiB - 10, MiB + 10), 'across both blocks');
    assertBytes(await a.readAt('disk', MiB - 10, 20), data.subarray(MiB - 10, MiB + 10), 'again');
  } finally {
    await a.close();
  }
});

test('a read aborted while it waits for its index lookup ends with AbortedError, warm or not', async () => {
  const a = await Archive.open(plain, { readAheadBytes: 0 });
  try {
    for (const round of ['cold', 'warm']) {
      const ac = new AbortController();
      const p = a.readAt('disk', 321 * BLOCK, 100, { signal: ac.signal });
      ac.abort();
      await assert.rejects(p, AbortedError, round);
    }
    assertBytes(await a.readAt('disk', 321 * BLOCK, 100), disk.subarray(321 * BLOCK, 321 * BLOCK + 100));
  } finally {
    await a.close();
  }
});

/**
 * Pack, then read back: awkward sizes, both streams, every codec, dedup on and off, path and
 * Readable inputs, 4K and 64K blocks, sparse multi-GiB inputs, createReadStream, openHandle,
 * in-memory sources and how few reads opening and a small read cost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  AbortedError, Archive, CountingSource, HEADER_SIZE, MemorySource, StoreError, UsageError,
} from '../src/index.ts';
import { extract } from '../src/ops/extract.ts';
import {
  assertBytes, collect, isZero, listDir, mixedData, packSmall, randomData, readAll, readableOf, tempDir, writeData,
} from './helpers.ts';

const tmp = tempDir('hexz-roundtrip-');
after(() => tmp.cleanup());

/** Reads `stream` three ways (readAt in one go, readAt in odd pieces, extract) and compares. */
async function checkStream(a: Archive, stream: 'disk' | 'memory', expected: Uint8Array, label: string): Promise<void> {
  assert.equal(a.size(stream), expected.length, `${label}: ${stream} size`);
  assertBytes(await readAll(a, stream), expected, `${label}: ${stream} readAt(all)`);
  const step = 3001;
  for (let at = 0; at < expected.length; at += step) {
    const n = Math.min(step, expected.length - at);
    assertBytes(await a.readAt(stream, at, n), expected.subarray(at, at + n), `${label}: ${stream} readAt(${at}, ${n})`);
  }
  const out = tmp.path(`${label}-${stream}.raw`.replace(/[^\w.-]/g, '_'));
  const r = await extract(a, { stream, output: out });
  assert.equal(r.bytes, expected.length);
  assertBytes(readFileSync(out), expected, `${label}: ${stream} extract`);
}

describe('awkward sizes x codecs x block sizes, both streams in one archive', () => {
  for (const blockSize of [4096, 65536]) {
    const pairs: [number, number][] = [
      [0, 1],
      [blockSize - 1, blockSize],
      [blockSize + 1, 5 * blockSize + 777],
    ];
    for (const compression of ['zstd', 'lz4', 'none'] as const) {
      test(`${compression}, ${blockSize / 1024}K blocks`, async () => {
        for (const [diskSize, memSize] of pairs) {
          const label = `${compression}-${blockSize}-${diskSize}-${memSize}`;
          const disk = mixedData(diskSize, { unit: blockSize, seed: diskSize + 1 });
          const memory = mixedData(memSize, { unit: blockSize, seed: memSize + 2 });
          const out = tmp.path(`${label}.hxz`);
          const r = await packSmall({
            disk: writeData(tmp.path(`${label}.disk`), disk), memory: writeData(tmp.path(`${label}.mem`), memory),
            output: out, compression, blockSize,
          });
          assert.equal(r.logicalBytes, diskSize + memSize);
          assert.equal(r.archiveBytes, statSync(out).size);
          assert.deepEqual(r.streams.map((s) => [s.name, s.logicalBytes]), [['disk', diskSize], ['memory', memSize]]);
          const a = await Archive.open(out);
          try {
            assert.deepEqual(a.streams, ['disk', 'memory']);
            assert.equal(a.header.blockSize, blockSize);
            assert.equal(a.info.compression, compression);
            if (compression === 'none') {
              for (const s of a.header.streams) assert.equal(s.stats.rawBlocks, s.stats.dataBlocks, `${label}: none stores raw`);
            } else if (memSize > 2 * blockSize) {
              const m = a.header.streams[1].stats; // holds a text block, which compresses
              assert.ok(m.rawBlocks < m.dataBlocks, `${label}: ${m.rawBlocks} of ${m.dataBlocks} blocks raw`);
              assert.ok(m.storedBytes < memSize, `${label}: stored ${m.storedBytes} of ${memSize}`);
            }
            await checkStream(a, 'disk', disk, label);
            await checkStream(a, 'memory', memory, label);
          } finally {
            await a.close();
          }
        }
      });
    }
  }
});

test('a single stream: the other one is absent and reading it is a UsageError', async () => {
  const data = mixedData(10_000, { seed: 11 });
  const out = tmp.path('memory-only.hxz');
  await packSmall({ memory: writeData(tmp.path('memory-only.bin'), data), output: out, blockSize: 4096 });
  const a = await Archive.open(out);
  try {
    assert.deepEqual(a.streams, ['memory']);
    assert.equal(a.hasStream('disk'), false);
    await assert.rejects(a.readAt('disk', 0, 1), UsageError);
    assert.throws(() => a.size('disk'), UsageError);
    assertBytes(await readAll(a, 'memory'), data, 'memory');
  } finally {
    await a.close();
  }
  // extract picks the only stream by default
  const raw = tmp.path('memory-only.raw');
  const r = await extract(out, { output: raw });
  assert.equal(r.stream, 'memory');
  assertBytes(readFileSync(raw), data, 'extracted memory');
});

describe('deduplication', () => {
  const blockSize = 4096;
  // Disk has repeated blocks of its own; memory repeats some disk blocks (cross-stream dedup).
  const disk = mixedData(60 * blockSize + 100, { unit: blockSize, seed: 21 });
  const memory = new Uint8Array(20 * blockSize);
  for (let i = 0; i < 20; i++) memory.set(disk.subarray(i * 3 * blockSize, i * 3 * blockSize + blockSize), i * blockSize);
  memory.set(randomData(blockSize, 99), 7 * blockSize);

  async function packWith(dedup: boolean) {
    const out = tmp.path(`dedup-${dedup}.hxz`);
    const r = await packSmall({
      disk: writeData(tmp.path('dedup.disk'), disk), memory: writeData(tmp.path('dedup.mem'), memory),
      output: out, blockSize, dedup, force: true,
    });
    return { out, r };
  }

  test('on: duplicates are indexed as DEDUP entries, content is identical', async () => {
    const { out, r } = await packWith(true);
    assert.equal(r.dedup, true);
    const a = await Archive.open(out);
    try {
      const [d, m] = a.header.streams;
      assert.ok(d.stats.dedupBlocks > 0, 'disk has duplicates of its own');
      assert.ok(m.stats.dedupBlocks > 0, 'memory blocks duplicate disk blocks');
      assert.equal(d.stats.dedupBytes, d.stats.dedupBlocks * blockSize);
      let dedupEntries = 0;
      for await (const e of a.entries('disk')) if (e.kind === 2) dedupEntries++;
      assert.equal(dedupEntries, d.stats.dedupBlocks);
      assertBytes(await readAll(a, 'disk'), disk, 'disk');
      assertBytes(await readAll(a, 'memory'), memory, 'memory');
    } finally {
      await a.close();
    }
  });

  test('off: no DEDUP entries, more stored bytes, same content', async () => {
    const on = await packWith(true);
    const off = await packWith(false);
    assert.equal(off.r.dedup, false);
    const a = await Archive.open(off.out);
    try {
      for (const s of a.header.streams) {
        assert.equal(s.stats.dedupBlocks, 0);
        assert.equal(s.stats.dedupBytes, 0);
      }
      for await (const e of a.entries('disk')) assert.notEqual(e.kind, 2, `DEDUP entry at ${e.offset} with dedup off`);
      assertBytes(await readAll(a, 'disk'), disk, 'disk');
      assertBytes(await readAll(a, 'memory'), memory, 'memory');
    } finally {
      await a.close();
    }
    const stored = (r: typeof on.r) => r.streams.reduce((n, s) => n + s.storedBytes, 0);
    assert.ok(stored(off.r) > stored(on.r), `dedup off stores ${stored(off.r)} bytes, on stores ${stored(on.r)}`);
  });
});

describe('Readable stream inputs', () => {
  for (const blockSize of [4096, 65536]) {
    test(`odd-sized chunks, ${blockSize / 1024}K blocks, stream and path inputs mixed`, async () => {
      const disk = mixedData(7 * blockSize + 12_345, { unit: blockSize, seed: 31 });
      const memory = mixedData(3 * blockSize - 5, { unit: blockSize, seed: 32 });
      const out = tmp.path(`stream-${blockSize}.hxz`);
      const r = await packSmall({ disk: readableOf(disk, 5), memory: writeData(tmp.path(`stream-${blockSize}.mem`), memory), output: out, blockSize });
      assert.equal(r.logicalBytes, disk.length + memory.length);
      const a = await Archive.open(out);
      try {
        await checkStream(a, 'disk', disk, `stream-${blockSize}`);
        await checkStream(a, 'memory', memory, `stream-${blockSize}`);
      } finally {
        await a.close();
      }
    });
  }

  test('an empty stream and a stream of one byte', async () => {
    const out = tmp.path('stream-tiny.hxz');
    await packSmall({ disk: Readable.from([]), memory: Readable.from([Buffer.of(0xab)]), output: out });
    const a = await Archive.open(out);
    try {
      assert.equal(a.size('disk'), 0);
      assert.equal((await a.readAt('disk', 0, 0)).length, 0);
      assertBytes(await a.readAt('memory', 0, 1), Uint8Array.of(0xab), 'memory');
    } finally {
      await a.close();
    }
  });

  test('string chunks are packed as their UTF-8 bytes', async () => {
    const text = 'hexz ünïcödé '.repeat(1000);
    const out = tmp.path('stream-text.hxz');
    await packSmall({ disk: Readable.from(text.match(/.{1,333}/gs)!), output: out, blockSize: 4096 });
    const a = await Archive.open(out);
    try {
      assertBytes(await readAll(a, 'disk'), Buffer.from(text, 'utf8'), 'text');
    } finally {
      await a.close();
    }
  });
});

describe('sparse multi-GiB input', () => {
  const size = 5 * 1024 ** 3;
  const writes: [number, Uint8Array][] = [
    [0, randomData(5000, 41)],
    [65536 - 10, randomData(20, 42)], // crosses a block boundary
    [3 * 1024 ** 3 + 12_345, randomData(70_000, 43)],
    [size - 7, Buffer.from('endmark')], // the very end
  ];
  let raw = '';
  let out = '';
  before(() => {
    raw = tmp.path('sparse.img');
    out = tmp.path('sparse.hxz');
    closeSync(openSync(raw, 'w'));
    truncateSync(raw, size);
    const fd = openSync(raw, 'r+');
    for (const [at, bytes] of writes) writeSync(fd, bytes, 0, bytes.length, at);
    closeSync(fd);
  });

  test('packs into a small archive and reads back data and holes', async () => {
    const r = await packSmall({ disk: raw, output: out, workers: 2 });
    assert.equal(r.logicalBytes, size);
    assert.ok(statSync(out).size < 1024 * 1024, `archive of a sparse 5 GiB file is ${statSync(out).size} bytes`);
    const a = await Archive.open(out);
    try {
      const s = a.header.streams[0];
      assert.equal(s.logicalSize, size);
      assert.ok(s.stats.zeroBytes > 4.9 * 1024 ** 3, `zeroBytes ${s.stats.zeroBytes}`);
      for (const [at, bytes] of writes) {
        assertBytes(await a.readAt('disk', at, bytes.length), bytes, `written range at ${at}`);
      }
      // Zero regions, including ones next to data and across the 2 GiB zero-run split.
      for (const [at, n] of [[5000, 60_000], [2 ** 31 - 100, 200], [2 ** 32 + 5, 100_000], [size - 200_000, 199_993]]) {
        assert.ok(isZero(await a.readAt('disk', at, n)), `zeros at ${at}`);
      }
      // A read spanning a hole and data.
      const [at3, b3] = writes[2];
      const span = await a.readAt('disk', at3 - 1000, 1000 + b3.length + 1000);
      assert.ok(isZero(span.subarray(0, 1000)));
      assertBytes(span.subarray(1000, 1000 + b3.length), b3, 'data inside span');
      assert.ok(isZero(span.subarray(1000 + b3.length)));
      for await (const e of a.entries('disk')) assert.ok(e.length <= 2 ** 31, `entry at ${e.offset} is ${e.length} bytes`);
    } finally {
      await a.close();
    }
  });
});

describe('createReadStream and openHandle', () => {
  const blockSize = 4096;
  const data = mixedData(20 * blockSize + 999, { unit: blockSize, seed: 51 });
  let a: Archive;
  before(async () => {
    const out = tmp.path('streams.hxz');
    await packSmall({ disk: writeData(tmp.path('streams.bin'), data), output: out, blockSize, compression: 'lz4' });
    a = await Archive.open(out);
  });
  after(() => a.close());

  test('createReadStream: start and end are inclusive', async () => {
    const n = data.length;
    const cases: [number | undefined, number | undefined, number | undefined][] = [
      [undefined, undefined, undefined],
      [0, 0, undefined],
      [100, 100, undefined],
      [blockSize - 1, blockSize, undefined],
      [123, 5 * blockSize + 17, 1000],
      [n - 1, n - 1, undefined],
      [5000, undefined, 777],
      [undefined, 4095, undefined],
      [n - 10, n - 1, 3],
    ];
    for (const [start, end, chunkSize] of cases) {
      const got = await collect(a.createReadStream('disk', { start, end, chunkSize }));
      assertBytes(got, data.subarray(start ?? 0, end === undefined ? n : end + 1), `createReadStream(${start}, ${end}, ${chunkSize})`);
    }
  });

  test('openHandle: read, seek and tell', async () => {
    const h = a.openHandle('disk');
    assert.equal(h.size, data.length);
    assert.equal(h.tell(), 0);
    // Sequential reads of odd sizes reproduce the stream.
    const parts: Uint8Array[] = [];
    for (const n of [1, 4095, 4097, 10_000, 1]) parts.push(await h.read(n));
    let pos = 4095 + 4097 + 10_000 + 2;
    assert.equal(h.tell(), pos);
    for (;;) {
      const p = await h.read(7777);
      if (p.length === 0) break;
      parts.push(p);
    }
    assert.equal(h.tell(), data.length);
    assertBytes(Buffer.concat(parts), data, 'sequential handle reads');
    assert.equal((await h.read(10)).length, 0, 'read at the end is empty');

    pos = h.seek(1000);
    assert.equal(pos, 1000);
    assertBytes(await h.read(10), data.subarray(1000, 1010), 'after seek set');
    assert.equal(h.seek(-500, 'cur'), 510);
    assertBytes(await h.read(4096), data.subarray(510, 4606), 'after seek cur');
    assert.equal(h.seek(-20, 'end'), data.length - 20);
    const tail = await h.read(100);
    assertBytes(tail, data.subarray(data.length - 20), 'short read at the end');
    assert.equal(h.tell(), data.length);
    assert.throws(() => h.seek(-1), UsageError);
    assert.throws(() => h.seek(-data.length - 1, 'end'), UsageError);
    assert.equal(h.tell(), data.length, 'a refused seek does not move');
  });

  test('openHandle: reading after seeking past the end returns an empty array', async () => {
    // Like read(2) after lseek past EOF; the doc says reads at the end return an empty array.
    const h = a.openHandle('disk');
    h.seek(100, 'end');
    assert.equal(h.tell(), data.length + 100);
    const got = await h.read(5);
    assert.equal(got.length, 0);
  });
});

describe('in-memory and counted sources', () => {
  const blockSize = 4096;
  const data = mixedData(40 * blockSize, { unit: blockSize, seed: 61 });
  let bytes: Uint8Array;
  before(async () => {
    const out = tmp.path('memsrc.hxz');
    await packSmall({ disk: writeData(tmp.path('memsrc.bin'), data), output: out, blockSize });
    bytes = readFileSync(out);
  });

  test('Archive.open on a MemorySource reads the same bytes', async () => {
    const a = await Archive.open(new MemorySource(bytes, 'in-memory'));
    assert.equal(a.name, 'in-memory');
    assert.equal(a.fileSize, bytes.length);
    assertBytes(await readAll(a, 'disk'), data, 'disk via MemorySource');
    assertBytes(await a.readAt('disk', 12_345, 6789), data.subarray(12_345, 12_345 + 6789), 'range');
    await a.close();
  });

  test('opening reads only the header and the root nodes; a small read costs a few requests; a repeat is cached', async () => {
    const src = new CountingSource(new MemorySource(bytes));
    const a = await Archive.open(src, { preloadIndexBytes: 0 });
    const roots = a.header.streams.filter((s) => s.present && s.entryCount > 0);
    const rootBytes = roots.reduce((n, s) => n + s.rootLength, 0);
    assert.equal(src.requests, 1 + roots.length, 'open reads the header and each stream\'s root');
    assert.equal(src.bytesRead, HEADER_SIZE + rootBytes, 'open reads exactly the header and the roots');
    const opened = { requests: src.requests, bytes: src.bytesRead };

    const at = 17 * blockSize + 100;
    assertBytes(await a.readAt('disk', at, 10), data.subarray(at, at + 10), 'small read');
    const levels = a.header.streams[0].rootLevel + 1;
    const reqs = src.requests - opened.requests;
    assert.ok(reqs <= levels, `a 10-byte read made ${reqs} requests (index levels: ${levels}, root already loaded)`);
    assert.ok(src.bytesRead - opened.bytes < 4 * blockSize + 80 * 1024, `a 10-byte read read ${src.bytesRead - opened.bytes} bytes`);

    const before = src.requests;
    assertBytes(await a.readAt('disk', at + 1, 5), data.subarray(at + 1, at + 6), 'repeat read');
    assert.equal(src.requests, before, 'a repeat read of a cached block makes no requests');
  });

  test('a small index is loaded whole at open; then each cold block costs one request', async () => {
    const src = new CountingSource(new MemorySource(bytes));
    const a = await Archive.open(src);
    // Format v7: a one-leaf index sits in the front area (FORMAT.md §7); the root is all of it, and
    // only the metadata follows the data region, which open does not read.
    assert.equal(a.header.metadata.offset, a.header.data.offset + a.header.data.length, 'no index node after the data region');
    assert.equal(a.header.streams[0].rootLevel, 0);
    assert.equal(src.requests, 2, 'open reads the header and the whole index');
    assert.equal(src.bytesRead, HEADER_SIZE + a.header.streams[0].rootLength);
    for (const e of await entriesOf(a, 'disk')) {
      if (e.kind !== 1) continue;
      const before = src.requests;
      assertBytes(await a.readAt('disk', e.offset, 1), data.subarray(e.offset, e.offset + 1), `block at ${e.offset}`);
      assert.equal(src.requests - before, 1, `a cold read of the block at ${e.offset} made ${src.requests - before} requests`);
      break;
    }
    await a.close();
  });
});

describe('pack failures and cancellation leave nothing behind', () => {
  test('a Readable input that fails mid-way: StoreError, no output, no temp files', async () => {
    const d = tempDir('hexz-fail-');
    try {
      const chunks = [randomData(100_000, 1), randomData(100_000, 2)];
      async function* failing() {
        yield* chunks;
        throw new Error('input device vanished');
      }
      const out = `${d.dir}/out.hxz`;
      await assert.rejects(packSmall({ disk: Readable.from(failing()), output: out }), StoreError);
      assert.deepEqual(listDir(d.dir), []);
    } finally {
      d.cleanup();
    }
  });

  test('aborting through the signal: AbortedError, no output, no temp files', async () => {
    const d = tempDir('hexz-abort-');
    try {
      const ac = new AbortController();
      async function* slow() {
        for (let i = 0; i < 1000; i++) {
          if (i === 3) ac.abort();
          yield randomData(65536, i + 1);
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      const out = `${d.dir}/out.hxz`;
      await assert.rejects(packSmall({ disk: Readable.from(slow()), output: out, signal: ac.signal }), AbortedError);
      assert.deepEqual(listDir(d.dir), []);
    } finally {
      d.cleanup();
    }
  });

  test('an existing output is refused without force and replaced with it', async () => {
    const d = tempDir('hexz-force-');
    try {
      const input = writeData(`${d.dir}/in.bin`, mixedData(50_000));
      const out = `${d.dir}/out.hxz`;
      writeData(out, Buffer.from('precious'));
      await assert.rejects(packSmall({ disk: input, output: out }), UsageError);
      assert.equal(readFileSync(out, 'utf8'), 'precious');
      await packSmall({ disk: input, output: out, force: true });
      const a = await Archive.open(out);
      assertBytes(await readAll(a, 'disk'), readFileSync(input), 'forced pack');
      await a.close();
      assert.deepEqual(listDir(d.dir), ['in.bin', 'out.hxz']);
    } finally {
      d.cleanup();
    }
  });
});

async function entriesOf(a: Archive, stream: 'disk' | 'memory') {
  const out = [];
  for await (const e of a.entries(stream)) out.push(e);
  return out;
}

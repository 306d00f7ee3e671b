/**
 * Sequential reads with decode-ahead (src/archive/sequential-reader.ts, src/node/sequential-chunks.ts,
 * createReadStream): order and content for plain, encrypted, CDC and thin archives (plain and
 * encrypted chains) from files and memory, decoded in-thread and on worker threads, over ranges
 * that start and end inside blocks; a damaged block late in the stream fails at its chunk after
 * every earlier chunk was delivered; an abort or an early return leaves no read in flight; the
 * read-ahead window bounds what is requested; a thin archive without its parents fails where it
 * needs one; `hexz cat` (built CLI: run `npx tsc -p tsconfig.json` first) of a long range with
 * zero runs; and (with nginx) the same over HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Archive, type IndexEntry } from '../src/index.ts';
import { pack } from '../src/pack/pack.ts';
import { readSequential, type SequentialChunk } from '../src/archive/sequential-reader.ts';
import { sequentialChunks } from '../src/node/sequential-chunks.ts';
import { MemorySource } from '../src/store/memory-source.ts';
import { FileSource } from '../src/store/file-source.ts';
import { SourceWrapper } from '../src/store/source-wrapper.ts';
import { wrapRemote } from '../src/store/wrap-remote.ts';
import type { ByteSource, ReadOptions } from '../src/store/types.ts';
import { AbortedError, CorruptArchiveError, MissingParentError } from '../src/errors.ts';
import { EntryKind } from '../src/format/constants.ts';
import { nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';
import { Rng, assertBytes, collect, isZero, mixedData, randomData, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-seq-');
after(() => tmp.cleanup());

const PW = 'sequential';
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };
const BLOCK = 16384;

/**
 * About 3 MiB: mixed 4 KiB pieces (random, text, zeros, duplicates, half-zero), a 1 MiB zero
 * run (a chunk of its own), and an odd-sized tail.
 */
function content(seed: number): Uint8Array {
  const out = new Uint8Array(3 * (1 << 20) + 12345);
  out.set(mixedData(1 << 20, { unit: 4096, seed }), 0);
  // Pieces of one block: some blocks are random, so stored raw.
  out.set(mixedData(out.length - (2 << 20), { unit: BLOCK, seed: seed + 1 }), 2 << 20);
  return out;
}

/** `data` with a few unaligned random edits (a thin child's content). */
function edited(data: Uint8Array, seed: number): Uint8Array {
  const out = Uint8Array.from(data);
  const rng = new Rng(seed);
  for (let i = 0; i < 8; i++) {
    const at = rng.int(out.length - 20000);
    rng.fill(out.subarray(at, at + rng.range(1, 20000)));
  }
  return out;
}

interface Case {
  name: string;
  path: string;
  data: Uint8Array;
  password?: string;
}

/** Collects a read into one buffer, checking order and that null chunks are zero runs. */
async function gather(chunks: AsyncIterable<SequentialChunk>, start: number, end: number): Promise<Uint8Array> {
  const out = new Uint8Array(end - start);
  let pos = start;
  for await (const c of chunks) {
    assert.equal(c.offset, pos, 'chunks are in order and contiguous');
    assert.ok(c.length > 0);
    assert.ok(c.entries.length > 0);
    assert.ok(c.entries[0].offset <= c.offset && c.entries.at(-1)!.offset + c.entries.at(-1)!.length >= c.offset + c.length, 'entries cover the chunk');
    if (c.data) {
      assert.equal(c.data.length, c.length);
      out.set(c.data, c.offset - start);
    } else assert.ok(c.entries.every((e) => e.kind === EntryKind.ZERO), 'a null chunk holds only zero entries');
    pos += c.length;
  }
  assert.equal(pos, end, 'the whole range was delivered');
  return out;
}

const cases: Case[] = [];

before(async () => {
  const base = content(11);
  const write = (name: string, data: Uint8Array) => writeData(tmp.path(`${name}.raw`), data);
  const plain = tmp.path('plain.hxz');
  await pack({ disk: write('plain', base), output: plain, blockSize: BLOCK, workers: 1 });
  cases.push({ name: 'plain', path: plain, data: base });
  const enc = tmp.path('enc.hxz');
  await pack({ disk: write('enc', base), output: enc, blockSize: BLOCK, workers: 1, encrypt: { password: PW, kdf: KDF } });
  cases.push({ name: 'encrypted', path: enc, data: base, password: PW });
  const cdcData = content(23);
  const cdc = tmp.path('cdc.hxz');
  await pack({ disk: write('cdc', cdcData), output: cdc, cdc: { min: 2048, avg: 8192, max: 32768 }, workers: 1 });
  cases.push({ name: 'CDC', path: cdc, data: cdcData });
  const child = edited(base, 5);
  const thin = tmp.path('thin.hxz');
  await pack({ disk: write('thin', child), output: thin, parent: plain, workers: 1 });
  const grandchild = edited(child, 6);
  const thin2 = tmp.path('thin2.hxz');
  await pack({ disk: write('thin2', grandchild), output: thin2, parent: thin, workers: 1 });
  cases.push({ name: 'thin (2 parents)', path: thin2, data: grandchild });
  const encChild = tmp.path('enc-thin.hxz');
  await pack({ disk: write('enc-thin', child), output: encChild, parent: enc, workers: 1, encrypt: { password: PW, kdf: KDF } });
  cases.push({ name: 'encrypted thin', path: encChild, data: child, password: PW });
});

describe('readSequential: order and content', () => {
  const ranges = (n: number): [number, number][] => [[0, n], [4097, n - 4095], [BLOCK + 10, BLOCK + 20], [n - 1, n], [(1 << 20) + 100, (2 << 20) + 5000], [0, 0]];

  test('every archive kind, from a file and from memory, in-thread and on workers, over ranges inside blocks', async () => {
    for (const c of cases) {
      const thin = c.name.startsWith('thin') || c.name.endsWith('thin');
      for (const from of ['file', 'memory'] as const) {
        const source = from === 'file' ? c.path : new MemorySource(readFileSync(c.path), c.path);
        const a = await Archive.open(source, { password: c.password, baseDir: thin ? tmp.dir : undefined });
        try {
          if (thin) assert.ok((await entriesOf(a)).some((e) => e.slot > 0), `${c.name}: some blocks come from parents`);
          for (const [start, end] of ranges(c.data.length)) {
            const what = `${c.name} from ${from} [${start}, ${end})`;
            const want = c.data.subarray(start, end);
            assertBytes(await gather(readSequential(a, 'disk', { start, end, chunkBytes: 65536, windowBytes: 200_000 }), start, end), want, `${what}, in-thread`);
            // Workers start slowly under tsx (about a second): one range is enough for that path.
            if (start === 4097) {
              assertBytes(await gather(sequentialChunks(a, 'disk', { start, end, chunkBytes: 65536, windowBytes: 200_000, workers: 2 }), start, end), want, `${what}, 2 workers`);
            }
          }
          assertBytes(await collect(a.createReadStream('disk', { start: 4095, end: c.data.length - 2, chunkSize: 50_000 })), c.data.subarray(4095, c.data.length - 1), `${c.name} from ${from}, createReadStream`);
        } finally {
          await a.close();
        }
      }
    }
  });

  test('recycle: released chunks decode later chunks into a few shared buffers; unreleased ones keep theirs', async () => {
    for (const c of cases.filter((x) => x.name === 'plain' || x.name === 'thin (2 parents)')) {
      const a = await Archive.open(c.path, { baseDir: tmp.dir });
      try {
        const n = c.data.length;
        for (const workers of [0, 2]) {
          const what = `${c.name}, ${workers} workers`;
          // Released at once (twice: the second call must not hand the buffer out again).
          const buffers = new Set<ArrayBufferLike>();
          const released = (async function* () {
            for await (const ch of sequentialChunks(a, 'disk', { chunkBytes: 65536, windowBytes: 200_000, workers, recycle: true })) {
              if (ch.data) {
                assert.ok(ch.data.buffer instanceof SharedArrayBuffer, `${what}: shared memory`);
                buffers.add(ch.data.buffer);
                yield { ...ch, data: Uint8Array.from(ch.data) };
                ch.release!();
                ch.release!();
              } else yield ch;
            }
          })();
          assertBytes(await gather(released, 0, n), c.data, `${what}, released`);
          assert.ok(buffers.size <= Math.ceil((4 * 200_000) / 65536) + 2, `${what}: ${buffers.size} buffers for ${Math.ceil(n / 65536)} chunks`);
          // Never released: every chunk still holds its own bytes at the end.
          const kept: SequentialChunk[] = [];
          for await (const ch of sequentialChunks(a, 'disk', { chunkBytes: 65536, windowBytes: 200_000, workers, recycle: true })) kept.push(ch);
          assertBytes(await gather((async function* () { yield* kept; })(), 0, n), c.data, `${what}, kept`);
        }
      } finally {
        await a.close();
      }
    }
  });

  test('recycle: stored bytes are read into a few reused shared buffers, given back once decoded', async () => {
    const c = cases.find((x) => x.name === 'plain')!;
    for (const workers of [0, 2]) {
      const src = new IntoTracking(await FileSource.open(c.path));
      const a = await Archive.open(src);
      try {
        const chunks: SequentialChunk[] = [];
        for await (const ch of sequentialChunks(a, 'disk', { chunkBytes: 65536, windowBytes: 200_000, workers, recycle: true })) {
          chunks.push({ ...ch, data: ch.data && Uint8Array.from(ch.data) });
          ch.release?.();
        }
        assertBytes(await gather((async function* () { yield* chunks; })(), 0, c.data.length), c.data, `${workers} workers`);
        const data = chunks.filter((ch) => ch.data).length;
        // A chunk whose blocks lie in several places (duplicates far back) reads them apart, into memory of its own.
        assert.ok(src.targets.length >= data / 2, `${workers} workers: ${src.targets.length} reads into borrowed memory for ${data} data chunks`);
        assert.ok(src.targets.every((t) => t.buffer instanceof SharedArrayBuffer), 'shared memory');
        const distinct = new Set(src.targets.map((t) => t.buffer)).size;
        assert.ok(distinct <= 12, `${workers} workers: ${distinct} buffers for ${src.targets.length} reads`);
      } finally {
        await a.close();
      }
    }
  });

  test('through the remote wrappers over memory: many reads per chunk, no listener pile-up', async () => {
    // 64 KiB blocks, a fifth of them duplicates of earlier ones far back: a 4 MiB chunk reads
    // many separate extents, each through retry, limit, coalescing and cache wrappers that listen
    // to its abort signal (the fail-on-warning setup fails the test on a MaxListenersExceededWarning,
    // which one signal shared by a chunk's reads gave).
    const data = mixedData(24 << 20, { unit: 65536, seed: 17 });
    const path = tmp.path('dups.hxz');
    await pack({ disk: writeData(tmp.path('dups.raw'), data), output: path, workers: 1 });
    const a = await Archive.open(wrapRemote(new MemorySource(readFileSync(path), path)));
    try {
      for (const workers of [0, 2]) {
        assertBytes(await gather(sequentialChunks(a, 'disk', { workers }), 0, data.length), data, `remote wrappers, ${workers} workers`);
      }
    } finally {
      await a.close();
    }
  });

  test('a long zero run is a chunk without bytes and is never read', async () => {
    const c = cases[0];
    const counted = new TrackingSource(await FileSource.open(c.path));
    const a = await Archive.open(counted);
    try {
      counted.reset();
      const chunks: SequentialChunk[] = [];
      for await (const ch of readSequential(a, 'disk', { start: 1 << 20, end: 2 << 20 })) chunks.push(ch);
      assert.equal(chunks.length, 1);
      assert.equal(chunks[0].data, null);
      assert.equal(counted.requests, 0, 'no block read for a zero run');
      assert.ok(isZero(c.data.subarray(1 << 20, 2 << 20)));
    } finally {
      await a.close();
      await counted.close();
    }
  });

  test('readSequential refuses a range outside the stream', async () => {
    const a = await Archive.open(cases[0].path);
    try {
      await assert.rejects(readSequential(a, 'disk', { start: 10, end: cases[0].data.length + 1 }).next(), /outside stream disk/);
      await assert.rejects(readSequential(a, 'disk', { start: 10, end: 5 }).next(), /outside stream disk/);
    } finally {
      await a.close();
    }
  });
});

describe('readSequential: damage surfaces at its position', () => {
  let damaged: string;
  let bad: IndexEntry;
  const data = () => cases[0].data;

  before(async () => {
    // Damage a raw-stored (random) block late in the stream: its hash no longer matches.
    damaged = tmp.path('damaged.hxz');
    copyFileSync(cases[0].path, damaged);
    const a = await Archive.open(damaged);
    const es = await entriesOf(a);
    await a.close();
    bad = es.filter((e) => e.kind === EntryKind.DATA && e.encoding === 0 && e.offset > data().length * 0.8)[0];
    assert.ok(bad, 'a raw block late in the stream');
    const bytes = readFileSync(damaged);
    bytes[bad.storedOffset + 100] ^= 0xff;
    writeFileSync(damaged, bytes);
  });

  for (const [workers, recycle] of [[0, false], [2, false], [2, true]] as const) {
    test(`earlier chunks are delivered, then CorruptArchiveError at the block (${workers ? 'workers' : 'in-thread'}${recycle ? ', recycled shared memory' : ''})`, async () => {
      const a = await Archive.open(damaged);
      try {
        let pos = 0;
        const got = new Uint8Array(data().length);
        // Chunks of 256 KiB: the damaged block lies inside one, not at its start.
        const reader = sequentialChunks(a, 'disk', { chunkBytes: 256 << 10, windowBytes: 1 << 20, workers, recycle });
        const err = await (async () => {
          try {
            for await (const c of reader) {
              assert.equal(c.offset, pos);
              if (c.data) got.set(c.data, c.offset);
              c.release?.();
              pos += c.length;
            }
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        assert.ok(err instanceof CorruptArchiveError, `expected CorruptArchiveError, got ${err}`);
        assert.equal(err.location.offset, bad.offset);
        assert.equal(err.location.fileOffset, bad.storedOffset);
        assert.equal(err.location.stage, 'block');
        assert.match(err.message, /content hash mismatch/);
        // Exactly up to the damaged block: the chunk holding it is delivered up to it.
        assert.equal(pos, bad.offset, 'delivered up to the damaged block');
        assertBytes(got.subarray(0, pos), data().subarray(0, pos), 'bytes before the damage');
      } finally {
        await a.close();
      }
    });
  }

  test('createReadStream delivers every chunk before the damaged one (for await)', async () => {
    const a = await Archive.open(damaged);
    try {
      const parts: Buffer[] = [];
      await assert.rejects((async () => {
        for await (const c of a.createReadStream('disk', { chunkSize: 65536 })) parts.push(Buffer.from(c as Uint8Array));
      })(), (e: unknown) => e instanceof CorruptArchiveError && e.location.offset === bad.offset);
      const got = Buffer.concat(parts);
      assert.equal(got.length, bad.offset, 'delivered up to the damaged block');
      assertBytes(got, data().subarray(0, got.length), 'bytes before the damage');
    } finally {
      await a.close();
    }
  });
});

describe('readSequential: abort and early return leave nothing running', () => {
  for (const workers of [0, 2]) {
    test(`abort mid-stream (${workers ? 'workers' : 'in-thread'})`, async () => {
      const src = new TrackingSource(await FileSource.open(cases[0].path), 5);
      const a = await Archive.open(src);
      try {
        const ac = new AbortController();
        let n = 0;
        await assert.rejects((async () => {
          for await (const _ of sequentialChunks(a, 'disk', { chunkBytes: 65536, windowBytes: 1 << 20, workers, signal: ac.signal })) {
            if (++n === 3) ac.abort();
          }
        })(), AbortedError);
        assert.equal(n, 3);
        assert.equal(src.inFlight, 0, 'no read still in flight');
      } finally {
        await a.close();
        await src.close();
      }
    });

    test(`early return (${workers ? 'workers' : 'in-thread'})`, async () => {
      const src = new TrackingSource(await FileSource.open(cases[0].path), 5);
      const a = await Archive.open(src);
      try {
        for await (const c of sequentialChunks(a, 'disk', { chunkBytes: 65536, windowBytes: 1 << 20, workers })) if (c.offset > 0) break;
        assert.equal(src.inFlight, 0, 'no read still in flight');
        assert.ok(src.maxInFlight > 1, 'several reads were in flight at once');
      } finally {
        await a.close();
        await src.close();
      }
    });
  }

  test('destroying a createReadStream mid-stream stops its reads before it closes', async () => {
    const src = new TrackingSource(await FileSource.open(cases[0].path), 5);
    const a = await Archive.open(src);
    try {
      const rs = a.createReadStream('disk', { chunkSize: 65536 });
      let n = 0;
      for await (const _ of rs) if (++n === 2) break; // for-await's break destroys the stream
      assert.ok(rs.destroyed);
      // (events.once would reject on the AbortError a for-await break destroys the stream with.)
      if (!rs.closed) await new Promise((resolve) => rs.once('close', resolve));
      assert.equal(src.inFlight, 0, 'no read still in flight');
    } finally {
      await a.close();
      await src?.close();
    }
  });

  test('an already aborted signal reads nothing', async () => {
    const a = await Archive.open(cases[0].path);
    try {
      await assert.rejects(readSequential(a, 'disk', { signal: AbortSignal.abort() }).next(), AbortedError);
    } finally {
      await a.close();
    }
  });
});

describe('readSequential: thin archives and the CLI', () => {
  test('a thin archive opened without its parents fails at the first chunk that needs one', async () => {
    const c = cases.find((x) => x.name.startsWith('thin'))!;
    const a = await Archive.open(c.path, { openParents: false });
    try {
      const es = await entriesOf(a);
      const first = es.find((e) => e.slot > 0)!;
      let pos = 0;
      await assert.rejects((async () => {
        for await (const ch of readSequential(a, 'disk', { chunkBytes: 65536 })) pos = ch.offset + ch.length;
      })(), (e: unknown) => e instanceof MissingParentError && e.location.stage === 'parents');
      assert.ok(pos <= first.offset, `delivered up to ${pos}, the first parent block is at ${first.offset}`);
    } finally {
      await a.close();
    }
  });

  test('hexz cat of a long range with zero runs: decode workers, zeros from a shared buffer', () => {
    // 24 MiB (workers start from 16 MiB): data, a 5 MiB hole, data, a 3 MiB hole and a ragged end.
    const data = new Uint8Array(24 * (1 << 20) + 777);
    data.set(mixedData(8 << 20, { unit: 65536, seed: 31 }), 0);
    data.set(mixedData(8 << 20, { unit: 65536, seed: 32 }), 13 << 20);
    data.set(randomData(777, 33), 24 << 20);
    const raw = writeData(tmp.path('cat.raw'), data);
    const out = tmp.path('cat.hxz');
    const r0 = runCli(['pack', '--disk', raw, '-o', out, '--workers', '1', '--silent']);
    assert.equal(r0.status, 0, r0.stderr);
    const all = runCli(['cat', out]);
    assert.equal(all.status, 0, all.stderr);
    assertBytes(all.stdout, data, 'hexz cat');
    const part = runCli(['cat', out, '--offset', String((9 << 20) - 5), '--length', String(12 << 20)]);
    assert.equal(part.status, 0, part.stderr);
    assertBytes(part.stdout, data.subarray((9 << 20) - 5, (21 << 20) - 5), 'hexz cat --offset --length');
  });
});

describe('readSequential: the window bounds what is read ahead', () => {
  let random: string;
  let text: string;
  const size = 8 << 20;

  before(async () => {
    random = tmp.path('random.hxz');
    await pack({ disk: writeData(tmp.path('random.raw'), randomData(size, 9)), output: random, blockSize: BLOCK, workers: 1 });
    // Random words: compresses a few times over, and no two blocks are alike (no dedup).
    const t = new Uint8Array(size);
    const words = ['the ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'a ', 'lazy ', 'dog ', 'block ', 'sector\n'].map((w) => new TextEncoder().encode(w));
    const rng = new Rng(4);
    for (let at = 0; at < size;) {
      const w = words[rng.int(words.length)].subarray(0, size - at);
      t.set(w, at);
      at += w.length;
    }
    text = tmp.path('text.hxz');
    await pack({ disk: writeData(tmp.path('text.raw'), t), output: text, blockSize: BLOCK, workers: 1 });
  });

  test('stored bytes requested ahead of a paused consumer stay within the window', async () => {
    const src = new TrackingSource(await FileSource.open(random), 2);
    const a = await Archive.open(src);
    try {
      src.reset();
      const window = 512 << 10;
      const reader = readSequential(a, 'disk', { chunkBytes: 65536, windowBytes: window });
      const first = await reader.next();
      assert.ok(!first.done);
      await settle(src);
      const firstStored = first.value.entries.reduce((n, e) => n + e.storedLength, 0);
      assert.ok(src.bytes <= firstStored + window, `requested ${src.bytes} bytes with a window of ${window}`);
      assert.ok(src.bytes >= window - 65536 - BLOCK, `requested ${src.bytes} bytes: the window is used`);
      assert.ok(src.maxInFlight > 2, `reads in flight at once: ${src.maxInFlight}`);
      await reader.return(undefined);
      assert.equal(src.inFlight, 0);
    } finally {
      await a.close();
      await src?.close();
    }
  });

  test('decoded bytes ahead are bounded too (highly compressible data)', async () => {
    const src = new TrackingSource(await FileSource.open(text), 2);
    const a = await Archive.open(src);
    try {
      src.reset();
      const reader = readSequential(a, 'disk', { chunkBytes: 65536, windowBytes: 16 << 20, decodedWindowBytes: 256 << 10 });
      await reader.next();
      await settle(src);
      // One block request per chunk here: the first chunk, then at most 256 KiB / 64 KiB ahead
      // (index leaves, read as the walk reaches them, are not chunks).
      const data = a.header.data;
      const blocks = src.offsets.filter((o) => o >= data.offset && o < data.offset + data.length).length;
      assert.ok(blocks <= 1 + 4, `block requests ${blocks}`);
      assert.ok(blocks >= 4, `block requests ${blocks}`);
      await reader.return(undefined);
    } finally {
      await a.close();
      await src?.close();
    }
  });
});

describe('readSequential over HTTP (nginx)', { skip: nginxSkip() }, () => {
  let nginx: NginxServer;
  const root = tmp.path('www');

  before(async () => {
    mkdirSync(root);
    for (const c of cases) copyFileSync(c.path, join(root, c.path.split('/').pop()!));
    for (const name of ['plain.hxz', 'thin.hxz', 'enc.hxz']) copyFileSync(tmp.path(name), join(root, name));
    nginx = await startNginx({ root });
  });
  after(async () => {
    await nginx?.close();
  });

  test('every archive kind by URL, on workers and through createReadStream', async () => {
    for (const c of cases) {
      const a = await Archive.open(nginx.url(c.path.split('/').pop()!), { password: c.password });
      try {
        const n = c.data.length;
        assertBytes(await gather(sequentialChunks(a, 'disk', { start: 777, end: n - 3, chunkBytes: 65536, workers: 2 }), 777, n - 3), c.data.subarray(777, n - 3), `${c.name} over HTTP`);
        assertBytes(await collect(a.createReadStream('disk')), c.data, `${c.name} over HTTP, createReadStream`);
      } finally {
        await a.close();
      }
    }
  });
});

/** Every entry of the disk stream. */
async function entriesOf(a: Archive): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const e of a.entries('disk')) out.push(e);
  return out;
}

/** Waits until no read has started or been in flight for a moment. */
async function settle(src: TrackingSource): Promise<void> {
  let last = -1;
  while (src.inFlight > 0 || src.requests !== last) {
    last = src.requests;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Counts requests and bytes, and reads in flight (each delayed by `delayMs`). */
/** Records the buffers `readInto` was given (a FileSource reads into them). */
class IntoTracking extends SourceWrapper {
  readonly targets: Uint8Array[] = [];
  override readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    this.targets.push(target);
    return this.readIntoInner(offset, target, options);
  }
}

class TrackingSource extends SourceWrapper {
  requests = 0;
  bytes = 0;
  /** Offset of each request since the last reset. */
  offsets: number[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(inner: ByteSource, private readonly delayMs = 0) {
    super(inner);
  }

  reset(): void {
    this.requests = 0;
    this.bytes = 0;
    this.offsets = [];
    this.maxInFlight = 0;
  }

  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.requests++;
    this.bytes += length;
    this.offsets.push(offset);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      return await this.inner.read(offset, length, options);
    } finally {
      this.inFlight--;
    }
  }
}

/**
 * Damaged and foreign inputs: truncation, flipped bytes in the header, index and data region,
 * unknown versions and feature bits, non-archives, bad ranges, and the verify opt-out. A
 * damaged archive must raise a typed error, never return wrong bytes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import {
  Archive, CorruptArchiveError, HEADER_SIZE, HexzError, MemorySource, NotAnArchiveError, UnsupportedError, UsageError,
  type IndexEntry,
} from '../src/index.ts';
import { decodeHeader, encodeHeader, type Header } from '../src/format/header.ts';
import { FORMAT_VERSION } from '../src/format/constants.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { verify } from '../src/ops/verify.ts';
import { assertBytes, mixedData, packSmall, randomData, readAll, tempDir, writeData } from './helpers.ts';

const BLOCK = 4096;
const tmp = tempDir('hexz-corrupt-');
after(() => tmp.cleanup());

const disk = mixedData(200 * BLOCK + 333, { unit: BLOCK, seed: 77 });
const memory = mixedData(30 * BLOCK, { unit: BLOCK, seed: 78 });
/** A healthy archive (zstd) and its bytes. */
let good: Buffer;
/** Same content stored raw (codec none). */
let goodRaw: Buffer;
let header: Header;

before(async () => {
  const d = writeData(tmp.path('disk.bin'), disk);
  const m = writeData(tmp.path('memory.bin'), memory);
  await packSmall({ disk: d, memory: m, output: tmp.path('good.hxz'), blockSize: BLOCK, workers: 2 });
  await packSmall({ disk: d, output: tmp.path('raw.hxz'), blockSize: BLOCK, compression: 'none', dedup: false });
  good = readFileSync(tmp.path('good.hxz'));
  goodRaw = readFileSync(tmp.path('raw.hxz'));
  header = decodeHeader(good.subarray(0, HEADER_SIZE), blake3);
});

let seq = 0;
/** Writes `bytes` to a fresh file and returns its path. */
function damaged(bytes: Uint8Array, name = 'damaged'): string {
  return writeData(tmp.path(`${name}-${seq++}.hxz`), bytes);
}

/** A copy of `bytes` with the byte at `at` XOR-ed with `mask`. */
function flip(bytes: Uint8Array, at: number, mask = 0xff): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] ^= mask;
  return copy;
}

/** A copy of the healthy archive whose header is re-encoded from `edit(header)` with a valid checksum. */
function withHeader(edit: (h: Header) => void, from: Uint8Array = good): Buffer {
  const copy = Buffer.from(from);
  const h = decodeHeader(copy.subarray(0, HEADER_SIZE), blake3);
  edit(h);
  copy.set(encodeHeader(h, blake3), 0);
  return copy;
}

/**
 * Opens `path` and reads everything; returns the error thrown, failing the test if nothing
 * throws (so wrong bytes are never silently accepted).
 */
async function openAndReadAll(path: string): Promise<unknown> {
  let a: Archive | undefined;
  try {
    a = await Archive.open(path);
    for (const s of a.streams) await readAll(a, s);
  } catch (err) {
    return err;
  } finally {
    await a?.close();
  }
  return assert.fail(`${path}: opened and read without an error`);
}

async function entriesOf(a: Archive, stream: 'disk' | 'memory'): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const e of a.entries(stream)) out.push(e);
  return out;
}

describe('the healthy archive', () => {
  test('opens, reads back and verifies (baseline for every damage below)', async () => {
    const a = await Archive.open(tmp.path('good.hxz'));
    assertBytes(await readAll(a, 'disk'), disk, 'disk');
    assertBytes(await readAll(a, 'memory'), memory, 'memory');
    await a.close();
    const r = await verify(tmp.path('good.hxz'));
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.ok(r.blocksChecked > 0);
  });
});

describe('truncated archives', () => {
  test('every truncation length raises a typed error', async () => {
    const dataEnd = header.data.offset + header.data.length;
    const cases: [string, number, new (message: string) => HexzError][] = [
      ['0 bytes', 0, NotAnArchiveError],
      ['100 bytes', 100, CorruptArchiveError],
      ['4095 bytes', 4095, CorruptArchiveError],
      ['header only (4096)', 4096, CorruptArchiveError],
      ['middle of the data region', HEADER_SIZE + Math.floor(header.data.length / 2), CorruptArchiveError],
      ['end of the data region', dataEnd, CorruptArchiveError],
      ['inside the index', dataEnd + 100, CorruptArchiveError],
      ['one byte short', good.length - 1, CorruptArchiveError],
    ];
    for (const [what, len, cls] of cases) {
      const path = damaged(good.subarray(0, len), 'truncated');
      const err = await openAndReadAll(path);
      assert.ok(err instanceof cls, `${what}: expected ${cls.name}, got ${String(err)}`);
      const r = await verify(path);
      assert.equal(r.ok, false, `${what}: verify reports ok`);
      assert.equal(r.error?.code, new cls('').code, `${what}: verify error code`);
    }
  });

  test('a MemorySource holding a truncated archive fails the same way', async () => {
    await assert.rejects(Archive.open(new MemorySource(good.subarray(0, good.length - 64))), CorruptArchiveError);
  });
});

describe('damaged header', () => {
  test('flipped bytes (magic aside) are CorruptArchiveError', async () => {
    const positions: [string, number, number][] = [
      ['version field, one bit (4 -> 6)', 4, 0x02],
      ['header size field', 6, 0x01],
      ['block size', 40, 0xff],
      ['block size, high byte', 42, 0x01],
      ['codec', 44, 0x01],
      ['data extent', 72, 0x10],
      ['disk stream record: logical size', 256, 0xff],
      ['disk stream record: root offset', 256 + 16, 0x01],
      ['disk stream record: root hash', 256 + 40, 0x01],
      ['memory stream record', 384 + 8, 0x04],
      ['reserved parents area', 700, 0x01],
      ['checksum itself', 4064, 0x01],
      ['checksum, last byte', 4095, 0x80],
    ];
    for (const [what, at, mask] of positions) {
      const err = await openAndReadAll(damaged(flip(good, at, mask), 'header'));
      assert.ok(err instanceof CorruptArchiveError, `${what} (byte ${at}): expected CorruptArchiveError, got ${String(err)}`);
      assert.equal((err as CorruptArchiveError).location.stage, 'header', `${what}: stage`);
    }
  });

  test('a version byte damaged to 17 or more with a bad checksum is UnsupportedError (FORMAT.md §1)', async () => {
    // Versions below 17 with a wrong checksum read as damage (tested above); from 17 up the
    // reader cannot tell damage from a newer format and refuses it as unsupported.
    for (const [at, mask] of [[4, 0xff], [5, 0x01], [4, 0x80], [4, 0x10]]) {
      const err = await openAndReadAll(damaged(flip(good, at, mask), 'version'));
      assert.ok(err instanceof UnsupportedError, `byte ${at} ^ ${mask}: got ${String(err)}`);
    }
  });

  test('wrong magic is NotAnArchiveError', async () => {
    for (const at of [0, 1, 2, 3]) {
      const err = await openAndReadAll(damaged(flip(good, at, 0x20), 'magic'));
      assert.ok(err instanceof NotAnArchiveError, `magic byte ${at}: got ${String(err)}`);
    }
  });

  test('unknown required feature bit (valid checksum) is UnsupportedError', async () => {
    for (const bit of [2, 5, 31]) {
      const err = await openAndReadAll(damaged(withHeader((h) => { h.requiredFeatures = (1 << bit) >>> 0; }), 'required'));
      assert.ok(err instanceof UnsupportedError, `required bit ${bit}: got ${String(err)}`);
    }
  });

  test('unknown optional feature bits (valid checksum) are ignored', async () => {
    const path = damaged(withHeader((h) => { h.optionalFeatures |= (1 << 9) | (1 << 30); }), 'optional');
    const a = await Archive.open(path);
    try {
      assert.equal(a.header.optionalFeatures & (1 << 9), 1 << 9);
      assertBytes(await readAll(a, 'disk'), disk, 'disk');
      assertBytes(await readAll(a, 'memory'), memory, 'memory');
    } finally {
      await a.close();
    }
  });

  test('the CDC bit without the FastCDC chunker (valid checksum) is CorruptArchiveError', async () => {
    const err = await openAndReadAll(damaged(withHeader((h) => { h.requiredFeatures = 1; }), 'cdcbit'));
    assert.ok(err instanceof CorruptArchiveError, `got ${String(err)}`);
  });

  test('unknown version (valid checksum) is UnsupportedError', async () => {
    for (const version of [0, FORMAT_VERSION + 1, 17, 0xffff]) {
      const err = await openAndReadAll(damaged(withHeader((h) => { h.version = version; }), 'version'));
      assert.ok(err instanceof UnsupportedError, `version ${version}: got ${String(err)}`);
    }
  });

  test('a consistent but wrong root hash (valid checksum) fails on read', async () => {
    const path = damaged(withHeader((h) => { h.streams[0].rootHash = new Uint8Array(32).fill(7); }), 'roothash');
    const a = await Archive.open(path); // the header itself is fine
    try {
      await assert.rejects(a.readAt('disk', 0, 1), (e: unknown) => e instanceof CorruptArchiveError && e.location.stream === 'disk');
      assertBytes(await readAll(a, 'memory'), memory, 'memory is unaffected');
    } finally {
      await a.close();
    }
  });

  test('a logical size larger than the index covers (valid checksum) fails, no invented bytes', async () => {
    const path = damaged(withHeader((h) => { h.streams[0].logicalSize += 3 * BLOCK; }), 'size');
    // Refusing at open is fine; if it opens, reads past the real end must fail.
    const a = await Archive.open(path).catch((e: unknown) => {
      assert.ok(e instanceof CorruptArchiveError, String(e));
      return undefined;
    });
    if (a) {
      try {
        // The root no longer tiles [0, size): the start is refused too, or right — never invented.
        const start = await a.readAt('disk', 0, 1000).catch((e: unknown) => e);
        if (start instanceof Uint8Array) assertBytes(start, disk.subarray(0, 1000), 'start');
        else assert.ok(start instanceof CorruptArchiveError, String(start));
        await assert.rejects(a.readAt('disk', disk.length, 10), CorruptArchiveError);
        await assert.rejects(a.readAt('disk', disk.length - 10, 20), CorruptArchiveError);
      } finally {
        await a.close();
      }
    }
    assert.equal((await verify(path)).ok, false);
  });

  test('a present stream with bytes but no index (valid checksum) is CorruptArchiveError', async () => {
    const path = damaged(withHeader((h) => { h.streams[1].entryCount = 0; h.streams[1].rootLength = 0; }), 'noindex');
    assert.ok(await openAndReadAll(path) instanceof CorruptArchiveError);
  });
});

describe('damaged index nodes', () => {
  test('a flipped byte in the root node: CorruptArchiveError on read, verify fails', async () => {
    const root = header.streams[0];
    assert.ok(root.rootLength > 0);
    for (const delta of [0, 5, 16, root.rootLength - 1]) {
      const path = damaged(flip(good, root.rootOffset + delta, 0x01), 'root');
      const a = await Archive.open(path);
      try {
        await assert.rejects(a.readAt('disk', 0, 100), (e: unknown) => e instanceof CorruptArchiveError && e.location.stream === 'disk' && e.location.stage === 'index');
        await assert.rejects(readAll(a, 'disk'), CorruptArchiveError);
        await assert.rejects(entriesOf(a, 'disk'), CorruptArchiveError);
      } finally {
        await a.close();
      }
      const r = await verify(path);
      assert.equal(r.ok, false);
      assert.equal(r.error?.stream, 'disk');
    }
  });

  test('a flipped byte in the memory stream root does not affect disk', async () => {
    const root = header.streams[1];
    const a = await Archive.open(damaged(flip(good, root.rootOffset + 20), 'memroot'));
    try {
      assertBytes(await readAll(a, 'disk'), disk, 'disk');
      await assert.rejects(a.readAt('memory', 0, 1), (e: unknown) => e instanceof CorruptArchiveError && e.location.stream === 'memory');
    } finally {
      await a.close();
    }
  });
});

describe('damaged data blocks', () => {
  /** A DATA entry of `entries` that no DEDUP entry shares, picked past the start. */
  function uniqueDataEntry(entries: IndexEntry[], encoding?: number): IndexEntry {
    const shared = new Set(entries.filter((e) => e.kind === 2).map((e) => e.storedOffset));
    const e = entries.find((x) => x.kind === 1 && x.offset > 10 * BLOCK && !shared.has(x.storedOffset) && (encoding === undefined || x.encoding === encoding));
    assert.ok(e, 'no suitable DATA entry');
    return e;
  }

  test('a flipped byte in a stored block: readAt and verify name the stream and offset', async () => {
    const a0 = await Archive.open(tmp.path('good.hxz'));
    const entries = await entriesOf(a0, 'disk');
    await a0.close();
    for (const encoding of [2, 0]) { // a compressed block and a raw one
      const e = uniqueDataEntry(entries, encoding);
      for (const delta of [0, Math.floor(e.storedLength / 2), e.storedLength - 1]) {
        const path = damaged(flip(good, e.storedOffset + delta, 0x04), 'block');
        const a = await Archive.open(path);
        try {
          const isOurs = (err: unknown) => err instanceof CorruptArchiveError && err.location.stream === 'disk' && err.location.offset === e.offset && err.location.fileOffset === e.storedOffset;
          await assert.rejects(a.readAt('disk', e.offset, e.length), isOurs, `encoding ${encoding}, byte ${delta}`);
          await assert.rejects(a.readAt('disk', e.offset + e.length - 1, 2), isOurs);
          await assert.rejects(a.readAt('disk', e.offset - 100, 101), isOurs);
          // Neighbours still read correctly: damage is contained to its block.
          assertBytes(await a.readAt('disk', e.offset - 100, 100), disk.subarray(e.offset - 100, e.offset), 'before');
          assertBytes(await a.readAt('disk', e.offset + e.length, 100), disk.subarray(e.offset + e.length, e.offset + e.length + 100), 'after');
        } finally {
          await a.close();
        }
        const r = await verify(path);
        assert.equal(r.ok, false);
        assert.equal(r.error?.code, 'CORRUPT_ARCHIVE');
        assert.equal(r.error?.stream, 'disk');
        assert.equal(r.error?.offset, e.offset);
      }
    }
  });

  test('damage in a block that is also referenced as a duplicate is reported at the first damaged offset', async () => {
    const a0 = await Archive.open(tmp.path('good.hxz'));
    const entries = await entriesOf(a0, 'disk');
    await a0.close();
    const dup = entries.find((x) => x.kind === 2 && entries.some((y) => y.kind === 1 && y.storedOffset === x.storedOffset && y.offset < x.offset));
    assert.ok(dup, 'the test data has a duplicated block');
    const first = entries.find((y) => y.kind === 1 && y.storedOffset === dup.storedOffset)!;
    const path = damaged(flip(good, first.storedOffset + 1, 0x10), 'dupblock');
    const a = await Archive.open(path);
    try {
      // Each entry alone reports its own offset.
      await assert.rejects(a.readAt('disk', first.offset, 10), (e: unknown) => e instanceof CorruptArchiveError && e.location.offset === first.offset);
      await assert.rejects(a.readAt('disk', dup.offset, 10), (e: unknown) => e instanceof CorruptArchiveError && e.location.offset === dup.offset);
      // A read covering both must name the first damaged offset in it, not the later duplicate.
      const err = await a.readAt('disk', first.offset, dup.offset + dup.length - first.offset).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof CorruptArchiveError);
      assert.equal(err.location.offset, first.offset, `error names offset ${err.location.offset}; the first damaged entry is at ${first.offset} (a duplicate at ${dup.offset})`);
    } finally {
      await a.close();
    }
    const r = await verify(path);
    assert.equal(r.ok, false);
    assert.equal(r.error?.offset, first.offset, `verify reports offset ${r.error?.offset}; the first damage is at ${first.offset}`);
  });

  test('with verify:false a damaged raw block returns its (wrong) bytes; with verification it throws', async () => {
    const a0 = await Archive.open(tmp.path('raw.hxz'));
    const e = uniqueDataEntry(await entriesOf(a0, 'disk'), 0);
    await a0.close();
    const at = 123;
    const path = damaged(flip(goodRaw, e.storedOffset + at, 0xff), 'rawblock');

    const unverified = await Archive.open(path, { verify: false });
    try {
      const got = await unverified.readAt('disk', e.offset, e.length);
      const expected = Buffer.from(disk.subarray(e.offset, e.offset + e.length));
      expected[at] ^= 0xff;
      assertBytes(got, expected, 'unverified read returns the damaged bytes');
    } finally {
      await unverified.close();
    }

    const verified = await Archive.open(path);
    try {
      await assert.rejects(verified.readAt('disk', e.offset, e.length), CorruptArchiveError);
    } finally {
      await verified.close();
    }
  });
});

describe('not an archive', () => {
  test('random bytes, a text file, an empty file and a short file are NotAnArchiveError', async () => {
    const inputs: [string, Uint8Array][] = [
      ['random', randomData(10_000, 5)],
      ['random, header-sized', randomData(HEADER_SIZE, 6)],
      ['text', Buffer.from('This is not an archive.\n'.repeat(500))],
      ['empty', new Uint8Array(0)],
      ['three bytes of the magic', Buffer.from('HEX')],
      ['a disk image', disk],
    ];
    for (const [what, bytes] of inputs) {
      const path = damaged(bytes, 'notarchive');
      await assert.rejects(Archive.open(path), NotAnArchiveError, what);
      const r = await verify(path);
      assert.equal(r.ok, false);
      assert.equal(r.error?.code, 'NOT_AN_ARCHIVE', what);
    }
  });
});

describe('bad read ranges', () => {
  test('past the end, negative or non-integer offsets and lengths are UsageError', async () => {
    const a = await Archive.open(tmp.path('good.hxz'));
    try {
      const n = a.size('disk');
      const bad: [number, number][] = [
        [n, 1], [n + 1, 0], [n - 1, 2], [0, n + 1], [-1, 1], [-1, 0], [0, -1], [1.5, 1], [0, 2.5], [Number.NaN, 1], [2 ** 60, 1],
      ];
      for (const [offset, length] of bad) {
        await assert.rejects(a.readAt('disk', offset, length), UsageError, `readAt(${offset}, ${length})`);
      }
      // The edges themselves are fine.
      assert.equal((await a.readAt('disk', n, 0)).length, 0);
      assertBytes(await a.readAt('disk', n - 1, 1), disk.subarray(n - 1), 'last byte');
    } finally {
      await a.close();
    }
  });
});

test('copying the healthy archive elsewhere keeps it readable (fixture sanity)', async () => {
  copyFileSync(tmp.path('good.hxz'), tmp.path('copy.hxz'));
  writeFileSync(tmp.path('copy2.hxz'), good);
  for (const p of ['copy.hxz', 'copy2.hxz']) {
    const r = await verify(tmp.path(p));
    assert.equal(r.ok, true);
  }
});

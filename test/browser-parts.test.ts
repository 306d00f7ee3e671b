/**
 * The pure pieces of the browser build, tested in Node: the zstd frame header parser the page's
 * decoder relies on (against frames made by libzstd and against libzstd's own parser), the hex
 * view (against `hexdump -C`), the stream map the picture is drawn from (exact byte counts per
 * region kind), and how a page turns locations into URLs and finds parents by URL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Compressor } from 'zstd-napi';
import { zstdFrameContentSize } from '../src/browser/zstd-frame.ts';
import { absoluteUrl, URL_PLACES, urlParentOf } from '../src/browser/url-places.ts';
import { hexDump } from '../src/web/hex-dump.ts';
import { streamMap, type StreamMap } from '../src/ops/stream-map.ts';
import { ZstdCodec } from '../src/codec/zstd-codec.ts';
import { zstdBinding } from '../src/codec/zstd-binding.ts';
import { dictionaryTrainingAvailable, trainZstdDictionary } from '../src/codec/zstd-dict-trainer.ts';
import { Archive, UsageError } from '../src/index.ts';
import { Rng, packSmall, randomData, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-browser-parts-');
after(() => tmp.cleanup());

// ---------------------------------------------------------------------------------------------
// zstdFrameContentSize

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Compressible, non-repeating text of `n` bytes. */
function textData(n: number, seed = 11): Uint8Array {
  const words = ['kernel:', 'eth0', 'link', 'up', 'systemd[1]:', 'Started', 'session', 'user', 'root', 'audit', 'pid='];
  const rng = new Rng(seed);
  let s = '';
  while (s.length < n) s += `${words[rng.int(words.length)]} ${words[rng.int(words.length)]} ${rng.int(99991)}\n`;
  return new TextEncoder().encode(s.slice(0, n));
}

/** A frame header: magic, descriptor, optional window descriptor, dictionary id and FCS fields. */
function header(parts: { fcsFlag: number; single: boolean; dictIdBytes: 0 | 1 | 2 | 4; dictId?: number; fcs: bigint }): Uint8Array {
  const dictCode = [0, 1, 2, -1, 3][parts.dictIdBytes];
  const descriptor = (parts.fcsFlag << 6) | (parts.single ? 0x20 : 0) | dictCode;
  const out = [...MAGIC, descriptor];
  if (!parts.single) out.push(0x50); // window descriptor: 2^20 bytes
  for (let i = 0; i < parts.dictIdBytes; i++) out.push(((parts.dictId ?? 0x01020304) >>> (8 * i)) & 0xff);
  const fcsBytes = [parts.single ? 1 : 0, 2, 4, 8][parts.fcsFlag];
  for (let i = 0; i < fcsBytes; i++) out.push(Number((parts.fcs >> BigInt(8 * i)) & 0xffn));
  return Uint8Array.from(out);
}

const FRAME_SIZES = [0, 1, 255, 256, 65535, 65536, 65792, 1 << 20];
const trainable = await dictionaryTrainingAvailable();

describe('zstdFrameContentSize', () => {
  const zstd = zstdBinding();

  test('frames made by libzstd: every size, single segment or not, each FCS field size', () => {
    const seen = new Set<string>();
    for (const windowLog of [undefined, 10]) {
      for (const n of FRAME_SIZES) {
        const c = new Compressor();
        c.setParameters({ compressionLevel: 3, ...(windowLog ? { windowLog } : {}) });
        const input = textData(n);
        const frame = c.compress(input);
        const single = (frame[4] >> 5) & 1;
        const fcsFlag = frame[4] >> 6;
        seen.add(`${single}/${fcsFlag}`);
        assert.equal(zstdFrameContentSize(frame), n, `size ${n}, windowLog ${windowLog}`);
        assert.equal(zstd.getFrameContentSize(frame), n);
        // The header alone is enough; so is a frame inside a larger buffer.
        const headerLength = 5 + (single ? 0 : 1) + [single, 2, 4, 8][fcsFlag];
        assert.equal(zstdFrameContentSize(frame.subarray(0, headerLength)), n);
        assert.equal(zstdFrameContentSize(frame.subarray(0, headerLength - 1)), undefined, `size ${n}: header cut`);
        const padded = new Uint8Array(frame.length + 7);
        padded.set(frame, 3);
        assert.equal(zstdFrameContentSize(padded.subarray(3, 3 + frame.length)), n, 'at a byte offset');
        // The frame really is that size.
        assert.equal(new ZstdCodec().decompress(frame, n).length, n);
      }
    }
    // 1-byte FCS (single segment), 2-byte both ways, 4-byte both ways.
    for (const kind of ['1/0', '1/1', '0/1', '1/2', '0/2']) assert.ok(seen.has(kind), `libzstd made a ${kind} (single/FCS flag) frame: ${[...seen]}`);
  });

  test('frames made by ZstdCodec (what an archive block is)', () => {
    const codec = new ZstdCodec();
    for (const n of FRAME_SIZES.filter((x) => x >= 255)) {
      const frame = codec.compress(textData(n, n), 3);
      assert.ok(frame, `size ${n} compresses`);
      assert.equal(zstdFrameContentSize(frame), n);
    }
  });

  test('a frame without a content size (contentSizeFlag off) is undefined', () => {
    for (const n of [0, 100, 5000, 1 << 20]) {
      const c = new Compressor();
      c.setParameters({ contentSizeFlag: false });
      const frame = c.compress(textData(n));
      assert.equal(zstd.getFrameContentSize(frame), null);
      assert.equal(zstdFrameContentSize(frame), undefined, `size ${n}`);
    }
  });

  test('frames with a dictionary id of 1, 2 and 4 bytes', { skip: trainable ? false : 'koffi or libzstd.so.1 missing: no dictionary to train' }, async () => {
    const data = textData(256 * 1024, 3);
    const trained = await trainZstdDictionary(Array.from({ length: 64 }, (_, i) => data.subarray(i * 4096, (i + 1) * 4096)), 8192);
    // zstd writes the smallest field that holds the id (bytes 4..7 of the dictionary).
    for (const [id, fieldBytes] of [[0x42, 1], [0x1234, 2], [0x12345678, 4], [trained.id, trained.id >= 65536 ? 4 : trained.id >= 256 ? 2 : 1]] as const) {
      const dict = trained.bytes.slice();
      new DataView(dict.buffer).setUint32(4, id, true);
      for (const windowLog of [undefined, 10]) {
        for (const n of FRAME_SIZES) {
          const c = new Compressor();
          c.setParameters({ compressionLevel: 3, ...(windowLog ? { windowLog } : {}) });
          c.loadDictionary(dict);
          const input = textData(n, n + 1);
          const frame = c.compress(input);
          assert.equal([0, 1, 2, 4][frame[4] & 3], fieldBytes, `dictionary id ${id.toString(16)}: field size`);
          assert.equal(zstd.getDictIDFromFrame(frame), id);
          assert.equal(zstdFrameContentSize(frame), n, `size ${n}, dictionary id ${id.toString(16)}, windowLog ${windowLog}`);
          assert.equal(new ZstdCodec(dict).decompress(frame, n).length, n);
        }
      }
      // The codec an archive uses, with that dictionary.
      const frame = new ZstdCodec(dict).compress(textData(65536, 9), 3);
      assert.ok(frame);
      assert.equal([0, 1, 2, 4][frame[4] & 3], fieldBytes);
      assert.equal(zstdFrameContentSize(frame), 65536);
    }
  });

  test('hand-made headers: each FCS field size and each dictionary id field size', () => {
    const cases: [number, boolean, bigint, number][] = [
      // fcsFlag, single segment, FCS field value, expected content size
      [0, true, 0n, 0], [0, true, 0xabn, 0xab], [0, true, 0xffn, 255],
      [1, true, 0n, 256], [1, false, 0x1234n, 0x1234 + 256], [1, false, 0xffffn, 65791],
      [2, true, 0n, 0], [2, false, 0x89abcdefn, 0x89abcdef], [2, false, 0xffffffffn, 0xffffffff],
      [3, true, 0x1_0000_0000n, 0x1_0000_0000], [3, false, 0x0123_4567_89abn, 0x0123_4567_89ab], [3, false, BigInt(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    ];
    for (const dictIdBytes of [0, 1, 2, 4] as const) {
      for (const [fcsFlag, single, fcs, want] of cases) {
        const h = header({ fcsFlag, single, dictIdBytes, fcs });
        const what = `FCS flag ${fcsFlag}, single ${single}, dictionary id ${dictIdBytes} bytes`;
        assert.equal(zstdFrameContentSize(h), want, what);
        assert.equal(zstd.getFrameContentSize(h), want, `libzstd agrees: ${what}`);
        // Cut anywhere inside the header (the FCS field last): undefined.
        for (let n = 0; n < h.length; n++) assert.equal(zstdFrameContentSize(h.subarray(0, n)), undefined, `${what} cut to ${n} bytes`);
        // Block bytes after the header change nothing.
        const frame = new Uint8Array(h.length + 9).fill(0xee);
        frame.set(h);
        assert.equal(zstdFrameContentSize(frame), want);
      }
    }
  });

  test('undefined: short input, wrong magic, no content size, an 8-byte FCS above 2^53', () => {
    const good = header({ fcsFlag: 2, single: false, dictIdBytes: 0, fcs: 1000n });
    for (let n = 0; n < 6; n++) assert.equal(zstdFrameContentSize(new Uint8Array(n)), undefined);
    assert.equal(zstdFrameContentSize(Uint8Array.from([...MAGIC, 0x20])), undefined, 'magic and descriptor only');
    for (let i = 0; i < 4; i++) {
      const bad = good.slice();
      bad[i] ^= 0x01;
      assert.equal(zstdFrameContentSize(bad), undefined, `magic byte ${i} changed`);
    }
    // A skippable frame (magic 0x184D2A5?) carries no content.
    assert.equal(zstdFrameContentSize(Uint8Array.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4])), undefined, 'skippable frame');
    for (const dictIdBytes of [0, 1, 2, 4] as const) {
      const h = header({ fcsFlag: 0, single: false, dictIdBytes, fcs: 0n });
      const frame = new Uint8Array(h.length + 16);
      frame.set(h);
      assert.equal(zstdFrameContentSize(frame), undefined, `no FCS field, dictionary id ${dictIdBytes} bytes`);
      assert.equal(zstd.getFrameContentSize(frame), null);
    }
    for (const fcs of [2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
      assert.equal(zstdFrameContentSize(header({ fcsFlag: 3, single: false, dictIdBytes: 0, fcs })), undefined, `FCS ${fcs}`);
      assert.equal(zstdFrameContentSize(header({ fcsFlag: 3, single: true, dictIdBytes: 4, fcs })), undefined, `FCS ${fcs} (single segment, dictionary id)`);
    }
  });

  test('never throws on random bytes, and agrees with libzstd whenever libzstd reads a size', () => {
    const rng = new Rng(2024);
    let agreed = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = rng.fill(new Uint8Array(rng.int(33)));
      // Half of them start with the magic, so the descriptor and fields are exercised.
      if (i % 2 === 0 && bytes.length >= 4) bytes.set(MAGIC);
      let got: number | undefined;
      assert.doesNotThrow(() => (got = zstdFrameContentSize(bytes)), `input ${Buffer.from(bytes).toString('hex')}`);
      assert.ok(got === undefined || (Number.isSafeInteger(got) && got >= 0), `input ${Buffer.from(bytes).toString('hex')}: ${got}`);
      let ref: number | null | 'error';
      try {
        ref = zstd.getFrameContentSize(bytes);
      } catch {
        ref = 'error';
      }
      if (ref === null) assert.equal(got, undefined, `unknown size: ${Buffer.from(bytes).toString('hex')}`);
      else if (typeof ref === 'number' && MAGIC.every((m, k) => bytes[k] === m) && ref <= Number.MAX_SAFE_INTEGER) {
        assert.equal(got, ref, `input ${Buffer.from(bytes).toString('hex')}`);
        agreed++;
      }
      // libzstd also refuses a reserved bit or a huge window, which the parser leaves to the decoder.
      if (ref === 'error' && bytes.length >= 5 && (bytes[4] & 0x08) === 0 && got !== undefined) {
        const single = (bytes[4] >> 5) & 1;
        assert.ok(!single && (bytes[5] >> 3) + 10 > 31, `libzstd refuses ${Buffer.from(bytes).toString('hex')} but the parser read ${got}`);
      }
    }
    assert.ok(agreed > 500, `only ${agreed} inputs had a size libzstd could read`);
  });
});

// ---------------------------------------------------------------------------------------------
// hexDump

const haveHexdump = spawnSync('sh', ['-c', 'command -v hexdump']).status === 0;

/** `hexdump -C -v` of `bytes` placed at `offset` of a (sparse) file, without the final offset line. */
function hexdumpC(bytes: Uint8Array, offset: number, name: string): string[] {
  const file = tmp.path(name);
  const fd = openSync(file, 'w');
  try {
    if (bytes.length) writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
  const r = spawnSync('hexdump', ['-C', '-v', '-s', String(offset), file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines.pop(), '', 'hexdump output ends with a newline');
  assert.equal(Number.parseInt(lines.pop()!, 16), offset + bytes.length, 'hexdump ends with the end offset');
  return lines;
}

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const TEXT = new TextEncoder().encode('hello world, this is a test of hexdump!');
const MIXED = Uint8Array.from([...TEXT, 0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x7e]);

describe('hexDump', () => {
  test('fixed expected output: full lines, the gap after 8 bytes, a partial last line, non-printables', () => {
    assert.equal(hexDump(new Uint8Array(0), 0), '');
    assert.equal(hexDump(MIXED, 0), [
      '00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 2c 20 74 68 69  |hello world, thi|',
      '00000010  73 20 69 73 20 61 20 74  65 73 74 20 6f 66 20 68  |s is a test of h|',
      '00000020  65 78 64 75 6d 70 21 00  01 7f 80 ff 20 7e        |exdump!..... ~|',
    ].join('\n'));
    assert.equal(hexDump(Uint8Array.from([0x41]), 0x1f0), '000001f0  41                                                |A|');
    assert.equal(hexDump(TEXT.subarray(0, 9), 0), '00000000  68 65 6c 6c 6f 20 77 6f  72                       |hello wor|');
    assert.equal(hexDump(TEXT.subarray(0, 8), 0), '00000000  68 65 6c 6c 6f 20 77 6f                           |hello wo|');
    // A large offset widens the offset column.
    assert.equal(hexDump(TEXT.subarray(0, 17), 0x1_0000_0000), [
      '100000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 2c 20 74 68 69  |hello world, thi|',
      '100000010  73                                                |s|',
    ].join('\n'));
  });

  const skip = haveHexdump ? false : 'hexdump not installed (Debian bsdextrautils): compared with fixed strings only';
  test('same lines as hexdump -C at offset 0, at an unaligned offset and past 4 GiB', { skip }, () => {
    const cases: [string, Uint8Array, number][] = [
      ['all byte values', ALL_BYTES, 0],
      ['partial last line', MIXED, 0],
      ['1 byte', MIXED.subarray(0, 1), 0],
      ['15 bytes', MIXED.subarray(0, 15), 0],
      ['16 bytes', MIXED.subarray(0, 16), 0],
      ['17 bytes', MIXED.subarray(0, 17), 0],
      ['random', randomData(1000, 4), 0],
      ['unaligned offset', MIXED, 5],
      ['page in the middle', randomData(512, 5), 0x12_3400],
      ['past 4 GiB', MIXED, 0x1_0000_0000],
      ['past 4 GiB, all bytes', ALL_BYTES, 0x1_2345_6780],
      ['past 64 GiB, partial line', randomData(40, 6), 0x10_0000_0010],
    ];
    for (const [what, bytes, offset] of cases) {
      assert.deepEqual(hexDump(bytes, offset).split('\n'), hexdumpC(bytes, offset, 'h.bin'), what);
    }
  });

  test('a dump crossing 4 GiB keeps one column width (hexdump widens mid-dump); the lines agree otherwise', { skip }, () => {
    const bytes = randomData(64, 7);
    const offset = 0x1_0000_0000 - 32;
    const ours = hexDump(bytes, offset).split('\n');
    const theirs = hexdumpC(bytes, offset, 'cross.bin');
    assert.equal(ours.length, theirs.length);
    const widths = new Set(ours.map((l) => l.indexOf(' ')));
    assert.deepEqual([...widths], [9], 'one offset width');
    for (let i = 0; i < ours.length; i++) {
      const [a, b] = [ours[i], theirs[i]];
      assert.equal(Number.parseInt(a.slice(0, a.indexOf(' ')), 16), Number.parseInt(b.slice(0, b.indexOf(' ')), 16), `line ${i} offset`);
      assert.equal(a.slice(a.indexOf(' ')), b.slice(b.indexOf(' ')), `line ${i}`);
    }
  });

  // The offset column is as wide as the last line's offset: a page ending exactly at 4 GiB has
  // no 9-digit offset (its end, exclusive, would have one).
  test('a page ending exactly at 4 GiB shows 8-digit offsets as hexdump -C does', { skip }, () => {
    const bytes = randomData(512, 8);
    const offset = 0x1_0000_0000 - 512;
    assert.deepEqual(hexDump(bytes, offset).split('\n'), hexdumpC(bytes, offset, 'end.bin'));
  });
});

// ---------------------------------------------------------------------------------------------
// streamMap

const B = 4096;
type Kind = 'zero' | 'data' | 'dedup' | 'parent';
interface Region { start: number; end: number; kind: Kind }

/** Expected bytes of each kind in bucket `b` of `bucketBytes`. */
function expected(regions: Region[], size: number, buckets: number, b: number): Record<Kind, number> {
  const from = edgeOf(size, buckets, b);
  const to = edgeOf(size, buckets, b + 1);
  const out: Record<Kind, number> = { zero: 0, data: 0, dedup: 0, parent: 0 };
  for (const r of regions) out[r.kind] += Math.max(0, Math.min(to, r.end) - Math.max(from, r.start));
  return out;
}

/** Start of bucket `b` of `buckets` equal slices of `size` bytes (the last one ends at `size`). */
function edgeOf(size: number, buckets: number, b: number): number {
  return b >= buckets ? size : Math.floor(b * (size / buckets));
}

function checkMap(map: StreamMap, regions: Region[], size: number, buckets: number, what: string): void {
  assert.equal(map.size, size, what);
  assert.equal(map.bucketBytes, size / buckets, what);
  for (const k of ['zero', 'data', 'dedup', 'parent'] as const) assert.equal(map[k].length, buckets, `${what}: ${k} has one count per bucket`);
  for (let b = 0; b < buckets; b++) {
    const length = edgeOf(size, buckets, b + 1) - edgeOf(size, buckets, b);
    const got = { zero: map.zero[b], data: map.data[b], dedup: map.dedup[b], parent: map.parent[b] };
    assert.deepEqual(got, expected(regions, size, buckets, b), `${what}: bucket ${b}`);
    if (size >= buckets) assert.ok(length > 0, `${what}: bucket ${b} is not empty`);
    assert.equal(got.zero + got.data + got.dedup + got.parent, length, `${what}: bucket ${b} sums to its length`);
  }
}

describe('streamMap', () => {
  // Parent: 8 blocks of its own data. Child (thin): own data, zeros, a repeat of its own first
  // blocks, the parent's blocks 4..7, and a last partial block of new data.
  const parentDisk = randomData(8 * B, 21);
  const childSize = 14 * B + 2048;
  const child = new Uint8Array(childSize);
  child.set(randomData(4 * B, 22), 0);
  child.set(child.subarray(0, 2 * B), 8 * B);
  child.set(parentDisk.subarray(4 * B, 8 * B), 10 * B);
  child.set(randomData(2048, 24), 14 * B);
  const childRegions: Region[] = [
    { start: 0, end: 4 * B, kind: 'data' },
    { start: 4 * B, end: 8 * B, kind: 'zero' },
    { start: 8 * B, end: 10 * B, kind: 'dedup' },
    { start: 10 * B, end: 14 * B, kind: 'parent' },
    { start: 14 * B, end: childSize, kind: 'data' },
  ];
  let parentPath = '';
  let childPath = '';
  let ready: Promise<void>;
  before(() => {
    ready = (async () => {
      parentPath = tmp.path('parent.hxz');
      childPath = tmp.path('child.hxz');
      await packSmall({ disk: writeData(tmp.path('parent.raw'), parentDisk), output: parentPath, blockSize: B });
      await packSmall({ disk: writeData(tmp.path('child.raw'), child), output: childPath, blockSize: B, parent: parentPath });
    })();
    return ready;
  });

  test('a thin archive: zero, own data, deduplicated and parent bytes per bucket, exactly', async () => {
    await ready;
    const a = await Archive.open(childPath);
    try {
      for (const buckets of [1, 2, 7, 15, 16, 100, 1000, childSize, childSize + 5]) {
        checkMap(await streamMap(a, 'disk', buckets), childRegions, childSize, buckets, `${buckets} buckets`);
      }
      // Sampled (as for an index too large to walk): one leaf per bucket, here the whole index,
      // so the sampled counts are the exact ones.
      for (const buckets of [1, 7, 100]) {
        const sampled = await streamMap(a, 'disk', buckets, { maxEntries: 1 });
        assert.equal(sampled.sampled, true);
        assert.equal((await streamMap(a, 'disk', buckets)).sampled, false);
        checkMap(sampled, childRegions, childSize, buckets, `${buckets} buckets, sampled`);
      }
      const one = await streamMap(a, 'disk', 1);
      assert.deepEqual([one.zero[0], one.data[0], one.dedup[0], one.parent[0]], [4 * B, 4 * B + 2048, 2 * B, 4 * B]);
    } finally {
      await a.close();
    }
  });

  test('the parent alone is all own data', async () => {
    await ready;
    const a = await Archive.open(parentPath);
    try {
      for (const buckets of [1, 3, 8, 9]) checkMap(await streamMap(a, 'disk', buckets), [{ start: 0, end: 8 * B, kind: 'data' }], 8 * B, buckets, `parent, ${buckets} buckets`);
    } finally {
      await a.close();
    }
  });

  test('buckets that are not a positive integer are a UsageError', async () => {
    await ready;
    const a = await Archive.open(childPath);
    try {
      for (const buckets of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(streamMap(a, 'disk', buckets), UsageError, `buckets ${buckets}`);
      }
      await assert.rejects(streamMap(a, 'memory', 4), UsageError, 'absent stream');
    } finally {
      await a.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// URLs in a page

/** Runs `fn` with `globalThis.location` set as in a page at `href`. */
function atPage<T>(href: string, fn: () => T): T {
  const g = globalThis as { location?: unknown };
  const before = Object.getOwnPropertyDescriptor(globalThis, 'location');
  Object.defineProperty(globalThis, 'location', { value: { href }, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    if (before) Object.defineProperty(globalThis, 'location', before);
    else delete g.location;
  }
}

describe('url-places', () => {
  test('absoluteUrl keeps absolute http(s) URLs and refuses other schemes and garbage', () => {
    assert.equal((globalThis as { location?: unknown }).location, undefined, 'Node has no page location');
    assert.equal(absoluteUrl('https://example.org/snap/disk.hxz'), 'https://example.org/snap/disk.hxz');
    assert.equal(absoluteUrl('http://127.0.0.1:8080/a%20b.hxz?x=1#f'), 'http://127.0.0.1:8080/a%20b.hxz?x=1#f');
    assert.equal(absoluteUrl('HTTPS://Example.ORG/x'), 'https://example.org/x');
    for (const bad of ['ftp://example.org/disk.hxz', 'file:///etc/passwd', 'data:,hello', 'javascript:alert(1)', 'garbage', 'disk.hxz', '', 'http://']) {
      assert.throws(() => absoluteUrl(bad), UsageError, bad);
    }
  });

  test('absoluteUrl resolves relative locations against the page', () => {
    atPage('https://h/p/page.html?url=x#y', () => {
      assert.equal(absoluteUrl('disk.hxz'), 'https://h/p/disk.hxz');
      assert.equal(absoluteUrl('./sub/disk.hxz'), 'https://h/p/sub/disk.hxz');
      assert.equal(absoluteUrl('../up.hxz'), 'https://h/up.hxz');
      assert.equal(absoluteUrl('/root.hxz'), 'https://h/root.hxz');
      assert.equal(absoluteUrl('//other.example/x.hxz'), 'https://other.example/x.hxz');
      assert.equal(absoluteUrl('a b.hxz'), 'https://h/p/a%20b.hxz');
      assert.equal(absoluteUrl('http://elsewhere/x.hxz'), 'http://elsewhere/x.hxz');
      for (const bad of ['ftp://h/x.hxz', 'file:///x.hxz', 'javascript:alert(1)', 'http://[::1']) assert.throws(() => absoluteUrl(bad), UsageError, bad);
    });
    assert.equal((globalThis as { location?: unknown }).location, undefined, 'location restored');
  });

  test('urlParentOf drops the query, the hash and the file name', () => {
    assert.equal(urlParentOf('https://h/a/b/disk.hxz?sig=1&x=2#frag'), 'https://h/a/b');
    assert.equal(urlParentOf('https://h/disk.hxz'), 'https://h');
    assert.equal(urlParentOf('https://h/a/b/'), 'https://h/a/b');
    assert.equal(urlParentOf('http://h:81/a%20b/c.hxz'), 'http://h:81/a%20b');
    atPage('https://h/p/page.html', () => assert.equal(urlParentOf('sub/disk.hxz?x'), 'https://h/p/sub'));
    assert.throws(() => urlParentOf('ftp://h/a/b.hxz'), UsageError);
  });

  test('URL_PLACES: recorded paths are percent-encoded per component, URLs kept, base names', () => {
    const { resolveIn, joinLocation, baseName } = URL_PLACES;
    assert.equal(resolveIn('https://h/a/b', 'base.hxz'), 'https://h/a/b/base.hxz');
    assert.equal(resolveIn('https://h/a/b/', 'base.hxz'), 'https://h/a/b/base.hxz');
    assert.equal(resolveIn('https://h/a/b', '../base.hxz'), 'https://h/a/base.hxz');
    assert.equal(resolveIn('https://h/a/b', 'dir with space/ä ü.hxz'), 'https://h/a/b/dir%20with%20space/%C3%A4%20%C3%BC.hxz');
    assert.equal(resolveIn('https://h/a', 'x#1?.hxz'), 'https://h/a/x%231%3F.hxz', '# and ? are part of the name');
    assert.equal(resolveIn('https://h/a', 'a%20b.hxz'), 'https://h/a/a%2520b.hxz', 'a % in a recorded name is literal');
    assert.equal(resolveIn('https://h/a', 'https://other/p/base.hxz'), 'https://other/p/base.hxz');
    assert.equal(resolveIn('https://h/a', 'http://other/p%20q/base.hxz'), 'http://other/p%20q/base.hxz');
    assert.equal(joinLocation('https://h/dir', 'snap 1.hxz'), 'https://h/dir/snap%201.hxz');
    assert.equal(joinLocation('https://h/dir/', 'snäp.hxz'), 'https://h/dir/sn%C3%A4p.hxz');
    assert.equal(baseName('../gen 1/base.hxz'), 'base.hxz');
    assert.equal(baseName('base 1.hxz'), 'base 1.hxz');
    assert.equal(baseName('https://h/a/base%201%C3%A4.hxz?x=1#y'), 'base 1ä.hxz');
    assert.equal(baseName('https://h/a/'), '');
    // The name found beside the child is where joinLocation looks for it.
    assert.equal(joinLocation('https://h/c', baseName('https://h/a/base%201.hxz')), 'https://h/c/base%201.hxz');
  });
});

describe('url-places: hostile names', () => {
  // A thin archive may record its parent as a URL whose name is not UTF-8 percent-encoded (a
  // server with Latin-1 file names): the page should look for the parent, not fail with URIError.
  test('baseName of a URL with a malformed percent escape', () => {
    assert.equal(URL_PLACES.baseName('https://h/a/%E4.hxz'), '%E4.hxz');
  });

  test('a base name holding an encoded slash never climbs out of the directory it is joined to', () => {
    const name = URL_PLACES.baseName('https://h/a/..%2F..%2Fx.hxz');
    assert.equal(name, '../../x.hxz');
    assert.equal(URL_PLACES.joinLocation('https://h/c', name), 'https://h/c/..%2F..%2Fx.hxz');
  });
});

// ---------------------------------------------------------------------------------------------
// The bundle's size budget (README "In the browser"): what the page loads first, and each
// decoder loaded on demand, gzip -9 bytes. The build (npm run build) writes dist/web.

describe('bundle size budget', () => {
  const web = new URL('../dist/web/', import.meta.url).pathname;
  const built = existsSync(join(web, 'hexz.js'));
  test('each part of dist/web stays within the README\'s budget', { skip: built ? false : 'dist/web is not built (npm run build)' }, () => {
    const chunks = readdirSync(join(web, 'chunks'));
    const gz = (names: string[]) => names.reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0);
    const pick = (re: RegExp) => chunks.filter((f) => re.test(f) && !f.endsWith('.map') && !f.endsWith('.txt')).map((f) => join(web, 'chunks', f));
    const parts = {
      page: gz([join(web, 'hexz.js'), join(web, 'app.js'), ...pick(/^chunk-.*\.js$/)]),
      hashes: gz(pick(/^wasm-hashes-.*\.js$/)),
      zstd: gz([...pick(/^index\.web-.*\.js$/), join(web, 'chunks/zstd.wasm')]),
      lz4: gz(pick(/^lz4-.*\.js$/)),
      worker: gz(pick(/^decode-worker\.js$/)),
    };
    const budget = { page: 60_000, hashes: 24_000, zstd: 100_000, lz4: 4_000, worker: 32_000 };
    console.log(`# bundle gzip bytes: ${JSON.stringify(parts)} (budget ${JSON.stringify(budget)})`);
    for (const [k, limit] of Object.entries(budget)) {
      assert.ok(parts[k as keyof typeof parts] > 0, `${k}: found in dist/web`);
      assert.ok(parts[k as keyof typeof parts] <= limit, `${k}: ${parts[k as keyof typeof parts]} gzip bytes, budget ${limit}`);
    }
  });
});

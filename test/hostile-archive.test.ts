/**
 * Hostile archives crafted to be self-consistent (every hash, checksum, seal and tag recomputed
 * after the change, test/craft.ts), one per attack class of issue 10: a stream served from the
 * other's index, entries that do not tile their node, a zero run rewritten to overlap its
 * neighbours, a version downgrade, attacker-chosen KDF costs and node sizes. Each must be a
 * specific typed error — never another stream's bytes, never bytes that do not hash to the
 * entry describing them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Archive, CorruptArchiveError, UnsupportedError, type StreamName } from '../src/index.ts';
import { pack } from '../src/pack/pack.ts';
import { verify } from '../src/ops/verify.ts';
import { EntryKind, HEADER_SIZE, LEAF_RECORDS, STREAM_RECORD_SIZE, STREAM_TABLE_OFFSET } from '../src/format/constants.ts';
import { resealHeader } from '../src/format/header.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { DEFAULT_KDF_LIMITS } from '../src/crypto/kdf-limits.ts';
import { Crafter, entryFields } from './craft.ts';
import { assertBytes, assertOneErrorLine, mixedData, runCli, tempDir, writeData } from './helpers.ts';

const BLOCK = 4096;
const PW = 'hostile';
const KDF = { memoryKiB: 1024, iterations: 1, lanes: 1 };
const tmp = tempDir('hexz-hostile-');
after(() => tmp.cleanup());

// Same size, different content: a root swap is not caught by sizes alone.
const disk = mixedData(64 * BLOCK, { unit: BLOCK, seed: 901 });
const memory = mixedData(64 * BLOCK, { unit: BLOCK, seed: 902 });
let plainPath: string;
let encPath: string;
let encKey: Uint8Array;

before(async () => {
  const d = writeData(tmp.path('disk.raw'), disk);
  const m = writeData(tmp.path('memory.raw'), memory);
  plainPath = tmp.path('plain.hxz');
  encPath = tmp.path('enc.hxz');
  await pack({ disk: d, memory: m, output: plainPath, blockSize: BLOCK, workers: 1 });
  await pack({ disk: d, memory: m, output: encPath, blockSize: BLOCK, workers: 1, encrypt: { password: PW, kdf: KDF } });
  const a = await Archive.open(encPath, { password: PW });
  encKey = a.dataKey!;
  await a.close();
});

let seq = 0;
function save(bytes: Uint8Array, name: string): string {
  return writeData(tmp.path(`${name}-${seq++}.hxz`), bytes);
}

/** The error (or bytes) of reading `[offset, offset + length)` of `stream`. */
async function readOutcome(path: string, stream: StreamName, offset: number, length: number, password?: string): Promise<unknown> {
  let a: Archive | undefined;
  try {
    a = await Archive.open(path, { password });
    return await a.readAt(stream, offset, length);
  } catch (err) {
    return err;
  } finally {
    await a?.close();
  }
}

function assertCorrupt(outcome: unknown, pattern: RegExp, what: string): void {
  assert.ok(outcome instanceof CorruptArchiveError, `${what}: expected CorruptArchiveError, got ${outcome instanceof Uint8Array ? `${outcome.length} bytes` : String(outcome)}`);
  assert.match(outcome.message, pattern, what);
}

/** Points the memory stream's root (offset, length, level, hash) at the disk stream's root. */
function swapRoot(bytes: Buffer): void {
  const disk0 = STREAM_TABLE_OFFSET;
  const mem = STREAM_TABLE_OFFSET + STREAM_RECORD_SIZE;
  bytes.copy(bytes, mem + 16, disk0 + 16, disk0 + 29); // root offset, length, level
  bytes.copy(bytes, mem + 32, disk0 + 32, disk0 + 64); // root hash
}

describe('one stream served from the other index', () => {
  test('plain: the memory root pointed at the disk root is refused on every read path; disk still reads', async () => {
    const bytes = readFileSync(plainPath);
    swapRoot(bytes);
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    const path = save(bytes, 'swap');
    const a = await Archive.open(path);
    try {
      // The disk root is in the node cache after open; it must not answer for memory.
      await assert.rejects(a.readAt('memory', 0, BLOCK), (e: unknown) => e instanceof CorruptArchiveError && /stream 0, expected 1/.test(e.message));
      await assert.rejects(async () => { for await (const _ of a.entries('memory')) { /* walk */ } }, CorruptArchiveError);
      assertBytes(await a.readAt('disk', 0, disk.length), disk, 'disk');
    } finally {
      await a.close();
    }
    const r = await verify(path);
    assert.equal(r.ok, false);
  });

  test('encrypted: a header change without the password fails the header tag; with the data key, the node seal', async () => {
    const bytes = readFileSync(encPath);
    swapRoot(bytes);
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    const path = save(bytes, 'encswap');
    assertCorrupt(await readOutcome(path, 'memory', 0, BLOCK, PW), /header fails authentication/, 'checksum-only reseal');
    assert.equal((await verify(path, { password: PW })).ok, false, 'verify fails');
    // Even one who holds the data key (and so can reseal the tag) cannot make a node answer for the other stream.
    const c = new Crafter(bytes, encKey);
    const path2 = save(c.seal(), 'encswap-tag');
    assertCorrupt(await readOutcome(path2, 'memory', 0, BLOCK, PW), /fails authentication|stream 0, expected 1/, 'tag resealed');
  });

  test('a version 5 encrypted archive (no header tag) still refuses the swap by the node place', async () => {
    const dir = new URL('./vectors/v5/', import.meta.url).pathname;
    const manifest = JSON.parse(readFileSync(join(dir, 'vectors.json'), 'utf8'));
    const v = manifest.vectors['encrypted-zstd'];
    const bytes = readFileSync(join(dir, v.archive));
    swapRoot(bytes);
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    const path = save(bytes, 'v5swap');
    assertCorrupt(await readOutcome(path, 'memory', 0, 1, v.password), /fails authentication|expected 1|do not tile|covering/, 'v5 swap');
  });

  test('a version 6 encrypted archive relabelled as version 5 (to skip the tag) opens nothing', async () => {
    const bytes = readFileSync(encPath);
    bytes.writeUInt16LE(5, 4);
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    const path = save(bytes, 'downgrade');
    assertCorrupt(await readOutcome(path, 'disk', 0, BLOCK, PW), /fails authentication/, 'downgraded read');
    const a = await Archive.open(path, { password: PW }).catch((e: unknown) => e);
    if (a instanceof Archive) {
      await assert.rejects(a.metadata(), CorruptArchiveError);
      await a.close();
    } else assert.ok(a instanceof CorruptArchiveError, String(a));
  });

  test('every header field of an encrypted archive is authenticated: the creation time, a statistic, a size', async () => {
    for (const [what, at, mask] of [['created', 33, 1], ['disk stats', STREAM_TABLE_OFFSET + 70, 4], ['memory size', STREAM_TABLE_OFFSET + STREAM_RECORD_SIZE + 1, 2]] as const) {
      const bytes = readFileSync(encPath);
      bytes[at] ^= mask;
      resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
      const path = save(bytes, 'field');
      await assert.rejects(Archive.open(path, { password: PW }), (e: unknown) => e instanceof CorruptArchiveError && /header fails authentication/.test(e.message), what);
      // Without the password the header is all there is to read, and it says it is encrypted.
      const locked = await Archive.open(path);
      assert.equal(locked.locked, true);
      await locked.close();
    }
  });
});

describe('entries must tile their node', () => {
  for (const [label, encrypted] of [['plain', false], ['encrypted', true]] as const) {
    test(`${label}: an entry enlarged over the following entries is refused, whichever part is read`, async () => {
      const c = new Crafter(readFileSync(encrypted ? encPath : plainPath), encrypted ? encKey : undefined);
      const root = c.root(0);
      assert.equal(root.level, 0, 'one leaf');
      // The first compressed DATA entry (a raw one would trip the raw-length check first).
      let i = 0;
      while (entryFields(c.record(root, i)).kind !== EntryKind.DATA || c.record(root, i).getUint8(13) === 0) i++;
      const e = entryFields(c.record(root, i));
      const next = entryFields(c.record(root, i + 1));
      c.record(root, i).setUint32(8, e.length + next.length, true);
      c.store(0, root);
      const path = save(c.seal(), 'enlarged');
      const pw = encrypted ? PW : undefined;
      for (const [offset, length] of [[e.offset, 10], [e.offset + e.length - 5, 10], [next.offset, 10], [0, disk.length]]) {
        assertCorrupt(await readOutcome(path, 'disk', offset, length, pw), new RegExp(`entry ${i} covers .* entries do not tile`), `read at ${offset}`);
      }
      assert.equal((await verify(path, { password: pw })).ok, false);
    });
  }

  test('a ZERO entry rewritten as a DEDUP entry overlapping later entries is refused', async () => {
    const c = new Crafter(readFileSync(plainPath));
    const root = c.root(0);
    const count = new DataView(root.plain.buffer, root.plain.byteOffset).getUint32(8, true);
    let z = -1;
    let d = -1;
    for (let i = 0; i < count - 1; i++) {
      const f = entryFields(c.record(root, i));
      if (f.kind === EntryKind.ZERO && z < 0) z = i;
      if (f.kind === EntryKind.DATA && c.record(root, i).getUint8(13) !== 0 && d < 0) d = i;
    }
    assert.ok(z >= 0 && d >= 0, 'the input has zero runs and data');
    const zero = entryFields(c.record(root, z));
    const after = entryFields(c.record(root, z + 1));
    const data = c.record(root, d);
    const rec = c.record(root, z);
    rec.setUint32(8, zero.length + after.length, true);
    rec.setUint8(12, EntryKind.DEDUP);
    rec.setUint8(13, data.getUint8(13));
    rec.setBigUint64(16, data.getBigUint64(16, true), true);
    rec.setUint32(24, data.getUint32(24, true), true);
    new Uint8Array(rec.buffer, rec.byteOffset + 32, 32).set(new Uint8Array(data.buffer, data.byteOffset + 32, 32));
    c.store(0, root);
    const path = save(c.seal(), 'zero-dedup');
    for (const offset of [zero.offset, after.offset, after.offset + 100]) {
      assertCorrupt(await readOutcome(path, 'disk', offset, 10), /do not tile/, `read at ${offset}`);
    }
  });

  test('the last entry of a leaf enlarged into the next leaf (two-level tree) is refused', async () => {
    // Distinct, compressible blocks: 1100 compressed DATA entries, five leaves.
    const big = new Uint8Array(1100 * BLOCK);
    for (let i = 0; i < big.length; i++) big[i] = ((i >> 12) * 7 + (i % 13)) & 0xff;
    const src = writeData(tmp.path('big.raw'), big);
    const path0 = tmp.path('big.hxz');
    await pack({ disk: src, output: path0, blockSize: BLOCK, workers: 1, compression: 'lz4' });
    const c = new Crafter(readFileSync(path0));
    const root = c.root(0);
    assert.equal(root.level, 1, 'two levels');
    const leaf = c.child(0, root, 0);
    const last = c.record(leaf, LEAF_RECORDS - 1);
    const e = entryFields(last);
    last.setUint32(8, e.length + BLOCK, true);
    c.store(0, leaf);
    const path = save(c.seal(), 'cross-leaf');
    const name = new RegExp(`entry ${LEAF_RECORDS - 1} covers .* do not tile`);
    assertCorrupt(await readOutcome(path, 'disk', e.offset, 10), name, 'read inside the enlarged entry');
    assertCorrupt(await readOutcome(path, 'disk', e.offset + BLOCK - 10, 20), new RegExp(`entry ${LEAF_RECORDS - 1}`), 'read across the leaf boundary');
    // The next leaf is untouched: its own bytes are still served, and correct.
    const good = readFileSync(src);
    const outcome = await readOutcome(path, 'disk', e.offset + BLOCK, BLOCK);
    assert.ok(outcome instanceof Uint8Array, String(outcome));
    assertBytes(outcome, good.subarray(e.offset + BLOCK, e.offset + 2 * BLOCK), 'next leaf');
  });
});

describe('attacker-chosen sizes', () => {
  /** The encrypted archive with its Argon2id costs replaced (checksum recomputed). */
  function withKdf(memoryKiB: number, iterations: number): string {
    const bytes = readFileSync(encPath);
    bytes.writeUInt32LE(memoryKiB, 132);
    bytes.writeUInt32LE(iterations, 136);
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    return save(bytes, 'kdf');
  }

  test('KDF memory or work above the reader limit is refused before any is spent', async () => {
    for (const [memoryKiB, iterations, pattern] of [[4 << 20, 1, /4\.00 GiB of memory.*HEXZ_KDF_MAX_MEMORY/], [1 << 20, 256, /256 passes over 1\.00 GiB.*HEXZ_KDF_MAX_WORK/]] as const) {
      const started = performance.now();
      const rss = process.memoryUsage().rss;
      await assert.rejects(Archive.open(withKdf(memoryKiB, iterations), { password: PW }), (e: unknown) => e instanceof UnsupportedError && pattern.test(e.message));
      assert.ok(performance.now() - started < 2000, 'refused at once');
      assert.ok(process.memoryUsage().rss - rss < 256 << 20, 'no KDF memory allocated');
    }
    assert.equal(DEFAULT_KDF_LIMITS.memoryKiB, 1 << 20);
  });

  test('the limits are the reader\'s own: an option lowers them, the environment raises them (CLI)', async () => {
    await assert.rejects(Archive.open(encPath, { password: PW, kdfLimits: { memoryKiB: 512, workKiB: 1 << 20 } }), UnsupportedError);
    const path = withKdf(2048, 1);
    const env = { HEXZ_PASSWORD: PW };
    const low = runCli(['cat', path, '--length', '1'], { env: { ...env, HEXZ_KDF_MAX_MEMORY: '1M' } });
    assert.equal(low.status, 5);
    assertOneErrorLine(low.stderr.toString(), 'kdf limit');
    assert.match(low.stderr.toString(), /HEXZ_KDF_MAX_MEMORY/);
    // Within the limit, the costs are used — and since they were altered, the password no longer derives the key.
    const ok = runCli(['cat', path, '--length', '1'], { env: { ...env, HEXZ_KDF_MAX_MEMORY: '4M' } });
    assert.equal(ok.status, 7, ok.stderr.toString());
  });

  test('pack refuses to write KDF costs default readers would refuse', async () => {
    const r = runCli(['pack', '--disk', tmp.path('disk.raw'), '-o', tmp.path('kdf-big.hxz'), '--encrypt', '--kdf-memory', '2G'], { env: { HEXZ_PASSWORD: PW } });
    assert.equal(r.status, 5, r.stderr.toString());
    assert.match(r.stderr.toString(), /above this reader's limit/);
  });

  test('a root node length beyond a full node is refused without reading it', async () => {
    const bytes = readFileSync(plainPath);
    bytes.writeUInt32LE(64 << 20, STREAM_TABLE_OFFSET + 24);
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    const path = save(Buffer.concat([bytes, Buffer.alloc(64 << 20)]), 'rootlen');
    assertCorrupt(await readOutcome(path, 'disk', 0, 1), /impossible length/, 'root length');
  });
});

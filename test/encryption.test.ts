/**
 * Encrypted archives (docs/FORMAT.md §12): round trips with every codec and chunker, the
 * password envelope (wrong password before any block is read, passwd), tampering with every
 * region detected by its own check, blocks bound to their archive and position, nonce
 * uniqueness, dedup equal to a plain pack, and the CLI's password sources.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Archive } from '../src/index.ts';
import { pack, type PackOptions } from '../src/pack/pack.ts';
import { extract } from '../src/ops/extract.ts';
import { exportQcow2 } from '../src/ops/export-qcow2.ts';
import { openImage } from '../src/image/open-image.ts';
import { changePassword } from '../src/ops/passwd.ts';
import { CorruptArchiveError, UsageError, WrongKeyError } from '../src/errors.ts';
import { EntryKind, HEADER_SIZE, METADATA_HASH_OFFSET, STREAM_TABLE_OFFSET } from '../src/format/constants.ts';
import { decodeHeader, resealHeader } from '../src/format/header.ts';
import { sealHeaderTag } from '../src/crypto/header-tag.ts';
import { decodeNode, childRecord } from '../src/format/index-node.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { unlockEnvelope } from '../src/crypto/key-envelope.ts';
import { deriveArchiveKeys } from '../src/crypto/archive-keys.ts';
import { ArchiveCipher } from '../src/crypto/archive-cipher.ts';
import { FileSource } from '../src/store/file-source.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { assertBytes, assertNoNodeWarning, assertOneErrorLine, collect, listDir, mixedData, readAll, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-crypt-');
after(() => tmp.cleanup());

/** Cheap Argon2id costs: the tests exercise the format, not the KDF's strength. */
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };
const PW = 'hunter2 — пароль';
let n = 0;
const out = (name: string) => tmp.path(`${name}-${n++}.hxz`);

const disk = mixedData(1 << 20, { unit: 4096, seed: 11 });
const memory = mixedData(600_001, { unit: 4096, seed: 12 });
const diskPath = writeData(tmp.path('disk.raw'), disk);
const memPath = writeData(tmp.path('mem.raw'), memory);

function packEnc(options: Partial<PackOptions> & { output?: string } = {}) {
  return pack({ disk: diskPath, memory: memPath, blockSize: 4096, workers: 2, output: out('a'), encrypt: { password: PW, kdf: KDF }, ...options });
}

/** Flips `mask` into byte `at` of a copy of `file`; returns the copy's path. */
function flipped(file: string, at: number, mask = 0x01, reseal = false): string {
  const bytes = readFileSync(file);
  bytes[at] ^= mask;
  if (reseal) resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
  const path = out('flip');
  writeFileSync(path, bytes);
  return path;
}

async function firstEntry(path: string, kind: number, stream: 'disk' | 'memory' = 'disk') {
  const a = await Archive.open(path, { password: PW });
  try {
    for await (const e of a.entries(stream)) if (e.kind === kind) return e;
  } finally {
    await a.close();
  }
  throw new Error(`no entry of kind ${kind}`);
}

async function readError(path: string, stream: 'disk' | 'memory', offset: number, length = 1): Promise<unknown> {
  const a = await Archive.open(path, { password: PW });
  try {
    await a.readAt(stream, offset, length);
  } catch (err) {
    return err;
  } finally {
    await a.close();
  }
  return undefined;
}

/**
 * Reseals a header a test changed as its writer would: tag (§12.5) and checksum. Only a holder of
 * the data key can do this, so the check under test, not the header tag, is what must catch the
 * change. First shows that a checksum-only reseal is already refused by the tag.
 */
async function resealAsWriter(bytes: Buffer): Promise<void> {
  const head = bytes.subarray(0, HEADER_SIZE);
  resealHeader(head, blake3);
  const p = out('tagcheck');
  writeFileSync(p, bytes);
  await assert.rejects(Archive.open(p, { password: PW }), (e: unknown) => e instanceof CorruptArchiveError && /header fails authentication/.test(e.message));
  const h = decodeHeader(head, blake3);
  sealHeaderTag(head, deriveArchiveKeys(await unlockEnvelope(h.encryption!, PW, h.archiveId), h.archiveId, h.version));
}

describe('encrypted round trips', () => {
  for (const compression of ['zstd', 'lz4', 'none'] as const) {
    for (const cdc of [false, true]) {
      test(`${compression}${cdc ? ', CDC' : ''}: every read path returns the input`, async () => {
        const path = out(compression);
        const r = await packEnc({ output: path, compression, ...(cdc ? { blockSize: undefined, cdc: { min: 1024, avg: 4096, max: 16384 } } : {}) });
        assert.ok(r.encryption);
        for (const decodeWorkers of [0, 2]) {
          const a = await Archive.open(path, { password: PW, decodeWorkers });
          try {
            assert.equal(a.encrypted, true);
            assert.equal(a.locked, false);
            assertBytes(await readAll(a, 'disk'), disk, 'disk');
            assertBytes(await readAll(a, 'memory'), memory, 'memory');
            assertBytes(await a.readAt('memory', 12_345, 70_000), memory.subarray(12_345, 82_345), 'memory range');
            assertBytes(await collect(a.createReadStream('disk', { start: 5000, end: 300_000 })), disk.subarray(5000, 300_001), 'stream');
            const h = a.openHandle('disk');
            h.seek(4095);
            assertBytes(await h.read(3), disk.subarray(4095, 4098), 'handle');
          } finally {
            await a.close();
          }
        }
        const raw = tmp.path(`x-${n++}.raw`);
        await extract(path, { output: raw, password: PW });
        assertBytes(readFileSync(raw), disk, 'extract');
        if (compression === 'zstd' && !cdc) {
          const q = tmp.path(`x-${n++}.qcow2`);
          await exportQcow2(path, { output: q, password: PW, stream: 'memory', compress: 'zstd', workers: 1 });
          const img = await openImage(q);
          assertBytes((await img.read(0, memory.length)), memory, 'qcow2 export');
          await img.close();
          await assert.rejects(exportQcow2(path, { output: tmp.path(`x-${n++}.qcow2`), password: 'wrong' }), WrongKeyError);
        }
      });
    }
  }

  test('the dictionary is sealed and used (trained dictionary + encryption)', async (t) => {
    const { dictionaryTrainingAvailable } = await import('../src/codec/zstd-dict-trainer.ts');
    if (!(await dictionaryTrainingAvailable())) {
      if (process.env.CI === 'true') throw new Error('CI: dictionary training unavailable');
      return t.skip('koffi or libzstd.so.1 missing');
    }
    const text = new TextEncoder().encode(Array.from({ length: 40_000 }, (_, i) => `2026-11-22 host${i % 7} kernel: event ${i % 97} ok\n`).join(''));
    const path = out('dict');
    await pack({ disk: writeData(tmp.path('log.raw'), text), blockSize: 4096, trainDict: true, workers: 1, output: path, encrypt: { password: PW, kdf: KDF } });
    const a = await Archive.open(path, { password: PW });
    try {
      assert.ok(a.dictionary && a.dictionary.length > 0);
      assertBytes(await readAll(a, 'disk'), text, 'disk');
      // The stored dictionary is not the plain one: its zstd magic is not at the extent.
      const stored = readFileSync(path).subarray(a.header.dictionary.offset, a.header.dictionary.offset + 4);
      assert.notDeepEqual([...stored], [0x37, 0xa4, 0x30, 0xec]);
    } finally {
      await a.close();
    }
    // A sealed dictionary whose hash was recomputed still fails its seal.
    const bytes = readFileSync(path);
    const locked = await Archive.open(path);
    const at = locked.header.dictionary.offset;
    await locked.close();
    bytes[at + 40] ^= 1;
    const len = bytes.readUInt32LE(88);
    bytes.set(blake3(bytes.subarray(at, at + len)), 1024);
    await resealAsWriter(bytes);
    const damaged = out('dictflip');
    writeFileSync(damaged, bytes);
    await assert.rejects(Archive.open(damaged, { password: PW }), (e: unknown) => e instanceof CorruptArchiveError && /dictionary fails authentication/.test(e.message));
  });
});

describe('passwords', () => {
  test('a wrong password is WrongKeyError before anything but the header is read', async () => {
    const path = out('pw');
    await packEnc({ output: path });
    const src = new CountingSource(await FileSource.open(path));
    await assert.rejects(Archive.open(src, { password: 'wrong' }), (e: unknown) => e instanceof WrongKeyError && /wrong password/.test(e.message));
    assert.equal(src.bytesRead, HEADER_SIZE, 'only the header was read');
    await src.close();
  });

  test('without a password the header is readable and every read is WrongKeyError', async () => {
    const path = out('locked');
    await packEnc({ output: path });
    const a = await Archive.open(path);
    try {
      assert.equal(a.locked, true);
      assert.equal(a.info.encrypted, true);
      assert.equal(a.size('disk'), disk.length);
      await assert.rejects(a.readAt('disk', 0, 1), WrongKeyError);
      await assert.rejects(a.metadata(), WrongKeyError);
      assert.throws(() => a.entries('disk'), WrongKeyError);
    } finally {
      await a.close();
    }
  });

  test('passwd: new password reads, old one is refused, file rewritten atomically', async () => {
    const path = out('passwd');
    await packEnc({ output: path });
    const before = readFileSync(path);
    await assert.rejects(changePassword(path, { oldPassword: 'nope', newPassword: 'x' }), WrongKeyError);
    assert.ok(readFileSync(path).equals(before), 'a failed passwd leaves the file untouched');
    const r = await changePassword(path, { oldPassword: PW, newPassword: 'new password', kdf: { memoryKiB: 512 } });
    assert.deepEqual(r.kdf, { ...KDF, memoryKiB: 512 });
    const after = readFileSync(path);
    assert.equal(after.length, before.length);
    // Only the key envelope (132..256) and the checksum changed.
    for (let i = 0; i < after.length; i++) {
      if (after[i] !== before[i]) assert.ok((i >= 132 && i < 256) || (i >= 4064 && i < 4096), `byte ${i} changed`);
    }
    await assert.rejects(Archive.open(path, { password: PW }), WrongKeyError);
    const a = await Archive.open(path, { password: 'new password' });
    try {
      assertBytes(await readAll(a, 'disk'), disk, 'disk after passwd');
    } finally {
      await a.close();
    }
    assert.deepEqual(listDir(tmp.dir).filter((f) => f.includes('.tmp') || f.startsWith('.')), []);
    await assert.rejects(changePassword(tmp.path('disk.raw'), { oldPassword: PW, newPassword: 'x' }), (e: unknown) => e instanceof Error && e.name === 'NotAnArchiveError');
    const plain = out('plain');
    await pack({ disk: diskPath, output: plain, workers: 1 });
    await assert.rejects(changePassword(plain, { oldPassword: PW, newPassword: 'x' }), UsageError);
  });

  test('empty passwords and out-of-range KDF costs are refused before anything is written', async () => {
    const path = out('bad');
    await assert.rejects(pack({ disk: diskPath, output: path, encrypt: { password: '' } }), UsageError);
    await assert.rejects(pack({ disk: diskPath, output: path, encrypt: { password: 'x', kdf: { memoryKiB: 4 } } }), UsageError);
    await assert.rejects(pack({ disk: diskPath, output: path, encrypt: { password: 'x', kdf: { iterations: 0 } } }), UsageError);
    assert.equal(existsSync(path), false);
  });
});

describe('tampering is detected, each by its own check', () => {
  let path = '';
  const header = async () => {
    const a = await Archive.open(path);
    const h = a.header;
    await a.close();
    return h;
  };

  test('setup', async () => {
    path = out('tamper');
    await packEnc({ output: path, compression: 'lz4' });
  });

  test('header bytes: checksum mismatch', async () => {
    for (const at of [20, 300, 150, 180, 230]) {
      await assert.rejects(Archive.open(flipped(path, at), { password: PW }), (e: unknown) => e instanceof CorruptArchiveError && /header checksum/.test(e.message), `byte ${at}`);
    }
  });

  test('wrapped key altered with the checksum recomputed: the wrapped key fails authentication', async () => {
    for (const at of [176, 200, 210]) {
      await assert.rejects(Archive.open(flipped(path, at, 1, true), { password: PW }), (e: unknown) => e instanceof CorruptArchiveError && e.location.stage === 'key' && /wrapped data key/.test(e.message));
    }
    // The salt or the key check altered: the password no longer derives the stored check.
    await assert.rejects(Archive.open(flipped(path, 150, 1, true), { password: PW }), WrongKeyError);
  });

  test('an index node: its hash check, and with the hash chain recomputed, its seal', async () => {
    const h = await header();
    const root = h.streams[0];
    const e1 = await readError(flipped(path, root.rootOffset + 40), 'disk', 0);
    assert.ok(e1 instanceof CorruptArchiveError && /fails its hash check/.test(e1.message), String(e1));
    const bytes = readFileSync(path);
    bytes[root.rootOffset + 40] ^= 1;
    bytes.set(blake3(bytes.subarray(root.rootOffset, root.rootOffset + root.rootLength)), STREAM_TABLE_OFFSET + 32);
    await resealAsWriter(bytes);
    const p = out('node');
    writeFileSync(p, bytes);
    const e2 = await readError(p, 'disk', 0);
    assert.ok(e2 instanceof CorruptArchiveError && /fails authentication/.test(e2.message) && e2.location.stage === 'index', String(e2));
    // The other stream is unaffected.
    const a = await Archive.open(p, { password: PW });
    assertBytes(await readAll(a, 'memory'), memory, 'memory');
    await a.close();
  });

  test('a DATA block, the DEDUP entries sharing it, and a raw block: authentication fails', async () => {
    const data = await firstEntry(path, EntryKind.DATA);
    const dedup = await firstEntry(path, EntryKind.DEDUP, 'memory');
    for (const [what, e, stream] of [['data', data, 'disk'], ['dedup', dedup, 'memory']] as const) {
      const p = flipped(path, e.storedOffset + 20);
      const err = await readError(p, stream, e.offset, e.length);
      assert.ok(err instanceof CorruptArchiveError && /fails authentication/.test(err.message) && err.location.stage === 'block', `${what}: ${String(err)}`);
    }
    const a = await Archive.open(path, { password: PW });
    let raw;
    for await (const e of a.entries('disk')) if (e.kind === EntryKind.DATA && e.encoding === 0) { raw = e; break; }
    await a.close();
    assert.ok(raw, 'the input has incompressible blocks');
    const err = await readError(flipped(path, raw.storedOffset + raw.storedLength - 1), 'disk', raw.offset);
    assert.ok(err instanceof CorruptArchiveError && /fails authentication/.test(err.message), String(err));
  });

  test('metadata: hash mismatch, and with the hash recomputed, its seal', async () => {
    const h = await header();
    const a1 = await Archive.open(flipped(path, h.metadata.offset + 14), { password: PW });
    await assert.rejects(a1.metadata(), /metadata hash mismatch/);
    await a1.close();
    const bytes = readFileSync(path);
    bytes[h.metadata.offset + 14] ^= 1;
    bytes.set(blake3(bytes.subarray(h.metadata.offset, h.metadata.offset + h.metadata.length)), METADATA_HASH_OFFSET);
    await resealAsWriter(bytes);
    const p = out('meta');
    writeFileSync(p, bytes);
    const a2 = await Archive.open(p, { password: PW });
    await assert.rejects(a2.metadata(), /metadata fails authentication/);
    await a2.close();
  });

  test('blocks are bound to their position: two blocks swapped both fail', async () => {
    const a = await Archive.open(path, { password: PW });
    const raws = [];
    for await (const e of a.entries('disk')) if (e.kind === EntryKind.DATA && e.encoding === 0 && e.length === 4096) raws.push(e);
    await a.close();
    assert.ok(raws.length >= 2);
    const [x, y] = raws;
    assert.equal(x.storedLength, y.storedLength);
    const bytes = readFileSync(path);
    const bx = Buffer.from(bytes.subarray(x.storedOffset, x.storedOffset + x.storedLength));
    bytes.copy(bytes, x.storedOffset, y.storedOffset, y.storedOffset + y.storedLength);
    bx.copy(bytes, y.storedOffset);
    const p = out('swap');
    writeFileSync(p, bytes);
    for (const e of [x, y]) {
      const err = await readError(p, 'disk', e.offset);
      assert.ok(err instanceof CorruptArchiveError && /fails authentication/.test(err.message), String(err));
    }
  });

  test('a block copied from another archive with the same password and content is rejected', async () => {
    const other = out('other');
    await packEnc({ output: other, compression: 'lz4' });
    const h = await header();
    const mine = readFileSync(path);
    const theirs = readFileSync(other);
    assert.equal(theirs.length, mine.length, 'same content packs to the same layout');
    const e = await firstEntry(path, EntryKind.DATA);
    theirs.copy(mine, e.storedOffset, e.storedOffset, e.storedOffset + e.storedLength);
    const p = out('copied');
    writeFileSync(p, mine);
    const err = await readError(p, 'disk', e.offset);
    assert.ok(err instanceof CorruptArchiveError && /fails authentication/.test(err.message), String(err));
    assert.ok(h.data.length > 0);
  });
});

describe('nonces and dedup', () => {
  test('no nonce repeats across every sealed object of a large pack', async () => {
    const big = mixedData(24 << 20, { unit: 4096, seed: 5 });
    const path = out('nonces');
    await pack({ disk: writeData(tmp.path('big.raw'), big), memory: memPath, blockSize: 4096, compression: 'lz4', output: path, encrypt: { password: PW, kdf: KDF } });
    const file = readFileSync(path);
    const nonces = new Set<string>();
    let objects = 0;
    const add = (offset: number) => {
      nonces.add(file.subarray(offset, offset + 12).toString('hex'));
      objects++;
    };
    const a = await Archive.open(path, { password: PW });
    const h = a.header;
    for (const stream of a.streams) for await (const e of a.entries(stream)) if (e.kind === EntryKind.DATA) add(e.storedOffset);
    await a.close();
    // Walk every index node through its seal.
    const keys = deriveArchiveKeys(await unlockEnvelope(h.encryption!, PW, h.archiveId), h.archiveId, h.version);
    const cipher = new ArchiveCipher(keys, h.archiveId);
    const walk = (offset: number, length: number, level: number, stream: number, first: number) => {
      add(offset);
      const node = decodeNode(cipher.openNode(file.subarray(offset, offset + length), stream, level, first), level, stream);
      if (level > 0) for (let i = 0; i < node.count; i++) {
        const c = childRecord(node, i);
        walk(c.nodeOffset, c.nodeLength, level - 1, stream, c.firstOffset);
      }
    };
    h.streams.forEach((s, i) => s.present && s.entryCount > 0 && walk(s.rootOffset, s.rootLength, s.rootLevel, i, 0));
    add(h.metadata.offset);
    assert.ok(h.streams[0].rootLevel >= 1, 'the disk index has internal nodes');
    assert.ok(objects > 3000, `${objects} sealed objects`);
    assert.equal(nonces.size, objects, 'every sealed object has its own nonce');
  });

  test('dedup finds the same duplicates with and without encryption', async () => {
    for (const chunking of [{ blockSize: 4096 }, { cdc: { min: 1024, avg: 4096, max: 16384 } }] as const) {
      const plain = await pack({ disk: diskPath, memory: memPath, workers: 2, output: out('p'), ...chunking });
      const enc = await pack({ disk: diskPath, memory: memPath, workers: 2, output: out('e'), ...chunking, encrypt: { password: PW, kdf: KDF } });
      for (let i = 0; i < 2; i++) {
        const [p, e] = [plain.streams[i], enc.streams[i]];
        assert.deepEqual(
          { data: e.dataBlocks, dedup: e.dedupBlocks, dedupBytes: e.dedupBytes, zero: e.zeroBytes },
          { data: p.dataBlocks, dedup: p.dedupBlocks, dedupBytes: p.dedupBytes, zero: p.zeroBytes },
        );
        assert.equal(e.storedBytes, p.storedBytes + 28 * p.dataBlocks, 'each stored block grows by its nonce and tag');
      }
      assert.ok(plain.streams[1].dedupBytes > 0, 'the inputs share blocks');
    }
  });

  test('metadata is readable with the password and sealed without it', async () => {
    const path = out('meta');
    await packEnc({ output: path });
    const a = await Archive.open(path, { password: PW });
    const m = await a.metadata();
    await a.close();
    assert.deepEqual((m as { inputs: Record<string, unknown> }).inputs.disk, { name: 'disk.raw', format: 'raw', bytes: disk.length });
    assert.equal(readFileSync(path).indexOf('disk.raw'), -1, 'the input name is not in the clear');
  });
});

describe('CLI', () => {
  const pwFile = writeData(tmp.path('pw.txt'), new TextEncoder().encode(`${PW}\n`));

  test('pack --encrypt, cat, extract, verify with a password file and HEXZ_PASSWORD', () => {
    const path = out('cli');
    const kdf = ['--kdf-memory', '256K', '--kdf-iterations', '1', '--kdf-lanes', '1'];
    let r = runCli(['pack', '--disk', diskPath, '--encrypt', '--password-file', pwFile, ...kdf, '-o', path, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.toString());
    assert.deepEqual(summary.encryption.kdf, KDF);
    r = runCli(['cat', path, '--offset', '4000', '--length', '5000'], { env: { HEXZ_PASSWORD: PW } });
    assert.equal(r.status, 0, r.stderr);
    assertBytes(r.stdout, disk.subarray(4000, 9000), 'cat');
    const raw = tmp.path(`cli-${n++}.raw`);
    r = runCli(['extract', path, '--password-file', pwFile, '-o', raw, '--silent']);
    assert.equal(r.status, 0, r.stderr);
    assertBytes(readFileSync(raw), disk, 'extract');
    r = runCli(['verify', path, '--password-file', pwFile, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.toString()).ok, true);
    const locked = JSON.parse(runCli(['inspect', path, '--json'], { env: { HEXZ_PASSWORD: undefined } }).stdout.toString());
    assert.deepEqual({ ...locked.encryption }, { cipher: 'AES-256-GCM', kdf: 'Argon2id', ...KDF, unlocked: false });
    assert.equal(locked.metadata, null);
    const open = JSON.parse(runCli(['inspect', path, '--json', '--password-file', pwFile]).stdout.toString());
    assert.equal(open.encryption.unlocked, true);
    assert.equal(open.metadata.inputs.disk.name, 'disk.raw');
    r = runCli(['cat', path, '--length', '1'], { env: { HEXZ_PASSWORD: 'wrong' } });
    assert.equal(r.status, 7);
    assertOneErrorLine(r.stderr, 'wrong password');
    assert.match(r.stderr, /wrong password/);
  });

  test('no password source and no terminal: a usage error naming the ways, nothing written', () => {
    const path = out('nopw');
    const r = spawnSync('setsid', ['-w', process.execPath, ...cliArgs(['pack', '--disk', diskPath, '--encrypt', '-o', path])], { env: withoutPassword() });
    assert.equal(r.status, 2, r.stderr.toString());
    assert.match(r.stderr.toString(), /--password-file FILE or HEXZ_PASSWORD/);
    assertNoNodeWarning(r.stderr.toString(), 'pack without a terminal');
    assert.equal(existsSync(path), false);
    const flags = runCli(['pack', '--disk', diskPath, '--password-file', pwFile, '-o', path]);
    assert.equal(flags.status, 2);
    assert.match(flags.stderr, /need --encrypt/);
  });

  test('passwd through the CLI', () => {
    const path = out('clipw');
    assert.equal(runCli(['pack', '--disk', diskPath, '--encrypt', '--password-file', pwFile, '--kdf-memory', '256K', '-o', path, '--silent']).status, 0);
    const newFile = writeData(tmp.path('new.txt'), new TextEncoder().encode('brand new\n'));
    let r = runCli(['passwd', path, '--password-file', pwFile, '--new-password-file', newFile]);
    assert.equal(r.status, 0, r.stderr);
    r = runCli(['cat', path, '--length', '10'], { env: { HEXZ_PASSWORD: PW } });
    assert.equal(r.status, 7);
    r = runCli(['cat', path, '--length', '10'], { env: { HEXZ_PASSWORD: 'brand new' } });
    assert.equal(r.status, 0, r.stderr);
    assertBytes(r.stdout, disk.subarray(0, 10), 'cat after passwd');
  });

  test('the terminal prompt does not echo and asks twice when creating', (t) => {
    if (spawnSync('script', ['--version']).status !== 0) {
      if (process.env.CI === 'true') throw new Error('CI: script(1) (bsdutils) is missing');
      return t.skip('script(1) is missing');
    }
    const run = (answers: string[], path: string) => {
      const cmd = [process.execPath, ...cliArgs(['pack', '--disk', diskPath, '--encrypt', '--kdf-memory', '256K', '-o', path, '--silent'])].map((a) => `'${a}'`).join(' ');
      // Feed the answers slowly: each one after its prompt has put the terminal in raw mode.
      const feed = answers.map((a) => `sleep 1; printf '%s\\r' '${a}'`).join('; ');
      return spawnSync('sh', ['-c', `(${feed}; sleep 1) | script -qec "${cmd.replace(/"/g, '\\"')}" /dev/null`], { env: withoutPassword(), timeout: 30_000 });
    };
    const bad = out('prompt-bad');
    const r1 = run(['first secret', 'other secret'], bad);
    assert.match(r1.stdout.toString(), /do not match/);
    assert.equal(existsSync(bad), false);
    const good = out('prompt');
    const r2 = run(['s3cret words', 's3cret words'], good);
    const screen = r2.stdout.toString();
    assert.match(screen, /New archive password: /);
    assert.match(screen, /Repeat new archive password: /);
    assert.doesNotMatch(screen, /s3cret/, 'the password is not echoed');
    const r3 = runCli(['cat', good, '--length', '16'], { env: { HEXZ_PASSWORD: 's3cret words' } });
    assert.equal(r3.status, 0, r3.stderr);
    assertBytes(r3.stdout, disk.subarray(0, 16), 'archive made from the prompt');
  });
});

/** node arguments that run the CLI (as runCli does). */
function cliArgs(args: string[]): string[] {
  return [new URL('../bin/hexz.js', import.meta.url).pathname, ...args];
}

function withoutPassword(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.HEXZ_PASSWORD;
  delete env.HEXZ_NEW_PASSWORD;
  return env;
}

/**
 * `diffArchives` and `hexz diff`: changed ranges at block granularity from the two indexes
 * alone (known edits, grown and shrunk streams, a stream on one side only, zero runs, CDC),
 * content shared and unique each way, thin children against their parents, encrypted lineages
 * (one data key) and the refusals (different data keys, encrypted against plain, no password).
 * The CLI tests run bin/hexz.js against dist/ (build with `npx tsc -p tsconfig.json`).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { diffArchives, type DiffReport, type PackOptions, type PackResult } from '../src/index.ts';
import { MissingParentError, UsageError, WrongKeyError } from '../src/errors.ts';
import { DigestTally } from '../src/util/digest-tally.ts';
import { ByteRanges } from '../src/util/byte-ranges.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { assertOneErrorLine, mixedData, packSmall, randomData, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-diff-');
after(() => tmp.cleanup());

const K = 4096;
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };
const PW = 'correct horse';
let files = 0;

/** Packs `disk` (and `memory`) into a fresh archive with 4 KiB fixed blocks (unless `cdc`). */
function packData(disk: Uint8Array, options: Partial<PackOptions> & { memory?: Uint8Array } = {}): Promise<PackResult> {
  const n = files++;
  const { memory, ...rest } = options;
  return packSmall({
    disk: writeData(tmp.path(`in-${n}.disk`), disk), memory: memory ? writeData(tmp.path(`in-${n}.mem`), memory) : undefined,
    output: tmp.path(`a-${n}.hxz`), blockSize: rest.cdc ? undefined : K, ...rest,
  });
}

/** `data` with each block in `blocks` replaced by fresh random bytes. */
function overwrite(data: Uint8Array, blocks: number[], seed = 500): Uint8Array {
  const out = data.slice();
  for (const b of blocks) out.set(randomData(K, seed + b), b * K);
  return out;
}

const ranges = (r: DiffReport, stream = 'disk') => r.streams.find((s) => s.stream === stream)!.ranges.map((g) => [g.start, g.end]);

const base = randomData(64 * K, 1);

describe('diffArchives: changed ranges', () => {
  test('two packs of the same data: nothing changed, every block shared', async () => {
    const a = await packData(base);
    const b = await packData(base, { compression: 'lz4' });
    const r = await diffArchives(a.output, b.output);
    assert.equal(r.changedBytes, 0);
    assert.equal(r.sameContent, true);
    assert.deepEqual(r.streams, [{ stream: 'disk', presentIn: 'both', sizeA: 64 * K, sizeB: 64 * K, ranges: [], changedBytes: 0 }]);
    for (const side of [r.a, r.b]) {
      assert.deepEqual({ ...side, file: '', archiveId: '' }, {
        file: '', archiveId: '', logicalBytes: 64 * K, blocks: 64, sharedBlocks: 64, uniqueBlocks: 0, sharedBytes: 64 * K, uniqueBytes: 0, zeroBytes: 0,
      });
    }
    assert.equal(r.a.archiveId, a.archiveId);
    assert.equal(r.b.file, b.output);
  });

  test('an archive against itself (both streams, zeros, dedup): nothing changed', async () => {
    const a = await packData(mixedData(50 * K + 123, { seed: 3 }), { memory: mixedData(20 * K, { seed: 4 }) });
    const r = await diffArchives(a.output, a.output);
    assert.equal(r.sameContent, true);
    assert.equal(r.changedBytes, 0);
    assert.deepEqual(r.streams.map((s) => s.stream), ['disk', 'memory']);
    assert.ok(r.a.zeroBytes > 0 && r.a.zeroBytes === r.b.zeroBytes);
    assert.equal(r.a.uniqueBlocks, 0);
    assert.equal(r.a.sharedBytes + r.a.zeroBytes, r.a.logicalBytes);
  });

  test('overwriting blocks 3, 4 and 10 of 64 changes exactly [3*4K, 5*4K) and [10*4K, 11*4K)', async () => {
    const a = await packData(base);
    const b = await packData(overwrite(base, [3, 4, 10]));
    const r = await diffArchives(a.output, b.output);
    assert.deepEqual(ranges(r), [[3 * K, 5 * K], [10 * K, 11 * K]]);
    assert.equal(r.changedBytes, 3 * K);
    assert.equal(r.sameContent, false);
    for (const side of [r.a, r.b]) {
      assert.equal(side.blocks, 64);
      assert.equal(side.sharedBlocks, 61);
      assert.equal(side.uniqueBlocks, 3);
      assert.equal(side.sharedBytes, 61 * K);
      assert.equal(side.uniqueBytes, 3 * K);
    }
    // The other direction reports the same ranges.
    assert.deepEqual(ranges(await diffArchives(b.output, a.output)), [[3 * K, 5 * K], [10 * K, 11 * K]]);
  });

  test('a block moved elsewhere is changed at both places but its content is shared', async () => {
    const moved = base.slice();
    moved.set(base.subarray(7 * K, 8 * K), 30 * K);
    const r = await diffArchives((await packData(base)).output, (await packData(moved)).output);
    assert.deepEqual(ranges(r), [[30 * K, 31 * K]]);
    assert.equal(r.b.uniqueBlocks, 0, 'the moved block is content A has');
    assert.equal(r.a.uniqueBlocks, 1, 'the overwritten block is gone from B');
  });

  test('a grown stream: the tail is changed; a shrunk one: from its last (short) block to the old end', async () => {
    const a = await packData(base);
    const grown = new Uint8Array(67 * K + 100);
    grown.set(base);
    grown.set(randomData(3 * K + 100, 9), 64 * K);
    const g = await diffArchives(a.output, (await packData(grown)).output);
    assert.deepEqual(ranges(g), [[64 * K, 67 * K + 100]]);
    assert.equal(g.streams[0].sizeB, 67 * K + 100);
    const s = await diffArchives(a.output, (await packData(base.subarray(0, 60 * K + 100))).output);
    assert.deepEqual(ranges(s), [[60 * K, 64 * K]]);
    assert.equal(s.a.uniqueBlocks, 4);
    assert.equal(s.b.uniqueBlocks, 1, 'the 100-byte tail block');
  });

  test('a stream present in one archive only is changed over its whole length', async () => {
    const memory = randomData(5 * K + 1, 8);
    const a = await packData(base);
    const b = await packData(base, { memory });
    const r = await diffArchives(a.output, b.output);
    assert.deepEqual(r.streams.map((s) => [s.stream, s.presentIn, s.sizeA, s.sizeB]), [['disk', 'both', 64 * K, 64 * K], ['memory', 'b', null, 5 * K + 1]]);
    assert.deepEqual(ranges(r, 'memory'), [[0, 5 * K + 1]]);
    assert.equal(r.changedBytes, 5 * K + 1);
    assert.equal(r.b.uniqueBlocks, 6, 'five 4 KiB blocks and one of 1 byte');
    const back = await diffArchives(b.output, a.output);
    assert.equal(back.streams[1].presentIn, 'a');
    assert.deepEqual(ranges(back, 'memory'), [[0, 5 * K + 1]]);
  });

  test('zero runs are unchanged where both are zero; zero against data is changed', async () => {
    const a = base.slice();
    a.fill(0, 20 * K, 30 * K);
    const b = a.slice();
    b.set(randomData(5 * K, 77), 25 * K); // zeros became data
    b.fill(0, 40 * K, 42 * K); // data became zeros
    const r = await diffArchives((await packData(a)).output, (await packData(b)).output);
    assert.deepEqual(ranges(r), [[25 * K, 30 * K], [40 * K, 42 * K]]);
    assert.equal(r.a.zeroBytes, 10 * K);
    assert.equal(r.b.zeroBytes, 7 * K);
    assert.equal(r.a.uniqueBlocks, 2);
    assert.equal(r.b.uniqueBlocks, 5);
  });

  test('CDC: an edit that shifts a region changes a range around it, small next to the stream', async () => {
    const cdc = { min: 2048, avg: 8192, max: 32768 };
    const data = randomData(2 << 20, 21);
    // Insert 300 bytes at 1 MiB and delete 300 bytes 40 KiB later: offsets realign after that.
    const at = 1 << 20;
    const edited = new Uint8Array(data.length);
    edited.set(data.subarray(0, at));
    edited.set(randomData(300, 22), at);
    edited.set(data.subarray(at, at + 40 * 1024), at + 300);
    edited.set(data.subarray(at + 40 * 1024 + 300), at + 300 + 40 * 1024);
    const a = await packData(data, { cdc });
    const b = await packData(edited, { cdc });
    const r = await diffArchives(a.output, b.output);
    const rs = ranges(r);
    assert.ok(rs.length >= 1 && rs.length <= 2, JSON.stringify(rs));
    assert.ok(rs[0][0] <= at && at < rs[0][1], `the insertion point is inside ${JSON.stringify(rs[0])}`);
    assert.ok(r.changedBytes < 160 * 1024, `${r.changedBytes} changed bytes`);
    assert.ok(r.changedBytes >= 40 * 1024, 'the shifted region itself is changed in place');
    // The shifted chunks in between are still content A has.
    assert.ok(r.b.uniqueBytes < 4 * 32768, `${r.b.uniqueBytes} unique bytes in B`);
  });

  test('CDC: a pure insertion shifts everything after it (changed in place) but nearly all content is shared', async () => {
    const cdc = { min: 2048, avg: 8192, max: 32768 };
    const data = randomData(2 << 20, 31);
    const at = 1 << 20;
    const inserted = new Uint8Array(data.length + 300);
    inserted.set(data.subarray(0, at));
    inserted.set(randomData(300, 32), at);
    inserted.set(data.subarray(at), at + 300);
    const r = await diffArchives((await packData(data, { cdc })).output, (await packData(inserted, { cdc })).output);
    const rs = ranges(r);
    assert.equal(rs.length, 1);
    assert.ok(rs[0][0] <= at && at - rs[0][0] <= 32768, `the range starts at the chunk holding the insertion: ${rs[0]}`);
    assert.equal(rs[0][1], inserted.length);
    assert.ok(r.b.uniqueBytes < 4 * 32768, `${r.b.uniqueBytes} unique bytes in B`);
    assert.ok(r.b.sharedBytes > inserted.length - 4 * 32768);
  });
});

describe('diffArchives: thin and encrypted', () => {
  test('a thin child against its parent reports the edits; against a full pack of the same data, nothing', async () => {
    const parent = await packData(base);
    const edited = overwrite(base, [0, 63]);
    const child = await packData(edited, { parent: parent.output });
    assert.ok(child.thin);
    const r = await diffArchives(parent.output, child.output);
    assert.deepEqual(ranges(r), [[0, K], [63 * K, 64 * K]]);
    assert.equal(r.b.sharedBlocks, 62);
    const full = await packData(edited);
    assert.equal((await diffArchives(full.output, child.output)).sameContent, true);
  });

  test('a thin child whose parent moved: found through parentDirs, else MissingParentError', async () => {
    const parent = await packData(base);
    const child = await packData(overwrite(base, [5]), { parent: parent.output });
    const elsewhere = tmp.path('elsewhere');
    mkdirSync(elsewhere);
    const moved = `${elsewhere}/${parent.output.split('/').pop()}`;
    renameSync(parent.output, moved);
    await assert.rejects(diffArchives(moved, child.output), MissingParentError);
    const r = await diffArchives(moved, child.output, { parentDirs: [elsewhere] });
    assert.deepEqual(ranges(r), [[5 * K, 6 * K]]);
  });

  test('an encrypted lineage (one data key) compares; the hashes are the keyed ones', async () => {
    const encrypt = { password: PW, kdf: KDF };
    const parent = await packData(base, { encrypt });
    const child = await packData(overwrite(base, [3, 4, 10]), { encrypt, parent: parent.output });
    const r = await diffArchives(parent.output, child.output, { passwordA: PW, passwordB: PW });
    assert.deepEqual(ranges(r), [[3 * K, 5 * K], [10 * K, 11 * K]]);
    assert.equal(r.a.sharedBlocks, 61);
    assert.equal((await diffArchives(child.output, child.output, { passwordA: PW, passwordB: PW })).sameContent, true);
  });

  test('refused: different data keys, encrypted against plain, no password', async () => {
    const encrypt = { password: PW, kdf: KDF };
    const one = await packData(base, { encrypt });
    const two = await packData(base, { encrypt });
    const plain = await packData(base);
    await assert.rejects(diffArchives(one.output, two.output, { passwordA: PW, passwordB: PW }), (err: unknown) => err instanceof UsageError && /different data keys/.test(err.message));
    await assert.rejects(diffArchives(one.output, plain.output, { passwordA: PW }), (err: unknown) => err instanceof UsageError && /encrypted/.test(err.message));
    await assert.rejects(diffArchives(plain.output, one.output, { passwordB: PW }), UsageError);
    await assert.rejects(diffArchives(one.output, one.output, { passwordA: PW }), WrongKeyError);
    await assert.rejects(diffArchives(one.output, one.output, { passwordA: PW, passwordB: 'wrong' }), WrongKeyError);
  });
});

describe('building blocks', () => {
  test('DigestTally: totals per hash, membership, growth far past its first capacity', () => {
    const t = new DigestTally();
    const hash = (i: number) => blake3(new Uint8Array(new Uint32Array([i]).buffer));
    for (let i = 0; i < 20_000; i++) t.add(hash(i), i + 1);
    for (let i = 0; i < 20_000; i += 2) t.add(hash(i), 1);
    assert.equal(t.size, 20_000);
    for (const i of [0, 1, 777, 19_999]) assert.ok(t.has(hash(i)));
    assert.ok(!t.has(hash(20_000)));
    let total = 0;
    let count = 0;
    t.forEach((_, bytes) => {
      total += bytes;
      count++;
    });
    assert.equal(count, 20_000);
    assert.equal(total, (20_000 * 20_001) / 2 + 10_000);
  });

  test('ByteRanges: merges touching and overlapping ranges, ignores empty ones, refuses disorder', () => {
    const r = new ByteRanges();
    r.add(0, 10);
    r.add(10, 20);
    r.add(15, 18);
    r.add(30, 30);
    r.add(30, 40);
    r.add(35, 50);
    assert.deepEqual(r.ranges, [{ start: 0, end: 20 }, { start: 30, end: 50 }]);
    assert.equal(r.bytes, 40);
    assert.throws(() => r.add(5, 60), RangeError);
  });
});

describe('hexz diff', () => {
  test('text: summary, then ranges per stream as [start, end) in hex; exit 0 although they differ', async () => {
    const a = await packData(base);
    const b = await packData(overwrite(base, [3, 4, 10]), { memory: randomData(K, 3) });
    const r = runCli(['diff', a.output, b.output]);
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout.toString('utf8');
    assert.match(text, /^a: +\S+ \(archive [0-9a-f]{32}, 256\.00 KiB logical\)$/m);
    assert.match(text, /^shared: +61 blocks; 244\.00 KiB of a, 244\.00 KiB of b$/m);
    assert.match(text, /^only in a: +3 blocks, 12\.00 KiB \(12288 bytes\)$/m);
    assert.match(text, /^only in b: +4 blocks, 16\.00 KiB \(16384 bytes\)$/m);
    assert.match(text, /^changed: +16\.00 KiB \(16384 bytes\) in 3 ranges$/m);
    assert.ok(text.includes('\ndisk: 256.00 KiB; 12.00 KiB (12288 bytes) changed in 2 ranges\n  [0x3000, 0x5000)  8.00 KiB\n  [0xa000, 0xb000)  4.00 KiB\n'), text);
    assert.ok(text.includes('\nmemory: only in b (4.00 KiB); 4.00 KiB (4096 bytes) changed in 1 range\n  [0x0, 0x1000)  4.00 KiB\n'), text);
  });

  test('text: the same content says so; more than 50 ranges are cut with a count, --json has all', async () => {
    const a = await packData(base);
    const same = runCli(['diff', a.output, a.output]);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout.toString('utf8'), /^changed: +nothing: same content$/m);
    assert.match(same.stdout.toString('utf8'), /^disk: 256\.00 KiB; unchanged$/m);

    const big = randomData(128 * K, 40);
    const every = Array.from({ length: 64 }, (_, i) => 2 * i);
    const x = await packData(big);
    const y = await packData(overwrite(big, every));
    const text = runCli(['diff', x.output, y.output]).stdout.toString('utf8');
    assert.equal(text.split('\n').filter((l) => l.startsWith('  [0x')).length, 50);
    assert.match(text, /^  … 14 more \(--json lists all\)$/m);
    const json = runCli(['diff', '--json', x.output, y.output]);
    assert.equal(json.status, 0, json.stderr);
    const report = JSON.parse(json.stdout.toString('utf8')) as DiffReport;
    assert.deepEqual(report, JSON.parse(JSON.stringify(await diffArchives(x.output, y.output))));
    assert.equal(report.streams[0].ranges.length, 64);
    assert.deepEqual(report.streams[0].ranges[63], { start: 126 * K, end: 127 * K });
  });

  test('encrypted lineage with --password-file or HEXZ_PASSWORD; different data keys refused with exit 2', async () => {
    const encrypt = { password: PW, kdf: KDF };
    const parent = await packData(base, { encrypt });
    const child = await packData(overwrite(base, [1]), { encrypt, parent: parent.output });
    const pwFile = tmp.path('pw.txt');
    writeFileSync(pwFile, `${PW}\n`);
    const r = runCli(['diff', '--json', '--password-file', pwFile, parent.output, child.output]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout.toString('utf8')) as DiffReport).streams[0].ranges, [{ start: K, end: 2 * K }]);
    const env = runCli(['diff', parent.output, child.output], { env: { HEXZ_PASSWORD: PW } });
    assert.equal(env.status, 0, env.stderr);
    const other = await packData(base, { encrypt });
    const refused = runCli(['diff', '--password-file', pwFile, parent.output, other.output]);
    assert.equal(refused.status, 2);
    assertOneErrorLine(refused.stderr, 'diff with different data keys');
    assert.match(refused.stderr, /different data keys/);
  });

  test('a moved parent: exit 8 without --parent-dir, found with --parent-dir or HEXZ_PATH', async () => {
    const parent = await packData(base);
    const child = await packData(overwrite(base, [2]), { parent: parent.output });
    const elsewhere = tmp.path('cli-elsewhere');
    mkdirSync(elsewhere);
    const moved = `${elsewhere}/moved-parent.hxz`;
    renameSync(parent.output, moved);
    const missing = runCli(['diff', moved, child.output]);
    assert.equal(missing.status, 8);
    assertOneErrorLine(missing.stderr, 'diff with a missing parent');
    for (const run of [
      runCli(['diff', '--json', '--parent-dir', tmp.path('nothing-here'), '--parent-dir', elsewhere, moved, child.output]),
      runCli(['diff', '--json', moved, child.output], { env: { HEXZ_PATH: `${tmp.path('nothing')}:${elsewhere}` } }),
    ]) {
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual((JSON.parse(run.stdout.toString('utf8')) as DiffReport).streams[0].ranges, [{ start: 2 * K, end: 3 * K }]);
    }
  });

  test('--help says the exit status does not depend on differences', () => {
    const r = runCli(['diff', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout.toString('utf8'), /0 whether or not the archives differ/);
  });
});

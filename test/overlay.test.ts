/**
 * Copy-on-write overlays (docs/FORMAT.md "Overlay files"): random writes, zeroes and trims
 * against a plain Buffer model, reopened and compared; extents; a writer killed with SIGKILL;
 * torn tails, damaged records and slots; a base that is missing or replaced; the lock;
 * compaction; the serve adapter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Archive } from '../src/node/archive.ts';
import { CorruptArchiveError, MissingParentError, NotAnArchiveError, UnsupportedError, UsageError } from '../src/errors.ts';
import type { StreamName } from '../src/format/constants.ts';
import { Overlay, type OverlayOptions } from '../src/overlay/overlay.ts';
import { overlayExports } from '../src/overlay/overlay-exports.ts';
import { inspectOverlay } from '../src/overlay/inspect-overlay.ts';
import { OVERLAY_HEADER_SIZE, slotOffset } from '../src/overlay/overlay-format.ts';
import { decodeRecordHeader, RECORD_HEADER_SIZE, recordLength, RecordKind } from '../src/overlay/overlay-record.ts';
import { assertBytes, isZero, mixedData, packSmall, Rng, tempDir, writeData } from './helpers.ts';

const BS = 65536;
const PAGE = 4096;
const SIZES: Record<StreamName, number> = { disk: 16 * BS + 1000, memory: 5 * BS };
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A base archive with both streams (disk size not a multiple of the page size) and its bytes. */
async function makeBase(path: string, seed = 7): Promise<Record<StreamName, Buffer>> {
  const disk = Buffer.from(mixedData(SIZES.disk, { unit: BS, seed }));
  const memory = Buffer.from(mixedData(SIZES.memory, { unit: PAGE, seed: seed + 1 }));
  await packSmall({ disk: writeData(`${path}.disk.raw`, disk), memory: writeData(`${path}.mem.raw`, memory), output: path, blockSize: BS });
  return { disk, memory };
}

/** One operation, replayable on an overlay and on the model. Data comes from `seed`. */
type Op =
  | { type: 'write'; stream: StreamName; offset: number; length: number; seed: number; fill?: 'zero' | 'half' }
  | { type: 'zeroes' | 'trim'; stream: StreamName; offset: number; length: number };

function opData(op: Extract<Op, { type: 'write' }>): Uint8Array {
  const data = new Rng(op.seed).fill(new Uint8Array(op.length));
  if (op.fill === 'zero') data.fill(0);
  if (op.fill === 'half') data.fill(0, 0, Math.floor(op.length / 2));
  return data;
}

async function applyOverlay(ov: Overlay, op: Op): Promise<void> {
  if (op.type === 'write') await ov.write(op.stream, op.offset, opData(op));
  else if (op.type === 'zeroes') await ov.writeZeroes(op.stream, op.offset, op.length);
  else await ov.trim(op.stream, op.offset, op.length);
}

/** The model: a write copies, write-zeroes zeroes, a trim zeroes the whole pages inside the range. */
function applyModel(model: Record<StreamName, Buffer>, op: Op): void {
  const buf = model[op.stream];
  const end = op.offset + op.length;
  if (op.type === 'write') buf.set(opData(op), op.offset);
  else if (op.type === 'zeroes') buf.fill(0, op.offset, end);
  else {
    const first = Math.ceil(op.offset / PAGE) * PAGE;
    const last = end === buf.length ? end : Math.floor(end / PAGE) * PAGE;
    if (first < last) buf.fill(0, first, last);
  }
}

function randomOp(rng: Rng, seedBase: number): Op {
  const stream: StreamName = rng.int(4) === 0 ? 'memory' : 'disk';
  const size = SIZES[stream];
  const lengths = [1, 100, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, BS + 7, rng.range(1, 200_000)];
  const length = Math.min(size, lengths[rng.int(lengths.length)]);
  let offset = rng.int(size - length + 1);
  if (rng.int(2) === 0) offset = Math.min(Math.floor(offset / PAGE) * PAGE, size - length);
  if (rng.int(10) === 0) offset = size - length; // touch the end of the stream
  const k = rng.int(10);
  if (k < 6) {
    const fill = rng.int(8) === 0 ? 'zero' : rng.int(8) === 0 ? 'half' : undefined;
    return { type: 'write', stream, offset, length, seed: seedBase + rng.int(1 << 30), ...(fill ? { fill } : {}) };
  }
  return { type: k < 8 ? 'zeroes' : 'trim', stream, offset, length };
}

async function assertSame(ov: Overlay, model: Record<StreamName, Buffer>, what: string): Promise<void> {
  for (const s of ['disk', 'memory'] as const) assertBytes(await ov.read(s, 0, SIZES[s]), model[s], `${what}: ${s}`);
}

/** Extents must tile the range, alternate in kind, respect the cap, and never call data zero. */
async function checkExtents(ov: Overlay, model: Record<StreamName, Buffer>, stream: StreamName, offset: number, length: number, maxExtents?: number): Promise<void> {
  const ext = await ov.extents(stream, offset, length, maxExtents === undefined ? {} : { maxExtents });
  let pos = offset;
  ext.forEach((e, i) => {
    assert.equal(e.offset, pos, 'extents are contiguous');
    assert.ok(e.length > 0);
    if (i > 0) assert.notEqual(e.zero, ext[i - 1].zero, 'adjacent extents differ in kind');
    if (e.zero) assert.ok(isZero(model[stream].subarray(e.offset, e.offset + e.length)), `extent ${e.offset}+${e.length} reported zero holds data`);
    pos += e.length;
  });
  if (maxExtents === undefined || ext.length < maxExtents) assert.equal(pos, offset + length, 'extents cover the range');
  if (maxExtents !== undefined) assert.ok(ext.length <= maxExtents);
}

test('random writes, zeroes and trims equal a Buffer model; survive reopen by recorded path and compaction', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    const model = await makeBase(basePath);
    const file = t.path('vm.overlay');
    const base = await Archive.open(basePath);
    let ov = await Overlay.create(file, base, { compactMinGarbage: 1 << 20 });
    const rng = new Rng(2024);
    try {
      for (let i = 0; i < 600; i++) {
        const op = randomOp(rng, i << 8);
        await applyOverlay(ov, op);
        applyModel(model, op);
        if (i % 37 === 0) {
          const s: StreamName = rng.int(2) ? 'disk' : 'memory';
          const len = rng.range(0, SIZES[s]);
          const off = rng.int(SIZES[s] - len + 1);
          assertBytes(await ov.read(s, off, len), model[s].subarray(off, off + len), `op ${i}: read ${s} ${off}+${len}`);
          await checkExtents(ov, model, s, off, len);
          await checkExtents(ov, model, s, 0, SIZES[s], rng.range(1, 5));
        }
        if (i % 101 === 100) await ov.flush();
        if (i % 151 === 150) {
          await ov.close();
          // Alternately with the base given and found through the recorded path.
          ov = i % 2 ? await Overlay.open(file, { base, compactMinGarbage: 1 << 20 }) : await Overlay.open(file, { compactMinGarbage: 1 << 20 });
          await assertSame(ov, model, `reopened after op ${i}`);
        }
      }
      await assertSame(ov, model, 'after all ops');
      for (const s of ['disk', 'memory'] as const) await checkExtents(ov, model, s, 0, SIZES[s]);
      const before = statSync(file).size;
      const garbage = ov.stats.garbageBytes;
      assert.ok(garbage > 0);
      await ov.compact();
      assert.ok(statSync(file).size < before, 'compaction shrinks the file');
      assert.ok(ov.stats.garbageBytes < garbage);
      assert.equal(ov.stats.liveBytes + ov.stats.garbageBytes, ov.stats.logBytes);
      await assertSame(ov, model, 'after compaction');
      // Writes after compaction go to the new file.
      const op: Op = { type: 'write', stream: 'disk', offset: 12345, length: 9000, seed: 99 };
      await applyOverlay(ov, op);
      applyModel(model, op);
      await ov.close();
      ov = await Overlay.open(file, { readOnly: true });
      await assertSame(ov, model, 'reopened read-only after compaction');
      for (const s of ['disk', 'memory'] as const) await checkExtents(ov, model, s, 0, SIZES[s]);
    } finally {
      await ov.close();
      await base.close();
    }
    assert.ok(!existsSync(`${file}.lock`), 'the lock is released on close');
  } finally {
    t.cleanup();
  }
});

test('extents merge overlay pages with the base holes exactly', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    await makeBase(basePath);
    const base = await Archive.open(basePath);
    const ov = await Overlay.create(t.path('o'), base);
    try {
      const baseExt = await base.stream('disk').extents(0, SIZES.disk);
      // mixedData with a 64 KiB unit: blocks 2, 7, 12 are all zero (holes).
      assert.deepEqual(baseExt.filter((e) => e.zero).map((e) => [e.offset, e.length]), [[2 * BS, BS], [7 * BS, BS], [12 * BS, BS]]);
      await ov.write('disk', 2 * BS + PAGE, new Uint8Array(PAGE).fill(1)); // data inside a hole
      await ov.writeZeroes('disk', 0, BS); // a data block zeroed
      await ov.trim('disk', 16 * BS, 1000); // the partial last page, at the end: whole
      assert.deepEqual(await ov.extents('disk', 0, SIZES.disk), [
        { offset: 0, length: BS, zero: true },
        { offset: BS, length: BS, zero: false },
        { offset: 2 * BS, length: PAGE, zero: true },
        { offset: 2 * BS + PAGE, length: PAGE, zero: false },
        { offset: 2 * BS + 2 * PAGE, length: BS - 2 * PAGE, zero: true },
        { offset: 3 * BS, length: 4 * BS, zero: false },
        { offset: 7 * BS, length: BS, zero: true },
        { offset: 8 * BS, length: 4 * BS, zero: false },
        { offset: 12 * BS, length: BS, zero: true },
        { offset: 13 * BS, length: 3 * BS, zero: false },
        { offset: 16 * BS, length: 1000, zero: true },
      ]);
      assert.deepEqual(await ov.extents('disk', 100, 2 * BS, { maxExtents: 2 }), [{ offset: 100, length: BS - 100, zero: true }, { offset: BS, length: BS, zero: false }]);
      assert.deepEqual(ov.writtenExtents('disk'), [
        { offset: 0, length: BS, zero: true }, { offset: 2 * BS + PAGE, length: PAGE, zero: false }, { offset: 16 * BS, length: 1000, zero: true },
      ]);
      await assert.rejects(ov.extents('disk', 0, SIZES.disk + 1), UsageError);
      await assert.rejects(ov.read('disk', SIZES.disk - 1, 2), UsageError);
      await assert.rejects(ov.write('disk', SIZES.disk, new Uint8Array(1)), UsageError);
    } finally {
      await ov.close();
      await base.close();
    }
  } finally {
    t.cleanup();
  }
});

/** The child: replays phase 1, flushes, says so, then writes phase 2 without flushing until killed. */
const CHILD = `
import { readFileSync } from 'node:fs';
import { Archive } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/node/archive.ts')).href)};
import { Overlay } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/overlay/overlay.ts')).href)};
import { Rng } from ${JSON.stringify(pathToFileURL(join(ROOT, 'test/helpers.ts')).href)};
const [file, basePath, opsPath] = process.argv.slice(2);
const { phase1, phase2 } = JSON.parse(readFileSync(opsPath, 'utf8'));
const data = (op) => {
  const d = new Rng(op.seed).fill(new Uint8Array(op.length));
  if (op.fill === 'zero') d.fill(0);
  if (op.fill === 'half') d.fill(0, 0, Math.floor(op.length / 2));
  if (op.nonzero) for (let i = 0; i < d.length; i++) d[i] |= 1;
  return d;
};
const apply = (ov, op) => op.type === 'write' ? ov.write(op.stream, op.offset, data(op)) : op.type === 'zeroes' ? ov.writeZeroes(op.stream, op.offset, op.length) : ov.trim(op.stream, op.offset, op.length);
const base = await Archive.open(basePath);
const ov = await Overlay.openOrCreate(file, base);
for (const op of phase1) await apply(ov, op);
await ov.flush();
process.stdout.write('flushed\\n');
for (const [i, op] of phase2.entries()) {
  await apply(ov, op);
  if (i === 20) process.stdout.write('writing\\n');
}
process.stdout.write('done\\n');
setInterval(() => {}, 1000);
`;

test('a writer killed with SIGKILL: the flushed state and a prefix of later writes survive, the stale lock is broken', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    const model = await makeBase(basePath);
    const file = t.path('vm.overlay');
    const rng = new Rng(31337);
    const phase1: Op[] = Array.from({ length: 150 }, (_, i) => randomOp(rng, i << 8));
    // Phase 2: writes of nonzero bytes, each exactly one DATA record (so records count writes).
    const phase2 = Array.from({ length: 3000 }, (_, i) => {
      const length = rng.range(1, 3 * PAGE);
      return { type: 'write' as const, stream: 'disk' as const, offset: rng.int(SIZES.disk - length + 1), length, seed: 1_000_000 + i, nonzero: true };
    });
    writeFileSync(t.path('ops.json'), JSON.stringify({ phase1, phase2 }));
    writeFileSync(t.path('child.mjs'), CHILD);
    const child = spawn(process.execPath, ['--import', 'tsx', t.path('child.mjs'), file, basePath, t.path('ops.json')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('writing\n') || out.includes('done\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`child exited early: ${out} ${err}`)));
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok(out.includes('flushed\n'));
    assert.ok(existsSync(`${file}.lock`), 'the killed writer left its lock behind');

    for (const op of phase1) applyModel(model, op);
    const base = await Archive.open(basePath);
    // Opening for writing breaks the dead writer's lock.
    const ov = await Overlay.open(file, { base });
    try {
      const survived = ov.stats.sequence - ov.stats.flushedSequence;
      assert.ok(survived >= 21 && survived <= phase2.length, `records after the flush: ${survived}`);
      for (const op of phase2.slice(0, survived)) {
        const d = opData(op);
        for (let i = 0; i < d.length; i++) d[i] |= 1;
        model.disk.set(d, op.offset);
      }
      await assertSame(ov, model, `after the kill (${survived} unflushed writes kept)`);
      // Internally consistent: it takes writes and reopens equal.
      await ov.write('disk', 0, new Uint8Array(10).fill(5));
      model.disk.fill(5, 0, 10);
      await ov.close();
      const again = await Overlay.open(file, { base, readOnly: true });
      try {
        await assertSame(again, model, 'reopened');
      } finally {
        await again.close();
      }
    } finally {
      await ov.close();
      await base.close();
    }
  } finally {
    t.cleanup();
  }
});

/** An overlay with flushed writes and an unflushed tail, copied as a crash would leave it. */
async function crashedCopy(t: ReturnType<typeof tempDir>): Promise<{ base: Archive; basePath: string; copy: string; flushedModel: Record<StreamName, Buffer>; fullModel: Record<StreamName, Buffer>; flushedEnd: number; tailRecords: number[] }> {
  const basePath = t.path('base.hxz');
  const model = await makeBase(basePath);
  const base = await Archive.open(basePath);
  const ov = await Overlay.create(t.path('live.overlay'), base);
  const rng = new Rng(5);
  for (let i = 0; i < 40; i++) {
    const op = randomOp(rng, i << 8);
    await applyOverlay(ov, op);
    applyModel(model, op);
  }
  await ov.flush();
  const flushedModel = { disk: Buffer.from(model.disk), memory: Buffer.from(model.memory) };
  const flushedEnd = ov.stats.flushedEnd;
  const tailRecords: number[] = [];
  for (let i = 0; i < 5; i++) {
    const op: Op = { type: 'write', stream: 'disk', offset: i * 3 * PAGE, length: 2 * PAGE, seed: 900 + i };
    await applyOverlay(ov, op);
    applyModel(model, op);
    tailRecords.push(flushedEnd + i * (RECORD_HEADER_SIZE + 2 * PAGE));
  }
  const copy = t.path('crashed.overlay');
  copyFileSync(t.path('live.overlay'), copy); // the file as a crash leaves it: the tail is not flushed
  await ov.close();
  return { base, basePath, copy, flushedModel, fullModel: model, flushedEnd, tailRecords };
}

test('a torn tail is ignored read-only and cut off by a writer; the flushed part stays', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const c = await crashedCopy(t);
    try {
      // Intact unflushed records are kept.
      let ov = await Overlay.open(c.copy, { base: c.base, readOnly: true });
      await assertSame(ov, c.fullModel, 'unflushed but complete records');
      await ov.close();
      // Cut inside the fourth tail record: the first three stay.
      const cut = c.tailRecords[3] + RECORD_HEADER_SIZE + 100;
      truncateSync(c.copy, cut);
      const expected = { disk: Buffer.from(c.flushedModel.disk), memory: c.flushedModel.memory };
      for (let i = 0; i < 3; i++) expected.disk.set(opData({ type: 'write', stream: 'disk', offset: 0, length: 2 * PAGE, seed: 900 + i }), i * 3 * PAGE);
      ov = await Overlay.open(c.copy, { base: c.base, readOnly: true });
      await assertSame(ov, expected, 'read-only over a torn tail');
      await ov.close();
      assert.equal(statSync(c.copy).size, cut, 'a read-only open leaves the file alone');
      const report = await inspectOverlay(c.copy);
      assert.equal(report.log.tornBytes, cut - c.tailRecords[3]);
      assert.match(report.log.tornReason!, /cut short/);
      ov = await Overlay.open(c.copy, { base: c.base });
      assert.equal(statSync(c.copy).size, c.tailRecords[3], 'a writer cuts the torn tail off');
      await assertSame(ov, expected, 'writable over a torn tail');
      await ov.close();
      // A garbage tail (not a record at all) is a torn tail too.
      const withGarbage = readFileSync(c.copy);
      writeFileSync(c.copy, Buffer.concat([withGarbage, Buffer.alloc(5000, 0xab)]));
      ov = await Overlay.open(c.copy, { base: c.base });
      await assertSame(ov, expected, 'garbage tail');
      await ov.close();
    } finally {
      await c.base.close();
    }
  } finally {
    t.cleanup();
  }
});

test('a damaged flushed record is refused; a damaged state slot falls back to the other', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const c = await crashedCopy(t);
    try {
      const pristine = readFileSync(c.copy);
      // A byte inside the payload of the first DATA record (all flushed).
      let at = OVERLAY_HEADER_SIZE;
      for (;;) {
        const h = decodeRecordHeader(pristine.subarray(at));
        assert.ok(!('invalid' in h));
        if (h.kind === RecordKind.DATA) break;
        at += recordLength(h);
      }
      assert.ok(at < c.flushedEnd);
      const bad = Buffer.from(pristine);
      bad[at + RECORD_HEADER_SIZE + 10] ^= 0x10;
      writeFileSync(c.copy, bad);
      for (const readOnly of [true, false]) {
        await assert.rejects(Overlay.open(c.copy, { base: c.base, readOnly }), (e: Error) => {
          assert.ok(e instanceof CorruptArchiveError, String(e));
          assert.match(e.message, new RegExp(`^${c.copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: overlay record at byte ${at} fails its checksum \\(flushed data damaged`));
          return true;
        });
      }
      assert.ok(!existsSync(`${c.copy}.lock`), 'a refused open releases the lock');
      // A file cut before its flushed end.
      writeFileSync(c.copy, pristine.subarray(0, c.flushedEnd - 1));
      await assert.rejects(Overlay.open(c.copy, { base: c.base }), (e: Error) => e instanceof CorruptArchiveError && /flushed data damaged/.test(e.message));

      // Two more flushes: slots n − 1 (flushed end e2) and n (e3), one in A, one in B.
      writeFileSync(c.copy, pristine);
      let ov = await Overlay.open(c.copy, { base: c.base });
      const e1 = ov.stats.flushedEnd; // the open itself does not flush
      await ov.flush(); // the whole copied tail
      const e2 = ov.stats.flushedEnd;
      await ov.write('memory', 0, new Uint8Array(PAGE).fill(3));
      await ov.flush();
      const e3 = ov.stats.flushedEnd;
      assert.ok(e1 < e2 && e2 < e3);
      await ov.close();
      c.fullModel.memory.fill(3, 0, PAGE);
      const twoFlushes = readFileSync(c.copy);
      const n = (await inspectOverlay(c.copy)).log.slotSequence;
      const torn = Buffer.from(twoFlushes);
      torn[slotOffset(n) + 3] ^= 1; // the newest slot is torn
      writeFileSync(c.copy, torn);
      let report = await inspectOverlay(c.copy);
      assert.equal(report.log.slotSequence, n - 1, 'the older slot is used');
      assert.equal(report.log.flushedEnd, e2);
      assert.equal(report.log.unflushedBytes, e3 - e2, 'records after it are kept as unflushed');
      ov = await Overlay.open(c.copy, { base: c.base });
      await assertSame(ov, c.fullModel, 'with the older slot');
      await ov.flush(); // writes slot n again, repairing it
      await ov.close();
      report = await inspectOverlay(c.copy);
      assert.equal(report.log.slotSequence, n);
      assert.equal(report.log.flushedEnd, e3);
      // Both slots damaged.
      const both = Buffer.from(twoFlushes);
      both[slotOffset(n - 1)] ^= 1;
      both[slotOffset(n)] ^= 1;
      writeFileSync(c.copy, both);
      await assert.rejects(Overlay.open(c.copy, { base: c.base, readOnly: true }), (e: Error) => e instanceof CorruptArchiveError && /both overlay state slots/.test(e.message));
    } finally {
      await c.base.close();
    }
  } finally {
    t.cleanup();
  }
});

test('the base: found by its recorded relative path or in parentDirs; missing, replaced or another archive is refused', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    mkdirSync(t.path('images'));
    mkdirSync(t.path('overlays'));
    const basePath = t.path('images/base.hxz');
    const model = await makeBase(basePath);
    const file = t.path('overlays/vm.overlay');
    const base = await Archive.open(basePath);
    let ov = await Overlay.create(file, base);
    await ov.write('disk', 5, new Uint8Array([1, 2, 3]));
    model.disk.set([1, 2, 3], 5);
    await ov.close();
    await base.close();
    assert.equal((await inspectOverlay(file)).base.recordedPath, '../images/base.hxz');

    ov = await Overlay.open(file, { readOnly: true });
    await assertSame(ov, model, 'base found by the recorded path');
    await ov.close();

    // Missing, then found in a search directory.
    mkdirSync(t.path('elsewhere'));
    renameSync(basePath, t.path('elsewhere/base.hxz'));
    await assert.rejects(Overlay.open(file), (e: Error) => e instanceof MissingParentError && /base archive [0-9a-f]{32} \(recorded path \.\.\/images\/base\.hxz\) is missing/.test(e.message));
    assert.ok(!existsSync(`${file}.lock`));
    ov = await Overlay.open(file, { parentDirs: [t.path('elsewhere')] });
    await assertSame(ov, model, 'base found in parentDirs');
    await ov.close();
    let report = await inspectOverlay(file);
    assert.equal(report.base.found, false);
    assert.match(report.base.problem!, /missing/);

    // Replaced: another archive at the recorded path.
    await makeBase(basePath, 99);
    await assert.rejects(Overlay.open(file), (e: Error) => e instanceof MissingParentError && /replaced or modified/.test(e.message));
    report = await inspectOverlay(file);
    assert.equal(report.base.found, false);
    assert.match(report.base.problem!, /another archive/);
    // Another archive given explicitly.
    const other = await Archive.open(basePath);
    try {
      await assert.rejects(Overlay.open(file, { base: other }), (e: Error) => e instanceof MissingParentError && /overlay was made on archive [0-9a-f]{32}; .* is a different archive/.test(e.message));
      await assert.rejects(Overlay.openOrCreate(file, other), MissingParentError);
    } finally {
      await other.close();
    }
  } finally {
    t.cleanup();
  }
});

test('one writer at a time: a second opener gets a lock error, readers are not blocked', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    await makeBase(basePath);
    const base = await Archive.open(basePath);
    const file = t.path('vm.overlay');
    const ov = await Overlay.create(file, base);
    try {
      await assert.rejects(Overlay.open(file, { base }), (e: Error) => e instanceof UsageError && new RegExp(`open for writing by process ${process.pid}`).test(e.message));
      await assert.rejects(Overlay.openOrCreate(file, base), UsageError);
      await assert.rejects(Overlay.create(file, base), UsageError);
      const reader = await Overlay.open(file, { base, readOnly: true });
      await assert.rejects(reader.write('disk', 0, new Uint8Array(1)), UsageError);
      await assert.rejects(reader.flush(), UsageError);
      await reader.close();
      // A lock left by a process that no longer runs is broken.
      await ov.close();
      writeFileSync(`${file}.lock`, JSON.stringify({ pid: 999_999_999, host: (await import('node:os')).hostname(), token: 'dead' }));
      const next = await Overlay.open(file, { base });
      await next.close();
      // A lock from another host is never broken.
      writeFileSync(`${file}.lock`, JSON.stringify({ pid: 1, host: 'elsewhere.example', token: 'x' }));
      await assert.rejects(Overlay.open(file, { base }), (e: Error) => e instanceof UsageError && /on host elsewhere\.example/.test(e.message));
    } finally {
      await ov.close();
      await base.close();
    }
    await assert.rejects(Overlay.create(file, base), UsageError, 'create refuses an existing overlay');
  } finally {
    t.cleanup();
  }
});

test('compaction from flush keeps content and shrinks the file; concurrent reads and writes stay correct', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    const model = await makeBase(basePath);
    const base = await Archive.open(basePath);
    const file = t.path('vm.overlay');
    const options: OverlayOptions = { compactMinGarbage: 256 << 10, compactGarbageRatio: 0.5 };
    let ov = await Overlay.create(file, base, options);
    try {
      const rng = new Rng(8);
      let compactions = 0;
      let lastSize = 0;
      for (let round = 0; round < 12; round++) {
        // Rewrite the same 128 KiB many times: garbage grows.
        const ops: Op[] = Array.from({ length: 20 }, (_, i) => ({ type: 'write', stream: 'disk', offset: rng.int(32) * PAGE + rng.int(2) * 7, length: rng.range(PAGE, 4 * PAGE), seed: round * 100 + i }));
        // Issued together: writes serialize in call order, reads run alongside.
        const reads: Promise<Uint8Array>[] = [];
        await Promise.all(ops.map((op) => {
          reads.push(ov.read('disk', 0, 64 * PAGE));
          return applyOverlay(ov, op);
        }));
        await Promise.all(reads);
        for (const op of ops) applyModel(model, op);
        const size = statSync(file).size;
        await ov.flush();
        if (statSync(file).size < size) compactions++;
        lastSize = statSync(file).size;
        assert.ok(ov.stats.garbageBytes <= Math.max(256 << 10, ov.stats.logBytes * 0.5), 'flush compacts past the thresholds');
        await assertSame(ov, model, `round ${round}`);
      }
      assert.ok(compactions >= 1, 'flush compacted at least once');
      assert.ok(lastSize < 2 << 20);
      assert.deepEqual((await import('node:fs')).readdirSync(t.dir).filter((n) => n.includes('hexz-tmp')), [], 'no temporary file left');
      await ov.close();
      ov = await Overlay.open(file, { base, readOnly: true });
      await assertSame(ov, model, 'reopened after compactions');
    } finally {
      await ov.close();
      await base.close();
    }
  } finally {
    t.cleanup();
  }
});

test('overlayExports: writable exports over the merged content; the ETag changes with every write', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    const model = await makeBase(basePath);
    const base = await Archive.open(basePath);
    const ov = await Overlay.create(t.path('vm.overlay'), base);
    try {
      const exps = overlayExports(ov);
      assert.deepEqual(exps.map((e) => [e.name, e.size, e.blockSize]), [['disk', SIZES.disk, BS], ['memory', SIZES.memory, BS]]);
      assert.deepEqual(overlayExports(ov, 'vm').map((e) => e.name), ['vm/disk', 'vm/memory']);
      const disk = exps[0];
      const etag = disk.etag;
      assert.match(etag, /^"ovl-[0-9a-f]{16}-[0-9a-f]{8}-0-disk"$/);
      await disk.writer!.write(100, new Uint8Array(5000).fill(9));
      model.disk.fill(9, 100, 5100);
      assert.notEqual(disk.etag, etag);
      await disk.writer!.writeZeroes(BS, 2 * BS);
      model.disk.fill(0, BS, 3 * BS);
      await disk.writer!.trim(0, 10); // partial page: kept
      await disk.writer!.flush();
      assertBytes(await disk.read(0, SIZES.disk), model.disk, 'export read');
      assert.deepEqual((await disk.extents(0, 3 * BS, 2)).map((e) => e.zero), [false, true]);
      assert.ok(disk.modified.getTime() >= base.header.createdMs);
      const ro = await Overlay.open(t.path('vm.overlay'), { base, readOnly: true });
      assert.equal(overlayExports(ro)[0].writer, undefined);
      await ro.close();
    } finally {
      await ov.close();
      await base.close();
    }
  } finally {
    t.cleanup();
  }
});

test('a write copies its data at once: the caller may reuse the buffer while the write waits its turn', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    const basePath = t.path('base.hxz');
    const model = await makeBase(basePath);
    const base = await Archive.open(basePath);
    const ov = await Overlay.create(t.path('o'), base);
    try {
      const buf = new Uint8Array(3 * PAGE);
      const pending: Promise<void>[] = [];
      for (let k = 0; k < 5; k++) {
        buf.fill(k + 1);
        pending.push(ov.write('disk', 1000 + k * 5000, buf.subarray(0, 6000 + k)));
        model.disk.fill(k + 1, 1000 + k * 5000, 1000 + k * 5000 + 6000 + k);
      }
      buf.fill(0xee);
      await Promise.all(pending);
      await assertSame(ov, model, 'reused buffer');
    } finally {
      await ov.close();
      await base.close();
    }
  } finally {
    t.cleanup();
  }
});

test('files that are not overlays, and encrypted bases, are refused clearly', async () => {
  const t = tempDir('hexz-ovl-');
  try {
    writeFileSync(t.path('random'), Buffer.alloc(10000, 7));
    await assert.rejects(Overlay.open(t.path('random'), { readOnly: true }), (e: Error) => e instanceof NotAnArchiveError && /not an overlay file \(wrong magic\)/.test(e.message));
    writeFileSync(t.path('short'), Buffer.from('HXZOVL\0\x01'));
    await assert.rejects(inspectOverlay(t.path('short')), (e: Error) => e instanceof NotAnArchiveError && /shorter than/.test(e.message));
    await assert.rejects(inspectOverlay(t.path('absent')), (e: Error) => e.constructor.name === 'StoreError');
    // Encrypted bases: pages would be stored in the clear, so no overlay (locked: no password either).
    await packSmall({ disk: writeData(t.path('d.raw'), mixedData(2 * BS)), output: t.path('enc.hxz'), blockSize: BS, encrypt: { password: 'pw', kdf: { memoryKiB: 256, iterations: 1, lanes: 1 } } });
    for (const password of ['pw', undefined]) {
      const enc = await Archive.open(t.path('enc.hxz'), password ? { password } : {});
      try {
        await assert.rejects(Overlay.create(t.path('enc.overlay'), enc), password ? UnsupportedError : UsageError);
        assert.ok(!existsSync(t.path('enc.overlay')) && !existsSync(t.path('enc.overlay.lock')));
      } finally {
        await enc.close();
      }
    }
  } finally {
    t.cleanup();
  }
});

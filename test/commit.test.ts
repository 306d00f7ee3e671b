/**
 * `hexz commit` (ops/commit-overlay.ts): an overlay committed as a thin child of its base. Fixed
 * and CDC bases, partial-page and partial-block writes, zeroes and trims, each child compared
 * byte for byte with a Buffer model; clean blocks kept as the base's entries; `verify` and `diff`
 * on the child; a 5-generation chain; cancellation; the CLI and its errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Archive } from '../src/node/archive.ts';
import { AbortedError, CorruptArchiveError, UsageError } from '../src/errors.ts';
import { EntryKind, type StreamName } from '../src/format/constants.ts';
import type { IndexEntry } from '../src/format/entry.ts';
import { Overlay } from '../src/overlay/overlay.ts';
import { commitOverlay } from '../src/ops/commit-overlay.ts';
import { mergeDirty, planCommit, recutBytes, touchedBytes } from '../src/ops/commit-plan.ts';
import { diffArchives } from '../src/ops/diff.ts';
import { verify } from '../src/ops/verify.ts';
import { pack } from '../src/pack/pack.ts';
import { Crafter } from './craft.ts';
import { assertBytes, assertOneErrorLine, listDir, mixedData, packSmall, randomData, Rng, runCli, tempDir, writeData } from './helpers.ts';

const BS = 65536;
const PAGE = 4096;
const CDC = { min: 4096, avg: 16384, max: 65536 };

type Streams = Partial<Record<StreamName, Buffer>>;
type Op =
  | { type: 'write'; stream: StreamName; offset: number; data: Uint8Array }
  | { type: 'zeroes' | 'trim'; stream: StreamName; offset: number; length: number };

async function apply(ov: Overlay, model: Streams, op: Op): Promise<void> {
  const buf = model[op.stream]!;
  if (op.type === 'write') {
    await ov.write(op.stream, op.offset, op.data);
    buf.set(op.data, op.offset);
    return;
  }
  const end = op.offset + op.length;
  if (op.type === 'zeroes') {
    await ov.writeZeroes(op.stream, op.offset, op.length);
    buf.fill(0, op.offset, end);
  } else {
    await ov.trim(op.stream, op.offset, op.length);
    // A trim zeroes the whole pages inside the range (the stream's partial last page counts).
    const first = Math.ceil(op.offset / PAGE) * PAGE;
    const last = end === buf.length ? end : Math.floor(end / PAGE) * PAGE;
    if (first < last) buf.fill(0, first, last);
  }
}

/** A random write, zero or trim (`dataOnly`: non-zero random writes only). */
function randomOp(rng: Rng, model: Streams, dataOnly = false): Op {
  const names = Object.keys(model) as StreamName[];
  const stream = names[rng.int(names.length)];
  const size = model[stream]!.length;
  const lengths = [1, 100, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE, BS + 7, rng.range(1, 150_000)];
  const length = Math.min(size, lengths[rng.int(lengths.length)]);
  let offset = rng.int(size - length + 1);
  if (rng.int(2) === 0) offset = Math.min(Math.floor(offset / PAGE) * PAGE, size - length);
  if (rng.int(12) === 0) offset = size - length;
  const k = dataOnly ? 0 : rng.int(10);
  if (k < 7) {
    const data = rng.fill(new Uint8Array(length));
    if (!dataOnly && k === 6) data.fill(0);
    if (dataOnly) data[0] |= 1;
    return { type: 'write', stream, offset, data };
  }
  return { type: k < 9 ? 'zeroes' : 'trim', stream, offset, length };
}

async function entriesOf(a: Archive, stream: StreamName): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const e of a.entries(stream)) out.push(e);
  return out;
}

async function assertContent(path: string, model: Streams, what: string): Promise<void> {
  const a = await Archive.open(path);
  try {
    for (const [s, bytes] of Object.entries(model) as [StreamName, Buffer][]) assertBytes(await a.readAt(s, 0, a.size(s)), bytes, `${what}: ${s}`);
  } finally {
    await a.close();
  }
}

/** Writes ops through a new overlay on `basePath`, then commits it to `out`. */
async function commitOps(dir: (n: string) => string, basePath: string, out: string, model: Streams, ops: Op[], ovName = 'vm.overlay') {
  const base = await Archive.open(basePath);
  const ov = await Overlay.create(dir(ovName), base);
  for (const op of ops) await apply(ov, model, op);
  await ov.close();
  await base.close();
  return commitOverlay(dir(ovName), { output: out, workers: 2 });
}

/**
 * What `diff BASE CHILD` must show of a commit: every changed byte; nothing outside the blocks
 * the writes touched; and in a block written less than half (its clean parts are SLICE
 * entries), only the written pages.
 */
function assertDiffRanges(ranges: readonly { start: number; end: number }[], before: Buffer, after: Buffer, written: readonly { offset: number; length: number }[], what: string): void {
  const inRanges = (at: number) => ranges.some((r) => r.start <= at && at < r.end);
  for (let at = 0; at < before.length; at++) if (before[at] !== after[at]) assert.ok(inRanges(at), `${what}: changed byte ${at} is in a diff range`);
  const writtenIn = (from: number, to: number) => written.reduce((n, w) => n + Math.max(0, Math.min(to, w.offset + w.length) - Math.max(from, w.offset)), 0);
  for (const r of ranges) {
    for (let b = Math.floor(r.start / BS) * BS; b < r.end; b += BS) {
      const end = Math.min(before.length, b + BS);
      const share = writtenIn(b, end);
      assert.ok(share > 0, `${what}: diff range [${r.start}, ${r.end}) lies in block ${b / BS}, which no write touched`);
      if (share < (end - b) / 2) {
        const from = Math.max(b, r.start);
        const to = Math.min(end, r.end);
        assert.equal(writtenIn(from, to), to - from, `${what}: in block ${b / BS}, written ${share} of ${end - b} bytes, diff shows only written pages ([${from}, ${to}))`);
      }
    }
  }
}

/** The byte ranges where `after` differs from `before`, widened to whole blocks of `bs`, merged. */
function changedBlocks(before: Buffer, after: Buffer, bs: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let at = 0; at < before.length; at += bs) {
    const end = Math.min(before.length, at + bs);
    if (before.subarray(at, end).equals(after.subarray(at, end))) continue;
    const last = out[out.length - 1];
    if (last && last.end === at) last.end = end;
    else out.push({ start: at, end });
  }
  return out;
}

test('fixed blocks: partial writes, zeroes and trims; clean blocks stay the base\'s entries; verify and diff agree', async () => {
  const t = tempDir('hexz-commit-');
  try {
    const disk = Buffer.from(mixedData(40 * BS + 1000, { unit: BS, seed: 3 }));
    const memory = Buffer.from(mixedData(6 * BS, { unit: PAGE, seed: 4 }));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), memory: writeData(t.path('m.raw'), memory), output: basePath, blockSize: BS });
    const model: Streams = { disk: Buffer.from(disk), memory: Buffer.from(memory) };
    const rng = new Rng(11);
    const ops: Op[] = [
      { type: 'write', stream: 'disk', offset: 5 * BS + 100, data: randomData(10, 1) }, // inside one page of one block
      { type: 'write', stream: 'disk', offset: 8 * BS - 50, data: randomData(100, 2) }, // across two blocks
      { type: 'zeroes', stream: 'disk', offset: 12 * BS, length: 3 * BS }, // whole blocks zeroed
      { type: 'trim', stream: 'disk', offset: 20 * BS + 10, length: 2 * BS }, // whole pages inside
      { type: 'write', stream: 'disk', offset: 30 * BS, data: disk.subarray(30 * BS, 31 * BS) }, // same bytes again
      { type: 'write', stream: 'disk', offset: 33 * BS, data: disk.subarray(1 * BS, 2 * BS) }, // a copy of another block
      { type: 'write', stream: 'disk', offset: disk.length - 5, data: randomData(5, 3) }, // the partial last page
      { type: 'write', stream: 'memory', offset: 2 * PAGE, data: new Uint8Array(PAGE) }, // an all-zero page write
    ];
    for (let i = 0; i < 12; i++) ops.push(randomOp(rng, model));
    const out = t.path('child.hxz');
    const r = await commitOps(t.path, basePath, out, model, ops);
    await assertContent(out, model, 'child');
    assert.equal(r.parentPath, 'base.hxz');
    assert.equal(r.slots, 1);
    assert.equal(r.logicalBytes, disk.length + memory.length);
    assert.ok(r.dirtyBytes > 0 && r.rewrittenBytes >= r.dirtyBytes - 3 * BS, 'the written blocks are re-cut');
    assert.ok(r.referencedBytes + r.rewrittenBytes <= r.logicalBytes);
    assert.ok(r.rewrittenBytes < disk.length, 'not everything is re-packed');

    const base = await Archive.open(basePath);
    const child = await Archive.open(out);
    try {
      assert.equal(child.parentRecords.length, 1);
      assert.equal(child.parentRecords[0].path, 'base.hxz');
      for (const s of ['disk', 'memory'] as const) {
        const be = await entriesOf(base, s);
        const ce = await entriesOf(child, s);
        // Entries of the child that start and end where base entries do, in blocks no write touched, are the base's.
        const touched = mergeDirty((await overlayRanges(t.path('vm.overlay'), s)));
        const isTouched = (e: IndexEntry) => touched.some((d) => d.offset < e.offset + e.length && e.offset < d.offset + d.length);
        const byOffset = new Map(be.map((e) => [e.offset, e]));
        let clean = 0;
        for (const e of ce) {
          const b = byOffset.get(e.offset);
          if (!b || isTouched(b) || b.length !== e.length) continue;
          if (b.kind === EntryKind.ZERO) assert.equal(e.kind, EntryKind.ZERO, 'a clean zero run stays zero');
          else {
            assert.equal(e.kind, EntryKind.DEDUP);
            assert.equal(e.slot, 1, 'a clean block refers to the base');
            assert.deepEqual([e.storedOffset, e.storedLength, e.encoding, Buffer.from(e.hash).toString('hex')], [b.storedOffset, b.storedLength, b.encoding, Buffer.from(b.hash).toString('hex')]);
            clean++;
          }
        }
        assert.ok(clean > 0, `${s}: clean blocks are referenced`);
      }
    } finally {
      await base.close();
      await child.close();
    }
    const v = await verify(out);
    assert.ok(v.ok, JSON.stringify(v.error));
    const d = await diffArchives(basePath, out);
    for (const s of d.streams) {
      const before = s.stream === 'disk' ? disk : memory;
      const written = mergeDirty(await overlayRanges(t.path('vm.overlay'), s.stream));
      assertDiffRanges(s.ranges, before, model[s.stream]!, written, s.stream);
    }
    assert.deepEqual(listDir(t.dir).filter((n) => n.includes('.tmp') || n.endsWith('.index')), [], 'no temporary files left');
  } finally {
    t.cleanup();
  }
});

async function overlayRanges(file: string, stream: StreamName) {
  const ov = await Overlay.open(file, { readOnly: true });
  try {
    return ov.writtenExtents(stream);
  } finally {
    await ov.close();
  }
}

test('CDC: a dirty region is re-cut from the nearest cut points and meets the cuts of a full pack', async () => {
  const t = tempDir('hexz-commit-cdc-');
  try {
    const disk = Buffer.from(randomData(3 << 20, 21));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, cdc: CDC });
    const model: Streams = { disk: Buffer.from(disk) };
    const rng = new Rng(5);
    const ops: Op[] = [];
    for (let i = 0; i < 10; i++) ops.push(randomOp(rng, model, true));
    const out = t.path('child.hxz');
    const r = await commitOps(t.path, basePath, out, model, ops);
    await assertContent(out, model, 'child');
    assert.ok(r.rewrittenBytes < disk.length / 2, `only the regions around the writes are re-cut (${r.rewrittenBytes} bytes)`);
    // A thin pack of the whole modified image cuts where the commit did.
    const full = t.path('full.hxz');
    await packSmall({ disk: writeData(t.path('m.raw'), model.disk!), output: full, parent: basePath });
    const a = await Archive.open(out);
    const b = await Archive.open(full);
    try {
      const cuts = async (x: Archive) => (await entriesOf(x, 'disk')).map((e) => `${e.offset}+${e.length}:${Buffer.from(e.hash).toString('hex').slice(0, 8)}`);
      assert.deepEqual(await cuts(a), await cuts(b));
    } finally {
      await a.close();
      await b.close();
    }
    assert.ok((await verify(out)).ok);
  } finally {
    t.cleanup();
  }
});

test('CDC with zero runs, zeroes and trims: content is exact and verify passes', async () => {
  const t = tempDir('hexz-commit-cdcz-');
  try {
    const disk = Buffer.from(mixedData(2 << 20, { unit: 96 * 1024, seed: 9 }));
    disk.fill(0, 600_000, 1_400_000); // a long zero run: ZERO entries in the base
    const memory = Buffer.from(mixedData(700_000, { unit: 3000, seed: 10 }));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), memory: writeData(t.path('m.raw'), memory), output: basePath, cdc: CDC });
    const model: Streams = { disk: Buffer.from(disk), memory: Buffer.from(memory) };
    const rng = new Rng(77);
    const ops: Op[] = [
      { type: 'write', stream: 'disk', offset: 900_000, data: randomData(5000, 8) }, // inside the zero run
      { type: 'trim', stream: 'disk', offset: 100_000, length: 300_000 },
    ];
    for (let i = 0; i < 25; i++) ops.push(randomOp(rng, model));
    const out = t.path('child.hxz');
    await commitOps(t.path, basePath, out, model, ops);
    await assertContent(out, model, 'child');
    const v = await verify(out);
    assert.ok(v.ok, JSON.stringify(v.error));
  } finally {
    t.cleanup();
  }
});

test('recutBytes counts the written bytes of a block written less than half, else the block', () => {
  assert.equal(recutBytes([], BS), 0);
  assert.equal(recutBytes([{ offset: 0, length: 1 }], BS), 1);
  assert.equal(recutBytes([{ offset: BS - 1, length: 2 }], BS), 2, 'a range across a block boundary');
  assert.equal(recutBytes([{ offset: 10, length: BS / 4 }, { offset: BS / 2, length: BS / 4 }], BS), BS, 'two ranges in one block: half of it');
  assert.equal(recutBytes([{ offset: 10, length: 10 }, { offset: 100, length: 5 }, { offset: BS + 3, length: 1 }], BS), 16);
  assert.equal(recutBytes([{ offset: BS / 2, length: 3 * BS }, { offset: 4 * BS - 5, length: 1 }], BS), 4 * BS, "half a block or more: the whole block");
  assert.equal(recutBytes([{ offset: BS / 2 + 1, length: 3 * BS - 2 }], BS), (BS / 2 - 1) * 2 + 2 * BS);
});

test('touchedBytes counts each grid block a written range touches once', () => {
  assert.equal(touchedBytes([], BS), 0);
  assert.equal(touchedBytes([{ offset: 0, length: 1 }], BS), BS);
  assert.equal(touchedBytes([{ offset: BS - 1, length: 2 }], BS), 2 * BS, 'a range across a block boundary');
  assert.equal(touchedBytes([{ offset: 10, length: 10 }, { offset: 100, length: 5 }, { offset: BS + 3, length: 1 }], BS), 2 * BS, 'two ranges in one block');
  assert.equal(touchedBytes([{ offset: 0, length: 3 * BS }, { offset: 3 * BS + 5, length: 1 }], BS), 4 * BS);
  assert.equal(touchedBytes([{ offset: 5 * BS, length: BS }], BS), BS, 'an aligned block');
});

test('the plan tiles the stream: refs, zeros and windows widened to the base blocks they touch', async () => {
  const e = (offset: number, length: number, kind: number): IndexEntry => ({ offset, length, kind, encoding: 0, slot: 0, storedOffset: kind ? 4096 + offset : 0, storedLength: kind ? length : 0, hash: new Uint8Array(32) } as IndexEntry);
  const entries = [e(0, 100, 1), e(100, 100, 1), e(200, 1000, 0), e(1200, 100, 1), e(1300, 50, 1)];
  async function* gen() { yield* entries; }
  const items = [];
  for await (const it of planCommit(gen(), mergeDirty([{ offset: 150, length: 10 }, { offset: 600, length: 5 }, { offset: 1190, length: 20 }]), 1350, 64)) items.push(it);
  assert.deepEqual(items.map((i) => (i.kind === 'ref' ? `ref ${i.entry.offset}` : i.kind === 'zero' ? `zero ${i.offset}+${i.length}` : `window ${i.offset}..${i.end} (${i.dirtyEnd})`)), [
    'ref 0', 'window 100..200 (160)', 'zero 200+376', 'window 576..640 (605)', 'zero 640+512', 'window 1152..1300 (1210)', 'ref 1300',
  ]);
});

test('with groupRefs the plan yields the same tiling with clean references in groups of at most 1024', async () => {
  const e = (offset: number, length: number, kind: number): IndexEntry => ({ offset, length, kind, encoding: 0, slot: 0, storedOffset: kind ? 4096 + offset : 0, storedLength: kind ? length : 0, hash: new Uint8Array(32) } as IndexEntry);
  // 2100 blocks of 64 bytes, a zero run of 640, 2100 more; writes in block 5 and in the zero run.
  const entries = [...Array.from({ length: 2100 }, (_, i) => e(i * 64, 64, 1)), e(2100 * 64, 640, 0), ...Array.from({ length: 2100 }, (_, i) => e(2110 * 64 + i * 64, 64, 1))];
  const size = 4210 * 64;
  const dirty = mergeDirty([{ offset: 5 * 64 + 3, length: 2 }, { offset: 2105 * 64, length: 1 }]);
  async function* leaves() { for (let i = 0; i < entries.length; i += 256) yield entries.slice(i, i + 256); }
  const flat = [];
  for await (const it of planCommit(leaves(), dirty, size, 64)) flat.push(it);
  const grouped = [];
  for await (const it of planCommit(leaves(), dirty, size, 64, 'base', { groupRefs: true })) grouped.push(it);
  const describe = (i: (typeof flat)[number]) => (i.kind === 'ref' ? [`ref ${i.entry.offset}`] : i.kind === 'refs' ? i.entries.map((x) => `ref ${x.offset}`) : i.kind === 'zero' ? [`zero ${i.offset}+${i.length}`] : [`window ${i.offset}..${i.end}`]);
  assert.ok(flat.every((i) => i.kind !== 'refs'));
  assert.deepEqual(grouped.flatMap(describe), flat.flatMap(describe), 'the same items in the same order');
  assert.deepEqual(grouped.map((i) => (i.kind === 'refs' ? `refs ${i.entries.length}` : i.kind)), [
    'refs 5', 'window', 'refs 1024', 'refs 1024', 'refs 46', 'zero', 'window', 'zero', 'refs 1024', 'refs 1024', 'refs 52',
  ]);
});

test('five generations: overlay, write, commit, repeated; every generation reads exactly its model', async () => {
  for (const kind of ['fixed', 'cdc'] as const) {
    const t = tempDir('hexz-commit-gen-');
    try {
      const disk = Buffer.from(mixedData(24 * BS + 300, { unit: BS / 2, seed: 31 }));
      const gens = [t.path('gen0.hxz')];
      await packSmall({ disk: writeData(t.path('d.raw'), disk), output: gens[0], ...(kind === 'cdc' ? { cdc: CDC } : { blockSize: BS }) });
      const snapshots = [Buffer.from(disk)];
      const model: Streams = { disk: Buffer.from(disk) };
      const rng = new Rng(kind === 'cdc' ? 500 : 400);
      for (let g = 1; g <= 5; g++) {
        const ops: Op[] = [];
        for (let i = 0; i < 8; i++) ops.push(randomOp(rng, model));
        gens.push(t.path(`gen${g}.hxz`));
        const r = await commitOps(t.path, gens[g - 1], gens[g], model, ops, `gen${g}.overlay`);
        snapshots.push(Buffer.from(model.disk!));
        assert.equal(r.slots, g, `${kind} gen${g}: the base and its chain`);
        for (let k = 0; k <= g; k++) await assertContent(gens[k], { disk: snapshots[k] }, `${kind} gen${k} after gen${g}`);
        const v = await verify(gens[g]);
        assert.ok(v.ok, `${kind} gen${g}: ${JSON.stringify(v.error)}`);
      }
      // Every reference points straight at the archive that holds the bytes (§15.2): no slot
      // of gen5 names an archive whose entry is itself a reference.
      const last = await Archive.open(gens[5]);
      try {
        for (const e of await entriesOf(last, 'disk')) {
          if (e.kind === EntryKind.ZERO || e.slot === 0) continue;
          const holder = last.parents[e.slot - 1];
          const blocks = await holder.readEntries('disk', [{ ...e, slot: 0 }]);
          assert.equal(blocks[0].length, e.length);
        }
      } finally {
        await last.close();
      }
    } finally {
      t.cleanup();
    }
  }
});

test('cancelled commit leaves nothing behind; output exists without force; the base as output', async () => {
  const t = tempDir('hexz-commit-abort-');
  try {
    const disk = Buffer.from(mixedData(64 * BS, { unit: BS, seed: 2 }));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const base = await Archive.open(basePath);
    const ov = await Overlay.create(t.path('vm.overlay'), base);
    for (let i = 0; i < 64; i += 2) await ov.write('disk', i * BS + 7, randomData(3 * PAGE, i));
    await ov.close();
    await base.close();
    const ac = new AbortController();
    await assert.rejects(commitOverlay(t.path('vm.overlay'), {
      output: t.path('child.hxz'), workers: 1, signal: ac.signal, onProgress: (p) => p.rewrittenBytes > 0 && ac.abort(),
    }), AbortedError);
    assert.deepEqual(listDir(t.dir), ['base.hxz', 'd.raw', 'vm.overlay']);
    writeFileSync(t.path('child.hxz'), 'x');
    await assert.rejects(commitOverlay(t.path('vm.overlay'), { output: t.path('child.hxz') }), UsageError);
    await assert.rejects(commitOverlay(t.path('vm.overlay'), { output: basePath, force: true }), /is the overlay's base/);
    await assert.rejects(commitOverlay(t.path('vm.overlay'), { output: t.path('child.hxz'), force: true, encrypt: { password: 'pw' } }), /not encrypted/);
    const r = await commitOverlay(t.path('vm.overlay'), { output: t.path('child.hxz'), force: true, workers: 1 });
    assert.equal(r.dirtyBytes, 32 * 4 * PAGE);
    // Each block written a quarter: its clean parts are slices, only the written pages re-packed.
    assert.equal(r.rewrittenBytes, 32 * 4 * PAGE);
  } finally {
    t.cleanup();
  }
});

test('a damaged base block that a write touches fails the commit, naming the block; nothing is left', async () => {
  const t = tempDir('hexz-commit-damaged-');
  try {
    const disk = Buffer.from(randomData(40 * BS, 31));
    for (const [name, opts] of [['fixed', { blockSize: BS }], ['cdc', { cdc: CDC }]] as const) {
      const basePath = t.path(`${name}.hxz`);
      await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, ...opts });
      const base = await Archive.open(basePath);
      const victim = (await entriesOf(base, 'disk')).find((e) => e.kind !== EntryKind.ZERO && e.offset >= 20 * BS)!;
      const ov = await Overlay.create(t.path(`${name}.overlay`), base);
      // A fixed block written more than half is re-cut whole (its clean rest read); less is sliced, not read (below).
      await ov.write('disk', Math.ceil((victim.offset + 1) / PAGE) * PAGE, randomData(name === 'fixed' ? 12 * PAGE : PAGE, 32));
      await ov.close();
      await base.close();
      const bytes = readFileSync(basePath);
      bytes[victim.storedOffset + Math.floor(victim.storedLength / 2)] ^= 0x40;
      writeFileSync(basePath, bytes);
      await assert.rejects(commitOverlay(t.path(`${name}.overlay`), { output: t.path('child.hxz'), workers: 2 }), (err: unknown) => {
        assert.ok(err instanceof CorruptArchiveError, `${name}: ${String(err)}`);
        assert.equal(err.location.offset, victim.offset, name);
        return true;
      });
      assert.equal(existsSync(t.path('child.hxz')), false, name);
    }
  } finally {
    t.cleanup();
  }
});

test('a damaged flushed overlay record fails the commit (its checksum is checked on a worker meanwhile); nothing is left', async () => {
  const t = tempDir('hexz-commit-record-');
  try {
    const disk = Buffer.from(randomData(40 * BS, 41));
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: t.path('b.hxz'), blockSize: BS });
    const base = await Archive.open(t.path('b.hxz'));
    const ov = await Overlay.create(t.path('vm.overlay'), base);
    for (let p = 0; p < 64; p++) await ov.write('disk', (p * 9 + 3) * PAGE, randomData(PAGE, 100 + p));
    await ov.close();
    await base.close();
    const bytes = readFileSync(t.path('vm.overlay'));
    // The 40th record (each is a 64-byte header and one page), a byte of its page.
    const at = 4096 + 39 * (64 + PAGE);
    bytes[at + 64 + 1234] ^= 0x20;
    writeFileSync(t.path('vm.overlay'), bytes);
    const before = listDir(t.path('.'));
    await assert.rejects(commitOverlay(t.path('vm.overlay'), { output: t.path('child.hxz') }), (err: unknown) => {
      assert.ok(err instanceof CorruptArchiveError, String(err));
      assert.match(err.message, new RegExp(`overlay record at byte ${at} fails its checksum \\(flushed data damaged`));
      return true;
    });
    assert.deepEqual(listDir(t.path('.')), before, 'no child, no temporary file');
  } finally {
    t.cleanup();
  }
});

test('a damaged index leaf of an archive further up the chain fails the commit (the chain is read beside the plan); nothing is left', async () => {
  const t = tempDir('hexz-commit-chain-index-');
  try {
    // 600 blocks of 4 KiB: the grandparent's index has leaves after its data region; only the
    // dedup table's walk of the chain reads them (the plan walks the base's own index).
    const bs = 4096;
    const first = Buffer.from(randomData(600 * bs, 41));
    await packSmall({ disk: writeData(t.path('g.raw'), first), output: t.path('g.hxz'), blockSize: bs });
    const second = Buffer.from(first);
    second.set(randomData(8 * bs, 42), 100 * bs);
    await packSmall({ disk: writeData(t.path('p.raw'), second), output: t.path('p.hxz'), blockSize: bs, parent: t.path('g.hxz') });
    const base = await Archive.open(t.path('p.hxz'));
    const ov = await Overlay.create(t.path('vm.overlay'), base);
    await ov.write('disk', 300 * bs, randomData(2 * bs, 43));
    await ov.close();
    await base.close();
    const bytes = readFileSync(t.path('g.hxz'));
    const c = new Crafter(bytes);
    const root = c.root(0);
    assert.equal(root.level, 1, 'the grandparent has several leaves');
    const leaf = c.child(0, root, 1);
    bytes[leaf.offset + 100] ^= 0x10;
    writeFileSync(t.path('g.hxz'), bytes);
    await assert.rejects(commitOverlay(t.path('vm.overlay'), { output: t.path('child.hxz'), workers: 2 }), (err: unknown) => {
      assert.ok(err instanceof CorruptArchiveError, String(err));
      return true;
    });
    assert.equal(existsSync(t.path('child.hxz')), false);
    assert.deepEqual(listDir(t.dir).filter((n) => n.includes('child')), []);
  } finally {
    t.cleanup();
  }
});

test('fixed blocks: a base block the writes cover wholly is not read (a damaged one does not fail the commit)', async () => {
  const t = tempDir('hexz-commit-covered-');
  try {
    const disk = Buffer.from(randomData(24 * BS, 41));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const base = await Archive.open(basePath);
    const entries = await entriesOf(base, 'disk');
    const victim = entries.find((e) => e.offset === 10 * BS)!;
    const partly = entries.find((e) => e.offset === 12 * BS)!;
    const ov = await Overlay.create(t.path('vm.overlay'), base);
    const model = Buffer.from(disk);
    // Block 10 overwritten in two writes of half a block each; block 12 only in part (9 pages of 16: re-cut whole, not sliced).
    for (const [at, data] of [[10 * BS, randomData(BS / 2, 42)], [10 * BS + BS / 2, randomData(BS / 2, 43)], [12 * BS + PAGE, randomData(9 * PAGE, 44)]] as const) {
      await ov.write('disk', at, data);
      model.set(data, at);
    }
    await ov.close();
    await base.close();
    const bytes = readFileSync(basePath);
    bytes[victim.storedOffset + Math.floor(victim.storedLength / 2)] ^= 0x40;
    writeFileSync(basePath, bytes);
    const out = t.path('child.hxz');
    const r = await commitOverlay(t.path('vm.overlay'), { output: out, workers: 2 });
    assert.equal(r.rewrittenBytes, 2 * BS);
    await assertContent(out, { disk: model }, 'child');
    // The block written more than half is still read and checked: damaged, it fails the commit.
    bytes[partly.storedOffset + Math.floor(partly.storedLength / 2)] ^= 0x40;
    writeFileSync(basePath, bytes);
    await assert.rejects(commitOverlay(t.path('vm.overlay'), { output: t.path('child2.hxz'), workers: 2 }), (err: unknown) => err instanceof CorruptArchiveError && err.location.offset === partly.offset);
  } finally {
    t.cleanup();
  }
});

test('CLI: hexz commit --json, verify and diff on the child, and one-line errors', async () => {
  const t = tempDir('hexz-commit-cli-');
  try {
    const disk = Buffer.from(mixedData(20 * BS, { unit: BS, seed: 6 }));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const base = await Archive.open(basePath);
    const ov = await Overlay.create(t.path('vm.overlay'), base);
    await ov.write('disk', 3 * BS + 5, randomData(100, 1));
    await ov.write('disk', 10 * BS, randomData(BS, 2));
    await ov.close();
    await base.close();
    let r = runCli(['commit', t.path('vm.overlay'), '-o', t.path('child.hxz'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.toString());
    assert.equal(report.output, t.path('child.hxz'));
    assert.equal(report.parentPath, 'base.hxz');
    assert.equal(report.dirtyBytes, PAGE + BS);
    // Block 3 written one page: the page re-packed, the rest of the block referred to as slices.
    assert.equal(report.rewrittenBytes, PAGE + BS);
    // mixedData: every 5th block (from block 2) is zero; blocks 3 and 10 were written.
    assert.equal(report.referencedBytes, 14 * BS + BS - PAGE);
    assert.equal(report.zeroBytes, 4 * BS);
    for (const k of ['base', 'storedBytes', 'seconds', 'archiveId']) assert.ok(k in report, k);
    assert.equal(runCli(['verify', t.path('child.hxz')]).status, 0);
    r = runCli(['diff', basePath, t.path('child.hxz'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const d = JSON.parse(r.stdout.toString());
    assert.deepEqual(d.streams[0].ranges.map((x: { start: number; end: number }) => [x.start, x.end]), [[3 * BS, 3 * BS + PAGE], [10 * BS, 11 * BS]]);
    assert.equal(runCli(['cat', t.path('child.hxz'), '--stream', 'disk']).stdout.subarray(10 * BS, 11 * BS).equals(Buffer.from(randomData(BS, 2))), true);

    const err = (args: string[], code: number, what: string, pattern?: RegExp) => {
      const x = runCli(args);
      assert.equal(x.status, code, `${what}: ${x.stderr}`);
      assertOneErrorLine(x.stderr, what);
      if (pattern) assert.match(x.stderr, pattern);
    };
    err(['commit', t.path('nope.overlay'), '-o', t.path('c2.hxz')], 6, 'missing overlay');
    writeFileSync(t.path('junk.overlay'), Buffer.alloc(8192, 1));
    err(['commit', t.path('junk.overlay'), '-o', t.path('c2.hxz')], 3, 'not an overlay');
    err(['commit', t.path('vm.overlay'), '-o', t.path('child.hxz')], 2, 'output exists', /--force/);
    err(['commit', t.path('vm.overlay')], 2, 'no output');
    copyFileSync(t.path('vm.overlay'), t.path('bad.overlay'));
    const bad = readFileSync(t.path('bad.overlay'));
    bad[200] ^= 0xff; // inside the checksummed header
    writeFileSync(t.path('bad.overlay'), bad);
    err(['commit', t.path('bad.overlay'), '-o', t.path('c2.hxz')], 4, 'damaged overlay');
    renameSync(basePath, t.path('moved.hxz'));
    err(['commit', t.path('vm.overlay'), '-o', t.path('c2.hxz')], 8, 'base missing', /base/);
    assert.equal(runCli(['commit', t.path('vm.overlay'), '-o', t.path('c2.hxz'), '--force', '--parent-dir', t.dir, '--silent']).status, 0);
    assert.equal(existsSync(t.path('c2.hxz')), true);
    assert.match(runCli(['commit', '--help']).stdout.toString(), /thin child/);
    assert.deepEqual(listDir(t.dir).filter((n) => n.includes('.tmp')), []);
  } finally {
    t.cleanup();
  }
});

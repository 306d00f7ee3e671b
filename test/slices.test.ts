/**
 * SLICE entries (docs/FORMAT.md §5, version 8): a commit refers to the clean parts of a block
 * that writes touched a little instead of re-packing it. A child full of slices read back
 * through every read path (random reads in the thread and on workers, sequential chunks on
 * workers, the read stream, extract, verify, diff, the CLI), a second generation slicing
 * slices, and damage and crafted entries that every path must refuse rather than answer with
 * wrong bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Archive } from '../src/node/archive.ts';
import { CorruptArchiveError } from '../src/errors.ts';
import { EntryKind, FORMAT_VERSION, RequiredFeature, type StreamName } from '../src/format/constants.ts';
import { checkEntryFields, type IndexEntry } from '../src/format/entry.ts';
import { Overlay } from '../src/overlay/overlay.ts';
import { commitOverlay } from '../src/ops/commit-overlay.ts';
import { diffArchives } from '../src/ops/diff.ts';
import { extract } from '../src/ops/extract.ts';
import { verify } from '../src/ops/verify.ts';
import { sequentialChunks } from '../src/node/sequential-chunks.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { Crafter } from './craft.ts';
import { assertBytes, collect, mixedData, packSmall, randomData, Rng, runCli, tempDir, writeData } from './helpers.ts';

const BS = 65536;
const PAGE = 4096;

async function entriesOf(a: Archive, stream: StreamName = 'disk'): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const e of a.entries(stream)) out.push(e);
  return out;
}

/** Writes `writes` through a new overlay on `base` into `model`, commits it to `out`. */
async function commitWrites(dir: (n: string) => string, base: string, out: string, model: Buffer, writes: [number, Uint8Array][], name: string) {
  const a = await Archive.open(base);
  const ov = await Overlay.create(dir(name), a);
  for (const [at, data] of writes) {
    await ov.write('disk', at, data);
    model.set(data, at);
  }
  await ov.close();
  await a.close();
  return commitOverlay(dir(name), { output: out, workers: 2 });
}

/** Every way of reading the whole disk stream gives `model`; 300 random ranges too. */
async function assertReads(path: string, model: Buffer, what: string): Promise<void> {
  for (const decodeWorkers of [0, 2]) {
    const a = await Archive.open(path, { decodeWorkers, cacheBytes: 2 * BS });
    try {
      assertBytes(await a.readAt('disk', 0, model.length), model, `${what}: readAt of the whole stream (decodeWorkers ${decodeWorkers})`);
      const rng = new Rng(decodeWorkers + 5);
      for (let i = 0; i < 300; i++) {
        const n = rng.range(1, 3 * BS);
        const at = rng.int(model.length - n + 1);
        assertBytes(await a.readAt('disk', at, n), model.subarray(at, at + n), `${what}: readAt(${at}, ${n})`);
      }
    } finally {
      await a.close();
    }
  }
  const a = await Archive.open(path);
  try {
    for (const workers of [0, 2]) {
      const parts: Uint8Array[] = [];
      for await (const c of sequentialChunks(a, 'disk', { workers })) parts.push(c.data ?? new Uint8Array(c.length));
      assertBytes(Buffer.concat(parts), model, `${what}: sequential chunks (workers ${workers})`);
    }
    assertBytes(await collect(a.createReadStream('disk', { start: 5000 })), model.subarray(5000), `${what}: read stream`);
  } finally {
    await a.close();
  }
}

test('a commit of scattered small writes stores only the written pages and slices the rest; every read path reads the child exactly', async () => {
  const t = tempDir('hexz-slices-');
  try {
    const disk = Buffer.from(mixedData(48 * BS + 3000, { unit: BS, seed: 9 }));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const model = Buffer.from(disk);
    const rng = new Rng(3);
    const writes: [number, Uint8Array][] = [];
    for (let b = 0; b < 44; b += 3) writes.push([b * BS + rng.int(15) * PAGE + rng.int(100), randomData(rng.range(1, 2 * PAGE), b)]);
    writes.push([20 * BS - 100, randomData(300, 99)]); // across a block boundary
    writes.push([48 * BS + 10, randomData(50, 98)]); // inside the short last block: re-cut whole, not sliced
    const out = t.path('child.hxz');
    const r = await commitWrites(t.path, basePath, out, model, writes, 'a.overlay');
    assert.ok(r.rewrittenBytes < 20 * 3 * PAGE + disk.length % BS, `only the written pages are re-packed (${r.rewrittenBytes} bytes)`);

    const child = await Archive.open(out);
    try {
      assert.equal(child.header.version, FORMAT_VERSION);
      assert.equal(child.header.version, 8);
      assert.ok(child.header.requiredFeatures & RequiredFeature.SLICES, 'the SLICES feature is set');
      const all = await entriesOf(child);
      const slices = all.filter((e) => e.kind === EntryKind.SLICE);
      assert.ok(slices.length >= 20, `${slices.length} slices`);
      // §4 statistics: zero blocks per ZERO entry, dedup blocks and bytes over DEDUP and SLICE entries.
      const stats = child.header.streams[0].stats;
      assert.equal(stats.zeroBlocks, all.filter((e) => e.kind === EntryKind.ZERO).reduce((n, e) => n + Math.ceil(e.length / BS), 0));
      const refs = all.filter((e) => e.kind === EntryKind.DEDUP || e.kind === EntryKind.SLICE);
      assert.deepEqual([stats.dedupBlocks, stats.dedupBytes], [refs.length, refs.reduce((n, e) => n + e.length, 0)]);
      for (const e of slices) {
        assert.equal(e.slot, 1);
        assert.equal(e.blockLength, BS);
        assert.ok(e.skip + e.length <= BS && e.skip % PAGE === 0 && e.length % PAGE === 0, `slice [${e.skip}, ${e.skip + e.length}) of its block, on pages`);
        // The hash is the whole block's, the one the base stores it under.
        const blockStart = e.offset - e.skip;
        assert.deepEqual(Buffer.from(e.hash), Buffer.from(blake3(disk.subarray(blockStart, blockStart + BS))));
      }
    } finally {
      await child.close();
    }
    await assertReads(out, model, 'child');
    const v = await verify(out);
    assert.ok(v.ok, JSON.stringify(v.error));
    const x = await extract(out, { output: t.path('child.raw') });
    assert.equal(x.bytes, model.length);
    assertBytes(readFileSync(t.path('child.raw')), model, 'extract');
    assertBytes(runCli(['cat', out]).stdout, model, 'hexz cat');
    assert.match(runCli(['inspect', out]).stdout.toString(), /features: +required 0x18 \(thin, slices\)/);
    // diff shows the written pages, and the short last block whole.
    const d = await diffArchives(basePath, out);
    const pages = new Set<number>();
    for (const [at, data] of writes) for (let p = Math.floor(at / PAGE); p * PAGE < at + data.length; p++) pages.add(p);
    const changed = new Set<number>();
    for (const x of d.streams[0].ranges) for (let p = x.start / PAGE; p * PAGE < x.end; p++) changed.add(Math.floor(p));
    for (let p = 48 * BS / PAGE; p * PAGE < disk.length; p++) pages.add(p);
    assert.deepEqual([...changed].sort((a, b) => a - b), [...pages].sort((a, b) => a - b), 'diff shows exactly the written pages');

    // A second generation written inside sliced parts and new pages: slices of slices.
    const writes2: [number, Uint8Array][] = [];
    for (let b = 0; b < 44; b += 3) writes2.push([b * BS + rng.int(16) * PAGE + 7, randomData(PAGE - 7, 200 + b)]);
    for (const [at] of writes.slice(0, 5)) writes2.push([at, randomData(10, at)]);
    const out2 = t.path('grandchild.hxz');
    await commitWrites(t.path, out, out2, model, writes2, 'b.overlay');
    const g = await Archive.open(out2);
    try {
      const slices = (await entriesOf(g)).filter((e) => e.kind === EntryKind.SLICE);
      assert.ok(slices.some((e) => e.slot === 2), 'clean slices of the child refer to the base, slot 2');
      assert.ok(slices.every((e) => e.blockLength === BS && e.skip + e.length <= BS));
    } finally {
      await g.close();
    }
    await assertReads(out2, model, 'grandchild');
    assert.ok((await verify(out2)).ok);
  } finally {
    t.cleanup();
  }
});

test('zero pages written into a zero run stay one zero run; the statistics count ZERO entries, not pieces', async () => {
  const t = tempDir('hexz-slices-zero-');
  try {
    const disk = Buffer.alloc(16 * BS);
    disk.set(randomData(BS, 8), 0);
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const model = Buffer.from(disk);
    await commitWrites(t.path, basePath, t.path('child.hxz'), model, [[4 * BS + PAGE, new Uint8Array(PAGE)], [8 * BS + PAGE, randomData(PAGE, 9)]], 'a.overlay');
    const a = await Archive.open(t.path('child.hxz'));
    try {
      const kinds = (await entriesOf(a)).map((e) => [e.kind, e.offset, e.length]);
      assert.deepEqual(kinds, [[EntryKind.DEDUP, 0, BS], [EntryKind.ZERO, BS, 7 * BS + PAGE], [EntryKind.DATA, 8 * BS + PAGE, PAGE], [EntryKind.ZERO, 8 * BS + 2 * PAGE, 8 * BS - 2 * PAGE]]);
      assert.equal(a.header.streams[0].stats.zeroBlocks, 8 + 8);
      assertBytes(await a.readAt('disk', 0, model.length), model, 'child');
    } finally {
      await a.close();
    }
  } finally {
    t.cleanup();
  }
});

test('a damaged block that slices refer to fails every read of them and verify; never wrong bytes', async () => {
  const t = tempDir('hexz-slices-damaged-');
  try {
    const disk = Buffer.from(randomData(8 * BS, 4));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const model = Buffer.from(disk);
    await commitWrites(t.path, basePath, t.path('child.hxz'), model, [[3 * BS + 5 * PAGE, randomData(PAGE, 1)]], 'a.overlay');
    const base = await Archive.open(basePath);
    const victim = (await entriesOf(base)).find((e) => e.offset === 3 * BS)!;
    await base.close();
    const bytes = readFileSync(basePath);
    bytes[victim.storedOffset + Math.floor(victim.storedLength / 2)] ^= 0x10;
    writeFileSync(basePath, bytes);
    const isCorrupt = (err: unknown) => err instanceof CorruptArchiveError && /content hash mismatch|does not decode/.test(err.message);
    for (const decodeWorkers of [0, 2]) {
      const a = await Archive.open(t.path('child.hxz'), { decodeWorkers });
      try {
        assertBytes(await a.readAt('disk', 5 * PAGE + 3 * BS, PAGE), model.subarray(3 * BS + 5 * PAGE, 3 * BS + 6 * PAGE), 'the written page itself');
        await assert.rejects(a.readAt('disk', 3 * BS, PAGE), isCorrupt, 'the slice before the page');
        await assert.rejects(a.readAt('disk', 3 * BS + 7 * PAGE, 10), isCorrupt, 'the slice after it');
        await assert.rejects(collect(a.createReadStream('disk')), isCorrupt, 'a sequential read');
      } finally {
        await a.close();
      }
    }
    const v = await verify(t.path('child.hxz'));
    assert.equal(v.ok, false);
    assert.equal(v.error?.offset, 3 * BS);
  } finally {
    t.cleanup();
  }
});

test('crafted slices: a hash of the slice\'s own bytes, a part past its block, kind 3 without the feature', async () => {
  const t = tempDir('hexz-slices-crafted-');
  try {
    const disk = Buffer.from(randomData(4 * BS, 6));
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: basePath, blockSize: BS });
    const model = Buffer.from(disk);
    await commitWrites(t.path, basePath, t.path('child.hxz'), model, [[BS + 2 * PAGE, randomData(PAGE, 2)]], 'a.overlay');
    const original = readFileSync(t.path('child.hxz'));
    /** The child with its first SLICE entry changed by `edit` (hashes and checksum recomputed). */
    const crafted = (edit: (v: DataView) => void, feature = true) => {
      const c = new Crafter(original);
      const root = c.root(0);
      assert.equal(root.level, 0, 'a one-leaf index');
      let i = 0;
      while (c.record(root, i).getUint8(12) !== EntryKind.SLICE) i++;
      edit(c.record(root, i));
      c.store(0, root);
      if (!feature) c.bytes.writeUInt32LE(c.bytes.readUInt32LE(8) & ~RequiredFeature.SLICES, 8);
      const path = t.path(`crafted-${Math.random().toString(36).slice(2)}.hxz`);
      writeFileSync(path, c.seal());
      return path;
    };
    const cases: [string, string, RegExp][] = [
      ['the hash of the slice\'s own bytes', crafted((v) => {
        const e = checkEntryFields(v, 0, 0, true);
        new Uint8Array(v.buffer, v.byteOffset + 32, 32).set(blake3(disk.subarray(e.offset, e.offset + e.length)));
      }), /content hash mismatch/],
      ['a part past its block', crafted((v) => v.setUint32(28, BS - PAGE, true)), /reaches past its block/],
      ['a block of 2^23 bytes', crafted((v) => v.setUint8(15, 23)), /2\^23/],
      ['kind 3 without the SLICES feature', crafted(() => {}, false), /unknown kind 3/],
    ];
    for (const [what, path, message] of cases) {
      const read = Archive.open(path).then(async (a) => {
        try {
          return await a.readAt('disk', 0, a.size('disk'));
        } finally {
          await a.close();
        }
      });
      await assert.rejects(read, (err: unknown) => err instanceof CorruptArchiveError && message.test(err.message), what);
      const v = await verify(path);
      assert.equal(v.ok, false, what);
      assert.match(v.error!.message, message, what);
    }
  } finally {
    t.cleanup();
  }
});

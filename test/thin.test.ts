/**
 * Thin snapshots (docs/FORMAT.md §15): chains 6 deep with random edits (fixed blocks and CDC,
 * both streams) read back byte for byte; entries point at the archive that physically holds
 * each block, and a read is one hop; parents that are missing, replaced or modified are refused
 * at open (never zeros); search directories; re-signing and passwd keep children valid;
 * encrypted chains; flatten and rebase; the CLI (pack --parent, inspect, flatten, rebase,
 * --parent-dir, HEXZ_PATH, exit 8).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Archive, type IndexEntry, type StreamName } from '../src/index.ts';
import { pack, type PackOptions, type PackResult } from '../src/pack/pack.ts';
import { extract } from '../src/ops/extract.ts';
import { flatten } from '../src/ops/flatten.ts';
import { rebase } from '../src/ops/rebase.ts';
import { inspect } from '../src/ops/inspect.ts';
import { verify } from '../src/ops/verify.ts';
import { signArchive } from '../src/ops/sign.ts';
import { changePassword } from '../src/ops/passwd.ts';
import { generateSigningKeyPair } from '../src/crypto/signing.ts';
import { CorruptArchiveError, MissingParentError, UsageError, WrongKeyError } from '../src/errors.ts';
import { EntryKind, HEADER_SIZE } from '../src/format/constants.ts';
import { toHex } from '../src/format/digest.ts';
import { resealHeader } from '../src/format/header.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { parentDirsFrom } from '../src/cli/parent-dirs.ts';
import { Rng, assertBytes, assertOneErrorLine, collect, mixedData, readAll, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-thin-');
after(() => tmp.cleanup());

/** Cheap Argon2id costs: the tests exercise the format, not the KDF's strength. */
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };
const CDC = { min: 1024, avg: 4096, max: 16384 };
const STREAMS: StreamName[] = ['disk', 'memory'];

/** One generation of a chain: its content and where its archive is. */
interface Gen {
  disk: Uint8Array;
  memory: Uint8Array;
  path: string;
  result: PackResult;
}

/**
 * The next generation's content: random overwrites (unaligned, some of them zeros), and with
 * `shifts` insertions and deletions that move every later byte; with fixed blocks the stream
 * may grow at its end instead.
 */
function evolve(prev: Uint8Array, rng: Rng, shifts: boolean): Uint8Array {
  let data = Uint8Array.from(prev);
  for (let i = 0; i < 6; i++) {
    const len = rng.range(1, 10_000);
    const at = rng.int(Math.max(1, data.length - len));
    if (i === 5) data.fill(0, at, at + len);
    else rng.fill(data.subarray(at, at + len));
  }
  if (shifts) {
    for (let i = 0; i < 3; i++) {
      const at = rng.int(data.length);
      const len = rng.range(1, 3000);
      if (rng.int(2) === 0) {
        const next = new Uint8Array(data.length + len);
        next.set(data.subarray(0, at));
        rng.fill(next.subarray(at, at + len));
        next.set(data.subarray(at), at + len);
        data = next;
      } else {
        const end = Math.min(data.length, at + len);
        const next = new Uint8Array(data.length - (end - at));
        next.set(data.subarray(0, at));
        next.set(data.subarray(end), at);
        data = next;
      }
    }
  } else if (rng.int(2) === 0) {
    const grown = new Uint8Array(data.length + rng.range(1, 9000));
    grown.set(data);
    rng.fill(grown.subarray(data.length));
    data = grown;
  }
  return data;
}

/**
 * Packs generation 0 in full and `depth - 1` thin generations, each against the previous one,
 * in `dir`. Settings are given to generation 0 only: children take their parent's (§15).
 */
async function buildChain(dir: string, options: { seed: number; depth: number; settings: Partial<PackOptions>; shifts: boolean; encrypt?: PackOptions['encrypt'] }): Promise<Gen[]> {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(options.seed);
  const gens: Gen[] = [];
  let disk = mixedData(1_100_003, { unit: 4096, seed: options.seed });
  let memory = mixedData(400_001, { unit: 4096, seed: options.seed + 1 });
  for (let g = 0; g < options.depth; g++) {
    if (g > 0) {
      disk = evolve(disk, rng, options.shifts);
      memory = evolve(memory, rng, options.shifts);
    }
    const path = join(dir, `gen${g}.hxz`);
    const result = await pack({
      disk: writeData(join(dir, `gen${g}.disk.raw`), disk), memory: writeData(join(dir, `gen${g}.mem.raw`), memory), output: path, workers: 1,
      encrypt: options.encrypt, ...(g === 0 ? options.settings : { parent: gens[g - 1].path }),
    });
    gens.push({ disk, memory, path, result });
  }
  return gens;
}

/** Every entry of `stream`. */
async function allEntries(a: Archive, stream: StreamName): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const e of a.entries(stream)) out.push(e);
  return out;
}

/** Reads every byte of every stream of `g` (whole, random ranges, a Readable, extract) and compares. */
async function assertGeneration(g: Gen, rng: Rng, open: { password?: string; parentDirs?: string[] } = {}): Promise<void> {
  const a = await Archive.open(g.path, open);
  try {
    for (const stream of STREAMS) {
      const want = g[stream];
      const what = `${basename(g.path)} ${stream}`;
      assert.equal(a.size(stream), want.length, `${what} size`);
      assertBytes(await readAll(a, stream), want, what);
      for (let i = 0; i < 25; i++) {
        const off = rng.int(want.length);
        const len = Math.min(want.length - off, rng.range(1, 70_000));
        assertBytes(await a.readAt(stream, off, len), want.subarray(off, off + len), `${what} [${off}, +${len})`);
      }
      assertBytes(await collect(a.createReadStream(stream, { start: 4095, end: want.length - 2 })), want.subarray(4095, want.length - 1), `${what} stream`);
    }
  } finally {
    await a.close();
  }
  for (const stream of STREAMS) {
    const raw = tmp.path(`extract-${rng.next()}.raw`);
    await extract(g.path, { stream, output: raw, ...open });
    assertBytes(readFileSync(raw), g[stream], `${basename(g.path)} ${stream} extract`);
    rmSync(raw);
  }
}

/**
 * Checks that every slot-k entry of `a` points at a DATA entry with the same hash at the same
 * stored offset in the archive its table names for slot k: the child refers to the holder itself,
 * never to a reference in an intermediate archive (§15.2).
 */
async function assertRefersToHolders(a: Archive, gens: Gen[], holdings: Map<string, Map<number, string>>): Promise<void> {
  const genById = new Map(gens.map((g) => [g.result.archiveId, g]));
  for (const stream of STREAMS) {
    for (const e of await allEntries(a, stream)) {
      if (e.slot === 0) continue;
      assert.equal(e.kind, EntryKind.DEDUP);
      const id = toHex(a.parentRecords[e.slot - 1].archiveId);
      assert.ok(genById.has(id), `slot ${e.slot} names an archive of the chain`);
      assert.equal(holdings.get(id)!.get(e.storedOffset), toHex(e.hash), `${stream}@${e.offset}: slot ${e.slot} holds that block at ${e.storedOffset}`);
    }
  }
}

/** storedOffset → hash of every DATA entry an archive physically holds. */
async function holdingsOf(path: string, open: { password?: string } = {}): Promise<Map<number, string>> {
  const a = await Archive.open(path, { ...open, openParents: false });
  try {
    const m = new Map<number, string>();
    for (const stream of a.streams) for (const e of await allEntries(a, stream)) if (e.kind === EntryKind.DATA) m.set(e.storedOffset, toHex(e.hash));
    return m;
  } finally {
    await a.close();
  }
}

for (const kind of ['fixed 4K blocks', 'CDC 1K/4K/16K'] as const) {
  const cdc = kind.startsWith('CDC');
  describe(`chain of 6 generations, ${kind}`, () => {
    const dir = tmp.path(cdc ? 'chain-cdc' : 'chain-fixed');
    let gens: Gen[] = [];
    before(async () => {
      gens = await buildChain(dir, { seed: cdc ? 101 : 202, depth: 6, shifts: cdc, settings: cdc ? { cdc: CDC } : { blockSize: 4096 } });
    });

    test('every byte of every generation reads back exactly', async () => {
      const rng = new Rng(cdc ? 5 : 6);
      for (const g of gens) await assertGeneration(g, rng);
    });

    test('each child is thin: much smaller than a full pack of the same content, same settings', async () => {
      for (let i = 1; i < gens.length; i++) {
        const g = gens[i];
        assert.ok(g.result.thin, 'thin result');
        assert.equal(g.result.thin.parentId, gens[i - 1].result.archiveId);
        assert.ok(g.result.thin.referencedBytes > (g.disk.length + g.memory.length) / 2, 'most content is referenced');
        assert.deepEqual(g.result.cdc, cdc ? CDC : null, 'the parent\'s chunking was reused');
        const full = await pack({ disk: join(dir, `gen${i}.disk.raw`), memory: join(dir, `gen${i}.mem.raw`), output: tmp.path(`full-${kind.length}-${i}.hxz`), workers: 1, ...(cdc ? { cdc: CDC } : { blockSize: 4096 }) });
        assert.ok(g.result.archiveBytes * 3 < full.archiveBytes, `gen${i}: thin ${g.result.archiveBytes} bytes vs full ${full.archiveBytes}`);
      }
    });

    test('entries refer to the archive that physically holds each block (slots, not hops)', async () => {
      const holdings = new Map<string, Map<number, string>>();
      for (const g of gens) holdings.set(g.result.archiveId, await holdingsOf(g.path));
      const last = await Archive.open(gens[5].path);
      try {
        // The table names the direct parent first, then the rest of the chain.
        assert.equal(toHex(last.parentRecords[0].archiveId), gens[4].result.archiveId);
        assert.equal(last.parentRecords.length, 5, 'every earlier generation holds blocks of gen 5');
        const slot0 = last.parentRecords.find((r) => toHex(r.archiveId) === gens[0].result.archiveId)!.slot;
        assert.ok(slot0 > 1);
        // Blocks unchanged since generation 0 are referenced with generation 0's slot and its offsets.
        const gen0 = holdings.get(gens[0].result.archiveId)!;
        const gen0ByHash = new Map([...gen0].map(([off, h]) => [h, off]));
        let fromGen0 = 0;
        for (const stream of STREAMS) {
          for (const e of await allEntries(last, stream)) {
            const at = gen0ByHash.get(toHex(e.hash));
            if (e.kind === EntryKind.ZERO || at === undefined) continue;
            assert.equal(e.slot, slot0, `${stream}@${e.offset} is a generation 0 block`);
            assert.equal(e.storedOffset, at);
            fromGen0++;
          }
        }
        assert.ok(fromGen0 > 50, `${fromGen0} entries of gen 5 point into gen 0`);
        for (const g of gens.slice(1)) {
          const a = await Archive.open(g.path);
          try {
            await assertRefersToHolders(a, gens, holdings);
          } finally {
            await a.close();
          }
        }
      } finally {
        await last.close();
      }
    });

    test('a read of blocks held by generation 0 touches only generation 0 (one hop)', async () => {
      const a = await Archive.open(gens[5].path);
      try {
        const reads = a.parents.map(() => 0);
        a.parents.forEach((p, k) => {
          const src = p.source;
          const inner = src.read.bind(src);
          src.read = (offset, length, opts) => {
            reads[k]++;
            return inner(offset, length, opts);
          };
          // A local file's blocks are read into reused buffers.
          const innerInto = src.readInto?.bind(src);
          if (innerInto) {
            src.readInto = (offset, target, opts) => {
              reads[k]++;
              return innerInto(offset, target, opts);
            };
          }
        });
        const slot0 = a.parentRecords.find((r) => toHex(r.archiveId) === gens[0].result.archiveId)!.slot;
        const e = (await allEntries(a, 'disk')).find((x) => x.slot === slot0)!;
        assertBytes(await a.readAt('disk', e.offset, e.length), gens[5].disk.subarray(e.offset, e.offset + e.length), 'block');
        assert.ok(reads[slot0 - 1] >= 1, 'generation 0 was read');
        assert.deepEqual(reads.filter((_, k) => k !== slot0 - 1), reads.map(() => 0).slice(1), 'no other archive of the chain was read');
      } finally {
        await a.close();
      }
    });

    test('flatten: standalone, same content, readable once the chain is gone', async () => {
      const out = tmp.path(`flat-${cdc ? 'cdc' : 'fixed'}.hxz`);
      const seen: { done: number; total: number | undefined }[] = [];
      const r = await flatten(gens[5].path, { output: out, workers: 2, onProgress: (p) => seen.push({ done: p.bytesDone, total: p.bytesTotal }) });
      const total = gens[5].disk.length + gens[5].memory.length;
      assert.deepEqual(seen.at(-1), { done: total, total }, 'progress runs to the source\'s logical size');
      assert.equal(r.thin, null);
      assert.equal(r.sourceSlots, 5);
      assert.deepEqual(r.cdc, cdc ? CDC : null);
      assert.equal(r.blockSize, cdc ? 16384 : 4096);
      const lone = tmp.path(`lone-${cdc ? 'cdc' : 'fixed'}`);
      mkdirSync(lone);
      const moved = join(lone, 'flat.hxz');
      renameSync(out, moved);
      const a = await Archive.open(moved);
      try {
        assert.equal(a.header.parents.count, 0);
        assert.deepEqual(a.parentRecords, []);
        assert.equal(a.header.requiredFeatures & 8, 0, 'no THIN feature');
        assertBytes(await readAll(a, 'disk'), gens[5].disk, 'disk');
        assertBytes(await readAll(a, 'memory'), gens[5].memory, 'memory');
        const meta = await a.metadata();
        assert.deepEqual((meta?.inputs as Record<string, { name: string }>).disk.name, 'gen5.disk.raw', 'the source\'s metadata is kept');
      } finally {
        await a.close();
      }
      await assert.rejects(flatten(gens[5].path, { output: moved }), UsageError, 'existing output without force');
    });

    test('rebase: same content, thin against the new parent, smaller than a flatten', async () => {
      const base = tmp.path(`base3-${cdc ? 'cdc' : 'fixed'}.hxz`);
      await flatten(gens[3].path, { output: base, workers: 2 });
      const flat = tmp.path(`flat5-${cdc ? 'cdc' : 'fixed'}.hxz`);
      const f = await flatten(gens[5].path, { output: flat, workers: 2 });
      const out = tmp.path(`rebased-${cdc ? 'cdc' : 'fixed'}.hxz`);
      const r = await rebase(gens[5].path, { parent: base, output: out, workers: 2 });
      assert.ok(r.thin);
      assert.equal(r.thin.slots, 1, 'the new parent is standalone');
      assert.ok(r.archiveBytes * 2 < f.archiveBytes, `rebased ${r.archiveBytes} vs flattened ${f.archiveBytes}`);
      const a = await Archive.open(out);
      try {
        assert.equal(toHex(a.parentRecords[0].archiveId), (await inspect(base)).archiveId);
        assertBytes(await readAll(a, 'disk'), gens[5].disk, 'disk');
        assertBytes(await readAll(a, 'memory'), gens[5].memory, 'memory');
      } finally {
        await a.close();
      }
      // The output must not replace the new parent: it would refer to itself.
      await assert.rejects(rebase(gens[5].path, { parent: base, output: base, force: true }), (e: unknown) => e instanceof UsageError && /refer to itself/.test(e.message));
      await assert.rejects(rebase(gens[5].path, { parent: base, output: out }), UsageError, 'existing output without force');
    });
  });
}

describe('parents that are not the recorded ones are refused at open', () => {
  const dir = tmp.path('refuse');
  let gens: Gen[] = [];
  before(async () => {
    gens = await buildChain(dir, { seed: 303, depth: 3, shifts: false, settings: { blockSize: 4096 } });
  });

  /** A copy of the chain in a fresh directory, so each case damages its own. */
  let copies = 0;
  function copyChain(): string[] {
    const d = tmp.path(`refuse-copy-${copies++}`);
    mkdirSync(d);
    return gens.map((g) => {
      const p = join(d, basename(g.path));
      copyFileSync(g.path, p);
      return p;
    });
  }

  const refusal = (id: string, what: RegExp) => (e: unknown) => e instanceof MissingParentError && e.message.includes(id) && what.test(e.message) && e.exitCode === 8;

  test('a missing parent', async () => {
    const [p0, , p2] = copyChain();
    rmSync(p0);
    await assert.rejects(Archive.open(p2), refusal(gens[0].result.archiveId, /missing/));
    await assert.rejects(extract(p2, { output: tmp.path('never.raw') }), MissingParentError);
  });

  test('a parent replaced by another archive with the same name', async () => {
    const [p0, , p2] = copyChain();
    await pack({ disk: writeData(tmp.path('other.raw'), mixedData(300_000, { seed: 9 })), output: p0, force: true, workers: 1 });
    await assert.rejects(Archive.open(p2), refusal(gens[0].result.archiveId, /replaced or modified/));
  });

  test('a parent re-packed with the same content (a new archive id)', async () => {
    const [, p1, p2] = copyChain();
    await pack({ disk: join(dir, 'gen1.disk.raw'), memory: join(dir, 'gen1.mem.raw'), parent: join(dir, 'gen0.hxz'), output: p1, force: true, workers: 1 });
    await assert.rejects(Archive.open(p2), refusal(gens[1].result.archiveId, /replaced or modified/));
  });

  test('a parent with the same archive id but other content', async () => {
    const [p0, , p2] = copyChain();
    const changed = Uint8Array.from(gens[0].disk);
    changed[5000] ^= 1;
    await pack({ disk: writeData(tmp.path('changed.raw'), changed), memory: join(dir, 'gen0.mem.raw'), output: p0, force: true, workers: 1, blockSize: 4096, archiveId: Buffer.from(gens[0].result.archiveId, 'hex') });
    await assert.rejects(Archive.open(p2), refusal(gens[0].result.archiveId, /expected archive id but was modified/));
  });

  test('a parent whose header was changed and its checksum recomputed', async () => {
    const [p0, , p2] = copyChain();
    const bytes = readFileSync(p0);
    bytes[33] ^= 1; // the creation time: covered by the identity
    resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
    writeFileSync(p0, bytes);
    await Archive.open(p0).then((a) => a.close()); // still a valid archive on its own
    await assert.rejects(Archive.open(p2), refusal(gens[0].result.archiveId, /modified/));
  });

  test('a parent damaged below the header: the open succeeds, the read fails, never zeros', async () => {
    const [p0, , p2] = copyChain();
    const before = await Archive.open(p2);
    const inGen0 = (x: IndexEntry) => x.slot > 0 && toHex(before.parentRecords[x.slot - 1].archiveId) === gens[0].result.archiveId;
    const e = (await allEntries(before, 'disk')).find(inGen0)!;
    await before.close();
    const bytes = readFileSync(p0);
    bytes[e.storedOffset + 3] ^= 0x40;
    writeFileSync(p0, bytes);
    const a = await Archive.open(p2);
    try {
      await assert.rejects(a.readAt('disk', e.offset, e.length), CorruptArchiveError);
      // The rest still reads: only that block is refused.
      const next = e.offset + e.length;
      assertBytes(await a.readAt('disk', next, 4096), gens[2].disk.subarray(next, next + 4096), 'next block');
    } finally {
      await a.close();
    }
  });

  test('verify reports a missing parent with exit code 8; inspect still works and says which', async () => {
    const [p0, , p2] = copyChain();
    rmSync(p0);
    const v = await verify(p2);
    assert.equal(v.ok, false);
    assert.equal(v.error?.exitCode, 8);
    const r = await inspect(p2);
    assert.ok(r.thin);
    assert.deepEqual(r.thin.parents.map((p) => [p.slot, p.status]), [[1, 'found'], [2, 'missing']]);
    assert.equal(r.thin.parents[1].archiveId, gens[0].result.archiveId);
    assert.equal(r.thin.parents[1].recordedPath, 'gen0.hxz');
    assert.equal(r.thin.referencedBytes, gens[2].result.thin!.referencedBytes);
    assert.equal(r.thin.ownStoredBytes, r.dataBytes);
    await pack({ disk: writeData(tmp.path('other2.raw'), mixedData(100_000, { seed: 19 })), output: p0, workers: 1 });
    assert.equal((await inspect(p2)).thin!.parents[1].status, 'modified');
  });

  test('parents moved to search directories are found (by name, then by archive id)', async () => {
    const [p0, p1, p2] = copyChain();
    const elsewhere = tmp.path('elsewhere');
    mkdirSync(elsewhere);
    renameSync(p0, join(elsewhere, 'gen0.hxz'));
    renameSync(p1, join(elsewhere, 'renamed-gen1.hxz'));
    await assert.rejects(Archive.open(p2), MissingParentError);
    const rng = new Rng(77);
    await assertGeneration({ ...gens[2], path: p2 }, rng, { parentDirs: [tmp.path('nonexistent'), elsewhere] });
    const r = await inspect(p2, { parentDirs: [elsewhere] });
    assert.deepEqual(r.thin!.parents.map((p) => p.foundAt), [join(elsewhere, 'renamed-gen1.hxz'), join(elsewhere, 'gen0.hxz')]);
    // An unrelated archive in a search directory does not turn "missing" into "modified".
    rmSync(join(elsewhere, 'gen0.hxz'));
    assert.equal((await inspect(p2, { parentDirs: [elsewhere] })).thin!.parents[1].status, 'missing');
  });

  test('re-signing a parent keeps its children readable (identity excludes the signature)', async () => {
    const [p0, p1, p2] = copyChain();
    const keys = generateSigningKeyPair();
    await signArchive(p0, { key: createPrivateKey(keys.privateKeyPem) });
    await signArchive(p1, { key: createPrivateKey(keys.privateKeyPem) });
    await signArchive(p0, { key: createPrivateKey(generateSigningKeyPair().privateKeyPem) }); // re-signed
    await assertGeneration({ ...gens[2], path: p2 }, new Rng(78));
  });

  test('parentDirsFrom: the flags, then HEXZ_PATH without empty parts', () => {
    assert.deepEqual(parentDirsFrom({ parentDir: ['a', 'b'] }, { HEXZ_PATH: ':c::d:' }), ['a', 'b', 'c', 'd']);
    assert.deepEqual(parentDirsFrom({}, {}), []);
  });
});

describe('encrypted chains', () => {
  const dir = tmp.path('enc');
  const PW = 'chain password';
  let gens: Gen[] = [];
  before(async () => {
    gens = await buildChain(dir, { seed: 404, depth: 3, shifts: true, settings: { cdc: CDC }, encrypt: { password: PW, kdf: KDF } });
  });

  test('three generations read back; children share the data key', async () => {
    const rng = new Rng(9);
    for (const g of gens) await assertGeneration(g, rng, { password: PW });
    const keys = await Promise.all(gens.map(async (g) => {
      const a = await Archive.open(g.path, { password: PW, openParents: false });
      const k = toHex(a.dataKey!);
      await a.close();
      return k;
    }));
    assert.equal(new Set(keys).size, 1);
    assert.ok(gens[2].result.archiveBytes * 3 < gens[0].result.archiveBytes);
  });

  test('a child with its own password; wrong passwords; plain/encrypted mismatches', async () => {
    const child = join(dir, 'own-password.hxz');
    await pack({ disk: join(dir, 'gen2.disk.raw'), memory: join(dir, 'gen2.mem.raw'), parent: gens[2].path, parentPassword: PW, output: child, encrypt: { password: 'child only', kdf: KDF }, workers: 1 });
    await assertGeneration({ ...gens[2], path: child }, new Rng(10), { password: 'child only' });
    await assert.rejects(Archive.open(child, { password: PW }), WrongKeyError);
    await assert.rejects(pack({ disk: join(dir, 'gen2.disk.raw'), parent: gens[2].path, output: join(dir, 'x.hxz'), encrypt: { password: 'wrong', kdf: KDF } }), WrongKeyError);
    await assert.rejects(pack({ disk: join(dir, 'gen2.disk.raw'), parent: gens[2].path, output: join(dir, 'x.hxz') }), (e: unknown) => e instanceof UsageError && /encrypted/.test(e.message));
    const plain = join(dir, 'plain.hxz');
    await pack({ disk: join(dir, 'gen0.disk.raw'), output: plain, workers: 1 });
    await assert.rejects(pack({ disk: join(dir, 'gen1.disk.raw'), parent: plain, output: join(dir, 'x.hxz'), encrypt: { password: PW, kdf: KDF } }), (e: unknown) => e instanceof UsageError && /not encrypted/.test(e.message));
    // Without the password only the header opens; reading is refused.
    const locked = await Archive.open(gens[2].path);
    try {
      await assert.rejects(locked.readAt('disk', 0, 1), WrongKeyError);
    } finally {
      await locked.close();
    }
  });

  test('passwd on the parent keeps the children readable (identity excludes the key envelope)', async () => {
    const d = tmp.path('enc-passwd');
    mkdirSync(d);
    const paths = gens.map((g) => {
      const p = join(d, basename(g.path));
      copyFileSync(g.path, p);
      return p;
    });
    await changePassword(paths[0], { oldPassword: PW, newPassword: 'rotated' });
    await assertGeneration({ ...gens[2], path: paths[2] }, new Rng(11), { password: PW });
  });

  test('flatten and rebase of an encrypted child', async () => {
    const flat = join(dir, 'flat.hxz');
    const r = await flatten(gens[2].path, { output: flat, password: PW, newPassword: 'flat pw' });
    assert.ok(r.encryption);
    assert.deepEqual(r.encryption.kdf, KDF, 'the source\'s Argon2id costs are kept');
    assert.equal(r.thin, null);
    await assert.rejects(Archive.open(flat, { password: PW }), WrongKeyError);
    await assertGeneration({ ...gens[2], path: flat }, new Rng(12), { password: 'flat pw' });
    await assert.rejects(flatten(gens[2].path, { output: join(dir, 'x.hxz') }), WrongKeyError);
    // Rebase onto the flattened archive: the new parent's password is given separately.
    const re = join(dir, 'rebased.hxz');
    const rb = await rebase(gens[2].path, { parent: flat, output: re, password: PW, parentPassword: 'flat pw' });
    assert.ok(rb.thin && rb.archiveBytes * 3 < r.archiveBytes);
    await assertGeneration({ ...gens[2], path: re }, new Rng(13), { password: PW });
    await assert.rejects(rebase(gens[2].path, { parent: flat, output: join(dir, 'y.hxz'), password: PW }), WrongKeyError, 'the child\'s password does not open the new parent');
    const plain = join(dir, 'plain-base.hxz');
    await pack({ disk: join(dir, 'gen0.disk.raw'), output: plain, workers: 1 });
    await assert.rejects(rebase(gens[2].path, { parent: plain, output: join(dir, 'z.hxz'), password: PW }), (e: unknown) => e instanceof UsageError && /not/.test(e.message));
  });
});

describe('CLI', () => {
  const d = tmp.path('cli');
  const disk0 = mixedData(700_001, { unit: 4096, seed: 500 });
  const disk1 = evolve(disk0, new Rng(501), false);
  const disk2 = evolve(disk1, new Rng(502), false);
  const mem = mixedData(200_000, { unit: 4096, seed: 503 });
  const p = (name: string) => join(d, name);
  before(() => {
    mkdirSync(d);
    writeData(p('d0.raw'), disk0);
    writeData(p('d1.raw'), disk1);
    writeData(p('d2.raw'), disk2);
    writeData(p('m.raw'), mem);
  });
  const ok = (args: string[], env?: Record<string, string | undefined>) => {
    const r = runCli(args, { env });
    assert.equal(r.status, 0, `hexz ${args.join(' ')}: ${r.stderr}`);
    return r;
  };

  test('pack --parent, inspect, cat, extract, verify, --parent-dir, HEXZ_PATH, exit 8', () => {
    ok(['pack', '--disk', p('d0.raw'), '--memory', p('m.raw'), '--block-size', '4K', '--workers', '1', '-o', p('g0.hxz'), '--silent']);
    const text = ok(['pack', '--disk', p('d1.raw'), '--memory', p('m.raw'), '--parent', p('g0.hxz'), '--workers', '1', '-o', p('g1.hxz')]).stdout.toString();
    assert.match(text, /parent:\s+.*g0\.hxz \(archive [0-9a-f]{32}\)/);
    assert.match(text, /slots:\s+1/);
    assert.match(text, /referenced:\s+/);
    const j = JSON.parse(ok(['pack', '--disk', p('d2.raw'), '--memory', p('m.raw'), '--parent', p('g1.hxz'), '--workers', '1', '-o', p('g2.hxz'), '--json']).stdout.toString());
    assert.equal(j.thin.slots, 2);
    assert.equal(j.thin.parent, p('g1.hxz'));
    assert.ok(j.thin.referencedBytes > disk2.length / 2);
    assert.equal(j.blockSize, 4096, 'the parent\'s block size');

    const info = ok(['inspect', p('g2.hxz')]).stdout.toString();
    assert.match(info, /parents:\s+2 \(thin snapshot\)/);
    assert.match(info, /slot 1 \(direct\):\s+[0-9a-f]{32} g1\.hxz: found at /);
    assert.match(info, /slot 2:\s+[0-9a-f]{32} g0\.hxz: found at /);
    assert.match(info, /own stored:/);
    assert.match(info, /referenced:/);
    const ij = JSON.parse(ok(['inspect', p('g2.hxz'), '--json']).stdout.toString());
    assert.deepEqual(ij.thin.parents.map((x: { status: string }) => x.status), ['found', 'found']);
    assert.equal(ij.thin.referencedBytes, j.thin.referencedBytes);
    assert.equal(ij.thin.ownStoredBytes, ij.dataBytes);
    assert.match(ok(['inspect', p('g0.hxz')]).stdout.toString(), /parents:\s+none/);
    assert.equal(JSON.parse(ok(['inspect', p('g0.hxz'), '--json']).stdout.toString()).thin, null);

    // The grandparent moves away: reads fail with exit 8 and one line; inspect says which.
    const away = p('away');
    mkdirSync(away);
    renameSync(p('g0.hxz'), join(away, 'g0.hxz'));
    for (const args of [['cat', p('g2.hxz')], ['extract', p('g2.hxz'), '-o', p('x.raw')], ['verify', p('g2.hxz')]]) {
      const r = runCli(args, { env: { HEXZ_PATH: undefined } });
      assert.equal(r.status, 8, `${args[0]}: ${r.stderr}`);
      assertOneErrorLine(r.stderr, args[0]);
      assert.match(r.stderr, /parent 2 .*g0\.hxz.* is missing/);
    }
    const missing = JSON.parse(ok(['inspect', p('g2.hxz'), '--json'], { HEXZ_PATH: undefined }).stdout.toString());
    assert.deepEqual(missing.thin.parents.map((x: { status: string }) => x.status), ['found', 'missing']);
    assert.match(ok(['inspect', p('g2.hxz')], { HEXZ_PATH: undefined }).stdout.toString(), /slot 2:\s+[0-9a-f]{32} g0\.hxz: MISSING: parent 2/);

    // Found again with --parent-dir (cat, extract raw and qcow2, verify, inspect) and with HEXZ_PATH.
    assertBytes(ok(['cat', p('g2.hxz'), '--parent-dir', p('nowhere'), '--parent-dir', away]).stdout, disk2, 'cat --parent-dir');
    assertBytes(ok(['cat', p('g2.hxz'), '--stream', 'memory'], { HEXZ_PATH: `${p('nowhere')}:${away}` }).stdout, mem, 'cat HEXZ_PATH');
    ok(['extract', p('g2.hxz'), '-o', p('x2.raw'), '--parent-dir', away, '--silent']);
    assertBytes(readFileSync(p('x2.raw')), disk2, 'extract --parent-dir');
    ok(['extract', p('g2.hxz'), '--format', 'qcow2', '-o', p('x2.qcow2'), '--parent-dir', away, '--silent']);
    ok(['verify', p('g2.hxz'), '--parent-dir', away]);
    assert.match(ok(['inspect', p('g2.hxz'), '--parent-dir', away]).stdout.toString(), /slot 2:\s+[0-9a-f]{32} g0\.hxz: found at .*away\/g0\.hxz/);

    // flatten: needs the chain (exit 8 without it), then stands alone.
    const f = runCli(['flatten', p('g2.hxz'), '-o', p('flat.hxz')], { env: { HEXZ_PATH: undefined } });
    assert.equal(f.status, 8);
    assertOneErrorLine(f.stderr, 'flatten');
    const fj = JSON.parse(ok(['flatten', p('g2.hxz'), '-o', p('flat.hxz'), '--parent-dir', away, '--json', '--workers', '1']).stdout.toString());
    assert.equal(fj.thin, null);
    assert.equal(fj.sourceSlots, 2);
    assert.equal(fj.blockSize, 4096);
    const again = runCli(['flatten', p('g2.hxz'), '-o', p('flat.hxz'), '--parent-dir', away]);
    assert.equal(again.status, 2, 'existing output without --force');
    assertOneErrorLine(again.stderr, 'flatten over an existing output');
    assert.match(ok(['flatten', p('g2.hxz'), '-o', p('flat.hxz'), '--parent-dir', away, '--force', '--workers', '1']).stdout.toString(), /source:\s+.*thin, 2 parent slots/);
    renameSync(join(away, 'g0.hxz'), p('g0.hxz'));
    renameSync(p('g1.hxz'), join(away, 'g1.hxz'));
    assertBytes(ok(['cat', p('flat.hxz')]).stdout, disk2, 'flattened');

    // rebase g2 (whose parent g1 is now away) onto the flattened copy of itself's predecessor.
    ok(['flatten', join(away, 'g1.hxz'), '-o', p('base1.hxz'), '--parent-dir', d, '--silent', '--workers', '1']);
    const rj = JSON.parse(ok(['rebase', p('g2.hxz'), '--parent', p('base1.hxz'), '-o', p('re.hxz'), '--json', '--workers', '1'], { HEXZ_PATH: away }).stdout.toString());
    assert.equal(rj.thin.slots, 1);
    assert.ok(rj.archiveBytes * 2 < fj.archiveBytes);
    renameSync(join(away, 'g1.hxz'), p('gone-g1.hxz'));
    assertBytes(ok(['cat', p('re.hxz')]).stdout, disk2, 'rebased disk');
    assertBytes(ok(['cat', p('re.hxz'), '--stream', 'memory']).stdout, mem, 'rebased memory');
    const ri = JSON.parse(ok(['inspect', p('re.hxz'), '--json']).stdout.toString());
    assert.equal(ri.thin.parents[0].recordedPath, 'base1.hxz');
  });

  test('encrypted parents: --encrypt required with a helpful message; one password for both', () => {
    const env = { HEXZ_PASSWORD: 'cli secret', HEXZ_PATH: undefined };
    ok(['pack', '--disk', p('d0.raw'), '--block-size', '4K', '--workers', '1', '--encrypt', '--kdf-memory', '256K', '--kdf-iterations', '1', '--kdf-lanes', '1', '-o', p('e0.hxz'), '--silent'], env);
    const r = runCli(['pack', '--disk', p('d1.raw'), '--parent', p('e0.hxz'), '-o', p('e1.hxz')], { env });
    assert.equal(r.status, 2);
    assertOneErrorLine(r.stderr, 'thin pack of an encrypted parent without --encrypt');
    assert.match(r.stderr, /is encrypted, so the thin archive must be too: add --encrypt/);
    const plainChild = runCli(['pack', '--disk', p('d1.raw'), '--parent', p('flat.hxz'), '--encrypt', '-o', p('e1.hxz')], { env });
    assert.equal(plainChild.status, 2);
    assert.match(plainChild.stderr, /is not encrypted/);
    const j = JSON.parse(ok(['pack', '--disk', p('d1.raw'), '--parent', p('e0.hxz'), '--encrypt', '--kdf-memory', '256K', '--kdf-iterations', '1', '--kdf-lanes', '1', '-o', p('e1.hxz'), '--json', '--workers', '1'], env).stdout.toString());
    assert.equal(j.thin.slots, 1);
    assertBytes(ok(['cat', p('e1.hxz')], env).stdout, disk1, 'encrypted thin');
    const wrong = runCli(['cat', p('e1.hxz')], { env: { ...env, HEXZ_PASSWORD: 'nope' } });
    assert.equal(wrong.status, 7);
    writeFileSync(p('new.pw'), 'flattened secret\n');
    ok(['flatten', p('e1.hxz'), '-o', p('e1-flat.hxz'), '--new-password-file', p('new.pw'), '--silent', '--workers', '1'], env);
    assertBytes(ok(['cat', p('e1-flat.hxz'), '--password-file', p('new.pw')], env).stdout, disk1, 'flattened encrypted');
    ok(['rebase', p('e1.hxz'), '--parent', p('e1-flat.hxz'), '--parent-password-file', p('new.pw'), '-o', p('e1-re.hxz'), '--silent', '--workers', '1'], env);
    assertBytes(ok(['cat', p('e1-re.hxz')], env).stdout, disk1, 'rebased encrypted');
  });
});

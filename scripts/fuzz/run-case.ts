/**
 * One fuzz case, start to finish, inside a child process: derive the plan from the case seed,
 * copy the corpus item into a fresh directory, mutate the target file (raw or crafted and
 * re-sealed), run every operation on it and judge each outcome with the oracle.
 *
 * Outcomes allowed: an error of the HexzError family; the original bytes; or, for a changed
 * archive, bytes that agree with everything its own index says (oracle.ts). Anything else is a
 * finding: another error class, wrong bytes, a walk or verify that accepts what the index
 * contradicts, leftover files. Hangs, memory blow-ups and crashes are caught by the parent.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Archive, openImage, pack, type StreamName } from '../../src/index.ts';
import { inspect } from '../../src/ops/inspect.ts';
import { verify } from '../../src/ops/verify.ts';
import { checkSignature } from '../../src/ops/check-signature.ts';
import { FileSource } from '../../src/store/file-source.ts';
import { EntryKind, STREAM_NAMES } from '../../src/format/constants.ts';
import { bytesEqual } from '../../src/format/digest.ts';
import type { IndexEntry } from '../../src/format/entry.ts';
import { contentHasher, deriveArchiveKeys } from '../../src/crypto/archive-keys.ts';
import { dissect } from './anatomy.ts';
import { Judge } from './judge.ts';
import { KINDS, type Corpus, type CorpusItem, type KindName } from './corpus.ts';
import { craftedMutation, rawMutation, type MutationResult } from './mutate-archive.ts';
import { mutateQcow2 } from './mutate-qcow2.ts';
import { mutateExt4 } from './mutate-ext4.ts';
import { mutatePartitions } from './mutate-partitions.ts';
import { ext4Layout, type Ext4Layout } from './ext4-layout.ts';
import { diskOps } from './disk-ops.ts';
import { specCase } from './spec-fuzz.ts';
import { tarCase } from './walk-tar.ts';
import { coveringEntries, modelArchive, type ArchiveModel } from './oracle.ts';
import { reseal, type HeaderMacFn } from './reseal.ts';
import { formatSeed, Rng } from './rng.ts';

export type Flavour = 'raw' | 'crafted' | 'none';

/** What a case is about, derived from its seed alone (the parent computes it too, for counting). */
export interface CasePlan {
  seed: string;
  kind: KindName;
  flavour: Flavour;
}

export interface Finding {
  /** non-hexz-error, wrong-bytes, accepted-invalid, leftover-file, timeout, memory, crash, unhandled-rejection, warning. */
  type: string;
  op: string;
  message: string;
}

export interface CaseResult extends CasePlan {
  target: string;
  region: string;
  description: string;
  attack?: string;
  /** Each operation and its outcome: 'ok', 'bytes', or an error class name. */
  ops: { op: string; outcome: string }[];
  findings: Finding[];
  skipped?: string;
  /** The mutated file while the case runs. */
  mutatedPath?: string;
  /** Where the mutated file of a case with findings was kept. */
  savedFile?: string;
}

/** The first draws of a case's generator: kind and flavour. */
export function planCase(seed: number): CasePlan & { rng: Rng } {
  const rng = new Rng(seed);
  const kind = KINDS[rng.int(KINDS.length)];
  const flavour: Flavour = rng.chance(0.03) ? 'none' : rng.chance(0.5) ? 'raw' : 'crafted';
  return { seed: formatSeed(seed), kind, flavour, rng };
}

/** State a child keeps across cases: the corpus, its files' bytes. */
export interface CaseEnv {
  corpus: Corpus;
  headerMac?: HeaderMacFn;
  /** Fraction of archive cases that run src/ops/verify (slow under tsx: it starts decode workers). */
  verifyChance: number;
  /** Fraction of partitions/ext4 cases that also walk the image packed into an archive. */
  packChance: number;
  /** Fraction of tar cases whose tree is also laid out as ext4/ext2 and read back (default 0.3). */
  layoutChance?: number;
  /** Keep the case directory (replay). */
  keep: boolean;
  log: (line: string) => void;
  /** Called before each operation so a hang or crash can be attributed to it. */
  onOp?: (op: string) => void;
  /** Told what the mutation is before any operation runs (so a kill can be labelled). */
  onMutation?: (m: { target: string; region: string; description: string; attack?: string }) => void;
  /** Keeps the mutated file of a case with findings; returns where. */
  save?: (path: string, seed: string) => string | undefined;
}

const fileCache = new Map<string, Uint8Array>();
const layoutCache = new Map<string, Ext4Layout>();
function cached(path: string): Uint8Array {
  let b = fileCache.get(path);
  if (!b) fileCache.set(path, (b = new Uint8Array(readFileSync(path))));
  return b;
}

/** Runs case `seed`. Never throws for anything the code under test does. */
export async function runCase(seed: number, env: CaseEnv): Promise<CaseResult> {
  const { rng, ...plan } = planCase(seed);
  const item = env.corpus.items[plan.kind];
  const result: CaseResult = { ...plan, target: '', region: '', description: '', ops: [], findings: [] };
  if (!item) return { ...result, skipped: `kind ${plan.kind} not in this corpus` };
  const mutRng = rng.fork();
  const opRng = rng.fork();
  const dir = mkdtempSync(join(tmpdir(), `hexz-fuzz-${plan.seed}-`));
  try {
    // Tars and build specs: their own cases (walk-tar.ts, spec-fuzz.ts), from the seed file to the judgement.
    if (item.format === 'tar' || item.format === 'spec') {
      const judge = new Judge(result, env);
      if (item.format === 'tar') await tarCase(judge, item, dir, mutRng, opRng, env, plan.flavour);
      else await specCase(judge, item, dir, mutRng, env, plan.flavour);
      return result;
    }
    // Disk images are walked in memory: only the mutated one is written (to keep, or to pack).
    const disk = item.format === 'partitions' || item.format === 'ext4';
    if (!disk) for (const f of readdirSync(item.dir)) if (!f.endsWith('.raw')) copyFileSync(join(item.dir, f), join(dir, f));
    const target = item.files[mutRng.int(item.files.length)];
    result.target = target.file;
    const healthy = cached(join(item.dir, target.file));
    let mutation: MutationResult | undefined;
    if (plan.flavour === 'none') mutation = { bytes: healthy, region: '-', description: 'unmutated (control)', reseal: false };
    else if (item.format === 'ext4') {
      const key = join(item.dir, target.file);
      if (!layoutCache.has(key)) layoutCache.set(key, ext4Layout(healthy));
      mutation = mutateExt4(mutRng, healthy, layoutCache.get(key)!, plan.flavour);
    } else if (item.format === 'partitions') mutation = mutatePartitions(mutRng, healthy, plan.flavour);
    else if (item.format === 'qcow2') {
      mutation = mutateQcow2(mutRng, healthy, plan.flavour, target.file, item.files.map((f) => f.file).filter((f) => f !== target.file));
    } else {
      const others = Object.values(env.corpus.items).filter((i) => i && i.format === 'hxz' && i !== item).map((i) => cached(join(i!.dir, i!.files[0].file)));
      const siblings = item.files.filter((f) => f !== target).map((f) => ({ name: f.file, bytes: cached(join(item.dir, f.file)) }));
      const originals = Object.fromEntries(Object.entries(target.original).map(([s, f]) => [s, cached(join(item.dir, f))]));
      const ctx = { others, siblings, selfName: target.file, originals };
      const an = dissect(healthy.slice(), target.dataKey ? Buffer.from(target.dataKey, 'hex') : undefined);
      for (let tries = 0; tries < 8 && !mutation; tries++) mutation = plan.flavour === 'raw' ? rawMutation(mutRng, an, ctx) : craftedMutation(mutRng, an, ctx);
      if (!mutation) return { ...result, skipped: 'no applicable crafted mutation' };
      if (mutation.reseal) {
        reseal(an, mutation.bytes, {
          dataKey: target.dataKey ? Buffer.from(target.dataKey, 'hex') : undefined, headerMac: env.headerMac,
          signingKey: item.kind === 'signed' ? createPrivateKey(env.corpus.signingKeyPem) : undefined,
        });
      }
    }
    result.region = mutation.region;
    result.description = mutation.description;
    result.attack = mutation.attack;
    env.onMutation?.({ target: result.target, region: result.region, description: result.description, attack: result.attack });
    const path = join(dir, target.file);
    writeFileSync(path, mutation.bytes);
    if (mutation.fifo) execFileSync('mkfifo', [join(dir, mutation.fifo)]);
    result.mutatedPath = path;
    env.log(`case ${plan.seed}: ${plan.kind} ${plan.flavour} ${target.file}: ${mutation.description}${mutation.attack ? ` [attack ${mutation.attack}]` : ''}`);
    const before = new Set(readdirSync(dir));
    const judge = new Judge(result, env);
    if (item.format === 'qcow2') await qcow2Ops(judge, item, dir, opRng);
    else if (disk) await diskOps(judge, item, target, path, mutation.bytes, opRng, env);
    else {
      // The mutated file itself, then (thin chains) the top of the chain that reads through it.
      await archiveOps(judge, item, dir, target.file, opRng, env);
      if (target.file !== item.top) await archiveOps(judge, item, dir, item.top, opRng, env);
    }
    for (const f of readdirSync(dir)) if (!before.has(f)) judge.finding('leftover-file', 'cleanup', `operation left ${f} in the directory`);
    return result;
  } finally {
    if (result.findings.length && result.mutatedPath && env.save) result.savedFile = env.save(result.mutatedPath, plan.seed);
    if (!env.keep) rmSync(dir, { recursive: true, force: true });
    else env.log(`case directory kept: ${dir}`);
  }
}

/** Everything the oracle needs about one archive file of a case. */
interface ArchiveTruth {
  originals: Partial<Record<StreamName, Uint8Array>>;
  model: ArchiveModel;
  hash: (b: Uint8Array) => Uint8Array;
  /** Original entry boundaries per stream (to aim reads across entries). */
  boundaries: Partial<Record<StreamName, number[]>>;
}

async function archiveOps(j: Judge, item: CorpusItem, dir: string, file: string, rng: Rng, env: CaseEnv): Promise<void> {
  const path = join(dir, file);
  const meta = item.files.find((f) => f.file === file)!;
  const dataKey = meta.dataKey ? Buffer.from(meta.dataKey, 'hex') : undefined;
  const originals: ArchiveTruth['originals'] = {};
  for (const [s, raw] of Object.entries(meta.original)) originals[s as StreamName] = cached(join(item.dir, raw));
  const bytes = new Uint8Array(readFileSync(path));
  const boundaries: ArchiveTruth['boundaries'] = {};
  try {
    const healthy = dissect(cached(join(item.dir, file)).slice(), dataKey);
    for (const e of healthy.entries) (boundaries[STREAM_NAMES[e.stream]] ??= []).push(e.entry.offset);
  } catch { /* boundaries are only aim */ }
  const truth: ArchiveTruth = {
    originals, boundaries, model: modelArchive(bytes, dataKey),
    hash: contentHasher(dataKey ? deriveArchiveKeys(dataKey, new Uint8Array(16)) : undefined),
  };
  const password = item.password;
  const tag = file === j.result.target ? '' : `${file}:`;

  await j.run(`${tag}inspect`, () => inspect(path, { password }));
  const a = await j.run(`${tag}open`, () => Archive.open(path, { password }));
  if (a) {
    try {
      for (const stream of a.streams) await streamOps(j, a, stream, truth, rng, tag);
    } finally {
      await j.run(`${tag}close`, () => a.close());
    }
  }
  if (rng.chance(env.verifyChance)) {
    const report = await j.run(`${tag}verify`, () => verify(path, { password }));
    if (report && !report.ok && report.error?.code === 'INTERNAL') j.finding('non-hexz-error', `${tag}verify`, `verify reported a non-HexzError: ${report.error.message}`);
    if (report?.ok) await judgeFullAcceptance(j, `${tag}verify`, path, truth, password);
  } else {
    // The same walk verify makes, with blocks decoded in this thread (no decode workers to start).
    const ok = await j.run(`${tag}verify-inline`, async () => {
      const b = await Archive.open(path, { password, verify: true, cacheBytes: 0, readAheadBytes: 0 });
      try {
        if (b.header.signature.length > 0) {
          const src = await FileSource.open(path);
          try {
            const s = await checkSignature(src, {});
            if (!s.valid) return false;
          } finally {
            await src.close();
          }
        }
        for (const stream of b.streams) {
          const stored: IndexEntry[] = [];
          for await (const e of b.entries(stream)) if (e.kind !== EntryKind.ZERO) stored.push(e);
          for (let k = 0; k < stored.length; k += 256) await b.readEntries(stream, stored.slice(k, k + 256));
        }
        return true;
      } finally {
        await b.close();
      }
    });
    if (ok) await judgeFullAcceptance(j, `${tag}verify-inline`, path, truth, password);
  }
}

/** readAt at several ranges, a full Readable, and the entries walk of one stream. */
async function streamOps(j: Judge, a: Archive, stream: StreamName, truth: ArchiveTruth, rng: Rng, tag: string): Promise<void> {
  const size = a.size(stream);
  const cuts = truth.boundaries[stream] ?? [];
  const ranges: [number, number][] = [];
  if (size > 0) {
    ranges.push([0, Math.min(size, 1 + rng.int(3 * 4096))], [size - 1, 1]);
    for (let k = 0; k < 4; k++) {
      const c = cuts.length ? rng.pick(cuts) : rng.int(size);
      const off = Math.max(0, Math.min(size - 1, c - rng.int(300)));
      ranges.push([off, Math.min(size - off, 1 + rng.int(rng.pick([64, 5000, 70000])))]);
    }
  }
  for (const [off, len] of ranges) {
    const r = await j.run(`${tag}readAt(${stream},${off},${len})`, () => a.readAt(stream, off, len));
    if (r) await checkRead(j, `${tag}readAt(${stream},${off},${len})`, a, stream, off, len, r, truth);
  }
  const full = await j.run(`${tag}createReadStream(${stream})`, async () => {
    const parts: Buffer[] = [];
    for await (const c of a.createReadStream(stream, { chunkSize: rng.pick([65536, 1 << 20]) })) parts.push(Buffer.from(c as Uint8Array));
    return new Uint8Array(Buffer.concat(parts));
  });
  if (full) await checkRead(j, `${tag}createReadStream(${stream})`, a, stream, 0, size, full, truth);
  const walked = await j.run(`${tag}entries(${stream})`, async () => {
    const out: IndexEntry[] = [];
    for await (const e of a.entries(stream)) out.push(e);
    return out;
  });
  if (walked) judgeWalk(j, `${tag}entries(${stream})`, stream, size, walked, truth);
}

/** A walk that completed must tile the stream and agree with the oracle's walk. */
function judgeWalk(j: Judge, op: string, stream: StreamName, size: number, walked: IndexEntry[], truth: ArchiveTruth): void {
  let expect = 0;
  for (const e of walked) {
    if (e.offset !== expect) return j.finding('accepted-invalid', op, `walk yielded entry at ${e.offset}, expected ${expect} (entries do not tile) without an error`);
    expect += e.length;
  }
  if (expect !== size) return j.finding('accepted-invalid', op, `walk covered ${expect} bytes of a ${size}-byte stream without an error`);
  const m = truth.model.streams[STREAM_NAMES.indexOf(stream)];
  if (!m || truth.model.headerProblem) return j.finding('accepted-invalid', op, `walk completed but the header does not decode: ${truth.model.headerProblem}`);
  if (m.problem) return j.finding('accepted-invalid', op, `walk completed but the oracle's walk finds: ${m.problem}`);
  if (m.entries.length !== walked.length) return j.finding('accepted-invalid', op, `walk yielded ${walked.length} entries, the oracle finds ${m.entries.length}`);
  for (let k = 0; k < walked.length; k++) {
    const x = walked[k];
    const y = m.entries[k];
    if (x.offset !== y.offset || x.length !== y.length || x.kind !== y.kind || x.storedOffset !== y.storedOffset || x.slot !== y.slot || !bytesEqual(x.hash, y.hash)
      || x.skip !== y.skip || x.blockLength !== y.blockLength) {
      return j.finding('accepted-invalid', op, `walk entry ${k} (@${x.offset}) differs from the oracle's (@${y.offset})`);
    }
  }
}

/**
 * The whole stored block `e` refers to, as an entry {@link Archive.readEntries} loads: `e`
 * itself, or for a SLICE a slice of all its block (skip 0, length 2^b), whose hash the entry's is.
 */
function wholeBlock(e: IndexEntry): IndexEntry {
  return e.kind === EntryKind.SLICE ? { ...e, length: e.blockLength, skip: 0 } : e;
}

/**
 * Bytes of one entry the archive commits to: zeros, or its part of its stored block (all of
 * it but for a SLICE: [skip, skip + length)), the block as the archive decodes it, accepted only
 * when it is the entry's block length and hashes (with the oracle's own hasher) to the entry's hash.
 */
async function entryTruth(a: Archive, stream: StreamName, e: IndexEntry, truth: ArchiveTruth, memo: Map<string, Uint8Array | null>): Promise<Uint8Array | null> {
  if (e.kind === EntryKind.ZERO) return new Uint8Array(e.length);
  const key = blockKey(stream, e);
  let block = memo.get(key);
  if (block === undefined) {
    block = null;
    try {
      const [b] = await a.readEntries(stream, [wholeBlock(e)]);
      if (b.length === e.blockLength && bytesEqual(truth.hash(b), e.hash)) block = b.slice();
    } catch { /* not verifiable */ }
    memo.set(key, block);
  }
  return block && e.skip + e.length <= block.length ? block.subarray(e.skip, e.skip + e.length) : null;
}

/** One stored block: where, how encoded, how long decoded, and what it hashes to (SLICE entries of one block share it). */
const blockKey = (stream: string, e: IndexEntry) => `${stream}:${e.slot}:${e.storedOffset}:${e.storedLength}:${e.encoding}:${e.blockLength}:${Buffer.from(e.hash).toString('hex')}`;

/** Checks many stored entries at once (one batched load of their whole blocks; per entry only when the batch fails). */
async function allVerify(a: Archive, stream: StreamName, entries: IndexEntry[], truth: ArchiveTruth): Promise<IndexEntry | undefined> {
  const stored = entries.filter((e) => e.kind !== EntryKind.ZERO);
  for (let k = 0; k < stored.length; k += 512) {
    const batch = stored.slice(k, k + 512);
    let datas: Uint8Array[] | undefined;
    try {
      datas = await a.readEntries(stream, batch.map(wholeBlock));
    } catch { /* find the culprit below */ }
    if (datas) {
      const bad = batch.find((e, i) => datas![i].length !== e.blockLength || !bytesEqual(truth.hash(datas![i]), e.hash));
      if (bad) return bad;
      continue;
    }
    const memo = new Map<string, Uint8Array | null>();
    for (const e of batch) if (!(await entryTruth(a, stream, e, truth, memo))) return e;
  }
  return undefined;
}

/** Judges bytes `r` returned for [off, off+len) of `stream` (see the module comment). */
async function checkRead(j: Judge, op: string, a: Archive, stream: StreamName, off: number, len: number, r: Uint8Array, truth: ArchiveTruth): Promise<void> {
  if (r.length !== len) return j.finding('wrong-bytes', op, `returned ${r.length} bytes for a ${len}-byte read`);
  const orig = truth.originals[stream];
  if (orig && off + len <= orig.length && bytesEqual(r, orig.subarray(off, off + len))) return;
  if (truth.model.headerProblem) return j.finding('wrong-bytes', op, `bytes differ from the original although the header does not decode (${truth.model.headerProblem})`);
  const m = truth.model.streams[STREAM_NAMES.indexOf(stream)];
  const cover = coveringEntries(m, off, off + len);
  if (typeof cover === 'string') return j.finding('wrong-bytes', op, `bytes differ from the original and the index does not vouch for them: ${cover}${m.problem ? `; oracle: ${m.problem}` : ''}`);
  const memo = new Map<string, Uint8Array | null>();
  for (const e of cover) {
    const from = Math.max(off, e.offset);
    const to = Math.min(off + len, e.offset + e.length);
    const t = await entryTruth(a, stream, e, truth, memo);
    if (!t) return j.finding('wrong-bytes', op, `bytes differ from the original at ${from}, inside entry @${e.offset} (kind ${e.kind}) whose content does not verify`);
    if (!bytesEqual(r.subarray(from - off, to - off), t.subarray(from - e.offset, to - e.offset))) {
      return j.finding('wrong-bytes', op, `bytes at ${from}..${to} differ from entry @${e.offset} (kind ${e.kind}, len ${e.length}) and from the original`);
    }
  }
}

/** After verify said the archive is sound: the oracle must agree that every stream's index is valid and every stored entry verifies. */
async function judgeFullAcceptance(j: Judge, op: string, path: string, truth: ArchiveTruth, password?: string): Promise<void> {
  if (truth.model.headerProblem) return j.finding('accepted-invalid', op, `passed, but the header does not decode: ${truth.model.headerProblem}`);
  let a: Archive | undefined;
  try {
    a = await Archive.open(path, { password });
    for (const [i, m] of truth.model.streams.entries()) {
      if (!m.present) continue;
      const stream = STREAM_NAMES[i];
      if (m.problem) return j.finding('accepted-invalid', op, `passed, but the oracle's walk of ${stream} finds: ${m.problem}`);
      const bad = await allVerify(a, stream, m.entries, truth);
      if (bad) return j.finding('accepted-invalid', op, `passed, but ${stream} entry @${bad.offset} does not read back to its hash`);
    }
  } catch (err) {
    j.finding('accepted-invalid', op, `passed, but opening it again fails: ${(err as Error).message}`);
  } finally {
    await a?.close().catch(() => {});
  }
}

/** The image reader over a (mutated) qcow2 file; an occasional pack of it. */
async function qcow2Ops(j: Judge, item: CorpusItem, dir: string, rng: Rng): Promise<void> {
  const path = join(dir, j.result.target);
  const meta = item.files.find((f) => f.file === j.result.target)!;
  const original = cached(join(item.dir, meta.original.disk));
  const unmutated = j.result.flavour === 'none';
  const img = await j.run('openImage', () => openImage(path));
  if (img) {
    try {
      const size = img.size;
      const ranges: [number, number][] = [[0, Math.min(size, 4096)], [Math.max(0, size - 1), Math.min(1, size)]];
      for (let k = 0; k < 4 && size > 0; k++) {
        const off = rng.int(size);
        ranges.push([off, Math.min(size - off, 1 + rng.int(rng.pick([512, 70000])))]);
      }
      if (size > 0 && size <= 16 << 20) ranges.push([0, size]);
      for (const [off, len] of ranges) {
        const op = `image.read(${off},${len})`;
        const r = await j.run(op, () => img.read(off, len));
        if (!r) continue;
        if (r.length !== len) j.finding('wrong-bytes', op, `returned ${r.length} bytes for ${len}`);
        else if (unmutated && !bytesEqual(r, original.subarray(off, off + len))) j.finding('wrong-bytes', op, 'an unmutated image read differently from its source');
      }
      if (size > 0 && size <= 1 << 40) {
        const ext = await j.run('image.extents', () => img.extents(0, size));
        if (ext) {
          let at = 0;
          for (const e of ext) {
            if (e.offset !== at || e.length <= 0) { j.finding('accepted-invalid', 'image.extents', `extent at ${e.offset} (length ${e.length}), expected one at ${at}`); break; }
            at += e.length;
          }
          if (at === size && size <= 16 << 20) {
            // A zero extent never holds anything else (DiskImage contract).
            for (const e of ext.filter((x) => x.kind === 'zero').slice(0, 8)) {
              const r = await j.run('image.read(zero extent)', () => img.read(e.offset, Math.min(e.length, 1 << 20)));
              if (r && r.some((x) => x !== 0)) { j.finding('wrong-bytes', 'image.read(zero extent)', `zero extent at ${e.offset} reads non-zero bytes`); break; }
            }
          } else if (at !== size) j.finding('accepted-invalid', 'image.extents', `extents cover ${at} of ${size} bytes`);
        }
      }
    } finally {
      await j.run('image.close', () => img.close());
    }
  }
  if (rng.chance(0.08)) {
    const out = join(dir, 'packed.hxz');
    const r = await j.run('pack(qcow2)', () => pack({ disk: path, output: out, workers: 1, blockSize: 4096 }));
    if (r) rmSync(out, { force: true });
  }
}

/**
 * The fuzzer's corpus: small archives of every kind (and qcow2 images when qemu-img is
 * installed; partitioned disks and ext2/3/4 images when sgdisk, sfdisk and e2fsprogs are; tars
 * of a generated tree made by GNU tar and tar-stream, and `hexz build` specs), built
 * deterministically at start in a temporary directory. Everything here is a pure function
 * of fixed seeds, so a case seed replays against the same bytes in a later run.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Archive, pack, type PackOptions } from '../../src/index.ts';
import { dictionaryTrainingAvailable } from '../../src/codec/zstd-dict-trainer.ts';
import { signArchive } from '../../src/ops/sign.ts';
import { commitOverlay } from '../../src/ops/commit-overlay.ts';
import { Overlay } from '../../src/overlay/overlay.ts';
import { EntryKind, HEADER_SIZE, METADATA_HASH_OFFSET } from '../../src/format/constants.ts';
import type { IndexEntry } from '../../src/format/entry.ts';
import { decodeHeader, resealHeader } from '../../src/format/header.ts';
import { blake3 } from '../../src/hash/blake3.ts';
import { buildExt4Seeds } from './ext4-seeds.ts';
import { buildPartitionSeeds } from './partition-seeds.ts';
import { buildSpecSeeds } from './spec-fuzz.ts';
import { buildTarSeeds } from './tar-seeds.ts';
import { Rng } from './rng.ts';

/** Every kind a case can pick; the pick is made from the case seed over this fixed list. */
export const KINDS = [
  'zstd', 'lz4', 'cdc', 'dict', 'encrypted', 'signed', 'two-streams', 'thin', 'thin-encrypted',
  'qcow2', 'qcow2-zlib', 'qcow2-backing', 'partitions', 'ext4', 'tar', 'spec', 'sliced',
] as const;
export type KindName = (typeof KINDS)[number];

/** One file of a corpus item a mutation may target. */
export interface CorpusFile {
  /** File name inside the item's directory. */
  file: string;
  /** Raw contents per stream (archives) or of the virtual disk (qcow2): file names in the item's directory. */
  original: Record<string, string>;
  /** Hex data key of an encrypted archive (so cases can re-seal without running Argon2id). */
  dataKey?: string;
  /** Disk images: a JSON file in the item's directory saying what the unmutated image holds. */
  expect?: string;
}

/** A corpus item: one kind, one directory holding its files (a thin chain's archives side by side). */
export interface CorpusItem {
  kind: KindName;
  /**
   * `partitions` and `ext4`: raw disk images read with src/fs (the pure parsers of disk contents).
   * `tar`: tar files (plain, .gz, .zst) read with src/build/tree/scan-tar.ts and laid out as ext4.
   * `spec`: `hexz build --spec` TOML files read with src/build/spec.ts.
   */
  format: 'hxz' | 'qcow2' | 'partitions' | 'ext4' | 'tar' | 'spec';
  /** Absolute directory. */
  dir: string;
  files: CorpusFile[];
  /** The file the operations start from (a thin chain's grandchild, a qcow2 overlay). */
  top: string;
  password?: string;
}

export interface Corpus {
  root: string;
  items: Partial<Record<KindName, CorpusItem>>;
  /** PEM of the Ed25519 key the signed kind is signed with (the fuzzer re-signs crafted archives). */
  signingKeyPem: string;
  skipped: string[];
}

/** The fuzzer's password for encrypted kinds. */
export const FUZZ_PASSWORD = 'fuzz-password';
/** Smallest legal Argon2id costs (§12.2), so every open costs microseconds. */
const KDF = { memoryKiB: 8, iterations: 1, lanes: 1 };
const CREATED = Date.UTC(2026, 0, 1);
const SIGNED_AT = Date.UTC(2026, 0, 2);

/** Deterministic "random" bytes for pack's encryption envelope: SHA-256 in counter mode over a label. */
function labelled(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += 32) out.set(createHash('sha256').update(`${label}/${counter++}`).digest().subarray(0, Math.min(32, n - at)), at);
    return out;
  };
}

const idOf = (label: string) => new Uint8Array(createHash('sha256').update(`hexz fuzz id ${label}`).digest().subarray(0, 16));

/** An Ed25519 private key from a fixed seed (PKCS#8 DER prefix + 32 bytes). */
function fixedSigningKey() {
  const seed = createHash('sha256').update('hexz fuzz signing key').digest();
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

const WORDS = ['disk', 'memory', 'block', 'sector', 'inode', 'page', 'kernel', 'zstd', 'hexz', 'the', '\n'];

/**
 * `size` bytes of `unit`-sized pieces: random, text, zero runs of several units, copies of
 * earlier pieces (dedup), half-random-half-zero pieces.
 */
export function corpusData(size: number, seed: number, unit = 4096, zeroWeight = 2): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(size);
  const copyable: number[] = [];
  for (let at = 0; at < size;) {
    const kind = rng.weighted([[3, 'random'], [3, 'text'], [zeroWeight, 'zeros'], [2, 'copy'], [1, 'half']] as const);
    const units = kind === 'zeros' ? rng.range(1, 6) : 1;
    const n = Math.min(unit * units, size - at);
    const piece = out.subarray(at, at + n);
    if (kind === 'random') { piece.set(rng.bytes(n)); copyable.push(at); }
    else if (kind === 'text') {
      let i = 0;
      while (i < n) { const w = rng.pick(WORDS); for (let k = 0; k < w.length && i < n; k++) piece[i++] = w.charCodeAt(k); if (i < n) piece[i++] = 32; }
      copyable.push(at);
    } else if (kind === 'copy' && copyable.length) {
      const from = rng.pick(copyable);
      piece.set(out.subarray(from, from + Math.min(n, size - from)));
    } else if (kind === 'half') piece.set(rng.bytes(n >> 1));
    at += n;
  }
  return out;
}

/** `data` with a few units rewritten (a later generation of a thin chain). */
function evolve(data: Uint8Array, seed: number, unit = 4096): Uint8Array {
  const rng = new Rng(seed);
  const out = data.slice();
  for (let k = 0; k < 6; k++) {
    const at = rng.int(Math.floor(data.length / unit)) * unit;
    out.set(rng.bytes(Math.min(unit, out.length - at)), at);
  }
  return out;
}

/**
 * Builds every kind that this machine can build into `root` (skipping the dictionary kind
 * without koffi/libzstd and qcow2 kinds without qemu-img).
 */
export async function buildCorpus(root: string, log: (line: string) => void = () => {}): Promise<Corpus> {
  const items: Corpus['items'] = {};
  const skipped: string[] = [];
  const key = fixedSigningKey();
  const signingKeyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  const dir = (kind: string) => { const d = join(root, kind); mkdirSync(d, { recursive: true }); return d; };
  const raw = (d: string, name: string, data: Uint8Array) => { writeFileSync(join(d, name), data); return name; };

  /** Packs one archive of a kind; returns its CorpusFile. */
  async function archive(d: string, file: string, streams: Record<string, Uint8Array>, options: Partial<PackOptions>, label: string): Promise<CorpusFile> {
    const original: Record<string, string> = {};
    for (const [s, data] of Object.entries(streams)) original[s] = raw(d, `${file}.${s}.raw`, data);
    await pack({
      disk: streams.disk ? join(d, original.disk) : undefined, memory: streams.memory ? join(d, original.memory) : undefined,
      output: join(d, file), workers: 1, force: true, archiveId: idOf(label), createdMs: CREATED, metadata: { tool: 'hexz fuzz', label },
      ...options,
    });
    const out: CorpusFile = { file, original };
    if (options.encrypt) {
      const a = await Archive.open(join(d, file), { password: options.encrypt.password, openParents: false });
      out.dataKey = Buffer.from(a.dataKey!).toString('hex');
      await a.close();
    }
    return out;
  }
  const encrypt = (label: string) => ({ password: FUZZ_PASSWORD, kdf: KDF, random: labelled(label) });

  const t0 = Date.now();
  {
    const d = dir('zstd');
    items.zstd = { kind: 'zstd', format: 'hxz', dir: d, top: 'a.hxz', files: [await archive(d, 'a.hxz', { disk: corpusData(300_001, 11) }, { compression: 'zstd', blockSize: 4096 }, 'zstd')] };
  }
  {
    const d = dir('lz4');
    items.lz4 = { kind: 'lz4', format: 'hxz', dir: d, top: 'a.hxz', files: [await archive(d, 'a.hxz', { disk: corpusData(600_000, 12, 16384) }, { compression: 'lz4', blockSize: 16384 }, 'lz4')] };
  }
  {
    const d = dir('cdc');
    items.cdc = { kind: 'cdc', format: 'hxz', dir: d, top: 'a.hxz', files: [await archive(d, 'a.hxz', { disk: corpusData(400_000, 13, 3000), memory: corpusData(100_000, 14, 3000) }, { compression: 'zstd', cdc: { min: 1024, avg: 4096, max: 16384 } }, 'cdc')] };
  }
  if (await dictionaryTrainingAvailable()) {
    const d = dir('dict');
    items.dict = { kind: 'dict', format: 'hxz', dir: d, top: 'a.hxz', files: [await archive(d, 'a.hxz', { disk: corpusData(500_000, 15) }, { compression: 'zstd', blockSize: 4096, trainDict: true }, 'dict')] };
  } else skipped.push('dict (koffi or libzstd.so.1 missing)');
  {
    const d = dir('encrypted');
    // Over 1024 entries: a two-level index (sealed internal node and leaves).
    items.encrypted = {
      kind: 'encrypted', format: 'hxz', dir: d, top: 'a.hxz', password: FUZZ_PASSWORD,
      files: [await archive(d, 'a.hxz', { disk: corpusData(5_000_000, 16, 4096, 0.3), memory: corpusData(200_000, 17) }, { compression: 'zstd', blockSize: 4096, encrypt: encrypt('encrypted') }, 'encrypted')],
    };
  }
  {
    const d = dir('signed');
    const f = await archive(d, 'a.hxz', { disk: corpusData(300_000, 18), memory: corpusData(50_000, 19) }, { compression: 'lz4', blockSize: 4096 }, 'signed');
    await signArchive(join(d, 'a.hxz'), { key, now: () => SIGNED_AT });
    items.signed = { kind: 'signed', format: 'hxz', dir: d, top: 'a.hxz', files: [f] };
  }
  {
    const d = dir('two-streams');
    // Disk over 1024 entries (root at level 1); memory different content, sharing a few blocks.
    const disk = corpusData(5_000_000, 20, 4096, 0.3);
    const memory = corpusData(400_000, 21);
    memory.set(disk.subarray(8192, 8192 + 16384), 40960);
    items['two-streams'] = { kind: 'two-streams', format: 'hxz', dir: d, top: 'a.hxz', files: [await archive(d, 'a.hxz', { disk, memory }, { compression: 'zstd', blockSize: 4096 }, 'two-streams')] };
  }
  for (const enc of [false, true]) {
    const kind = enc ? 'thin-encrypted' : 'thin';
    const d = dir(kind);
    const disk0 = corpusData(400_000, 22);
    const mem0 = corpusData(120_000, 23);
    const disk1 = evolve(disk0, 24);
    const disk2 = evolve(disk1, 25);
    const mem2 = evolve(mem0, 26);
    const e = enc ? encrypt : () => undefined;
    const files = [
      await archive(d, 'base.hxz', { disk: disk0, memory: mem0 }, { compression: 'zstd', blockSize: 4096, encrypt: e(`${kind}-base`) }, `${kind}-base`),
      await archive(d, 'child.hxz', { disk: disk1, memory: mem0 }, { parent: join(d, 'base.hxz'), encrypt: e(`${kind}-child`) }, `${kind}-child`),
      await archive(d, 'grandchild.hxz', { disk: disk2, memory: mem2 }, { parent: join(d, 'child.hxz'), encrypt: e(`${kind}-grandchild`) }, `${kind}-grandchild`),
    ];
    items[kind] = { kind, format: 'hxz', dir: d, top: 'grandchild.hxz', files, password: enc ? FUZZ_PASSWORD : undefined };
  }
  {
    const d = dir('sliced');
    const base = await archive(d, 'base.hxz', { disk: slicedBase.disk(), memory: slicedBase.memory() }, { compression: 'zstd', blockSize: SLICED_BLOCK }, 'sliced-base');
    const child = await slicedChild(d, 'base.hxz', 'child.hxz', new Rng(42));
    items.sliced = { kind: 'sliced', format: 'hxz', dir: d, top: 'child.hxz', files: [child, base] };
  }
  log(`archives built in ${Date.now() - t0} ms`);

  if (hasQemuImg()) {
    const t1 = Date.now();
    const qemu = (args: string[]) => execFileSync('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    {
      const d = dir('qcow2');
      raw(d, 'disk.raw', corpusData(1 << 20, 30, 1024));
      qemu(['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=1024', join(d, 'disk.raw'), join(d, 'a.qcow2')]);
      items.qcow2 = { kind: 'qcow2', format: 'qcow2', dir: d, top: 'a.qcow2', files: [{ file: 'a.qcow2', original: { disk: 'disk.raw' } }] };
    }
    {
      const d = dir('qcow2-zlib');
      raw(d, 'disk.raw', corpusData(1 << 20, 31, 4096));
      qemu(['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096,compression_type=zlib', join(d, 'disk.raw'), join(d, 'a.qcow2')]);
      items['qcow2-zlib'] = { kind: 'qcow2-zlib', format: 'qcow2', dir: d, top: 'a.qcow2', files: [{ file: 'a.qcow2', original: { disk: 'disk.raw' } }] };
    }
    {
      const d = dir('qcow2-backing');
      const base = corpusData(1 << 20, 32, 2048);
      raw(d, 'base.raw', base);
      qemu(['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=2048', join(d, 'base.raw'), join(d, 'base.qcow2')]);
      qemu(['create', '-f', 'qcow2', '-o', 'cluster_size=2048', '-b', 'base.qcow2', '-F', 'qcow2', join(d, 'top.qcow2')]);
      // Overwrite a few ranges in the overlay (the rest falls through to the backing file).
      const top = base.slice();
      const writes: [number, number, number][] = [[0x40000, 8192, 0xab], [0x81000, 4096, 0x00], [0xf0000, 6144, 0x5c]];
      for (const [off, len, pat] of writes) {
        execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pat} ${off} ${len}`, join(d, 'top.qcow2')], { stdio: 'ignore' });
        top.fill(pat, off, off + len);
      }
      raw(d, 'top.raw', top);
      items['qcow2-backing'] = {
        kind: 'qcow2-backing', format: 'qcow2', dir: d, top: 'top.qcow2',
        files: [{ file: 'top.qcow2', original: { disk: 'top.raw' } }, { file: 'base.qcow2', original: { disk: 'base.raw' } }],
      };
    }
    log(`qcow2 images built in ${Date.now() - t1} ms`);
  } else skipped.push('qcow2, qcow2-zlib, qcow2-backing (qemu-img missing)');

  for (const [kind, build] of [['partitions', buildPartitionSeeds], ['ext4', buildExt4Seeds], ['tar', buildTarSeeds], ['spec', buildSpecSeeds]] as const) {
    const t2 = Date.now();
    const built = await build(join(root, kind));
    if (built.item) {
      items[kind] = built.item;
      log(`${kind} seeds built in ${Date.now() - t2} ms`);
    } else skipped.push(built.skipped!);
  }
  return { root, items, signingKeyPem, skipped };
}

/** Block size of the `sliced` kind's base: a block written less than half (under 2 pages) is sliced. */
const SLICED_BLOCK = 16384;
const PAGE = 4096;

/** The `sliced` kind's base streams: mixed 4 KiB pieces, and a run of zero blocks (a ZERO entry to write into). */
const slicedBase = {
  disk(): Uint8Array {
    const d = corpusData(48 * SLICED_BLOCK, 40, PAGE, 1);
    d.fill(0, 30 * SLICED_BLOCK, 33 * SLICED_BLOCK);
    return d;
  },
  memory: () => corpusData(8 * SLICED_BLOCK, 41, PAGE),
};

/**
 * The `sliced` kind's child: an overlay on `baseFile` (in `d`) with small scattered writes,
 * committed as a thin child (commit-overlay.ts), so the base blocks the writes cover less than
 * half are SLICE entries (slot 1) around new small blocks. Writes, each touching blocks no
 * other write touches, all from `rng`: one page in each of several stored blocks; a short
 * unaligned write inside one page; one write across the boundary of two stored blocks (a page of
 * each); one page into the run of zero blocks; zeroes over one page of a stored block; and one
 * page of the memory stream. The overlay's random id (in the child's metadata) is replaced by a
 * fixed one, so the child is a function of the seeds like every corpus file.
 * @throws Error when the child has no SLICE entries of slot 1 (with and without a skip): the kind
 *   must not silently become another thin kind.
 */
async function slicedChild(d: string, baseFile: string, file: string, rng: Rng): Promise<CorpusFile> {
  const B = SLICED_BLOCK;
  const base = await Archive.open(join(d, baseFile));
  const streams = { disk: slicedBase.disk(), memory: slicedBase.memory() };
  const writes: { stream: 'disk' | 'memory'; offset: number; data?: Uint8Array; zeroes?: number }[] = [];
  try {
    const entries: Record<'disk' | 'memory', IndexEntry[]> = { disk: [], memory: [] };
    for (const s of ['disk', 'memory'] as const) for await (const e of base.entries(s)) entries[s].push(e);
    const used = new Set<string>();
    /** A stored base block of `stream` (whole, not the last) that no write touches yet (and the block after it, for `pair`). */
    const storedBlock = (stream: 'disk' | 'memory', pair = false): number => {
      const size = streams[stream].length;
      const ok = (b: number) => !used.has(`${stream}:${b}`) && (b + 1) * B < size
        && entries[stream].some((e) => e.kind !== EntryKind.ZERO && e.offset === b * B && e.length === B);
      const candidates = Array.from({ length: Math.floor(size / B) }, (_, b) => b).filter((b) => ok(b) && (!pair || ok(b + 1)));
      if (!candidates.length) throw new Error(`sliced corpus: no free stored block in ${stream}`);
      const b = rng.pick(candidates);
      used.add(`${stream}:${b}`);
      if (pair) used.add(`${stream}:${b + 1}`);
      return b;
    };
    for (let k = 0; k < 4; k++) writes.push({ stream: 'disk', offset: storedBlock('disk') * B + rng.int(B / PAGE) * PAGE, data: rng.bytes(PAGE) });
    writes.push({ stream: 'disk', offset: storedBlock('disk') * B + rng.int(B / PAGE) * PAGE + rng.range(1, 2000), data: rng.bytes(rng.range(100, 2000)) });
    const pair = storedBlock('disk', true);
    const back = rng.range(1, PAGE);
    writes.push({ stream: 'disk', offset: (pair + 1) * B - back, data: rng.bytes(back + rng.range(1, PAGE)) });
    const zero = entries.disk.find((e) => e.kind === EntryKind.ZERO && e.length >= 3 * B);
    if (!zero) throw new Error('sliced corpus: the base has no run of zero blocks');
    writes.push({ stream: 'disk', offset: zero.offset + B + rng.int(B / PAGE) * PAGE, data: rng.bytes(PAGE) });
    writes.push({ stream: 'disk', offset: storedBlock('disk') * B + rng.range(1, B / PAGE - 2) * PAGE, zeroes: PAGE });
    writes.push({ stream: 'memory', offset: storedBlock('memory') * B + rng.int(B / PAGE) * PAGE, data: rng.bytes(PAGE) });
    const ov = await Overlay.create(join(d, 'sliced.overlay'), base);
    try {
      for (const w of writes) {
        if (w.data) {
          await ov.write(w.stream, w.offset, w.data);
          streams[w.stream].set(w.data, w.offset);
        } else {
          await ov.writeZeroes(w.stream, w.offset, w.zeroes!);
          streams[w.stream].fill(0, w.offset, w.offset + w.zeroes!);
        }
      }
    } finally {
      await ov.close();
    }
  } finally {
    await base.close();
  }
  const out = join(d, file);
  await commitOverlay(join(d, 'sliced.overlay'), { output: out, workers: 1, archiveId: idOf('sliced-child'), createdMs: CREATED });
  rmSync(join(d, 'sliced.overlay'));
  fixOverlayId(out);
  const original: Record<string, string> = {};
  for (const [s, data] of Object.entries(streams)) {
    original[s] = `${file}.${s}.raw`;
    writeFileSync(join(d, original[s]), data);
  }
  // The kind exists for its SLICE entries: check it has them, and that it reads back as written.
  const a = await Archive.open(out);
  try {
    const slices = [];
    for await (const e of a.entries('disk')) if (e.kind === EntryKind.SLICE && e.slot === 1) slices.push(e);
    if (slices.length < 4 || !slices.some((e) => e.skip > 0) || !slices.some((e) => e.skip === 0)) {
      throw new Error(`sliced corpus: ${file} has ${slices.length} SLICE entries of slot 1 (${slices.filter((e) => e.skip > 0).length} with a skip); expected at least 4, with and without a skip`);
    }
    for (const s of ['disk', 'memory'] as const) {
      if (!Buffer.from(await a.readAt(s, 0, a.size(s))).equals(streams[s])) throw new Error(`sliced corpus: ${file} does not read back as written (${s})`);
    }
  } finally {
    await a.close();
  }
  return { file, original };
}

/**
 * Replaces the random overlay id in a committed child's metadata (`"overlayId":"<hex>"`) with a
 * fixed one of the same length, then re-hashes the metadata into the header and re-seals it.
 */
function fixOverlayId(path: string): void {
  const bytes = new Uint8Array(readFileSync(path));
  const h = decodeHeader(bytes.subarray(0, HEADER_SIZE), blake3);
  const { offset, length } = h.metadata;
  const text = Buffer.from(bytes.subarray(offset, offset + length)).toString('latin1');
  const fixed = text.replace(/("overlayId":")([0-9a-f]{32})"/, (_, k: string) => `${k}${'0f'.repeat(16)}"`);
  if (fixed === text) throw new Error(`sliced corpus: no overlay id in the metadata of ${path}`);
  bytes.set(Buffer.from(fixed, 'latin1'), offset);
  bytes.set(blake3(bytes.subarray(offset, offset + length)), METADATA_HASH_OFFSET);
  resealHeader(bytes.subarray(0, HEADER_SIZE), blake3);
  writeFileSync(path, bytes);
}

function hasQemuImg(): boolean {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return existsSync('/usr/bin/qemu-io') || (execFileSync('sh', ['-c', 'command -v qemu-io'], { stdio: 'pipe' }).length > 0);
  } catch {
    return false;
  }
}

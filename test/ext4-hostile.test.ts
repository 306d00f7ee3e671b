/**
 * Damaged and hostile ext4 images. Each named fixture has one defect (named in the test) and
 * must give its own clear error — a CorruptImageError naming the superblock, group, inode,
 * block or directory; a UsageError for a symlink loop — quickly and with bounded memory. Then a
 * fuzz-like run: a few thousand random mutations of small images' metadata blocks, half of
 * them with their checksums resealed so the checks pass and only the structure lies; listing
 * the whole tree and reading every file must either work or throw a HexzError, never anything
 * else, and never take long.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CorruptImageError, HexzError, UsageError } from '../src/errors.ts';
import {
  dirLeafChecksum, dxNodeChecksum, extentBlockChecksum, groupDescChecksum, inodeChecksum, inodeChecksumSeed,
  superblockChecksum,
} from '../src/fs/ext4/checksums.ts';
import { classifyDirBlock } from '../src/fs/ext4/directory.ts';
import { Ext4Filesystem, type FileType } from '../src/fs/ext4/index.ts';
import { decodeSuperblock, type Superblock } from '../src/fs/ext4/superblock.ts';
import { debugfs, inodeOffset, makeSparse, MemoryDevice, mkfs, run, SKIP_WITHOUT_E2FSPROGS } from './ext4-helpers.ts';
import { randomData, Rng, tempDir } from './helpers.ts';

const BS = 1024;
const INLINE_DATA_FL = 0x10000000;
const EXTENTS_FL = 0x80000;

/** A small tree with one of everything the reader walks: htree, extent block, indirect blocks, symlinks. */
function buildSmallTree(root: string): void {
  mkdirSync(`${root}/d`, { recursive: true });
  for (let i = 0; i < 60; i++) writeFileSync(`${root}/d/entry-${i}-with-a-longer-name`, `e${i}`);
  mkdirSync(`${root}/nested/deeper`, { recursive: true });
  writeFileSync(`${root}/nested/deeper/x.txt`, 'x');
  writeFileSync(`${root}/nested/y.txt`, 'y');
  writeFileSync(`${root}/small.txt`, 'small file\n');
  writeFileSync(`${root}/mid.bin`, randomData(20_000, 1));
  writeFileSync(`${root}/big.bin`, randomData(300_000, 2));
  // Data in every other block: 16 extents, more than i_block's 4, so an extent tree block.
  makeSparse(root, 'frag', 32 * BS, Array.from({ length: 16 }, (_, i) => ({ offset: 2 * i * BS, length: BS })));
  symlinkSync('small.txt', `${root}/fast-link`);
  symlinkSync(`nested/${'s'.repeat(100)}/../y.txt`, `${root}/slow-link`);
  symlinkSync('loop-b', `${root}/loop-a`);
  symlinkSync('loop-a', `${root}/loop-b`);
  writeFileSync(`${root}/inline-ish`, 'tiny');
}

/** How the images are made: [name, mkfs kind, extra mkfs args]. */
const BASES: [string, 'ext2' | 'ext4', string[]][] = [
  ['ext4 metadata_csum', 'ext4', ['-O', '^has_journal']],
  ['ext4 without checksums', 'ext4', ['-O', '^has_journal,^metadata_csum']],
  ['ext2 block maps', 'ext2', []],
  ['ext4 inline_data', 'ext4', ['-O', '^has_journal,inline_data']],
];

function makeImage(tmp: ReturnType<typeof tempDir>, tree: string, name: string, kind: 'ext2' | 'ext4', args: string[]): string {
  const img = tmp.path(`${name.replace(/\W+/g, '-')}.img`);
  mkfs(kind, img, '3M', tree, ['-b', String(BS), '-N', '128', ...args]);
  run('e2fsck', ['-fyD', img], [0, 1]);
  return img;
}

/** Runs `fn` and checks it fails with `cls` and a message matching `pattern`, quickly and small. */
async function expectFailure(fn: () => Promise<unknown>, cls: typeof HexzError, pattern: RegExp): Promise<void> {
  const heapBefore = process.memoryUsage().arrayBuffers;
  const started = performance.now();
  await assert.rejects(fn(), (err: Error) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err.constructor.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
  assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  assert.ok(process.memoryUsage().arrayBuffers - heapBefore < 32 << 20, 'memory stayed bounded');
}

function u32le(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
}

function setU16(bytes: Uint8Array, at: number, v: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(at, v, true);
}

function setU32(bytes: Uint8Array, at: number, v: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, v >>> 0, true);
}

/** The blocks of a file or directory, per debugfs. */
function blockList(img: string, path: string): number[] {
  return debugfs(img, `blocks "${path}"`).trim().split(/\s+/).filter(Boolean).map(Number);
}

describe('ext4 reader: damaged images give their own clear error', { skip: SKIP_WITHOUT_E2FSPROGS }, () => {
  const tmp = tempDir('hexz-ext4-hostile-');
  const images = new Map<string, string>();
  before(() => {
    const tree = tmp.path('tree');
    mkdirSync(tree);
    buildSmallTree(tree);
    for (const [name, kind, args] of BASES) images.set(name, makeImage(tmp, tree, name, kind, args));
  });
  after(() => tmp.cleanup());

  const csum = () => images.get('ext4 metadata_csum') as string;
  const plain = () => images.get('ext4 without checksums') as string;

  let variants = 0;
  /** A copy of `img` with `patch` applied (or debugfs commands run on it), opened from memory. */
  function variant(img: string, patch: (bytes: Uint8Array) => void, debugfsCommands: string[] = []): MemoryDevice {
    const copy = tmp.path(`variant-${variants++}.img`);
    writeFileSync(copy, readFileSync(img));
    for (const cmd of debugfsCommands) debugfs(copy, cmd, true);
    const bytes = new Uint8Array(readFileSync(copy));
    patch(bytes);
    return new MemoryDevice(bytes);
  }
  const inoOf = (img: string, path: string) => Number(/Inode: (\d+)/.exec(debugfs(img, `stat "${path}"`))?.[1]);

  test('bad superblock magic', async () => {
    const dev = variant(csum(), (b) => setU16(b, 1024 + 0x38, 0x1234));
    await expectFailure(() => Ext4Filesystem.open(dev), CorruptImageError, /ext4 superblock: bad magic 0x1234/);
  });

  test('superblock checksum mismatch', async () => {
    const dev = variant(csum(), (b) => { b[1024 + 0x78] ^= 0xff; });
    await expectFailure(() => Ext4Filesystem.open(dev), CorruptImageError, /ext4 superblock: checksum mismatch/);
  });

  test('filesystem larger than the device', async () => {
    const dev = variant(csum(), () => {});
    const short = new MemoryDevice(dev.bytes.subarray(0, 2 << 20));
    await expectFailure(() => Ext4Filesystem.open(short), CorruptImageError, /the filesystem is 3072 blocks of 1024 bytes but the device holds only 2048/);
  });

  test('inodes per group beyond what a group can hold (checksum resealed by debugfs)', async () => {
    const dev = variant(csum(), () => {}, ['ssv inodes_per_group 0xffffffff']);
    await expectFailure(() => Ext4Filesystem.open(dev), CorruptImageError, /s_inodes_per_group 4294967295 is outside 1\.\.8192/);
  });

  test('group descriptor checksum mismatch', async () => {
    // Group 0's descriptor is the first thing in block 2 (1 KiB blocks); bg_free_blocks_count_lo at 0xC.
    const dev = variant(csum(), (b) => { b[2 * BS + 0xc] ^= 0x01; });
    await expectFailure(() => Ext4Filesystem.open(dev), CorruptImageError, /ext4 group descriptor 0: checksum mismatch/);
  });

  test('inode table outside the device (descriptor checksum resealed by debugfs)', async () => {
    const dev = variant(csum(), () => {}, ['set_bg 0 inode_table 9999999', 'set_bg 0 checksum calc']);
    await expectFailure(() => Ext4Filesystem.open(dev), CorruptImageError, /group descriptor 0: inode table at block 9999999 .* lies outside/);
  });

  test('inode checksum mismatch (names the inode; other files still read)', async () => {
    const ino = inoOf(csum(), '/small.txt');
    const at = inodeOffset(csum(), ino, BS);
    const dev = variant(csum(), (b) => { b[at + 0x10] ^= 0x01; });
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.stat(ino), CorruptImageError, new RegExp(`ext4 inode ${ino}: checksum mismatch`));
    await expectFailure(() => fs.lookup('/small.txt'), CorruptImageError, new RegExp(`inode ${ino}: checksum mismatch`));
    assert.equal((await fs.read((await fs.lookup('/mid.bin')).ino, 0, 100_000)).length, 20_000);
  });

  test('extent header bad magic (inode checksum resealed by debugfs)', async () => {
    const ino = inoOf(csum(), '/mid.bin');
    const dev = variant(csum(), () => {}, ['sif /mid.bin block[0] 0x0001beef']);
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.read(ino, 0, 10), CorruptImageError, new RegExp(`ext4 inode ${ino}: extent tree header has bad magic 0xbeef`));
  });

  test('extent depth too large', async () => {
    const ino = inoOf(csum(), '/mid.bin');
    const dev = variant(csum(), () => {}, ['sif /mid.bin block[1] 0x00060004']);
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.read(ino, 0, 10), CorruptImageError, new RegExp(`ext4 inode ${ino}: extent tree depth 6 is larger than 5`));
  });

  test('extent pointing past the device', async () => {
    const ino = inoOf(csum(), '/mid.bin');
    const dev = variant(csum(), () => {}, ['sif /mid.bin block[5] 0x7fffffff']);
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.read(ino, 0, 10), CorruptImageError, new RegExp(`inode ${ino} extent 0: block 2147483647 \\(\\+\\d+\\) lies outside the filesystem`));
    await expectFailure(async () => { for await (const x of fs.extents(ino)) void x; }, CorruptImageError, /lies outside the filesystem/);
  });

  test('extent tree block checksum mismatch', async () => {
    const ino = inoOf(csum(), '/frag');
    const etb = Number(/\(ETB0\):(\d+)/.exec(debugfs(csum(), 'stat /frag'))?.[1]);
    assert.ok(etb > 0, 'frag has an extent tree block');
    const dev = variant(csum(), (b) => { b[etb * BS + 20] ^= 0x01; });
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.read(ino, 0, 10), CorruptImageError, new RegExp(`inode ${ino} extent block ${etb}: extent tree block checksum mismatch`));
  });

  test('extent block entries out of order (no checksums to catch it)', async () => {
    const ino = inoOf(plain(), '/frag');
    const etb = Number(/\(ETB0\):(\d+)/.exec(debugfs(plain(), 'stat /frag'))?.[1]);
    const dev = variant(plain(), (b) => setU32(b, etb * BS + 12 + 12, 0)); // second extent's logical block := 0
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.read(ino, 0, 32 * BS), CorruptImageError, new RegExp(`inode ${ino} extent block ${etb}: extent tree extent 1 at logical block 0 overlaps or is out of order`));
  });

  test('directory record length 0', async () => {
    const [block] = blockList(plain(), '/nested');
    const dev = variant(plain(), (b) => setU16(b, block * BS + 4, 0));
    const fs = await Ext4Filesystem.open(dev);
    const ino = inoOf(plain(), '/nested');
    await expectFailure(() => fs.readdir(ino), CorruptImageError, new RegExp(`directory inode ${ino} block 0 \\(block ${block}\\): directory entry at offset 0 has rec_len 0`));
    await expectFailure(() => fs.lookup('/nested/y.txt'), CorruptImageError, /rec_len 0/);
  });

  test('directory record length past the block end', async () => {
    const [block] = blockList(plain(), '/nested');
    const dev = variant(plain(), (b) => setU16(b, block * BS + 12 + 4, 2000)); // '..' spans past the block
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.readdir(inoOf(plain(), '/nested')), CorruptImageError, /directory entry at offset 12 has rec_len 2000, past the end of the block/);
  });

  test('directory entry naming an inode past s_inodes_count', async () => {
    const [block] = blockList(plain(), '/nested');
    const dev = variant(plain(), (b) => setU32(b, block * BS + 24, 0x00ffffff)); // the third entry's inode
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.readdir(inoOf(plain(), '/nested')), CorruptImageError, /names inode 16777215, past s_inodes_count 128/);
  });

  test('directory block checksum mismatch', async () => {
    const [block] = blockList(csum(), '/nested');
    const dev = variant(csum(), (b) => { b[block * BS + 32] ^= 0x01; });
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.readdir(inoOf(csum(), '/nested')), CorruptImageError, /directory inode \d+ block 0 .*: directory block checksum mismatch/);
  });

  test('htree node checksum mismatch', async () => {
    assert.match(debugfs(csum(), 'htree /d'), /Root node dump/);
    const [block] = blockList(csum(), '/d');
    const dev = variant(csum(), (b) => { b[block * BS + 0x28] ^= 0x01; }); // a dx_entry hash in the root
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.readdir(inoOf(csum(), '/d')), CorruptImageError, /htree node checksum mismatch/);
  });

  test('block map pointer outside the filesystem', async () => {
    const img = images.get('ext2 block maps') as string;
    const ino = inoOf(img, '/mid.bin');
    const dev = variant(img, () => {}, ['sif /mid.bin block[IND] 99999999']);
    const fs = await Ext4Filesystem.open(dev);
    await expectFailure(() => fs.read(ino, 0, 20_000), CorruptImageError, new RegExp(`inode ${ino} block map indirect block: block 99999999 lies outside the filesystem`));
  });

  test('symlink loop', async () => {
    const fs = await Ext4Filesystem.open(variant(csum(), () => {}));
    await expectFailure(() => fs.lookup('/loop-a/x'), UsageError, /too many levels of symbolic links \(more than 40\): \/loop-a\/x/);
    await expectFailure(() => fs.lookup('/loop-b', { followFinal: true }), UsageError, /too many levels of symbolic links/);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz

/** Where the metadata of a small image is, and what owns it (to reseal checksums). */
interface MetaMap {
  sb: Superblock;
  inodeTableStart: number;
  inodeTableBlocks: number;
  /** Directory blocks: owner inode and logical block index. */
  dirBlocks: Map<number, { ino: number; index: number }>;
  /** Extent tree blocks (per debugfs) and their owner inode. */
  extentBlocks: Map<number, number>;
  /** Every other non-zero block that is not file data. */
  other: number[];
  paths: string[];
}

async function mapMetadata(bytes: Uint8Array, img: string): Promise<MetaMap> {
  const fs = await Ext4Filesystem.open(new MemoryDevice(bytes));
  const sb = decodeSuperblock(bytes.subarray(1024, 2048), bytes.length);
  const dataBlocks = new Set<number>();
  const dirBlocks = new Map<number, { ino: number; index: number }>();
  const extentBlocks = new Map<number, number>();
  const paths: string[] = [];
  const visit = async (ino: number, type: FileType, path: string): Promise<void> => {
    const st = await fs.stat(ino);
    if (!(st.flags & INLINE_DATA_FL)) {
      for await (const x of fs.extents(ino)) {
        if (x.deviceOffset === null) continue;
        for (let k = 0; k * BS < x.length; k++) {
          const b = x.deviceOffset / BS + k;
          if (type === 'dir') dirBlocks.set(b, { ino, index: x.offset / BS + k });
          else dataBlocks.add(b);
        }
      }
    }
    if (type === 'file' && st.flags & EXTENTS_FL) {
      for (const m of debugfs(img, `stat <${ino}>`).matchAll(/\(ETB\d\):(\d+)/g)) extentBlocks.set(Number(m[1]), ino);
    }
    if (type !== 'dir') return;
    for (const e of await fs.readdir(ino)) {
      paths.push(`${path}/${e.name}`);
      await visit(e.ino, e.type, `${path}/${e.name}`);
    }
  };
  await visit(2, 'dir', '');
  const inodeTableStart = u32le(bytes, 2 * BS + 8);
  const inodeTableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / BS);
  const other: number[] = [];
  for (let b = 3; b < sb.blocksCount; b++) {
    if (dataBlocks.has(b) || dirBlocks.has(b) || (b >= inodeTableStart && b < inodeTableStart + inodeTableBlocks)) continue;
    if (bytes.subarray(b * BS, (b + 1) * BS).some((x) => x !== 0)) other.push(b);
  }
  return { sb, inodeTableStart, inodeTableBlocks, dirBlocks, extentBlocks, other, paths };
}

/** Recomputes every checksum a mutation of `block` may have broken, from the mutated bytes. */
function reseal(bytes: Uint8Array, meta: MetaMap, block: number): void {
  let sb: Superblock;
  try {
    const raw = bytes.subarray(1024, 2048);
    setU32(raw, 0x3fc, superblockChecksum(raw));
    sb = decodeSuperblock(raw, bytes.length);
  } catch {
    return;
  }
  if (!sb.hasMetadataCsum) return;
  const gd = bytes.subarray(2 * BS, 2 * BS + sb.descSize);
  setU16(gd, 0x1e, groupDescChecksum({ kind: 'crc32c', seed: sb.csumSeed }, 0, gd));
  const blockBytes = bytes.subarray(block * BS, (block + 1) * BS);
  const genOf = (ino: number): number => {
    const at = meta.inodeTableStart * BS + (ino - 1) * sb.inodeSize;
    return at + sb.inodeSize <= bytes.length ? u32le(bytes, at + 0x64) : 0;
  };
  const seedOf = (ino: number) => inodeChecksumSeed(sb.csumSeed, ino, genOf(ino));
  if (block >= meta.inodeTableStart && block < meta.inodeTableStart + meta.inodeTableBlocks) {
    for (let off = 0; off + sb.inodeSize <= BS; off += sb.inodeSize) {
      const ino = ((block - meta.inodeTableStart) * BS + off) / sb.inodeSize + 1;
      const raw = blockBytes.subarray(off, off + sb.inodeSize);
      const extra = new DataView(raw.buffer, raw.byteOffset).getUint16(0x80, true);
      const hasHi = 128 + extra >= 0x84 && 128 + extra <= sb.inodeSize;
      const c = inodeChecksum(seedOf(ino), raw, hasHi);
      setU16(raw, 0x7c, c & 0xffff);
      if (hasHi) setU16(raw, 0x82, c >>> 16);
    }
  }
  const dir = meta.dirBlocks.get(block);
  if (dir !== undefined) {
    const kind = classifyDirBlock(blockBytes, true, dir.index, BS);
    if (kind === 'leaf') setU32(blockBytes, BS - 4, dirLeafChecksum(seedOf(dir.ino), blockBytes));
    else {
      const countOffset = kind === 'dx-root' ? 0x20 : 8;
      const limit = blockBytes[countOffset] | (blockBytes[countOffset + 1] << 8);
      const count = blockBytes[countOffset + 2] | (blockBytes[countOffset + 3] << 8);
      const tail = countOffset + limit * 8;
      if (tail + 8 <= BS && count <= limit) setU32(blockBytes, tail + 4, dxNodeChecksum(seedOf(dir.ino), blockBytes, countOffset + count * 8, tail));
    }
  }
  const extentOwner = meta.extentBlocks.get(block);
  if (extentOwner !== undefined) {
    const max = blockBytes[4] | (blockBytes[5] << 8);
    const tail = 12 + 12 * max;
    if (tail + 4 <= BS) setU32(blockBytes, tail, extentBlockChecksum(seedOf(extentOwner), blockBytes, tail));
  }
}

const INTERESTING = [0, 1, 2, 3, 4, 5, 11, 12, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/** Mutates one metadata block of `bytes`; returns the block. */
function mutate(bytes: Uint8Array, meta: MetaMap, rng: Rng): number {
  const dirs = [...meta.dirBlocks.keys()];
  const extentBlocks = [...meta.extentBlocks.keys()];
  const pick = rng.int(100);
  let block: number;
  if (pick < 10) block = 1;
  else if (pick < 18) block = 2;
  else if (pick < 45) block = meta.inodeTableStart + rng.int(Math.min(meta.inodeTableBlocks, 8));
  else if (pick < 75 && dirs.length) block = dirs[rng.int(dirs.length)];
  else if (pick < 85 && extentBlocks.length) block = extentBlocks[rng.int(extentBlocks.length)];
  else block = meta.other.length ? meta.other[rng.int(meta.other.length)] : 1;
  const base = block * BS;
  const span = block === 1 ? 1024 : BS; // block 1 holds the superblock on 1 KiB-block filesystems
  const edits = 1 + rng.int(4);
  for (let i = 0; i < edits; i++) {
    const at = base + rng.int(span);
    const kind = rng.int(3);
    if (kind === 0) bytes[at] = rng.int(256);
    else if (kind === 1) bytes[at] ^= 1 << rng.int(8);
    else {
      const aligned = base + (rng.int(span / 4) * 4);
      const v = rng.int(4) === 0 ? meta.sb.blocksCount - rng.int(3) : INTERESTING[rng.int(INTERESTING.length)];
      if (rng.int(2)) setU32(bytes, aligned, v);
      else setU16(bytes, aligned, v & 0xffff);
    }
  }
  return block;
}

/** Lists, stats, reads and maps everything reachable; any error must be a HexzError. */
async function exercise(
  bytes: Uint8Array, paths: string[], failures: string[], label: string, caught: Map<string, number> = new Map(),
): Promise<void> {
  const check = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof HexzError)) failures.push(`${label}: ${what}: ${(err as Error)?.stack ?? String(err)}`);
      else {
        const key = `${err.name} (${err.location.stage ?? 'usage'})`;
        caught.set(key, (caught.get(key) ?? 0) + 1);
      }
    }
  };
  let fs: Ext4Filesystem | undefined;
  await check('open', async () => { fs = await Ext4Filesystem.open(new MemoryDevice(bytes), { onWarning: () => {} }); });
  if (!fs) return;
  const opened = fs;
  let visited = 0;
  const visit = async (ino: number, type: FileType, depth: number): Promise<void> => {
    if (++visited > 3000 || depth > 40) return;
    await check(`stat ${ino}`, () => opened.stat(ino));
    if (type === 'dir') {
      let entries: { ino: number; type: FileType }[] = [];
      await check(`readdir ${ino}`, async () => { entries = await opened.readdir(ino); });
      for (const e of entries) await visit(e.ino, e.type, depth + 1);
    } else if (type === 'symlink') {
      await check(`readlink ${ino}`, () => opened.readlink(ino));
    } else if (type === 'file') {
      await check(`read ${ino}`, () => opened.read(ino, 0, 1 << 20));
      await check(`read ${ino} far`, () => opened.read(ino, 3 * 2 ** 30, 4096));
    }
    await check(`extents ${ino}`, async () => {
      let n = 0;
      for await (const x of opened.extents(ino)) if (++n > 5000 || x.length < 0) break;
    });
  };
  await visit(2, 'dir', 0);
  for (const p of paths.slice(0, 30)) await check(`lookup ${p}`, () => opened.lookup(p, { followFinal: true }));
}

describe('ext4 reader: fuzzed metadata never escapes as anything but a HexzError, never hangs', { skip: SKIP_WITHOUT_E2FSPROGS }, () => {
  const tmp = tempDir('hexz-ext4-fuzz-');
  const bases: { name: string; bytes: Uint8Array; meta: MetaMap }[] = [];
  before(async () => {
    const tree = tmp.path('tree');
    mkdirSync(tree);
    buildSmallTree(tree);
    for (const [name, kind, args] of BASES) {
      const img = makeImage(tmp, tree, name, kind, args);
      truncateSync(img, 3 << 20);
      const bytes = new Uint8Array(readFileSync(img));
      bases.push({ name, bytes, meta: await mapMetadata(bytes, img) });
    }
  });
  after(() => tmp.cleanup());

  // 250 per image by default (the fuzz campaign, npm run fuzz -- --kind ext4, goes further); 700 with HEXZ_SLOW=1.
  const CASES_PER_IMAGE = Number(process.env.HEXZ_EXT4_FUZZ_CASES ?? (process.env.HEXZ_SLOW === '1' ? 700 : 250));
  for (const [name] of BASES) {
    test(`${CASES_PER_IMAGE} mutations of ${name}`, { timeout: 600_000 }, async (t) => {
      const base = bases.find((b) => b.name === name);
      assert.ok(base);
      // The unmutated image reads cleanly.
      const clean: string[] = [];
      await exercise(base.bytes, base.meta.paths, clean, 'clean');
      assert.deepEqual(clean, []);
      const failures: string[] = [];
      let slowest = 0;
      let total = 0;
      const caught = new Map<string, number>();
      const rng = new Rng(0x5eed + name.length);
      const bytes = base.bytes.slice();
      for (let i = 0; i < CASES_PER_IMAGE; i++) {
        const block = mutate(bytes, base.meta, rng);
        const resealed = base.meta.sb.hasMetadataCsum && rng.int(2) === 0;
        if (resealed) reseal(bytes, base.meta, block);
        const started = performance.now();
        await exercise(bytes, base.meta.paths, failures, `case ${i} (block ${block}${resealed ? ', resealed' : ''})`, caught);
        // Mutated in place, restored here: a case touches only the superblock, the descriptor
        // block (when resealing) and the mutated block.
        for (const b of [1, 2, block]) bytes.set(base.bytes.subarray(b * BS, (b + 1) * BS), b * BS);
        const took = performance.now() - started;
        slowest = Math.max(slowest, took);
        total += took;
        if (took > 2000) failures.push(`case ${i} (block ${block}) took ${Math.round(took)} ms`);
        if (failures.length > 10) break;
      }
      t.diagnostic(`mean ${(total / CASES_PER_IMAGE).toFixed(1)} ms per case, slowest ${Math.round(slowest)} ms`);
      t.diagnostic(`errors met: ${[...caught].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} x${n}`).join(', ')}`);
      assert.deepEqual(failures, [], `slowest case ${Math.round(slowest)} ms`);
    });
  }
});

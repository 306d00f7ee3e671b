/**
 * The ext4 kind's seed images, made at corpus-build time with e2fsprogs from one generated tree
 * (disk-tree.ts): 1 KiB and 4 KiB blocks, with and without metadata_csum (and with gdt_csum),
 * block-mapped (no extents), inline_data, ext2 and ext3; every directory re-indexed by
 * `e2fsck -fD` so the big one is an htree. Deterministic: fixed UUIDs, hash seeds and times
 * (E2FSPROGS_FAKE_TIME, E2FSCK_TIME, and the inode change times mke2fs copies from the host
 * rewritten afterwards), so a case seed replays against the same bytes in a later run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CorpusItem } from './corpus.ts';
import { FIXED_TIME, writeFuzzTree } from './disk-tree.ts';
import { ext4Layout } from './ext4-layout.ts';
import { resealExt4 } from './ext4-reseal.ts';

const UUID = '6a0c3f4e-1b2d-4c5e-8f90-a1b2c3d4e5f6';
const HASH_SEED = '11111111-2222-3333-4444-555555555555';
const TIME_ENV = { ...process.env, E2FSPROGS_FAKE_TIME: String(FIXED_TIME), E2FSCK_TIME: String(FIXED_TIME) };

/** Every seed: file name, mkfs flavour, options, size. */
const SEEDS: { file: string; mkfs: 'ext2' | 'ext3' | 'ext4'; args: string[]; size: string }[] = [
  { file: 'ext4-4k-csum.img', mkfs: 'ext4', args: ['-b', '4096', '-O', '^has_journal'], size: '8M' },
  { file: 'ext4-1k-csum.img', mkfs: 'ext4', args: ['-b', '1024'], size: '8M' },
  { file: 'ext4-1k-gdtcsum.img', mkfs: 'ext4', args: ['-b', '1024', '-O', '^metadata_csum,uninit_bg'], size: '8M' },
  { file: 'ext4-4k-inline.img', mkfs: 'ext4', args: ['-b', '4096', '-O', 'inline_data,^has_journal'], size: '8M' },
  { file: 'ext4-1k-noextent.img', mkfs: 'ext4', args: ['-b', '1024', '-O', '^extent,^64bit,^has_journal'], size: '6M' },
  { file: 'ext2-1k.img', mkfs: 'ext2', args: ['-b', '1024'], size: '6M' },
  { file: 'ext3-1k.img', mkfs: 'ext3', args: ['-b', '1024'], size: '6M' },
];

/** Whether every program in `tools` runs from PATH. */
export function haveTools(...tools: string[]): boolean {
  return tools.every((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

/** `mkfs.KIND -q -F` with the fixed UUID, hash seed and time, then `e2fsck -fyD`. */
export function makeExt(kind: 'ext2' | 'ext3' | 'ext4', img: string, size: string, tree: string, args: string[]): void {
  execFileSync(`mkfs.${kind}`, ['-q', '-F', '-U', UUID, '-E', `hash_seed=${HASH_SEED}`, ...args, '-d', tree, img, size], { stdio: ['ignore', 'ignore', 'pipe'], env: TIME_ENV });
  try {
    execFileSync('e2fsck', ['-fyD', img], { stdio: ['ignore', 'ignore', 'pipe'], env: TIME_ENV });
  } catch (err) {
    // 1: errors corrected (the directories it re-indexed); anything above is a real failure.
    if ((err as { status?: number }).status !== 1) throw err;
  }
}

/**
 * Checks the fuzzer's checksum code against e2fsprogs (resealing the fresh image must change no
 * byte), then makes the image deterministic: the inode access and change times mke2fs took from
 * the host are set to the fixed time and the checksums recomputed.
 * @throws when the resealer disagrees with e2fsprogs (the crafted flavour would be worthless).
 */
export function normaliseExt(img: string): void {
  const bytes = new Uint8Array(readFileSync(img));
  const layout = ext4Layout(bytes);
  const resealed = resealExt4(bytes.slice(), layout);
  if (!Buffer.from(resealed).equals(Buffer.from(bytes))) {
    const diff = resealed.findIndex((x, i) => x !== bytes[i]);
    throw new Error(`${img}: the fuzzer's checksums disagree with e2fsprogs at byte ${diff}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const inode of layout.inodes) {
    // i_atime (0x08, mke2fs reading the tree updated it) and i_ctime (0x0c), and their _extra halves.
    const extra = layout.inodeSize > 128 ? 128 + dv.getUint16(inode.offset + 0x80, true) : 128;
    for (const [at, extraAt] of [[0x08, 0x8c], [0x0c, 0x84]]) {
      dv.setUint32(inode.offset + at, FIXED_TIME, true);
      if (extraAt + 4 <= extra) dv.setUint32(inode.offset + extraAt, 0, true);
    }
  }
  writeFileSync(img, resealExt4(bytes, layout));
}

/** Builds the ext4 kind into `dir`, or says why it cannot. */
export function buildExt4Seeds(dir: string): { item?: CorpusItem; skipped?: string } {
  if (!haveTools('mkfs.ext4', 'mkfs.ext3', 'mkfs.ext2', 'e2fsck')) return { skipped: 'ext4 (e2fsprogs: mkfs.ext4/ext3/ext2, e2fsck missing)' };
  mkdirSync(dir, { recursive: true });
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  const manifest = writeFuzzTree(tree, 0x5eed_0e4, 300);
  writeFileSync(join(dir, 'tree.json'), JSON.stringify(manifest));
  for (const s of SEEDS) {
    makeExt(s.mkfs, join(dir, s.file), s.size, tree, s.args);
    normaliseExt(join(dir, s.file));
  }
  rmSync(tree, { recursive: true, force: true });
  return {
    item: {
      kind: 'ext4', format: 'ext4', dir, top: SEEDS[0].file,
      files: SEEDS.map((s) => ({ file: s.file, original: {}, expect: 'tree.json' })),
    },
  };
}

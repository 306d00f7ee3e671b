/**
 * Lays a tree out at a given filesystem size, or finds the size for `--size auto`: the space up
 * to the last block the tree needs (data with its alignment, directories, extent trees, inode
 * tables, group metadata, the journal), plus a quarter of the blocks in use and 16 MiB, rounded
 * up to a MiB, measured at a larger size tried first (measureExt4 allocates without encoding anything).
 */
import { UsageError } from '../errors.js';
import { layoutExt4, measureExt4, type Ext4Layout, type Ext4LayoutOptions, type Ext4Measure } from './ext4/ext4-layout.js';
import type { SourceTree } from './tree/types.js';

const MiB = 2 ** 20;
/** Free space --size auto leaves: a quarter of the blocks in use, plus this. */
const AUTO_EXTRA = 16 * MiB;
const AUTO_SHARE = 0.25;
/** The smallest filesystem auto picks. */
const AUTO_MIN = 16 * MiB;
/** Sizes tried (each failure doubles the size) before the last one is taken. */
const AUTO_PASSES = 12;

const isFull = (err: unknown): err is UsageError => err instanceof UsageError && /full|at most .* files/.test(err.message);

/**
 * The size --size auto gives `tree`, in bytes (a multiple of 1 MiB).
 * @throws UsageError when the tree cannot be laid out at any size (a file too large for the
 *   filesystem type, a symlink target too long).
 */
export function autoFilesystemSize(tree: SourceTree, options: Omit<Ext4LayoutOptions, 'sizeBytes'>): number {
  const roundMiB = (n: number) => Math.ceil(n / MiB) * MiB;
  const entries = tree.stats.files + tree.stats.dirs + tree.stats.symlinks + tree.stats.others;
  // A first guess from the stats; each pass measures what the tree takes at the size tried.
  let size = roundMiB(Math.max(AUTO_MIN, 1.3 * tree.stats.dataBytes + 16384 * entries + 64 * MiB));
  for (let pass = 0; pass < AUTO_PASSES; pass++) {
    let m: Ext4Measure;
    try {
      m = measureExt4(tree.root, { ...options, sizeBytes: size });
    } catch (err) {
      if (!isFull(err)) throw err;
      size = roundMiB(size * 2);
      continue;
    }
    // Each 128 MiB group holds at most 32768 inodes: a tree of many tiny files needs that room too.
    const forInodes = roundMiB(Math.ceil((entries + 64) * 1.1 / 32768) * 128 * MiB);
    const want = roundMiB(Math.max(AUTO_MIN, forInodes, m.highWater * 4096 + AUTO_SHARE * m.usedBlocks * 4096 + AUTO_EXTRA));
    // Measured at a size at least as large: a smaller filesystem has smaller inode tables and
    // journal, so it needs no more, and the headroom covers the group metadata moving.
    if (want <= size) return want;
    size = want;
  }
  return size;
}

/**
 * Lays `tree` out at `sizeBytes`.
 * @throws UsageError (before anything is written) when the tree does not fit, naming what did not.
 */
export function fitFilesystem(tree: SourceTree, options: Ext4LayoutOptions): Ext4Layout {
  try {
    return layoutExt4(tree.root, options);
  } catch (err) {
    if (isFull(err)) {
      throw new UsageError(`${tree.name} does not fit in a ${options.sizeBytes}-byte ${options.fs} filesystem: ${(err as Error).message}`);
    }
    throw err;
  }
}

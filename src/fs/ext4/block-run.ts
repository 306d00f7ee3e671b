/**
 * A file's logical blocks as runs, whatever maps them (extent tree or block map): the shape
 * reads, directory scans and `extents()` all consume.
 */
import { CorruptImageError } from '../../errors.js';
import { blockMapRuns } from './block-map.js';
import { extentRuns } from './extent-tree.js';
import { InodeFlag, type Inode } from './inode.js';
import type { Ext4Volume } from './volume.js';

/** `count` logical blocks from `lblk`, stored from physical block `pblk`, or a hole when null. */
export interface BlockRun {
  lblk: number;
  count: number;
  /** First physical block, or null for a hole or an unwritten extent (both read as zeros). */
  pblk: number | null;
}

/**
 * Blocks an inode owns by its i_blocks (data, mapping and xattr blocks), in filesystem blocks:
 * no map may yield more data blocks than this. A crafted map that points many logical blocks
 * (or extents) at the same few physical blocks passes every range check; without this bound a
 * 6 MiB image made a directory of millions of entries (minutes, gigabytes).
 */
export function ownedBlocks(vol: Ext4Volume, inode: Inode): number {
  return Math.ceil((inode.blocks * 512) / vol.sb.blockSize);
}

/** The error for a map that yields or visits more blocks than its inode owns. */
export function overOwned(inode: Inode, owned: number): CorruptImageError {
  return new CorruptImageError(`inode ${inode.ino}: its block map covers more blocks than the ${owned} it owns (i_blocks): blocks mapped more than once`, { stage: 'ext4' });
}

/**
 * The runs covering logical blocks [from, to) of a block- or extent-mapped inode, in order, with
 * the holes between mapped runs filled in and contiguous runs merged. Not for inline data.
 * @throws CorruptImageError naming the inode (also when it maps more blocks than it owns); as
 *   the device throws.
 */
export async function* fileRuns(
  vol: Ext4Volume, inode: Inode, from: number, to: number, signal?: AbortSignal,
): AsyncGenerator<BlockRun> {
  if (from >= to) return;
  const mapped = inode.flags & InodeFlag.EXTENTS
    ? extentRuns(vol, inode, from, to, signal)
    : blockMapRuns(vol, inode, from, to, signal);
  let pending: BlockRun | undefined;
  let cursor = from;
  const owned = ownedBlocks(vol, inode);
  let mappedBlocks = 0;
  const push = (run: BlockRun): BlockRun | undefined => {
    if (pending && pending.lblk + pending.count === run.lblk &&
      (pending.pblk === null ? run.pblk === null : run.pblk !== null && pending.pblk + pending.count === run.pblk)) {
      pending.count += run.count;
      return undefined;
    }
    const done = pending;
    pending = { ...run };
    return done;
  };
  for await (const run of mapped) {
    if (run.pblk !== null && (mappedBlocks += run.count) > owned) throw overOwned(inode, owned);
    if (run.lblk > cursor) {
      const done = push({ lblk: cursor, count: run.lblk - cursor, pblk: null });
      if (done) yield done;
    }
    const done = push(run);
    if (done) yield done;
    cursor = run.lblk + run.count;
  }
  if (cursor < to) {
    const done = push({ lblk: cursor, count: to - cursor, pblk: null });
    if (done) yield done;
  }
  if (pending) yield pending;
}

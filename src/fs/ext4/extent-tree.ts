/**
 * Maps a file's logical blocks through its extent tree (ext4 on-disk format, "Extent Tree"),
 * descending only into the subtrees that overlap the requested range. Each node's entries must
 * lie inside the range its parent entry gives it and each level must be one shallower than its
 * parent, so a node cannot appear twice on one path nor serve two ranges: no loop, no blow-up.
 */
import { EXTENT_ENTRY_SIZE, EXTENT_HEADER_SIZE, decodeExtentNode, verifyExtentBlock, type ExtentNode } from './extent-node.js';
import { I_BLOCK_SIZE, type Inode } from './inode.js';
import type { BlockRun } from './block-run.js';
import type { Ext4Volume } from './volume.js';

/** Logical block numbers are 32-bit. */
const LBLK_LIMIT = 2 ** 32;

/**
 * The mapped runs of logical blocks [from, to) of an extent-mapped inode, in order; holes are
 * left out (the caller fills them) and unwritten extents come with `pblk` null.
 * @throws CorruptImageError naming the inode and the node; as the device throws.
 */
export async function* extentRuns(
  vol: Ext4Volume, inode: Inode, from: number, to: number, signal?: AbortSignal,
): AsyncGenerator<BlockRun> {
  const what = `inode ${inode.ino}`;
  const checkBlocks = (block: number, count: number, name: string) => vol.cache.checkRange(block, count, name);
  const rootCapacity = (I_BLOCK_SIZE - EXTENT_HEADER_SIZE) / EXTENT_ENTRY_SIZE;
  const root = decodeExtentNode(inode.iBlock, rootCapacity, { what, lo: 0, hi: LBLK_LIMIT, checkBlocks });
  yield* walk(vol, inode, root, LBLK_LIMIT, from, to, signal);
}

async function* walk(
  vol: Ext4Volume, inode: Inode, node: ExtentNode, hi: number, from: number, to: number, signal: AbortSignal | undefined,
): AsyncGenerator<BlockRun> {
  if (node.leaves) {
    for (const e of node.leaves) {
      const start = Math.max(e.lblk, from);
      const end = Math.min(e.lblk + e.len, to);
      if (start >= end) {
        if (e.lblk >= to) return;
        continue;
      }
      yield { lblk: start, count: end - start, pblk: e.unwritten ? null : e.pblk + (start - e.lblk) };
    }
    return;
  }
  const capacity = Math.floor((vol.sb.blockSize - EXTENT_HEADER_SIZE) / EXTENT_ENTRY_SIZE);
  const indexes = node.indexes;
  for (let i = 0; i < indexes.length; i++) {
    const lo = indexes[i].lblk;
    const childHi = i + 1 < indexes.length ? indexes[i + 1].lblk : hi;
    if (lo >= to) return;
    if (childHi <= from) continue;
    const child = indexes[i].child;
    const what = `inode ${inode.ino} extent block ${child}`;
    const bytes = await vol.cache.readBlock(child, what, {
      signal,
      verify: vol.sb.hasMetadataCsum ? (b) => verifyExtentBlock(b, inode.csumSeed, what) : undefined,
    });
    const decoded = decodeExtentNode(bytes, capacity, {
      what, expectedDepth: node.depth - 1, lo, hi: childHi,
      checkBlocks: (block, count, name) => vol.cache.checkRange(block, count, name),
    });
    yield* walk(vol, inode, decoded, childHi, from, to, signal);
  }
}

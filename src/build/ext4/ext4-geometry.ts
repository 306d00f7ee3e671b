/**
 * The geometry of a filesystem the writer makes: block groups, inodes per group, and where each
 * group's metadata sits. Every group keeps its own bitmaps and inode table right after its
 * superblock backup (no flex_bg), so a group's metadata is one run at the group's start and the
 * rest of the group is free for data.
 */
import { UsageError } from '../../errors.js';

/** Block size of every filesystem hexz builds (mke2fs's choice for anything above 512 MiB). */
export const BLOCK_SIZE = 4096;
export const LOG_BLOCK_SIZE = 2;
/** Blocks per group: one bitmap block's worth. */
export const BLOCKS_PER_GROUP = 8 * BLOCK_SIZE;
export const INODE_SIZE = 256;
/** Inodes 1..10 are reserved; 11 is the first ordinary one (lost+found). */
export const FIRST_INO = 11;
/** mke2fs's default bytes-per-inode ratio. */
export const BYTES_PER_INODE = 16384;
/** The last group must leave at least this many blocks for data after its metadata, or it is cut off. */
const MIN_LAST_GROUP_DATA = 64;

/** A filesystem's shape. Counts of blocks and inodes. */
export interface Ext4Geometry {
  blocksCount: number;
  groups: number;
  inodesPerGroup: number;
  inodesCount: number;
  /** Bytes per group descriptor: 64 (64bit, ext4) or 32. */
  descSize: number;
  /** Blocks of the group descriptor table. */
  gdtBlocks: number;
  /** Blocks of one group's inode table. */
  itableBlocks: number;
}

/** sparse_super: groups 0, 1 and powers of 3, 5 and 7 hold superblock backups. */
export function hasSuperblock(group: number): boolean {
  if (group <= 1) return true;
  for (const base of [3, 5, 7]) {
    let p = base;
    while (p < group) p *= base;
    if (p === group) return true;
  }
  return false;
}

/** Blocks at the start of `group` taken by its metadata: superblock + GDT copies, two bitmaps, the inode table. */
export function groupOverhead(g: Ext4Geometry, group: number): number {
  return (hasSuperblock(group) ? 1 + g.gdtBlocks : 0) + 2 + g.itableBlocks;
}

/** First block of `group`'s block bitmap; the inode bitmap follows, then the inode table. */
export function groupBitmapBlock(g: Ext4Geometry, group: number): number {
  return group * BLOCKS_PER_GROUP + (hasSuperblock(group) ? 1 + g.gdtBlocks : 0);
}

/** Blocks in `group` (the last one may be short). */
export function groupBlocks(g: Ext4Geometry, group: number): number {
  return Math.min(BLOCKS_PER_GROUP, g.blocksCount - group * BLOCKS_PER_GROUP);
}

/**
 * Chooses the geometry for `sizeBytes` holding at least `inodesNeeded` inodes.
 * @param wide 64bit group descriptors (ext4).
 * @throws UsageError when the size is too small for a filesystem or for that many inodes.
 */
export function chooseGeometry(sizeBytes: number, inodesNeeded: number, wide: boolean): Ext4Geometry {
  let blocksCount = Math.floor(sizeBytes / BLOCK_SIZE);
  const descSize = wide ? 64 : 32;
  if (blocksCount < 256) throw new UsageError(`a filesystem of ${sizeBytes} bytes is too small (at least 1 MiB)`);
  if (!wide && blocksCount >= 2 ** 32) throw new UsageError('ext2 holds at most 2^32 blocks (16 TiB)');
  for (;;) {
    const groups = Math.ceil(blocksCount / BLOCKS_PER_GROUP);
    const byRatio = Math.floor((blocksCount * BLOCK_SIZE) / BYTES_PER_INODE);
    const wanted = Math.max(byRatio, inodesNeeded + FIRST_INO);
    // A whole number of inode-table blocks per group, at most one bitmap's worth.
    const perBlock = BLOCK_SIZE / INODE_SIZE;
    let inodesPerGroup = Math.ceil(wanted / groups / perBlock) * perBlock;
    if (inodesPerGroup > 8 * BLOCK_SIZE) inodesPerGroup = 8 * BLOCK_SIZE;
    if (inodesPerGroup * groups > 2 ** 32 - 1) inodesPerGroup = Math.floor((2 ** 32 - 1) / groups / perBlock) * perBlock;
    const inodesCount = inodesPerGroup * groups;
    if (inodesCount < inodesNeeded + FIRST_INO) {
      throw new UsageError(`a filesystem of ${sizeBytes} bytes holds at most ${inodesCount - FIRST_INO} files and directories; the tree has ${inodesNeeded}`);
    }
    const g: Ext4Geometry = {
      blocksCount, groups, inodesPerGroup, inodesCount, descSize,
      gdtBlocks: Math.ceil((groups * descSize) / BLOCK_SIZE),
      itableBlocks: (inodesPerGroup * INODE_SIZE) / BLOCK_SIZE,
    };
    const last = groups - 1;
    if (groupBlocks(g, last) >= groupOverhead(g, last) + MIN_LAST_GROUP_DATA) return g;
    if (groups === 1) throw new UsageError(`a filesystem of ${sizeBytes} bytes is too small for its own metadata`);
    // Like mke2fs: a last group too short for its metadata is cut off.
    blocksCount = last * BLOCKS_PER_GROUP;
  }
}

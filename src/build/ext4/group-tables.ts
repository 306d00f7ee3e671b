/**
 * The per-group metadata of a laid-out filesystem: block and inode bitmaps (with their padding
 * bits set as e2fsck expects), the group descriptors with their counts and checksums, and the
 * superblock copies. Bitmaps are computed from the allocation when asked for, so a filesystem
 * of many groups never holds them all.
 */
import { bitmapChecksum, BG_INODE_ZEROED, encodeGroupDescriptor } from '../../fs/ext4/encode-group-descriptor.js';
import type { BlockRun } from './block-allocator.js';
import { BLOCK_SIZE, BLOCKS_PER_GROUP, groupBlocks, groupOverhead, type Ext4Geometry } from './ext4-geometry.js';

/** Inputs of the group tables. */
export interface GroupTableInput {
  geometry: Ext4Geometry;
  /** Blocks handed out by the allocator, sorted, disjoint. */
  runs: readonly BlockRun[];
  /** Inodes 1..lastIno are in use. */
  lastIno: number;
  /** Directory inode numbers. */
  dirInos: readonly number[];
  csumSeed: number | undefined;
}

function setBits(bitmap: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; ) {
    if ((i & 7) === 0 && i + 8 <= to) {
      bitmap[i >> 3] = 0xff;
      i += 8;
    } else {
      bitmap[i >> 3] |= 1 << (i & 7);
      i++;
    }
  }
}

/** The group tables. */
export class GroupTables {
  /** Runs of each group, relative to the group's first block. */
  private readonly groupRuns: BlockRun[][];
  readonly gdt: Uint8Array;
  /** Blocks in use over the whole filesystem. */
  readonly usedBlocks: number;

  constructor(private readonly input: GroupTableInput) {
    const g = input.geometry;
    this.groupRuns = Array.from({ length: g.groups }, () => []);
    for (const r of input.runs) {
      for (let at = r.start; at < r.start + r.len; ) {
        const group = Math.floor(at / BLOCKS_PER_GROUP);
        const end = Math.min(r.start + r.len, (group + 1) * BLOCKS_PER_GROUP);
        this.groupRuns[group].push({ start: at - group * BLOCKS_PER_GROUP, len: end - at });
        at = end;
      }
    }
    const dirs = new Array<number>(g.groups).fill(0);
    for (const ino of input.dirInos) dirs[Math.floor((ino - 1) / g.inodesPerGroup)]++;
    this.gdt = new Uint8Array(g.gdtBlocks * BLOCK_SIZE);
    let used = 0;
    for (let group = 0; group < g.groups; group++) {
      const usedHere = groupOverhead(g, group) + this.groupRuns[group].reduce((a, r) => a + r.len, 0);
      used += usedHere;
      const inodesUsed = this.inodesUsed(group);
      const { block, inode } = this.bitmaps(group);
      const seed = input.csumSeed;
      const bitmapBlock = group * BLOCKS_PER_GROUP + groupOverhead(g, group) - g.itableBlocks - 2;
      const desc = encodeGroupDescriptor({
        blockBitmap: bitmapBlock,
        inodeBitmap: bitmapBlock + 1,
        inodeTable: bitmapBlock + 2,
        freeBlocks: groupBlocks(g, group) - usedHere,
        freeInodes: g.inodesPerGroup - inodesUsed,
        usedDirs: dirs[group],
        flags: seed !== undefined ? BG_INODE_ZEROED : 0,
        itableUnused: seed !== undefined ? g.inodesPerGroup - inodesUsed : 0,
        blockBitmapCsum: seed !== undefined ? bitmapChecksum(seed, block, BLOCKS_PER_GROUP / 8) : 0,
        inodeBitmapCsum: seed !== undefined ? bitmapChecksum(seed, inode, g.inodesPerGroup / 8) : 0,
      }, group, g.descSize, seed);
      this.gdt.set(desc, group * g.descSize);
    }
    this.usedBlocks = used;
  }

  /** Inodes in use in `group` (always a prefix of its table). */
  inodesUsed(group: number): number {
    const ipg = this.input.geometry.inodesPerGroup;
    return Math.max(0, Math.min(ipg, this.input.lastIno - group * ipg));
  }

  /** The two bitmap blocks of `group`. */
  bitmaps(group: number): { block: Uint8Array; inode: Uint8Array } {
    const g = this.input.geometry;
    const block = new Uint8Array(BLOCK_SIZE);
    setBits(block, 0, groupOverhead(g, group));
    for (const r of this.groupRuns[group]) setBits(block, r.start, r.start + r.len);
    // Blocks past the end of the filesystem (a short last group) are marked in use.
    setBits(block, groupBlocks(g, group), BLOCKS_PER_GROUP);
    const inode = new Uint8Array(BLOCK_SIZE);
    setBits(inode, 0, this.inodesUsed(group));
    setBits(inode, g.inodesPerGroup, BLOCK_SIZE * 8);
    return { block, inode };
  }
}

/**
 * Pure decoding of block group descriptors (ext4 on-disk format, "Block Group Descriptors")
 * and where their blocks lie, including the meta_bg layout ("Meta Block Groups"), where
 * descriptor blocks past s_first_meta_bg live in the first group of their own meta group rather
 * than after the superblock.
 */
import { CorruptImageError } from '../../errors.js';
import { GD_CHECKSUM_OFFSET, groupDescChecksum } from './checksums.js';
import { Compat, Incompat, RoCompat } from './features.js';
import type { Superblock } from './superblock.js';

/** bg_flags: the group's inode table (and bitmap) was never initialized (EXT4_BG_INODE_UNINIT). */
export const BG_INODE_UNINIT = 0x1;

/** What the reader uses of one group descriptor. Block numbers are absolute. */
export interface GroupDescriptor {
  group: number;
  inodeTable: number;
  flags: number;
  /** Inodes at the end of the inode table never used (bg_itable_unused), when the fs tracks it. */
  itableUnused: number;
}

/** True when `group` holds a superblock backup (and so, without meta_bg, a descriptor table copy). */
export function groupHasSuper(sb: Superblock, group: number): boolean {
  if (group === 0) return true;
  if (sb.compat & Compat.SPARSE_SUPER2) return group === sb.backupBgs[0] || group === sb.backupBgs[1];
  if (group <= 1 || !(sb.roCompat & RoCompat.SPARSE_SUPER)) return true;
  if (group % 2 === 0) return false;
  for (const base of [3, 5, 7]) {
    let p = base;
    while (p < group) p *= base;
    if (p === group) return true;
  }
  return false;
}

/** First block of `group`. */
export function groupFirstBlock(sb: Superblock, group: number): number {
  return sb.firstDataBlock + group * sb.blocksPerGroup;
}

/**
 * Block number of group descriptor block `index` (0-based) as the kernel's descriptor_loc():
 * contiguous after the superblock's block, except meta_bg blocks at or past s_first_meta_bg,
 * which sit in the first group of their meta group, after its superblock backup if it has one.
 */
export function descriptorBlockLocation(sb: Superblock, index: number): number {
  const superBlockNo = Math.floor(1024 / sb.blockSize);
  if (!(sb.incompat & Incompat.META_BG) || index < sb.firstMetaBg) return superBlockNo + 1 + index;
  const group = index * sb.descPerBlock;
  let hasSuper = groupHasSuper(sb, group) ? 1 : 0;
  // A 1 KiB-block bigalloc filesystem has block 0 as first data block: group 0's descriptors
  // then follow the boot block and the superblock (descriptor_loc's special case).
  if (sb.firstDataBlock === 0 && sb.blockSize === 1024 && index === 0 && sb.firstMetaBg === 0) hasSuper++;
  return groupFirstBlock(sb, group) + hasSuper;
}

/**
 * Decodes and checks group descriptor `group` from its descriptor block.
 * @param block the whole descriptor block holding it.
 * @throws CorruptImageError when its checksum does not match (metadata_csum or gdt_csum) or its
 *   inode table lies outside the filesystem (or, without flex_bg, outside its group).
 */
export function decodeGroupDescriptor(sb: Superblock, block: Uint8Array, group: number): GroupDescriptor {
  const start = (group % sb.descPerBlock) * sb.descSize;
  const desc = block.subarray(start, start + sb.descSize);
  const dv = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  const is64 = sb.descSize >= 64;
  const where = { stage: 'ext4 group descriptors' };

  if (sb.hasMetadataCsum || sb.hasGdtCsum) {
    const stored = dv.getUint16(GD_CHECKSUM_OFFSET, true);
    const computed = sb.hasMetadataCsum
      ? groupDescChecksum({ kind: 'crc32c', seed: sb.csumSeed }, group, desc)
      : groupDescChecksum({ kind: 'crc16', uuid: sb.uuid, is64bit: (sb.incompat & Incompat.BIT64) !== 0 }, group, desc);
    if (stored !== computed) {
      throw new CorruptImageError(
        `ext4 group descriptor ${group}: checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`, where);
    }
  }

  const inodeTable = dv.getUint32(0x8, true) + (is64 ? dv.getUint32(0x28, true) * 2 ** 32 : 0);
  const tracksUnused = sb.hasMetadataCsum || sb.hasGdtCsum;
  const itableUnused = tracksUnused ? dv.getUint16(0x1c, true) + (is64 ? dv.getUint16(0x32, true) * 0x10000 : 0) : 0;
  const flags = tracksUnused ? dv.getUint16(0x12, true) : 0;

  let low = sb.firstDataBlock + 1;
  let high = sb.blocksCount;
  if (!(sb.incompat & Incompat.FLEX_BG)) {
    low = Math.max(low, groupFirstBlock(sb, group));
    high = Math.min(high, groupFirstBlock(sb, group) + sb.blocksPerGroup);
  }
  if (inodeTable < low || inodeTable + sb.inodeTableBlocks > high) {
    throw new CorruptImageError(
      `ext4 group descriptor ${group}: inode table at block ${inodeTable} (${sb.inodeTableBlocks} blocks) lies outside ` +
      `${sb.incompat & Incompat.FLEX_BG ? 'the filesystem' : 'its group'} (blocks ${low}..${high - 1})`, where);
  }
  if (itableUnused > sb.inodesPerGroup) {
    throw new CorruptImageError(`ext4 group descriptor ${group}: bg_itable_unused ${itableUnused} exceeds ${sb.inodesPerGroup} inodes per group`, where);
  }
  return { group, inodeTable, flags, itableUnused };
}

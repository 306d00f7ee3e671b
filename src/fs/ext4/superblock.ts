/**
 * Pure decoding of the ext2/3/4 superblock: 1024 bytes in, a validated plain object out.
 * Offsets follow the kernel's ext4 on-disk format document (Documentation/filesystems/ext4,
 * "Super Block"). Every geometry field is checked against the others and against the device
 * size before anything is read with it, so a crafted superblock cannot make the reader
 * allocate or seek by an absurd number.
 */
import { CorruptImageError, UnsupportedError } from '../../errors.js';
import { metadataChecksumSeed, SB_CHECKSUM_OFFSET, superblockChecksum } from './checksums.js';
import { assertSupportedIncompat, Incompat, RoCompat } from './features.js';

/** The superblock always starts 1024 bytes into the device and is 1024 bytes long. */
export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;

/** s_magic (0x38). */
export const EXT4_MAGIC = 0xef53;

/** s_state bits (0x3A): cleanly unmounted, errors detected. */
export const STATE_VALID = 0x1;
export const STATE_ERROR = 0x2;

/** Block sizes from 1 KiB (log 0) to 64 KiB (log 6): the kernel's EXT4_MIN/MAX_BLOCK_LOG_SIZE. */
const MAX_LOG_BLOCK_SIZE = 6;
/** Revision 0 filesystems have fixed 128-byte inodes and first non-reserved inode 11. */
const GOOD_OLD_INODE_SIZE = 128;
const GOOD_OLD_FIRST_INO = 11;
/** s_desc_size bounds on 64bit filesystems (EXT4_MIN_DESC_SIZE_64BIT, EXT4_MAX_DESC_SIZE). */
const MIN_DESC_SIZE_64BIT = 64;
const MAX_DESC_SIZE = 1024;
/** Descriptor size without the 64bit feature. */
const DESC_SIZE_32 = 32;
/** s_checksum_type 1 is crc32c, the only one defined. */
const CHECKSUM_TYPE_CRC32C = 1;
/** EXT4_MAX_CLUSTER_LOG_SIZE: bigalloc clusters are at most 2^30 bytes. */
const MAX_LOG_CLUSTER_BYTES = 30;

/** The superblock fields a reader needs, validated. Sizes in bytes, counts in blocks/inodes. */
export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  firstDataBlock: number;
  blockSize: number;
  /** log2(blockSize). */
  blockBits: number;
  /** Allocation cluster size in bytes (= blockSize without bigalloc). */
  clusterSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  groupCount: number;
  state: number;
  revLevel: number;
  creatorOs: number;
  firstIno: number;
  inodeSize: number;
  compat: number;
  incompat: number;
  roCompat: number;
  uuid: Uint8Array;
  label: string;
  /** Bytes per group descriptor: 32, or s_desc_size on 64bit filesystems. */
  descSize: number;
  descPerBlock: number;
  /** Blocks the group descriptor table spans. */
  descBlocks: number;
  firstMetaBg: number;
  /** s_backup_bgs (sparse_super2): the two groups holding backup superblocks. */
  backupBgs: [number, number];
  /** Blocks of one group's inode table. */
  inodeTableBlocks: number;
  hasMetadataCsum: boolean;
  hasGdtCsum: boolean;
  /** Seed of every metadata_csum checksum other than the superblock's own. */
  csumSeed: number;
}

const TEXT = new TextDecoder('utf-8');

function corrupt(message: string): CorruptImageError {
  return new CorruptImageError(`ext4 superblock: ${message}`, { stage: 'ext4 superblock', offset: SUPERBLOCK_OFFSET });
}

/**
 * Decodes and validates the superblock.
 * @param bytes the 1024 bytes at byte 1024 of the device.
 * @param deviceSize bytes of the device: the filesystem must fit in it.
 * @throws CorruptImageError for a wrong magic, a checksum mismatch or inconsistent geometry;
 *   UnsupportedError for an incompatible feature this reader cannot read (see features.ts).
 */
export function decodeSuperblock(bytes: Uint8Array, deviceSize: number): Superblock {
  if (bytes.length < SUPERBLOCK_SIZE) throw corrupt(`device too small to hold a superblock (${deviceSize} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, SUPERBLOCK_SIZE);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);

  const magic = u16(0x38);
  if (magic !== EXT4_MAGIC) throw corrupt(`bad magic 0x${magic.toString(16)} (expected 0xef53): not an ext2/ext3/ext4 filesystem`);

  const compat = u32(0x5c);
  const incompat = u32(0x60);
  const roCompat = u32(0x64);
  const hasMetadataCsum = (roCompat & RoCompat.METADATA_CSUM) !== 0;
  if (hasMetadataCsum) {
    const type = bytes[0x175];
    if (type !== CHECKSUM_TYPE_CRC32C) throw new UnsupportedError(`ext4 superblock: unknown checksum type ${type}`, { stage: 'ext4 superblock' });
    const stored = u32(SB_CHECKSUM_OFFSET);
    const computed = superblockChecksum(bytes);
    if (stored !== computed) {
      throw corrupt(`checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`);
    }
  }
  assertSupportedIncompat(incompat);
  const is64bit = (incompat & Incompat.BIT64) !== 0;

  const logBlock = u32(0x18);
  if (logBlock > MAX_LOG_BLOCK_SIZE) throw corrupt(`s_log_block_size ${logBlock} is outside 0..${MAX_LOG_BLOCK_SIZE}`);
  const blockBits = 10 + logBlock;
  const blockSize = 1 << blockBits;

  let clusterSize = blockSize;
  if (roCompat & RoCompat.BIGALLOC) {
    const logCluster = u32(0x1c);
    if (logCluster < logBlock || logCluster + 10 > MAX_LOG_CLUSTER_BYTES) {
      throw corrupt(`s_log_cluster_size ${logCluster} is invalid for block size ${blockSize}`);
    }
    clusterSize = 2 ** (10 + logCluster);
  }

  const blocksCount = u32(0x4) + (is64bit ? u32(0x150) * 2 ** 32 : 0);
  const freeBlocks = u32(0xc) + (is64bit ? u32(0x158) * 2 ** 32 : 0);
  if (blocksCount === 0) throw corrupt('s_blocks_count is 0');
  if (blocksCount > Math.floor(deviceSize / blockSize)) {
    throw corrupt(`the filesystem is ${blocksCount} blocks of ${blockSize} bytes but the device holds only ${Math.floor(deviceSize / blockSize)}`);
  }

  const firstDataBlock = u32(0x14);
  if (firstDataBlock > 1 || firstDataBlock >= blocksCount) throw corrupt(`s_first_data_block ${firstDataBlock} is invalid`);
  if (blockSize === 1024 && firstDataBlock === 0 && clusterSize === blockSize) {
    throw corrupt('s_first_data_block is 0 on a 1 KiB-block filesystem (the superblock would be in block 1)');
  }

  const blocksPerGroup = u32(0x20);
  const maxPerGroup = 8 * blockSize * (clusterSize / blockSize);
  if (blocksPerGroup < 8 || blocksPerGroup > maxPerGroup) throw corrupt(`s_blocks_per_group ${blocksPerGroup} is outside 8..${maxPerGroup}`);
  const inodesPerGroup = u32(0x28);
  if (inodesPerGroup < 1 || inodesPerGroup > 8 * blockSize) throw corrupt(`s_inodes_per_group ${inodesPerGroup} is outside 1..${8 * blockSize}`);
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const inodesCount = u32(0x0);
  if (inodesCount !== groupCount * inodesPerGroup) {
    throw corrupt(`s_inodes_count ${inodesCount} is not ${groupCount} groups x ${inodesPerGroup} inodes per group`);
  }

  const revLevel = u32(0x4c);
  let inodeSize = GOOD_OLD_INODE_SIZE;
  let firstIno = GOOD_OLD_FIRST_INO;
  if (revLevel > 0) {
    inodeSize = u16(0x58);
    firstIno = u32(0x54);
    if (inodeSize < GOOD_OLD_INODE_SIZE || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
      throw corrupt(`s_inode_size ${inodeSize} is not a power of two between 128 and the block size ${blockSize}`);
    }
    if (firstIno < GOOD_OLD_FIRST_INO || firstIno > inodesCount) throw corrupt(`s_first_ino ${firstIno} is invalid`);
  }

  let descSize = DESC_SIZE_32;
  if (is64bit) {
    descSize = u16(0xfe);
    if (descSize < MIN_DESC_SIZE_64BIT || descSize > MAX_DESC_SIZE || (descSize & (descSize - 1)) !== 0) {
      throw corrupt(`s_desc_size ${descSize} is invalid for a 64bit filesystem`);
    }
  }
  const descPerBlock = Math.floor(blockSize / descSize);
  if (descPerBlock < 1) throw corrupt(`s_desc_size ${descSize} is larger than the block size ${blockSize}`);
  const descBlocks = Math.ceil(groupCount / descPerBlock);
  const firstMetaBg = u32(0x104);
  if ((incompat & Incompat.META_BG) && firstMetaBg > descBlocks) {
    throw corrupt(`s_first_meta_bg ${firstMetaBg} is beyond the ${descBlocks} group descriptor blocks`);
  }

  const uuid = bytes.slice(0x68, 0x78);
  const storedSeed = incompat & Incompat.CSUM_SEED ? u32(0x270) : undefined;
  const labelBytes = bytes.subarray(0x78, 0x88);
  const nul = labelBytes.indexOf(0);
  return {
    inodesCount,
    blocksCount,
    freeBlocks,
    freeInodes: u32(0x10),
    firstDataBlock,
    blockSize,
    blockBits,
    clusterSize,
    blocksPerGroup,
    inodesPerGroup,
    groupCount,
    state: u16(0x3a),
    revLevel,
    creatorOs: u32(0x48),
    firstIno,
    inodeSize,
    compat,
    incompat,
    roCompat,
    uuid,
    label: TEXT.decode(nul < 0 ? labelBytes : labelBytes.subarray(0, nul)),
    descSize,
    descPerBlock,
    descBlocks,
    firstMetaBg,
    backupBgs: [u32(0x24c), u32(0x250)],
    inodeTableBlocks: Math.ceil((inodesPerGroup * inodeSize) / blockSize),
    hasMetadataCsum,
    hasGdtCsum: !hasMetadataCsum && (roCompat & RoCompat.GDT_CSUM) !== 0,
    csumSeed: metadataChecksumSeed(uuid, storedSeed),
  };
}

/** The UUID as lower-case 8-4-4-4-12 hex. */
export function formatUuid(uuid: Uint8Array): string {
  const hex = Array.from(uuid, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

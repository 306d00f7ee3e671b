/**
 * Pure encoding of the ext2/3/4 superblock (ext4 on-disk format, "Super Block") for the
 * filesystem writer: the fields a freshly made, cleanly unmounted filesystem has, as mke2fs
 * writes them. The inverse of superblock.ts.
 */
import { SB_CHECKSUM_OFFSET, superblockChecksum } from './checksums.js';
import { EXT4_MAGIC, STATE_VALID, SUPERBLOCK_SIZE } from './superblock.js';

/** The superblock of a new filesystem. Counts in blocks/inodes; times in seconds since the epoch. */
export interface SuperblockFields {
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  /** log2(block size) - 10. */
  logBlockSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  inodeSize: number;
  firstIno: number;
  compat: number;
  incompat: number;
  roCompat: number;
  uuid: Uint8Array;
  /** Up to 16 bytes. */
  label: Uint8Array;
  /** Seconds: mkfs and last write time. */
  time: number;
  /** Directory hash seed (dir_index), 16 bytes. */
  hashSeed: Uint8Array;
  /** s_desc_size: 64 on 64bit filesystems, else 0 (meaning 32). */
  descSize: number;
  /** log2 of groups per flex group (flex_bg), else 0. */
  logGroupsPerFlex: number;
  /** The journal inode (0 without a journal) and the copy of its i_block, i_size_high, i_size. */
  journalInode: number;
  journalBackup?: Uint8Array;
  /** s_min/want_extra_isize. */
  extraIsize: number;
  /** The group this copy is in (0 for the primary, g for a backup). */
  blockGroupNr: number;
  /** Fill s_checksum (metadata_csum). */
  checksum: boolean;
}

/** s_errors: continue on errors (mke2fs's default). */
const ERRORS_CONTINUE = 1;
/** Revision 1 (dynamic inode sizes). */
const DYNAMIC_REV = 1;
/** s_def_hash_version: half_md4, as mke2fs. */
const HASH_HALF_MD4 = 1;
/** s_jnl_backup_type: s_jnl_blocks holds a copy of the journal inode's i_block. */
const JNL_BACKUP_BLOCKS = 1;
/** s_default_mount_opts: user_xattr and acl, as mke2fs sets. */
const DEFAULT_MOUNT_OPTS = 0x000c;
/** s_flags: the directory hash was computed with signed chars (x86's, as mke2fs records there). */
const FLAGS_SIGNED_HASH = 0x1;
/** s_checksum_type: crc32c. */
const CHECKSUM_CRC32C = 1;

/**
 * Encodes the 1024 bytes of a superblock (primary or backup copy).
 * @throws RangeError when a label is longer than 16 bytes.
 */
export function encodeSuperblock(f: SuperblockFields): Uint8Array {
  const b = new Uint8Array(SUPERBLOCK_SIZE);
  const dv = new DataView(b.buffer);
  const u16 = (o: number, v: number) => dv.setUint16(o, v, true);
  const u32 = (o: number, v: number) => dv.setUint32(o, v >>> 0, true);
  const lo = (v: number) => v % 2 ** 32;
  const hi = (v: number) => Math.floor(v / 2 ** 32);
  if (f.label.length > 16) throw new RangeError('a filesystem label holds at most 16 bytes');
  u32(0x0, f.inodesCount);
  u32(0x4, lo(f.blocksCount));
  u32(0xc, lo(f.freeBlocks));
  u32(0x10, f.freeInodes);
  u32(0x14, f.logBlockSize === 0 ? 1 : 0);
  u32(0x18, f.logBlockSize);
  u32(0x1c, f.logBlockSize);
  u32(0x20, f.blocksPerGroup);
  u32(0x24, f.blocksPerGroup);
  u32(0x28, f.inodesPerGroup);
  u32(0x30, f.time);
  u16(0x36, 0xffff); // s_max_mnt_count -1: no mount-count checks
  u16(0x38, EXT4_MAGIC);
  u16(0x3a, STATE_VALID);
  u16(0x3c, ERRORS_CONTINUE);
  u32(0x40, f.time);
  u32(0x4c, DYNAMIC_REV);
  u32(0x54, f.firstIno);
  u16(0x58, f.inodeSize);
  u16(0x5a, f.blockGroupNr);
  u32(0x5c, f.compat);
  u32(0x60, f.incompat);
  u32(0x64, f.roCompat);
  b.set(f.uuid, 0x68);
  b.set(f.label, 0x78);
  u32(0xe0, f.journalInode);
  b.set(f.hashSeed, 0xec);
  b[0xfc] = HASH_HALF_MD4;
  if (f.journalBackup) {
    b[0xfd] = JNL_BACKUP_BLOCKS;
    b.set(f.journalBackup, 0x10c);
  }
  u16(0xfe, f.descSize);
  u32(0x100, DEFAULT_MOUNT_OPTS);
  u32(0x108, f.time);
  u32(0x150, hi(f.blocksCount));
  u32(0x158, hi(f.freeBlocks));
  u16(0x15c, f.extraIsize);
  u16(0x15e, f.extraIsize);
  u32(0x160, FLAGS_SIGNED_HASH);
  b[0x174] = f.logGroupsPerFlex;
  if (f.checksum) {
    b[0x175] = CHECKSUM_CRC32C;
    u32(SB_CHECKSUM_OFFSET, superblockChecksum(b));
  }
  return b;
}

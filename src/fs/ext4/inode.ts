/**
 * Pure decoding of an on-disk inode (ext4 on-disk format, "Index Nodes"): s_inode_size bytes in,
 * a checked plain object out. The checksum (metadata_csum) is verified here, seeded with the
 * inode number and generation as the kernel does.
 */
import { CorruptImageError } from '../../errors.js';
import { GOOD_OLD_INODE_SIZE, INODE_CHECKSUM_HI, INODE_CHECKSUM_LO, inodeChecksum, inodeChecksumSeed } from './checksums.js';
import { Incompat, RoCompat } from './features.js';
import type { Superblock } from './superblock.js';
import type { FileType, Timestamp } from './types.js';

/** i_flags bits the reader acts on (on-disk format: "Index Nodes", i_flags). */
export const InodeFlag = {
  ENCRYPT: 0x800,
  INDEX: 0x1000,
  HUGE_FILE: 0x40000,
  EXTENTS: 0x80000,
  EA_INODE: 0x200000,
  INLINE_DATA: 0x10000000,
} as const;

/** Bytes of i_block: 15 block pointers, or an extent tree root, or inline data / a fast symlink. */
export const I_BLOCK_SIZE = 60;
/** Byte offset of i_block in the inode. */
export const I_BLOCK_OFFSET = 0x28;

/** S_IFMT values of i_mode. */
const MODE_TYPES: Record<number, FileType> = {
  0x1000: 'fifo', 0x2000: 'chardev', 0x4000: 'dir', 0x6000: 'blockdev', 0x8000: 'file', 0xa000: 'symlink', 0xc000: 'socket',
};

/** The creator OS whose osd2 layout (uid/gid high halves, checksum) this decoder reads. */
const OS_LINUX = 0;

/** A decoded inode. Sizes in bytes; `blocks` in 512-byte units. */
export interface Inode {
  ino: number;
  /** False for a free inode (never allocated, or deleted): nothing else is meaningful then. */
  inUse: boolean;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linksCount: number;
  atime: Timestamp;
  ctime: Timestamp;
  mtime: Timestamp;
  crtime?: Timestamp;
  flags: number;
  blocks: number;
  generation: number;
  /** Extended attribute block (i_file_acl), 0 for none. */
  fileAcl: number;
  /** The 60 bytes of i_block (a copy). */
  iBlock: Uint8Array;
  /** Bytes after the 128-byte core and i_extra_isize: where in-inode extended attributes live. */
  extraSpace: Uint8Array;
  /** Offset of `extraSpace` within the on-disk inode. */
  extraSpaceOffset: number;
  /** Seed of this inode's extent-block and directory-block checksums (metadata_csum). */
  csumSeed: number;
}

function corrupt(ino: number, message: string): CorruptImageError {
  return new CorruptImageError(`ext4 inode ${ino}: ${message}`, { stage: 'ext4 inode' });
}

/**
 * A timestamp: signed 32-bit seconds at `secAt`, extended by the *_extra field at `extraAt`
 * when the inode is large enough to hold it (its low two bits push the seconds past 2038, the
 * rest are nanoseconds).
 */
function decodeTime(dv: DataView, secAt: number, extraAt: number, extraEnd: number): Timestamp {
  const sec = dv.getInt32(secAt, true);
  if (extraAt + 4 > extraEnd) return { sec, nsec: 0 };
  const extra = dv.getUint32(extraAt, true);
  return { sec: sec + (extra & 3) * 2 ** 32, nsec: extra >>> 2 };
}

/**
 * Decodes the inode `ino` from its on-disk bytes.
 * @param raw exactly s_inode_size bytes.
 * @throws CorruptImageError naming the inode: checksum mismatch, i_extra_isize too large,
 *   an unknown file type, a size no ext4 file can have.
 */
export function decodeInode(sb: Superblock, ino: number, raw: Uint8Array): Inode {
  // Plain DataView calls rather than small helper closures: this runs once per stat.
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const linux = sb.creatorOs === OS_LINUX;

  let extraIsize = 0;
  if (raw.length > GOOD_OLD_INODE_SIZE) {
    extraIsize = dv.getUint16(0x80, true);
    if (GOOD_OLD_INODE_SIZE + extraIsize > raw.length || extraIsize % 4 !== 0) {
      throw corrupt(ino, `i_extra_isize ${extraIsize} does not fit in a ${raw.length}-byte inode`);
    }
  }
  const extraEnd = GOOD_OLD_INODE_SIZE + extraIsize;
  const generation = dv.getUint32(0x64, true);
  const csumSeed = sb.hasMetadataCsum ? inodeChecksumSeed(sb.csumSeed, ino, generation) : 0;

  if (sb.hasMetadataCsum && linux) {
    const hasHi = raw.length > GOOD_OLD_INODE_SIZE && INODE_CHECKSUM_HI + 2 <= extraEnd;
    const computed = inodeChecksum(csumSeed, raw, hasHi);
    const lo = dv.getUint16(INODE_CHECKSUM_LO, true);
    const stored = hasHi ? dv.getUint16(INODE_CHECKSUM_HI, true) * 0x10000 + lo : lo;
    const expected = hasHi ? computed : computed & 0xffff;
    // e2fsprogs accepts an all-zero inode (a never-written table block): it is simply free.
    if (stored !== expected && !raw.every((b) => b === 0)) {
      throw corrupt(ino, `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${expected.toString(16)})`);
    }
  }

  const modeRaw = dv.getUint16(0x0, true);
  const linksCount = dv.getUint16(0x1a, true);
  const dtime = dv.getUint32(0x14, true);
  const flags = dv.getUint32(0x20, true);
  const inUse = !(linksCount === 0 && (modeRaw === 0 || dtime !== 0));
  const type = MODE_TYPES[modeRaw & 0xf000];
  if (inUse && type === undefined) throw corrupt(ino, `unknown file type in i_mode 0o${modeRaw.toString(8)}`);

  // Before large_dir, i_size_high of a directory was i_dir_acl (kernel: ext4_isize()).
  const useHigh = type === 'file' || (sb.incompat & Incompat.LARGEDIR) !== 0;
  const size = dv.getUint32(0x4, true) + (useHigh ? dv.getUint32(0x6c, true) * 2 ** 32 : 0);
  // Logical block numbers are 32-bit in both extent trees and block maps.
  const maxSize = 2 ** 32 * sb.blockSize;
  if (inUse && size > maxSize) throw corrupt(ino, `size ${size} exceeds the largest file ext4 can hold (${maxSize} bytes)`);

  // i_blocks_high and HUGE_FILE_FL count only with the huge_file feature (kernel:
  // ext4_inode_blocks()); with the flag the count is in filesystem blocks, not 512-byte sectors.
  const hugeFile = linux && (sb.roCompat & RoCompat.HUGE_FILE) !== 0;
  let blocks = dv.getUint32(0x1c, true) + (hugeFile ? dv.getUint16(0x74, true) * 2 ** 32 : 0);
  if (hugeFile && (flags & InodeFlag.HUGE_FILE)) blocks *= sb.blockSize / 512;

  return {
    ino,
    inUse,
    type: type ?? 'file',
    mode: modeRaw & 0o7777,
    uid: dv.getUint16(0x2, true) + (linux ? dv.getUint16(0x78, true) * 0x10000 : 0),
    gid: dv.getUint16(0x18, true) + (linux ? dv.getUint16(0x7a, true) * 0x10000 : 0),
    size,
    linksCount,
    atime: decodeTime(dv, 0x8, 0x8c, extraEnd),
    ctime: decodeTime(dv, 0xc, 0x84, extraEnd),
    mtime: decodeTime(dv, 0x10, 0x88, extraEnd),
    crtime: 0x90 + 4 <= extraEnd ? decodeTime(dv, 0x90, 0x94, extraEnd) : undefined,
    flags,
    blocks,
    generation,
    fileAcl: dv.getUint32(0x68, true) + (linux ? dv.getUint16(0x76, true) * 2 ** 32 : 0),
    iBlock: raw.slice(I_BLOCK_OFFSET, I_BLOCK_OFFSET + I_BLOCK_SIZE),
    extraSpace: raw.slice(extraEnd),
    extraSpaceOffset: extraEnd,
    csumSeed,
  };
}

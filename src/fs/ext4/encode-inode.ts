/**
 * Pure encoding of an on-disk inode (ext4 on-disk format, "Index Nodes"): the inverse of
 * decodeInode in inode.ts, for the filesystem writer. Always a Linux-layout inode (creator OS
 * 0) with the large-inode fields when the inode is bigger than 128 bytes.
 */
import { GOOD_OLD_INODE_SIZE, INODE_CHECKSUM_HI, INODE_CHECKSUM_LO, inodeChecksum, inodeChecksumSeed } from './checksums.js';
import { I_BLOCK_OFFSET, I_BLOCK_SIZE } from './inode.js';
import type { Timestamp } from './types.js';

/** i_mode type bits (S_IFMT) by file type. */
export const MODE_TYPE_BITS = {
  fifo: 0x1000, chardev: 0x2000, dir: 0x4000, blockdev: 0x6000, file: 0x8000, symlink: 0xa000, socket: 0xc000,
} as const;

/** i_extra_isize the writer uses: every large-inode field up to i_projid (as mke2fs). */
export const EXTRA_ISIZE = 32;

/** The fields of an inode to write. Sizes in bytes; `blocks512` in 512-byte sectors. */
export interface InodeFields {
  type: keyof typeof MODE_TYPE_BITS;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linksCount: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  crtime: Timestamp;
  /** i_flags (EXT4_EXTENTS_FL, EXT4_HUGE_FILE_FL, ...). */
  flags: number;
  /** Sectors of 512 bytes allocated (data, extent and indirect blocks). */
  blocks512: number;
  generation: number;
  /** The 60 bytes of i_block. */
  iBlock: Uint8Array;
}

/**
 * Encodes an inode of `inodeSize` bytes, into `into` (zero-filled, exactly that long) when
 * given. With `csumSeed` (metadata_csum filesystems) both checksum halves are filled, seeded
 * with the inode number and generation as the kernel does.
 * @throws RangeError for a value that does not fit its field (a bug in the caller: the layout
 *   checks sizes and counts first).
 */
export function encodeInode(f: InodeFields, ino: number, inodeSize: number, csumSeed: number | undefined, into?: Uint8Array): Uint8Array {
  const raw = into ?? new Uint8Array(inodeSize);
  if (raw.length !== inodeSize) throw new RangeError(`an inode is ${inodeSize} bytes, not ${raw.length}`);
  const dv = new DataView(raw.buffer, raw.byteOffset, inodeSize);
  if (f.iBlock.length !== I_BLOCK_SIZE) throw new RangeError('i_block must be 60 bytes');
  if (f.uid > 0xffffffff || f.gid > 0xffffffff || f.uid < 0 || f.gid < 0) throw new RangeError(`inode ${ino}: owner out of range`);
  if (f.linksCount > 0xffff) throw new RangeError(`inode ${ino}: links count ${f.linksCount} out of range`);
  // i_blocks is 48 bits of sectors (huge_file without EXT4_HUGE_FILE_FL).
  if (f.blocks512 >= 2 ** 48) throw new RangeError(`inode ${ino}: block count out of range`);
  dv.setUint16(0x0, MODE_TYPE_BITS[f.type] | (f.mode & 0o7777), true);
  dv.setUint16(0x2, f.uid & 0xffff, true);
  dv.setUint32(0x4, f.size % 2 ** 32, true);
  dv.setUint16(0x18, f.gid & 0xffff, true);
  dv.setUint16(0x1a, f.linksCount, true);
  dv.setUint32(0x1c, f.blocks512 % 2 ** 32, true);
  dv.setUint32(0x20, f.flags, true);
  raw.set(f.iBlock, I_BLOCK_OFFSET);
  dv.setUint32(0x64, f.generation, true);
  dv.setUint32(0x6c, Math.floor(f.size / 2 ** 32), true);
  dv.setUint16(0x74, Math.floor(f.blocks512 / 2 ** 32), true);
  dv.setUint16(0x78, f.uid >>> 16, true);
  dv.setUint16(0x7a, f.gid >>> 16, true);
  const large = inodeSize > GOOD_OLD_INODE_SIZE;
  putTime(dv, 0x8, large ? 0x8c : -1, f.atime);
  putTime(dv, 0xc, large ? 0x84 : -1, f.ctime);
  putTime(dv, 0x10, large ? 0x88 : -1, f.mtime);
  if (large) {
    dv.setUint16(0x80, EXTRA_ISIZE, true);
    putTime(dv, 0x90, 0x94, f.crtime);
  }
  if (csumSeed !== undefined) {
    const hasHi = large;
    const c = inodeChecksum(inodeChecksumSeed(csumSeed, ino, f.generation), raw, hasHi);
    dv.setUint16(INODE_CHECKSUM_LO, c & 0xffff, true);
    if (hasHi) dv.setUint16(INODE_CHECKSUM_HI, c >>> 16, true);
  }
  return raw;
}

/**
 * Seconds as the kernel stores them: the low 32 bits (signed) in the base field, the epoch
 * bits (bits 32..33 of sec + 2^31, as ext4_encode_extra_time) and nanoseconds in the extra field.
 * Times outside 1901..2446 are clamped to that range; without an extra field only 1901..2038 fits.
 */
function putTime(dv: DataView, base: number, extra: number, t: Timestamp): void {
  const min = -(2 ** 31);
  const max = extra >= 0 ? 2 ** 34 - 2 ** 31 - 1 : 2 ** 31 - 1;
  const sec = Math.min(max, Math.max(min, Math.trunc(t.sec)));
  const lo = sec | 0;
  dv.setInt32(base, lo, true);
  if (extra < 0) return;
  const epoch = ((sec - lo) / 2 ** 32) & 3;
  const nsec = Math.min(999_999_999, Math.max(0, t.nsec | 0));
  dv.setUint32(extra, ((nsec << 2) | epoch) >>> 0, true);
}

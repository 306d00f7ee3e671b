/**
 * Pure encoding of a block group descriptor (ext4 on-disk format, "Block Group Descriptors"),
 * 32 bytes or the 64-byte 64bit form, with its checksum. The inverse of group-descriptors.ts.
 */
import { crc32cRaw, GD_CHECKSUM_OFFSET, groupDescChecksum } from './checksums.js';

/** bg_flags: the inode table is zeroed (EXT4_BG_INODE_ZEROED). */
export const BG_INODE_ZEROED = 0x4;

/** One group's descriptor. Block numbers are physical; counts of this group. */
export interface GroupDescFields {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  flags: number;
  /** Inodes at the end of the table never used (bg_itable_unused). */
  itableUnused: number;
  /** crc32c of the bitmaps (metadata_csum), else 0. */
  blockBitmapCsum: number;
  inodeBitmapCsum: number;
}

/**
 * Encodes group `group`'s descriptor of `descSize` bytes (32 or 64).
 * @param csumSeed the metadata_csum seed; undefined leaves bg_checksum 0 (no checksum feature).
 */
export function encodeGroupDescriptor(f: GroupDescFields, group: number, descSize: number, csumSeed: number | undefined): Uint8Array {
  const b = new Uint8Array(descSize);
  const dv = new DataView(b.buffer);
  const u16 = (o: number, v: number) => dv.setUint16(o, v & 0xffff, true);
  const u32 = (o: number, v: number) => dv.setUint32(o, v % 2 ** 32, true);
  const wide = descSize >= 64;
  u32(0x0, f.blockBitmap);
  u32(0x4, f.inodeBitmap);
  u32(0x8, f.inodeTable);
  u16(0xc, f.freeBlocks);
  u16(0xe, f.freeInodes);
  u16(0x10, f.usedDirs);
  u16(0x12, f.flags);
  u16(0x18, f.blockBitmapCsum);
  u16(0x1a, f.inodeBitmapCsum);
  u16(0x1c, f.itableUnused);
  if (wide) {
    u32(0x20, Math.floor(f.blockBitmap / 2 ** 32));
    u32(0x24, Math.floor(f.inodeBitmap / 2 ** 32));
    u32(0x28, Math.floor(f.inodeTable / 2 ** 32));
    u16(0x2c, f.freeBlocks >>> 16);
    u16(0x2e, f.freeInodes >>> 16);
    u16(0x30, f.usedDirs >>> 16);
    u16(0x32, f.itableUnused >>> 16);
    u16(0x38, f.blockBitmapCsum >>> 16);
    u16(0x3a, f.inodeBitmapCsum >>> 16);
  }
  if (csumSeed !== undefined) u16(GD_CHECKSUM_OFFSET, groupDescChecksum({ kind: 'crc32c', seed: csumSeed }, group, b));
  return b;
}

/** A bitmap's checksum as the descriptor stores it: crc32c(seed) over its first `bytes` bytes. */
export function bitmapChecksum(csumSeed: number, bitmap: Uint8Array, bytes: number): number {
  return crc32cRaw(csumSeed, bitmap.subarray(0, bytes));
}

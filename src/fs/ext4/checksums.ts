/**
 * The checksums ext4 keeps over its metadata, computed exactly as the kernel does (ext4 on-disk
 * format, "Checksums"): crc32c for metadata_csum filesystems, crc16 for the older gdt_csum
 * group descriptors. Pure functions over byte arrays; callers compare with the stored value.
 *
 * The kernel's ext4_chksum() is the raw crc32c register: no final inversion, and the seed is the
 * previous register value. `crc-32`'s `buf(data, seed)` computes the finished CRC and takes a
 * finished CRC as seed, so raw(seed, data) = ~buf(data, ~seed).
 */
import CRC32C from 'crc-32/crc32c.js';

/** ext4_chksum(): the raw crc32c register after `bytes`, starting from `seed` (unsigned 32-bit). */
export function crc32cRaw(seed: number, bytes: Uint8Array): number {
  return ~CRC32C.buf(bytes, ~seed) >>> 0;
}

/**
 * CRC-16 with the reflected polynomial 0x8005 (0xA001), no final inversion, as Linux
 * lib/crc16.c, which the gdt_csum group descriptor checksum uses. Written here rather than
 * taken from a package: the npm packages for it are broader CRC collections around Node's
 * Buffer, and the table is 8 lines.
 */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[i] = c;
  }
  return table;
})();

/** crc16(crc, bytes) as Linux lib/crc16.c: continue `crc` over `bytes`. */
export function crc16(crc: number, bytes: Uint8Array): number {
  let c = crc & 0xffff;
  for (let i = 0; i < bytes.length; i++) c = (c >>> 8) ^ CRC16_TABLE[(c ^ bytes[i]) & 0xff];
  return c;
}

function le32(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff]);
}

const ZERO2 = new Uint8Array(2);
const ZERO4 = new Uint8Array(4);

/** Byte offset of s_checksum in the superblock (on-disk format: "Super Block", 0x3FC). */
export const SB_CHECKSUM_OFFSET = 0x3fc;

/** The superblock checksum: crc32c(~0) over the 1020 bytes before s_checksum. */
export function superblockChecksum(sb: Uint8Array): number {
  return crc32cRaw(0xffffffff, sb.subarray(0, SB_CHECKSUM_OFFSET));
}

/**
 * The seed of every other metadata_csum checksum: s_checksum_seed with the csum_seed feature,
 * else crc32c(~0, uuid) (on-disk format: "Checksums").
 */
export function metadataChecksumSeed(uuid: Uint8Array, storedSeed: number | undefined): number {
  return storedSeed ?? crc32cRaw(0xffffffff, uuid);
}

/** Byte offset of bg_checksum in a group descriptor (on-disk format: "Block Group Descriptors", 0x1E). */
export const GD_CHECKSUM_OFFSET = 0x1e;

/**
 * A group descriptor's 16-bit checksum (on-disk format: "Block Group Descriptors", bg_checksum):
 * with metadata_csum the low 16 bits of crc32c(seed, le32 group, descriptor with the checksum
 * zeroed); with gdt_csum crc16(~0, uuid, le32 group, descriptor without the checksum; the
 *64-bit tail only on 64bit filesystems).
 */
export function groupDescChecksum(
  scheme: { kind: 'crc32c'; seed: number } | { kind: 'crc16'; uuid: Uint8Array; is64bit: boolean },
  group: number,
  desc: Uint8Array,
): number {
  const head = desc.subarray(0, GD_CHECKSUM_OFFSET);
  const tail = desc.subarray(GD_CHECKSUM_OFFSET + 2);
  if (scheme.kind === 'crc32c') {
    let c = crc32cRaw(scheme.seed, le32(group));
    c = crc32cRaw(c, head);
    c = crc32cRaw(c, ZERO2);
    c = crc32cRaw(c, tail);
    return c & 0xffff;
  }
  let c = crc16(0xffff, scheme.uuid);
  c = crc16(c, le32(group));
  c = crc16(c, head);
  if (scheme.is64bit) c = crc16(c, tail);
  return c;
}

/** The per-inode seed: crc32c(fs seed, le32 inode number, le32 generation) (kernel: i_csum_seed). */
export function inodeChecksumSeed(fsSeed: number, ino: number, generation: number): number {
  return crc32cRaw(crc32cRaw(fsSeed, le32(ino)), le32(generation));
}

/** Offsets of the two halves of the inode checksum (on-disk format: "Inode Table", 0x7C and 0x82). */
export const INODE_CHECKSUM_LO = 0x7c;
export const INODE_CHECKSUM_HI = 0x82;
/** The classic inode size; the large-inode fields start here. */
export const GOOD_OLD_INODE_SIZE = 128;

/**
 * An inode's crc32c over the whole on-disk inode (s_inode_size bytes) with both checksum halves
 * zeroed. `hasHi` tells whether i_checksum_hi fits in i_extra_isize; when it does not, the two
 * bytes at 0x82 are checksummed as they are and only the low 16 bits are stored.
 */
export function inodeChecksum(inodeSeed: number, raw: Uint8Array, hasHi: boolean): number {
  let c = crc32cRaw(inodeSeed, raw.subarray(0, INODE_CHECKSUM_LO));
  c = crc32cRaw(c, ZERO2);
  c = crc32cRaw(c, raw.subarray(INODE_CHECKSUM_LO + 2, GOOD_OLD_INODE_SIZE));
  if (raw.length > GOOD_OLD_INODE_SIZE) {
    c = crc32cRaw(c, raw.subarray(GOOD_OLD_INODE_SIZE, INODE_CHECKSUM_HI));
    let rest = INODE_CHECKSUM_HI;
    if (hasHi) {
      c = crc32cRaw(c, ZERO2);
      rest += 2;
    }
    c = crc32cRaw(c, raw.subarray(rest));
  }
  return c;
}

/** An extent tree block's checksum: crc32c(inode seed) over the block up to its tail. */
export function extentBlockChecksum(inodeSeed: number, block: Uint8Array, tailOffset: number): number {
  return crc32cRaw(inodeSeed, block.subarray(0, tailOffset));
}

/** Bytes of the ext4_dir_entry_tail at the end of a directory leaf block. */
export const DIRENT_TAIL_SIZE = 12;

/** A directory leaf block's checksum: crc32c(inode seed) over everything before the tail. */
export function dirLeafChecksum(inodeSeed: number, block: Uint8Array): number {
  return crc32cRaw(inodeSeed, block.subarray(0, block.length - DIRENT_TAIL_SIZE));
}

/**
 * An htree node's checksum (on-disk format: "Hash Tree Directories", dx_tail): crc32c(inode
 * seed) over the block up to the last used dx_entry, then dt_reserved, then a zeroed
 * dt_checksum.
 */
export function dxNodeChecksum(inodeSeed: number, block: Uint8Array, usedEnd: number, tailOffset: number): number {
  let c = crc32cRaw(inodeSeed, block.subarray(0, usedEnd));
  c = crc32cRaw(c, block.subarray(tailOffset, tailOffset + 4));
  return crc32cRaw(c, ZERO4);
}

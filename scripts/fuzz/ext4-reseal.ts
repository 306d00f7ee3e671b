/**
 * Recomputes every metadata checksum of an ext4 image in place, at the places its healthy
 * layout says metadata lives, with the parameters the (possibly mutated) superblock now gives:
 * after a mutation the structure lies but the checksums agree, so the reader's deeper checks are
 * what must catch it. Written from the on-disk format document ("Checksums") and the kernel's
 * ext4_chksum() (the raw crc32c register: no final inversion, seeded by the previous register),
 * not from src/fs/ext4/checksums.ts: the corpus build checks that resealing an unmutated seed
 * changes no byte, so this agrees with mke2fs, not merely with the reader.
 */
import CRC32C from 'crc-32/crc32c.js';
import type { Ext4Layout } from './ext4-layout.ts';

/** The kernel's ext4_chksum(seed, bytes); `crc-32` takes and returns finished (inverted) CRCs. */
function chksum(seed: number, bytes: Uint8Array): number {
  return ~CRC32C.buf(bytes, ~seed) >>> 0;
}

const le32 = (v: number) => new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);

/** crc16 as Linux lib/crc16.c (reflected 0x8005), for gdt_csum descriptors. */
function crc16(crc: number, bytes: Uint8Array): number {
  let c = crc & 0xffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

const RO_METADATA_CSUM = 0x400;
const RO_GDT_CSUM = 0x10;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_CSUM_SEED = 0x2000;
const FL_INDEX = 0x1000;

/** Rewrites the checksums of `img` (changed in place); returns `img`. */
export function resealExt4(img: Uint8Array, layout: Ext4Layout): Uint8Array {
  if (img.length < 2048) return img;
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const sb = img.subarray(1024, 2048);
  const sbv = new DataView(sb.buffer, sb.byteOffset, 1024);
  const roCompat = sbv.getUint32(0x64, true);
  const incompat = sbv.getUint32(0x60, true);
  const csum = (roCompat & RO_METADATA_CSUM) !== 0;
  const gdtCsum = !csum && (roCompat & RO_GDT_CSUM) !== 0;
  const uuid = sb.slice(0x68, 0x78);
  const seed = incompat & INCOMPAT_CSUM_SEED ? sbv.getUint32(0x270, true) : chksum(0xffffffff, uuid);
  const inBounds = (at: number, n: number) => at >= 0 && at + n <= img.length;
  const bs = layout.blockSize;

  // Group descriptors: crc32c (low 16 bits) or crc16; at the healthy descriptor size, which the mutation may have changed.
  if (csum || gdtCsum) {
    for (let g = 0; g < layout.groupCount; g++) {
      const at = layout.gdtBlock * bs + g * layout.descSize;
      if (!inBounds(at, layout.descSize)) continue;
      const d = img.subarray(at, at + layout.descSize);
      let c: number;
      if (csum) {
        const copy = d.slice();
        copy[0x1e] = 0;
        copy[0x1f] = 0;
        c = chksum(chksum(seed, le32(g)), copy) & 0xffff;
      } else {
        c = crc16(crc16(crc16(0xffff, uuid), le32(g)), d.subarray(0, 0x1e));
        if ((incompat & INCOMPAT_64BIT) && layout.descSize > 0x20) c = crc16(c, d.subarray(0x20));
      }
      dv.setUint16(at + 0x1e, c, true);
    }
  }

  if (csum) {
    const inodeSeeds = new Map<number, number>();
    // Every initialised inode that is not all zeros: a mutation may have written into a free slot.
    for (let g = 0; g < layout.groupCount; g++) {
      for (let i = 0; i < layout.groups[g].initialisedInodes; i++) {
        const ino = g * layout.inodesPerGroup + i + 1;
        const at = layout.groups[g].inodeTable * bs + i * layout.inodeSize;
        if (!inBounds(at, layout.inodeSize)) continue;
        const raw = img.subarray(at, at + layout.inodeSize);
        const iseed = chksum(chksum(seed, le32(ino)), raw.subarray(0x64, 0x68));
        inodeSeeds.set(ino, iseed);
        if (raw.every((b) => b === 0)) continue;
        sealInode(raw, iseed, layout.inodeSize);
      }
    }
    for (const ob of layout.blocks) {
      const at = ob.block * bs;
      const iseed = inodeSeeds.get(ob.ino);
      if (iseed === undefined || !inBounds(at, bs)) continue;
      const block = img.subarray(at, at + bs);
      const bv = new DataView(block.buffer, block.byteOffset, bs);
      if (ob.kind === 'extent') {
        const tail = 12 + bv.getUint16(4, true) * 12;
        if (tail + 4 <= bs) bv.setUint32(tail, chksum(iseed, block.subarray(0, tail)), true);
      } else if (ob.kind === 'dir') {
        const ownerFlags = ownerInodeFlags(img, layout, ob.ino);
        sealDirBlock(block, bv, iseed, (ownerFlags & FL_INDEX) !== 0, ob.index ?? 1, bs);
      }
    }
    // Last: the superblock's own checksum covers everything before it, including a changed seed or uuid.
    sbv.setUint32(0x3fc, chksum(0xffffffff, sb.subarray(0, 0x3fc)), true);
  }
  return img;
}

/** i_checksum_lo/hi over the whole inode with both fields zeroed; the high half only when i_extra_isize holds it. */
function sealInode(raw: Uint8Array, iseed: number, inodeSize: number): void {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const extra = inodeSize > 128 ? v.getUint16(0x80, true) : 0;
  const hasHi = inodeSize > 128 && 128 + extra >= 0x84;
  const copy = raw.slice();
  copy[0x7c] = 0;
  copy[0x7d] = 0;
  if (hasHi) { copy[0x82] = 0; copy[0x83] = 0; }
  const c = chksum(iseed, copy);
  v.setUint16(0x7c, c & 0xffff, true);
  if (hasHi) v.setUint16(0x82, c >>> 16, true);
}

function ownerInodeFlags(img: Uint8Array, layout: Ext4Layout, ino: number): number {
  const g = Math.floor((ino - 1) / layout.inodesPerGroup);
  const at = layout.groups[g].inodeTable * layout.blockSize + ((ino - 1) % layout.inodesPerGroup) * layout.inodeSize;
  return at + 0x24 <= img.length ? new DataView(img.buffer, img.byteOffset + at).getUint32(0x20, true) : 0;
}

/**
 * A directory block's checksum, classified as the kernel would by its bytes: an htree root or
 * node gets its dx_tail, a leaf its 12-byte dirent tail (rewritten whole: the tail's own
 * fields are part of what the checks look at).
 */
function sealDirBlock(block: Uint8Array, bv: DataView, iseed: number, indexed: boolean, index: number, bs: number): void {
  const recLen = (at: number) => bv.getUint16(at + 4, true);
  const isRoot = indexed && index === 0 && recLen(0) === 12 && block[8] === 0x2e && recLen(12) === bs - 12;
  const isNode = indexed && index !== 0 && bv.getUint32(0, true) === 0 && recLen(0) === bs;
  if (isRoot || isNode) {
    const countAt = isRoot ? 0x20 : 8;
    const limit = bv.getUint16(countAt, true);
    const count = bv.getUint16(countAt + 2, true);
    const tail = countAt + limit * 8;
    if (tail + 8 > bs || count > limit) return;
    const c = chksum(chksum(chksum(iseed, block.subarray(0, countAt + count * 8)), block.subarray(tail, tail + 4)), new Uint8Array(4));
    bv.setUint32(tail + 4, c, true);
    return;
  }
  const t = bs - 12;
  bv.setUint32(t, 0, true);
  bv.setUint16(t + 4, 12, true);
  block[t + 6] = 0;
  block[t + 7] = 0xde;
  bv.setUint32(t + 8, chksum(iseed, block.subarray(0, t)), true);
}

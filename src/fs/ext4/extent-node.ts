/**
 * Pure decoding of one extent tree node (ext4 on-disk format, "Extent Tree"): a 12-byte header
 * followed by index entries (interior nodes) or extents (leaves), in i_block (the root) or in a
 * whole block (with a checksum tail on metadata_csum filesystems). Everything the kernel's
 * ext4_ext_check() refuses is refused here, plus entries outside the range the parent gave.
 */
import { CorruptImageError } from '../../errors.js';
import { extentBlockChecksum } from './checksums.js';

/** eh_magic. */
export const EXTENT_MAGIC = 0xf30a;
/** EXT4_MAX_EXTENT_DEPTH: deeper trees are refused. */
export const MAX_EXTENT_DEPTH = 5;
/** Header and entry sizes (struct ext4_extent_header, ext4_extent, ext4_extent_idx). */
export const EXTENT_HEADER_SIZE = 12;
export const EXTENT_ENTRY_SIZE = 12;
/** Bytes of struct ext4_extent_tail (the checksum after eh_max entries). */
export const EXTENT_TAIL_SIZE = 4;
/** ee_len above this marks an unwritten extent of (ee_len - 32768) blocks (EXT_INIT_MAX_LEN). */
export const EXT_INIT_MAX_LEN = 32768;
/** Logical block numbers are 32-bit. */
const LBLK_LIMIT = 2 ** 32;

/** A leaf entry: `len` blocks from logical `lblk` stored at physical `pblk`. */
export interface ExtentLeafEntry {
  lblk: number;
  len: number;
  pblk: number;
  /** Allocated but never written: reads as zeros. */
  unwritten: boolean;
}

/** An index entry: the subtree in block `child` covers logical blocks from `lblk`. */
export interface ExtentIndexEntry {
  lblk: number;
  child: number;
}

/** A decoded node. */
export type ExtentNode =
  | { depth: 0; leaves: ExtentLeafEntry[]; indexes?: undefined }
  | { depth: number; indexes: ExtentIndexEntry[]; leaves?: undefined };

/** What a node is checked against. */
export interface ExtentNodeContext {
  /** "inode 12" / "inode 12 extent block 3456": names the node in messages. */
  what: string;
  /** Depth the parent says this node has (undefined for the root). */
  expectedDepth?: number;
  /** Logical range [lo, hi) the parent gave this node; entries must lie inside it. */
  lo: number;
  hi: number;
  /** Throws unless physical blocks [block, block + count) lie inside the filesystem. */
  checkBlocks: (block: number, count: number, what: string) => void;
}

function corrupt(what: string, message: string): CorruptImageError {
  return new CorruptImageError(`ext4 ${what}: extent tree ${message}`, { stage: 'ext4 extent tree' });
}

/**
 * The eh_max of a node block and where its checksum tail is.
 * @throws CorruptImageError when the tail does not fit in the block.
 */
export function extentTailOffset(block: Uint8Array, what: string): number {
  const max = block[4] | (block[5] << 8);
  const offset = EXTENT_HEADER_SIZE + max * EXTENT_ENTRY_SIZE;
  if (offset + EXTENT_TAIL_SIZE > block.length) throw corrupt(what, `eh_max ${max} leaves no room for the checksum`);
  return offset;
}

/**
 * Checks a non-root node block's checksum tail.
 * @throws CorruptImageError on a mismatch.
 */
export function verifyExtentBlock(block: Uint8Array, inodeSeed: number, what: string): void {
  const tail = extentTailOffset(block, what);
  const stored = new DataView(block.buffer, block.byteOffset + tail, 4).getUint32(0, true);
  const computed = extentBlockChecksum(inodeSeed, block, tail);
  if (stored !== computed) {
    throw corrupt(what, `block checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`);
  }
}

/**
 * Decodes and checks one node.
 * @param bytes i_block (60 bytes) for the root, else the whole block.
 * @param capacity most entries that fit (4 in i_block; (blockSize - 12) / 12 in a block).
 * @throws CorruptImageError naming `ctx.what`: bad magic, depth past 5 or not the parent's
 *   minus one, eh_entries above eh_max, eh_max above the capacity, entries unsorted,
 *   overlapping, empty, outside the parent's range or pointing outside the filesystem.
 */
export function decodeExtentNode(bytes: Uint8Array, capacity: number, ctx: ExtentNodeContext): ExtentNode {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint16(0, true);
  const entries = dv.getUint16(2, true);
  const max = dv.getUint16(4, true);
  const depth = dv.getUint16(6, true);
  const { what } = ctx;
  if (magic !== EXTENT_MAGIC) throw corrupt(what, `header has bad magic 0x${magic.toString(16)} (expected 0xf30a)`);
  if (depth > MAX_EXTENT_DEPTH) throw corrupt(what, `depth ${depth} is larger than ${MAX_EXTENT_DEPTH}`);
  if (ctx.expectedDepth !== undefined && depth !== ctx.expectedDepth) {
    throw corrupt(what, `node has depth ${depth} where its parent implies ${ctx.expectedDepth}`);
  }
  if (max === 0 || max > capacity) throw corrupt(what, `eh_max ${max} is outside 1..${capacity}`);
  if (entries > max) throw corrupt(what, `eh_entries ${entries} exceeds eh_max ${max}`);
  if (entries === 0 && depth > 0) throw corrupt(what, `interior node at depth ${depth} has no entries`);

  let prevEnd = ctx.lo;
  if (depth === 0) {
    const leaves: ExtentLeafEntry[] = [];
    for (let i = 0; i < entries; i++) {
      const at = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
      const lblk = dv.getUint32(at, true);
      const rawLen = dv.getUint16(at + 4, true);
      const unwritten = rawLen > EXT_INIT_MAX_LEN;
      const len = unwritten ? rawLen - EXT_INIT_MAX_LEN : rawLen;
      const pblk = dv.getUint16(at + 6, true) * 2 ** 32 + dv.getUint32(at + 8, true);
      if (len === 0) throw corrupt(what, `extent ${i} (logical block ${lblk}) has length 0`);
      if (lblk < prevEnd) throw corrupt(what, `extent ${i} at logical block ${lblk} overlaps or is out of order (previous ends at ${prevEnd})`);
      if (lblk + len > Math.min(ctx.hi, LBLK_LIMIT)) throw corrupt(what, `extent ${i} (logical blocks ${lblk}+${len}) lies outside its parent's range ending at ${ctx.hi}`);
      ctx.checkBlocks(pblk, len, `${what} extent ${i}`);
      leaves.push({ lblk, len, pblk, unwritten });
      prevEnd = lblk + len;
    }
    return { depth: 0, leaves };
  }
  const indexes: ExtentIndexEntry[] = [];
  for (let i = 0; i < entries; i++) {
    const at = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
    const lblk = dv.getUint32(at, true);
    const child = dv.getUint16(at + 8, true) * 2 ** 32 + dv.getUint32(at + 4, true);
    if (lblk < prevEnd || (i > 0 && lblk === prevEnd)) {
      throw corrupt(what, `index entry ${i} at logical block ${lblk} is out of order`);
    }
    if (lblk >= ctx.hi) throw corrupt(what, `index entry ${i} at logical block ${lblk} lies outside its parent's range ending at ${ctx.hi}`);
    ctx.checkBlocks(child, 1, `${what} index entry ${i}`);
    indexes.push({ lblk, child });
    prevEnd = lblk;
  }
  return { depth, indexes };
}

/**
 * Pure encoding of a file's extent tree (ext4 on-disk format, "Extent Tree") for the filesystem
 * writer: the root in i_block (up to 4 entries) and, for more extents, full-block nodes with
 * their checksum tails. The inverse of extent-node.ts / extent-tree.ts.
 */
import { extentBlockChecksum } from './checksums.js';
import { EXTENT_ENTRY_SIZE, EXTENT_HEADER_SIZE, EXTENT_MAGIC, EXTENT_TAIL_SIZE, EXT_INIT_MAX_LEN, MAX_EXTENT_DEPTH } from './extent-node.js';
import { I_BLOCK_SIZE } from './inode.js';

/** An initialised extent: `len` (1..32768) blocks from logical `lblk` at physical `pblk`. */
export interface WriteExtent {
  lblk: number;
  len: number;
  pblk: number;
}

/** Entries the root in i_block holds. */
const ROOT_ENTRIES = (I_BLOCK_SIZE - EXTENT_HEADER_SIZE) / EXTENT_ENTRY_SIZE;

function entriesPerBlock(blockSize: number): number {
  return Math.floor((blockSize - EXTENT_HEADER_SIZE - EXTENT_TAIL_SIZE) / EXTENT_ENTRY_SIZE);
}

/** Node counts per level below the root, leaves first; empty when the root holds every extent. */
function levels(extentCount: number, blockSize: number): number[] {
  const per = entriesPerBlock(blockSize);
  const out: number[] = [];
  let n = extentCount;
  while (n > ROOT_ENTRIES) {
    n = Math.ceil(n / per);
    out.push(n);
  }
  if (out.length > MAX_EXTENT_DEPTH) throw new RangeError(`${extentCount} extents need a tree deeper than ${MAX_EXTENT_DEPTH}`);
  return out;
}

/** Blocks the tree of `extentCount` extents needs outside the inode. */
export function extentTreeBlocks(extentCount: number, blockSize: number): number {
  return levels(extentCount, blockSize).reduce((a, b) => a + b, 0);
}

function header(dv: DataView, at: number, entries: number, max: number, depth: number): void {
  dv.setUint16(at, EXTENT_MAGIC, true);
  dv.setUint16(at + 2, entries, true);
  dv.setUint16(at + 4, max, true);
  dv.setUint16(at + 6, depth, true);
  dv.setUint32(at + 8, 0, true);
}

function putLeaf(dv: DataView, at: number, e: WriteExtent): void {
  if (e.len < 1 || e.len > EXT_INIT_MAX_LEN) throw new RangeError(`extent length ${e.len} outside 1..${EXT_INIT_MAX_LEN}`);
  dv.setUint32(at, e.lblk, true);
  dv.setUint16(at + 4, e.len, true);
  dv.setUint16(at + 6, Math.floor(e.pblk / 2 ** 32), true);
  dv.setUint32(at + 8, e.pblk % 2 ** 32, true);
}

function putIndex(dv: DataView, at: number, lblk: number, child: number): void {
  dv.setUint32(at, lblk, true);
  dv.setUint32(at + 4, child % 2 ** 32, true);
  dv.setUint16(at + 8, Math.floor(child / 2 ** 32), true);
  dv.setUint16(at + 10, 0, true);
}

/**
 * Encodes the tree of `extents` (sorted, not overlapping).
 * @param treeBlocks physical block numbers for the nodes outside the inode, as many as
 *   {@link extentTreeBlocks} says, used leaves first, then each level up.
 * @param inodeSeed the inode's checksum seed on metadata_csum filesystems (else undefined).
 * @returns the 60 bytes of i_block and one block of bytes per entry of `treeBlocks`.
 * @throws RangeError when `treeBlocks` has the wrong count or an extent is malformed.
 */
export function encodeExtentTree(extents: readonly WriteExtent[], treeBlocks: readonly number[], blockSize: number, inodeSeed: number | undefined): { iBlock: Uint8Array; blocks: Uint8Array[] } {
  const lv = levels(extents.length, blockSize);
  const total = lv.reduce((a, b) => a + b, 0);
  if (treeBlocks.length !== total) throw new RangeError(`extent tree needs ${total} blocks, got ${treeBlocks.length}`);
  const per = entriesPerBlock(blockSize);
  const blocks: Uint8Array[] = [];
  // Entries of the level being built: (first logical block, child physical block).
  let below: { lblk: number; child: number }[] = [];
  let next = 0;
  for (let depth = 0; depth < lv.length; depth++) {
    const count = lv[depth];
    const items = depth === 0 ? extents.length : below.length;
    const made: { lblk: number; child: number }[] = [];
    for (let k = 0; k < count; k++) {
      const bytes = new Uint8Array(blockSize);
      const dv = new DataView(bytes.buffer);
      const from = k * per;
      const to = Math.min(items, from + per);
      header(dv, 0, to - from, per, depth);
      for (let i = from; i < to; i++) {
        const at = EXTENT_HEADER_SIZE + (i - from) * EXTENT_ENTRY_SIZE;
        if (depth === 0) putLeaf(dv, at, extents[i]);
        else putIndex(dv, at, below[i].lblk, below[i].child);
      }
      const tail = EXTENT_HEADER_SIZE + per * EXTENT_ENTRY_SIZE;
      if (inodeSeed !== undefined) dv.setUint32(tail, extentBlockChecksum(inodeSeed, bytes, tail), true);
      const pblk = treeBlocks[next++];
      blocks.push(bytes);
      // An index entry starts where its subtree's first entry starts.
      made.push({ lblk: depth === 0 ? extents[from].lblk : below[from].lblk, child: pblk });
    }
    below = made;
  }
  const iBlock = new Uint8Array(I_BLOCK_SIZE);
  const dv = new DataView(iBlock.buffer);
  if (lv.length === 0) {
    header(dv, 0, extents.length, ROOT_ENTRIES, 0);
    extents.forEach((e, i) => putLeaf(dv, EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE, e));
  } else {
    header(dv, 0, below.length, ROOT_ENTRIES, lv.length);
    below.forEach((b, i) => putIndex(dv, EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE, b.lblk, b.child));
  }
  return { iBlock, blocks };
}

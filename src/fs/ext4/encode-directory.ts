/**
 * Pure encoding of a linear directory (ext4 on-disk format, "Linear (Classic) Directories"):
 * `.` and `..` first, then the entries in the order given, packed into blocks; with
 * metadata_csum each block ends in the 12-byte checksum tail. The inverse of directory.ts.
 */
import { DIRENT_TAIL_SIZE, dirLeafChecksum } from './checksums.js';
import { DIRENT_HEADER_SIZE, DIRENT_TYPE_CODES, FT_DIR_CSUM } from './directory.js';
import type { FileType } from './types.js';

/** One name to write. */
export interface WriteDirent {
  /** 1..255 bytes. */
  name: Uint8Array;
  ino: number;
  type: FileType;
}

/** Bytes one record of an `n`-byte name needs (EXT4_DIR_REC_LEN). */
export function direntSize(nameLength: number): number {
  return (DIRENT_HEADER_SIZE + nameLength + 3) & ~3;
}

function put(dv: DataView, bytes: Uint8Array, at: number, recLen: number, d: WriteDirent): void {
  dv.setUint32(at, d.ino, true);
  dv.setUint16(at + 4, recLen, true);
  dv.setUint8(at + 6, d.name.length);
  dv.setUint8(at + 7, DIRENT_TYPE_CODES[d.type]);
  bytes.set(d.name, at + DIRENT_HEADER_SIZE);
}

/** Where each record goes: block index and offset; records never straddle a block. */
function place(entries: readonly WriteDirent[], usable: number): { block: number; at: number }[] {
  const out: { block: number; at: number }[] = [];
  let block = 0;
  let at = 0;
  for (const e of entries) {
    const n = direntSize(e.name.length);
    if (at + n > usable) {
      block++;
      at = 0;
    }
    out.push({ block, at });
    at += n;
  }
  return out;
}

/** Blocks a directory of `entries` (without `.` and `..`) takes, at least `minBlocks`. */
export function directoryBlocks(entries: readonly WriteDirent[], blockSize: number, withTail: boolean, minBlocks = 1): number {
  const all = [dot(0), dotdot(0), ...entries];
  const placed = place(all, blockSize - (withTail ? DIRENT_TAIL_SIZE : 0));
  return Math.max(minBlocks, placed[placed.length - 1].block + 1);
}

const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);
function dot(ino: number): WriteDirent { return { name: DOT, ino, type: 'dir' }; }
function dotdot(ino: number): WriteDirent { return { name: DOTDOT, ino, type: 'dir' }; }

/**
 * Encodes the directory `self` (parent `parent`) holding `entries`.
 * @param inodeSeed the directory inode's checksum seed on metadata_csum filesystems, else undefined
 *   (no tails).
 * @param minBlocks pad with empty blocks to at least this many (lost+found is made roomy).
 * @returns one Uint8Array per block, in logical order.
 */
export function encodeDirectory(self: number, parent: number, entries: readonly WriteDirent[], blockSize: number, inodeSeed: number | undefined, minBlocks = 1): Uint8Array[] {
  const withTail = inodeSeed !== undefined;
  const usable = blockSize - (withTail ? DIRENT_TAIL_SIZE : 0);
  const all = [dot(self), dotdot(parent), ...entries];
  const placed = place(all, usable);
  const count = Math.max(minBlocks, placed[placed.length - 1].block + 1);
  const blocks = Array.from({ length: count }, () => new Uint8Array(blockSize));
  const views = blocks.map((b) => new DataView(b.buffer));
  for (let i = 0; i < all.length; i++) {
    const { block, at } = placed[i];
    // The last record of a block spans to the block's end (or its tail).
    const last = i + 1 === all.length || placed[i + 1].block !== block;
    put(views[block], blocks[block], at, last ? usable - at : direntSize(all[i].name.length), all[i]);
  }
  for (let b = 0; b < count; b++) {
    const dv = views[b];
    // An empty block is one unused record spanning it.
    if (b > placed[placed.length - 1].block) dv.setUint16(4, usable, true);
    if (!withTail) continue;
    const t = blockSize - DIRENT_TAIL_SIZE;
    dv.setUint16(t + 4, DIRENT_TAIL_SIZE, true);
    dv.setUint8(t + 7, FT_DIR_CSUM);
    dv.setUint32(t + 8, dirLeafChecksum(inodeSeed!, blocks[b]), true);
  }
  return blocks;
}

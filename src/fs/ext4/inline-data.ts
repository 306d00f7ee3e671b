/**
 * Pure decoding of inline data (ext4 on-disk format, "Inline Data"): a small file's or
 * directory's bytes kept in the inode, the first 60 in i_block and the rest in the value of the
 * `system.data` extended attribute in the inode's extra space ("Extended Attributes", in-inode
 * storage). Bounds are checked against the inode, never trusted.
 */
import { CorruptImageError } from '../../errors.js';
import { I_BLOCK_OFFSET, I_BLOCK_SIZE, type Inode } from './inode.js';

/** h_magic of the in-inode xattr area (EXT4_XATTR_MAGIC). */
export const XATTR_MAGIC = 0xea020000;
/** struct ext4_xattr_entry without its name. */
const XATTR_ENTRY_SIZE = 16;
/** e_name_index of `system.*` attributes (EXT4_XATTR_INDEX_SYSTEM). */
const XATTR_INDEX_SYSTEM = 7;
const DATA_NAME = [0x64, 0x61, 0x74, 0x61]; // "data"

/** Where one piece of the inline bytes lies within the on-disk inode. */
export interface InlinePiece {
  /** Offset in the file. */
  offset: number;
  length: number;
  /** Offset within the on-disk inode. */
  inodeOffset: number;
}

/** The bytes an inode holds inline (at most i_size of them), and where each piece lives. */
export interface InlineData {
  /** The stored bytes; when i_size is larger, the rest of the file reads as zeros. */
  bytes: Uint8Array;
  pieces: InlinePiece[];
}

function corrupt(ino: number, message: string): CorruptImageError {
  return new CorruptImageError(`ext4 inode ${ino}: inline data ${message}`, { stage: 'ext4 inline data' });
}

/**
 * The value of `system.data` and its offset in `extraSpace`, or undefined when absent.
 * @throws CorruptImageError when an xattr entry or value overruns the inode.
 */
export function findSystemData(inode: Inode): { value: Uint8Array; offset: number } | undefined {
  const space = inode.extraSpace;
  if (space.length < 4) return undefined;
  const dv = new DataView(space.buffer, space.byteOffset, space.byteLength);
  if (dv.getUint32(0, true) !== XATTR_MAGIC) return undefined;
  const first = 4;
  let at = first;
  while (at + 4 <= space.length && dv.getUint32(at, true) !== 0) {
    if (at + XATTR_ENTRY_SIZE > space.length) throw corrupt(inode.ino, `xattr entry at ${at} overruns the inode`);
    const nameLen = space[at];
    const nameIndex = space[at + 1];
    const valueOffs = dv.getUint16(at + 2, true);
    const valueInum = dv.getUint32(at + 4, true);
    const valueSize = dv.getUint32(at + 8, true);
    const next = at + ((XATTR_ENTRY_SIZE + nameLen + 3) & ~3);
    if (next > space.length) throw corrupt(inode.ino, `xattr entry at ${at} overruns the inode`);
    const name = space.subarray(at + XATTR_ENTRY_SIZE, at + XATTR_ENTRY_SIZE + nameLen);
    if (nameIndex === XATTR_INDEX_SYSTEM && nameLen === DATA_NAME.length && DATA_NAME.every((c, k) => name[k] === c)) {
      if (valueInum !== 0) throw corrupt(inode.ino, 'system.data is stored in another inode');
      const start = first + valueOffs;
      if (start + valueSize > space.length) throw corrupt(inode.ino, `system.data value (${valueSize} bytes at ${valueOffs}) overruns the inode`);
      return { value: space.subarray(start, start + valueSize), offset: start };
    }
    at = next;
  }
  return undefined;
}

/**
 * The inline bytes of an inode with EXT4_INLINE_DATA_FL, cut at i_size. An i_size past what the
 * inode holds is not an error: the kernel reads the rest as zeros (ext4_read_inline_folio()
 * zero-fills), e2fsck accepts it, and mke2fs -d writes such files (an all-hole file).
 * @throws CorruptImageError when the system.data attribute overruns the inode.
 */
export function decodeInlineData(inode: Inode): InlineData {
  const head = Math.min(inode.size, I_BLOCK_SIZE);
  const pieces: InlinePiece[] = [];
  if (head > 0) pieces.push({ offset: 0, length: head, inodeOffset: I_BLOCK_OFFSET });
  const data = inode.size > I_BLOCK_SIZE ? findSystemData(inode) : undefined;
  const rest = Math.min(inode.size - head, data?.value.length ?? 0);
  if (!data || rest === 0) return { bytes: inode.iBlock.slice(0, head), pieces };
  const bytes = new Uint8Array(head + rest);
  bytes.set(inode.iBlock);
  bytes.set(data.value.subarray(0, rest), I_BLOCK_SIZE);
  pieces.push({ offset: I_BLOCK_SIZE, length: rest, inodeOffset: inode.extraSpaceOffset + data.offset });
  return { bytes, pieces };
}

/**
 * Pure decoding of directory blocks (ext4 on-disk format, "Directory Entries" and "Hash Tree
 * Directories"): linear records of ext4_dir_entry(_2), the checksum tail of leaf blocks, and
 * the htree root and interior nodes, which a linear scan reads as records too (their fake
 * entries have inode 0 or span the index) but whose checksum sits in a dx_tail instead.
 * Each record is checked as the kernel's ext4_check_dir_entry() does before it is used.
 */
import { CorruptImageError } from '../../errors.js';
import { DIRENT_TAIL_SIZE, dirLeafChecksum, dxNodeChecksum } from './checksums.js';
import type { FileType } from './types.js';

/** ext4_dir_entry_2 header: inode (4), rec_len (2), name_len (1), file_type (1). */
export const DIRENT_HEADER_SIZE = 8;
/** EXT4_DIR_REC_LEN(1): the smallest record. */
const MIN_REC_LEN = 12;
/** det_reserved_ft of the leaf checksum tail (EXT4_FT_DIR_CSUM). */
export const FT_DIR_CSUM = 0xde;
/** dx_root_info.info_length, and where count/limit start in a root and in an interior node. */
const DX_ROOT_INFO_LENGTH = 8;
const DX_ROOT_COUNT_OFFSET = 0x20;
const DX_NODE_COUNT_OFFSET = 8;
/** struct dx_entry and struct dx_tail sizes. */
const DX_ENTRY_SIZE = 8;
const DX_TAIL_SIZE = 8;
/** Longest name (EXT4_NAME_LEN). */
const NAME_MAX = 255;

/** file_type of ext4_dir_entry_2 (on-disk format: "Directory Entries", file type table). */
const DIRENT_TYPES: Record<number, FileType> = {
  1: 'file', 2: 'dir', 3: 'chardev', 4: 'blockdev', 5: 'fifo', 6: 'socket', 7: 'symlink',
};

/** The file_type code of each file type (the inverse of the table above, for the writer). */
export const DIRENT_TYPE_CODES = Object.fromEntries(Object.entries(DIRENT_TYPES).map(([code, t]) => [t, Number(code)])) as Record<FileType, number>;

/** One record as stored (`.` and `..` included). */
export interface RawDirent {
  ino: number;
  /** A view into the block: copy before keeping it. */
  nameBytes: Uint8Array;
  /** From file_type, or undefined when the directory does not record it (or records 0). */
  type: FileType | undefined;
}

/** How to read records. */
export interface DirContext {
  /** Names the directory and block for messages: "directory inode 12 block 3". */
  what: string;
  /** INCOMPAT_FILETYPE: name_len is one byte and file_type follows; else name_len is 16-bit. */
  filetype: boolean;
  inodesCount: number;
  blockSize: number;
}

/** Kinds of directory block. */
export type DirBlockKind = 'leaf' | 'dx-root' | 'dx-node';

function corrupt(what: string, message: string): CorruptImageError {
  return new CorruptImageError(`ext4 ${what}: ${message}`, { stage: 'ext4 directory' });
}

/** rec_len as ext4_rec_len_from_disk(): 64 KiB blocks encode 65536 in 16 bits. */
export function decodeRecLen(raw: number, blockSize: number): number {
  if (blockSize < 65536) return raw;
  if (raw === 65535 || raw === 0) return 65536;
  return (raw & 65532) | ((raw & 3) << 16);
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/**
 * The records in bytes [start, end) of `bytes`, which they must tile exactly.
 * @throws CorruptImageError naming `ctx.what` and the offset: rec_len 0, unaligned, too short for
 *   its name, past the end; an inode number past s_inodes_count; an empty name or one holding
 *   '/' or NUL.
 */
export function parseDirRecords(bytes: Uint8Array, start: number, end: number, ctx: DirContext): RawDirent[] {
  const out: RawDirent[] = [];
  let at = start;
  while (at < end) {
    if (at + DIRENT_HEADER_SIZE > end) throw corrupt(ctx.what, `directory entry at offset ${at} overruns the block (ends at ${end})`);
    const ino = u32(bytes, at);
    const recLen = decodeRecLen(u16(bytes, at + 4), ctx.blockSize);
    const nameLen = ctx.filetype ? bytes[at + 6] : u16(bytes, at + 6);
    const where = `directory entry at offset ${at}`;
    if (recLen < MIN_REC_LEN) throw corrupt(ctx.what, `${where} has rec_len ${recLen}, smaller than ${MIN_REC_LEN}`);
    if (recLen % 4 !== 0) throw corrupt(ctx.what, `${where} has rec_len ${recLen}, not a multiple of 4`);
    if (at + recLen > end) throw corrupt(ctx.what, `${where} has rec_len ${recLen}, past the end of the block (${end})`);
    if (ino !== 0) {
      if (nameLen === 0 || nameLen > NAME_MAX) throw corrupt(ctx.what, `${where} has name_len ${nameLen}`);
      if (DIRENT_HEADER_SIZE + nameLen > recLen) throw corrupt(ctx.what, `${where} has rec_len ${recLen}, too small for name_len ${nameLen}`);
      if (ino > ctx.inodesCount) throw corrupt(ctx.what, `${where} names inode ${ino}, past s_inodes_count ${ctx.inodesCount}`);
      const nameBytes = bytes.subarray(at + DIRENT_HEADER_SIZE, at + DIRENT_HEADER_SIZE + nameLen);
      if (nameBytes.includes(0x2f) || nameBytes.includes(0)) throw corrupt(ctx.what, `${where} has a name holding '/' or NUL`);
      out.push({ ino, nameBytes, type: ctx.filetype ? DIRENT_TYPES[bytes[at + 7]] : undefined });
    }
    at += recLen;
  }
  return out;
}

/**
 * What a directory block is. Only an indexed directory (EXT4_INDEX_FL) has htree blocks: block 0
 * shaped as a dx root ('.' of length 12, then '..' spanning the rest), or any block whose first
 * record spans the whole block with inode 0 (a dx node; with metadata_csum a leaf never does,
 * its tail takes the last 12 bytes).
 */
export function classifyDirBlock(bytes: Uint8Array, indexed: boolean, blockIndex: number, blockSize: number): DirBlockKind {
  if (!indexed) return 'leaf';
  const firstLen = decodeRecLen(u16(bytes, 4), blockSize);
  if (blockIndex === 0 && firstLen === MIN_REC_LEN && bytes[8] === 0x2e &&
    decodeRecLen(u16(bytes, MIN_REC_LEN + 4), blockSize) === blockSize - MIN_REC_LEN) return 'dx-root';
  if (blockIndex !== 0 && u32(bytes, 0) === 0 && firstLen === blockSize) return 'dx-node';
  return 'leaf';
}

/**
 * Checks a directory block's checksum (metadata_csum): the dirent tail of a leaf, the dx_tail of
 * an htree node.
 * @throws CorruptImageError naming `what`: no tail, or a mismatch.
 */
export function verifyDirBlock(bytes: Uint8Array, kind: DirBlockKind, inodeSeed: number, what: string): void {
  const bs = bytes.length;
  if (kind === 'leaf') {
    const t = bs - DIRENT_TAIL_SIZE;
    if (u32(bytes, t) !== 0 || u16(bytes, t + 4) !== DIRENT_TAIL_SIZE || bytes[t + 6] !== 0 || bytes[t + 7] !== FT_DIR_CSUM) {
      throw corrupt(what, 'directory leaf block has no checksum tail');
    }
    const stored = u32(bytes, t + 8);
    const computed = dirLeafChecksum(inodeSeed, bytes);
    if (stored !== computed) throw corrupt(what, `directory block checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`);
    return;
  }
  let countOffset = DX_NODE_COUNT_OFFSET;
  if (kind === 'dx-root') {
    if (u32(bytes, 24) !== 0 || bytes[29] !== DX_ROOT_INFO_LENGTH) throw corrupt(what, 'htree root has a bad dx_root_info');
    countOffset = DX_ROOT_COUNT_OFFSET;
  }
  const limit = u16(bytes, countOffset);
  const count = u16(bytes, countOffset + 2);
  const tail = countOffset + limit * DX_ENTRY_SIZE;
  if (tail + DX_TAIL_SIZE > bs) throw corrupt(what, `htree node limit ${limit} leaves no room for the checksum`);
  if (count > limit) throw corrupt(what, `htree node count ${count} exceeds limit ${limit}`);
  const stored = u32(bytes, tail + 4);
  const computed = dxNodeChecksum(inodeSeed, bytes, countOffset + count * DX_ENTRY_SIZE, tail);
  if (stored !== computed) throw corrupt(what, `htree node checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`);
}

/**
 * The records of a directory block of the given kind: a leaf of a metadata_csum directory ends
 * before its 12-byte tail; htree blocks are read whole (their index hides in records that are
 * skipped or span it).
 * @throws CorruptImageError as {@link parseDirRecords}.
 */
export function decodeDirBlock(bytes: Uint8Array, kind: DirBlockKind, hasCsum: boolean, ctx: DirContext): RawDirent[] {
  const end = kind === 'leaf' && hasCsum ? bytes.length - DIRENT_TAIL_SIZE : bytes.length;
  return parseDirRecords(bytes, 0, end, ctx);
}

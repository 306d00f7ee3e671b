/**
 * The on-disk fields of each inode the writer makes, from its numbered source inode and where
 * its blocks went: modes, owners and (clamped) times from the source, sizes, link counts,
 * flags and i_block (extent root, block map, fast symlink or device number).
 */
import { encodeExtentTree } from '../../fs/ext4/encode-extent-tree.js';
import type { InodeFields } from '../../fs/ext4/encode-inode.js';
import { I_BLOCK_SIZE, InodeFlag } from '../../fs/ext4/inode.js';
import type { Timestamp } from '../tree/types.js';
import { BLOCK_SIZE } from './ext4-geometry.js';
import { pathOf, type NumberedInode } from './plan-inodes.js';
import { UsageError } from '../../errors.js';

/** Above this many links a directory records 1 (dir_nlink), as the kernel does past EXT4_LINK_MAX. */
const DIR_LINK_MAX = 65000;

/** Where an inode's blocks are: its i_block and how many blocks it holds (data + tree/indirect). */
export interface InodeBlocks {
  iBlock: Uint8Array;
  /** Blocks of data (for a directory: its size in blocks). */
  dataBlocks: number;
  /** Extent-tree or indirect blocks. */
  treeBlocks: number;
}

/** i_block of a device: old 16-bit encoding in word 0 when both halves fit a byte, else the new one in word 1 (as the kernel). */
function deviceIBlock(major: number, minor: number, n: NumberedInode): Uint8Array {
  // Linux device numbers: 12 bits of major, 20 of minor (the kernel's new_encode_dev).
  if (!(major >= 0 && major <= 0xfff && minor >= 0 && minor <= 0xfffff && Number.isInteger(major) && Number.isInteger(minor))) {
    throw new UsageError(`${pathOf(n)}: device ${major}:${minor} cannot be stored in ext4 (major 0..4095, minor 0..1048575)`);
  }
  const b = new Uint8Array(I_BLOCK_SIZE);
  const dv = new DataView(b.buffer);
  if (major < 256 && minor < 256) dv.setUint32(0, (major << 8) | minor, true);
  else dv.setUint32(4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
  return b;
}

/**
 * The fields of a source inode.
 * @param blocks its mapped blocks (absent: it has none).
 * @param clamp clamps times later than this many seconds (SOURCE_DATE_EPOCH).
 * @param time the filesystem's creation time (the times of a lost+found the writer adds).
 */
export function inodeFields(n: NumberedInode, blocks: InodeBlocks | undefined, ext4: boolean, time: number, clamp: number | undefined): InodeFields {
  const src = n.source;
  const extentsFlag = ext4 ? InodeFlag.EXTENTS : 0;
  const now: Timestamp = { sec: time, nsec: 0 };
  const mtime = src ? clampTime(src.mtime, clamp) : now;
  const f: InodeFields = {
    type: n.kind,
    mode: src ? src.mode & 0o7777 : 0o700,
    uid: src?.uid ?? 0,
    gid: src?.gid ?? 0,
    size: 0,
    linksCount: n.links,
    atime: src ? clampTime(src.atime, clamp) : now,
    mtime,
    ctime: src ? clampTime(src.ctime, clamp) : now,
    // The source has no creation time; its mtime keeps a rebuild's unchanged inodes unchanged.
    crtime: mtime,
    flags: 0,
    blocks512: blocks ? (blocks.dataBlocks + blocks.treeBlocks) * 8 : 0,
    generation: 0,
    iBlock: blocks?.iBlock ?? ZERO_I_BLOCK,
  };
  switch (n.kind) {
    case 'dir':
      f.size = blocks!.dataBlocks * BLOCK_SIZE;
      f.linksCount = n.links > DIR_LINK_MAX ? 1 : n.links;
      f.flags = extentsFlag;
      break;
    case 'file':
      f.size = src!.size;
      f.flags = extentsFlag;
      if (!blocks && ext4) f.iBlock = EMPTY_EXTENT_ROOT;
      break;
    case 'symlink': {
      const target = src!.target!;
      f.size = target.length;
      if (blocks) {
        f.flags = extentsFlag;
      } else {
        f.iBlock = new Uint8Array(I_BLOCK_SIZE);
        f.iBlock.set(target);
      }
      break;
    }
    case 'chardev':
    case 'blockdev':
      f.iBlock = deviceIBlock(src!.rdev?.major ?? 0, src!.rdev?.minor ?? 0, n);
      break;
    default:
      break;
  }
  return f;
}

/** `t`, or `clamp` seconds when `t` is later (SOURCE_DATE_EPOCH). */
function clampTime(t: Timestamp, clamp: number | undefined): Timestamp {
  return clamp !== undefined && t.sec > clamp ? { sec: clamp, nsec: 0 } : t;
}

const ZERO_I_BLOCK = new Uint8Array(I_BLOCK_SIZE);
/** i_block of an empty extent-mapped file: a root with no entries. */
const EMPTY_EXTENT_ROOT = encodeExtentTree([], [], BLOCK_SIZE, undefined).iBlock;

/** The journal inode (8): a regular file of mode 0600 owned by root, as mke2fs makes it. */
export function journalFields(blocks: InodeBlocks, journalBlocks: number, time: number): InodeFields {
  const t: Timestamp = { sec: time, nsec: 0 };
  return {
    type: 'file', mode: 0o600, uid: 0, gid: 0, size: journalBlocks * BLOCK_SIZE, linksCount: 1,
    atime: t, mtime: t, ctime: t, crtime: t, flags: InodeFlag.EXTENTS, blocks512: (blocks.dataBlocks + blocks.treeBlocks) * 8, generation: 0, iBlock: blocks.iBlock,
  };
}

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
import type { NumberedInode } from './plan-inodes.js';

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
function deviceIBlock(major: number, minor: number): Uint8Array {
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
 * @param time the filesystem's creation time (crtime; the times of a lost+found the writer adds).
 */
export function inodeFields(n: NumberedInode, blocks: InodeBlocks | undefined, ext4: boolean, time: number, clamp: number | undefined): InodeFields {
  const clampT = (t: Timestamp): Timestamp => (clamp !== undefined && t.sec > clamp ? { sec: clamp, nsec: 0 } : t);
  const now: Timestamp = { sec: time, nsec: 0 };
  const src = n.source;
  const extentsFlag = ext4 ? InodeFlag.EXTENTS : 0;
  const emptyRoot = () => (ext4 ? encodeExtentTree([], [], BLOCK_SIZE, undefined).iBlock : new Uint8Array(I_BLOCK_SIZE));
  const base = {
    mode: src ? src.mode & 0o7777 : 0o700,
    uid: src?.uid ?? 0,
    gid: src?.gid ?? 0,
    atime: src ? clampT(src.atime) : now,
    mtime: src ? clampT(src.mtime) : now,
    ctime: src ? clampT(src.ctime) : now,
    crtime: now,
    generation: 0,
  };
  const mappedBlocks = blocks ? blocks.dataBlocks + blocks.treeBlocks : 0;
  switch (n.kind) {
    case 'dir':
      return { ...base, type: 'dir', size: blocks!.dataBlocks * BLOCK_SIZE, linksCount: n.links > DIR_LINK_MAX ? 1 : n.links, flags: extentsFlag, blocks512: mappedBlocks * 8, iBlock: blocks!.iBlock };
    case 'file':
      return { ...base, type: 'file', size: src!.size, linksCount: n.links, flags: extentsFlag, blocks512: mappedBlocks * 8, iBlock: blocks?.iBlock ?? emptyRoot() };
    case 'symlink': {
      const target = src!.target!;
      if (blocks) return { ...base, type: 'symlink', size: target.length, linksCount: n.links, flags: extentsFlag, blocks512: mappedBlocks * 8, iBlock: blocks.iBlock };
      const iBlock = new Uint8Array(I_BLOCK_SIZE);
      iBlock.set(target);
      return { ...base, type: 'symlink', size: target.length, linksCount: n.links, flags: 0, blocks512: 0, iBlock };
    }
    case 'chardev':
    case 'blockdev':
      return { ...base, type: n.kind, size: 0, linksCount: n.links, flags: 0, blocks512: 0, iBlock: deviceIBlock(src!.rdev?.major ?? 0, src!.rdev?.minor ?? 0) };
    default:
      return { ...base, type: n.kind, size: 0, linksCount: n.links, flags: 0, blocks512: 0, iBlock: new Uint8Array(I_BLOCK_SIZE) };
  }
}

/** The journal inode (8): a regular file of mode 0600 owned by root, as mke2fs makes it. */
export function journalFields(blocks: InodeBlocks, journalBlocks: number, time: number): InodeFields {
  const t: Timestamp = { sec: time, nsec: 0 };
  return {
    type: 'file', mode: 0o600, uid: 0, gid: 0, size: journalBlocks * BLOCK_SIZE, linksCount: 1,
    atime: t, mtime: t, ctime: t, crtime: t, flags: InodeFlag.EXTENTS, blocks512: (blocks.dataBlocks + blocks.treeBlocks) * 8, generation: 0, iBlock: blocks.iBlock,
  };
}

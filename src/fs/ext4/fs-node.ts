/**
 * Turns a decoded inode into the {@link FsNode} callers see, including the device number of
 * character and block devices, stored in i_block in one of two encodings (ext4 on-disk format,
 * "Inode Table", i_block: "device files").
 */
import type { Inode } from './inode.js';
import type { FsNode } from './types.js';

/**
 * A device inode's major and minor numbers: the old 16-bit encoding in i_block[0] when non-zero
 * (kernel old_decode_dev()), else the new 32-bit one in i_block[1] (new_decode_dev()).
 */
export function decodeDeviceNumber(iBlock: Uint8Array): { major: number; minor: number } {
  const dv = new DataView(iBlock.buffer, iBlock.byteOffset, iBlock.byteLength);
  const old = dv.getUint32(0, true);
  if (old !== 0) return { major: (old >>> 8) & 0xff, minor: old & 0xff };
  const dev = dv.getUint32(4, true);
  return { major: (dev & 0xfff00) >>> 8, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}

/** The stat(2)-like view of an in-use inode. */
export function toFsNode(inode: Inode): FsNode {
  const node: FsNode = {
    ino: inode.ino,
    type: inode.type,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    nlink: inode.linksCount,
    atime: inode.atime,
    mtime: inode.mtime,
    ctime: inode.ctime,
    flags: inode.flags,
    blocks: inode.blocks,
    generation: inode.generation,
  };
  if (inode.crtime) node.crtime = inode.crtime;
  if (inode.type === 'chardev' || inode.type === 'blockdev') node.rdev = decodeDeviceNumber(inode.iBlock);
  return node;
}

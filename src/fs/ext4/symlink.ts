/**
 * Symlink targets: fast symlinks keep theirs in i_block, slow ones in a data block (extent or
 * block mapped), inline_data ones in the inode's inline data. The target is never longer than
 * a block (ext4_symlink() refuses more), which bounds what a crafted i_size can make us read.
 */
import { CorruptImageError, UnsupportedError } from '../../errors.js';
import { dataLayout, readData } from './file-data.js';
import { I_BLOCK_SIZE, InodeFlag, type Inode } from './inode.js';
import type { Ext4Volume } from './volume.js';

/**
 * The raw bytes of symlink `inode`'s target.
 * @throws UnsupportedError for an encrypted symlink; CorruptImageError naming the inode when
 *   its size is impossible; as the device throws.
 */
export async function readSymlinkBytes(vol: Ext4Volume, inode: Inode, signal?: AbortSignal): Promise<Uint8Array> {
  if (inode.flags & InodeFlag.ENCRYPT) {
    throw new UnsupportedError(`ext4: symlink inode ${inode.ino} is encrypted`, { stage: 'ext4 symlink' });
  }
  const layout = dataLayout(vol, inode);
  if (inode.size > vol.sb.blockSize || (layout === 'fast-symlink' && inode.size >= I_BLOCK_SIZE)) {
    throw new CorruptImageError(`ext4 inode ${inode.ino}: symlink target length ${inode.size} is impossible for a ${layout} symlink`, { stage: 'ext4 symlink' });
  }
  return readData(vol, inode, 0, inode.size, signal);
}

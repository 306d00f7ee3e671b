/**
 * The parts of an open filesystem every reader shares: the device, the validated superblock,
 * the metadata block cache, and from them group descriptors and inodes by number. Group
 * descriptor blocks are read when first needed (a 16 TiB filesystem has 8 MiB of them), and all
 * descriptors of a block are checked when it is read, as the kernel checks them at mount.
 */
import { CorruptImageError, UsageError } from '../../errors.js';
import { BlockCache } from './block-cache.js';
import { BG_INODE_UNINIT, decodeGroupDescriptor, descriptorBlockLocation, type GroupDescriptor } from './group-descriptors.js';
import { decodeInode, type Inode } from './inode.js';
import type { Superblock } from './superblock.js';
import type { BlockDevice } from '../types.js';

/** An inode and where its bytes are on the device (inline data is reported from there). */
export interface LocatedInode {
  inode: Inode;
  /** Byte offset of the on-disk inode on the device. */
  deviceOffset: number;
}

/** Device, superblock and metadata cache of one open filesystem. */
export class Ext4Volume {
  readonly cache: BlockCache;

  /**
   * @param cacheBytes bytes of metadata blocks kept in the LRU.
   */
  constructor(readonly dev: BlockDevice, readonly sb: Superblock, cacheBytes: number) {
    this.cache = new BlockCache(dev, sb.blockSize, sb.blocksCount, cacheBytes);
  }

  /**
   * The descriptor of `group`, checked.
   * @throws CorruptImageError (checksum, inode table placement), as the device throws.
   */
  async groupDescriptor(group: number, signal?: AbortSignal): Promise<GroupDescriptor> {
    const sb = this.sb;
    const index = Math.floor(group / sb.descPerBlock);
    const location = descriptorBlockLocation(sb, index);
    const cached = this.cache.peek(location);
    if (cached) return decodeGroupDescriptor(sb, cached, group);
    const block = await this.cache.readBlock(location, `group descriptor block ${index}`, {
      signal,
      verify: (bytes) => {
        const end = Math.min(sb.groupCount, (index + 1) * sb.descPerBlock);
        for (let g = index * sb.descPerBlock; g < end; g++) decodeGroupDescriptor(sb, bytes, g);
      },
    });
    return decodeGroupDescriptor(sb, block, group);
  }

  /**
   * Inode `ino`, decoded and checked; a free inode comes back with `inUse` false.
   * @throws UsageError when `ino` is not an inode number of this filesystem; CorruptImageError
   *   naming the inode (checksum, bad fields) or its group.
   */
  async readInode(ino: number, signal?: AbortSignal): Promise<LocatedInode> {
    const sb = this.sb;
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > sb.inodesCount) {
      throw new UsageError(`ext4: inode ${ino} does not exist (inodes 1..${sb.inodesCount})`);
    }
    const group = Math.floor((ino - 1) / sb.inodesPerGroup);
    const index = (ino - 1) % sb.inodesPerGroup;
    const desc = await this.groupDescriptor(group, signal);
    const byteInTable = index * sb.inodeSize;
    const deviceOffset = desc.inodeTable * sb.blockSize + byteInTable;
    // An uninitialized table, or the never-used tail of one, may hold stale bytes: such
    // inodes are free whatever the bytes say (the kernel never reads them either).
    if ((desc.flags & BG_INODE_UNINIT) || index >= sb.inodesPerGroup - desc.itableUnused) {
      return { inode: decodeInode(sb, ino, new Uint8Array(sb.inodeSize)), deviceOffset };
    }
    const blockNo = desc.inodeTable + Math.floor(byteInTable / sb.blockSize);
    const block = this.cache.peek(blockNo) ?? await this.cache.readBlock(blockNo, `inode table of group ${group}`, { signal });
    const start = byteInTable % sb.blockSize;
    return { inode: decodeInode(sb, ino, block.subarray(start, start + sb.inodeSize)), deviceOffset };
  }

  /**
   * Inode `ino`, which must be in use.
   * @throws CorruptImageError when it is free; as {@link readInode}.
   */
  async inodeInUse(ino: number, signal?: AbortSignal): Promise<LocatedInode> {
    const located = await this.readInode(ino, signal);
    if (!located.inode.inUse) {
      throw new CorruptImageError(`ext4 inode ${ino}: not in use (deleted or never allocated)`, { stage: 'ext4 inode' });
    }
    return located;
  }
}

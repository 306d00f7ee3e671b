/**
 * A read-only ext2/ext3/ext4 filesystem over a {@link BlockDevice}: stat, path lookup, directory
 * listings, symlinks, file reads and file maps. Pure code (no Node built-ins) that reads only
 * what each call needs: opening reads the superblock and the first group descriptor block;
 * a lookup reads the inode table blocks and directory blocks on its path; a read reads the
 * file's data, one device read per contiguous run. Everything read from the device is treated
 * as untrusted: damage is reported as a CorruptImageError naming the structure.
 */
import { CorruptImageError, throwIfAborted, UnsupportedError, UsageError } from '../../errors.js';
import type { BlockDevice } from '../types.js';
import { directoryRecords } from './directory-reader.js';
import { featureNames, filesystemKind, Incompat } from './features.js';
import { fileExtents, readData } from './file-data.js';
import { toFsNode } from './fs-node.js';
import { InodeFlag, type Inode } from './inode.js';
import { resolvePath } from './path-lookup.js';
import { decodeSuperblock, formatUuid, STATE_ERROR, STATE_VALID, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from './superblock.js';
import { readSymlinkBytes } from './symlink.js';
import type { DirEntry, Ext4Info, Ext4OpenOptions, FileExtent, FsNode, LookupOptions, ReadOptions } from './types.js';
import { Ext4Volume } from './volume.js';

/** Default bytes of metadata blocks kept in the LRU. */
export const DEFAULT_METADATA_CACHE_BYTES = 4 << 20;
/** Most entries one readdir returns (about 600 MiB of entries); more is refused rather than held in memory. */
export const MAX_DIR_ENTRIES = 1 << 22;

const TEXT = new TextDecoder('utf-8');

/**
 * An open ext2/3/4 filesystem.
 * @example
 * const fs = await Ext4Filesystem.open(device, { onWarning: console.warn });
 * const node = await fs.lookup('/etc/hostname');
 * const bytes = await fs.read(node.ino, 0, node.size);
 */
export class Ext4Filesystem {
  /** The root directory's inode number (EXT4_ROOT_INO). */
  readonly rootIno = 2 as const;

  private constructor(private readonly vol: Ext4Volume, readonly info: Ext4Info) {}

  /**
   * Opens the filesystem on `dev`: reads and checks the superblock and the first group
   * descriptor block. A filesystem that was not cleanly unmounted, has errors recorded or a
   * journal to replay is read as it is, after a warning through `onWarning`.
   * @throws CorruptImageError for a bad superblock (magic, checksum, geometry) or descriptor;
   *   UnsupportedError for an incompatible feature this reader cannot honour; AbortedError;
   *   as the device throws.
   */
  static async open(dev: BlockDevice, options: Ext4OpenOptions = {}): Promise<Ext4Filesystem> {
    throwIfAborted(options.signal, 'ext4 open');
    if (dev.size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) {
      throw new CorruptImageError(`ext4: the device (${dev.size} bytes) is too small to hold a superblock`, { stage: 'ext4 superblock' });
    }
    const sb = decodeSuperblock(await dev.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, { signal: options.signal }), dev.size);
    const warn = options.onWarning ?? (() => {});
    const recover = (sb.incompat & Incompat.RECOVER) !== 0;
    if (!(sb.state & STATE_VALID)) warn('ext4: the filesystem was not cleanly unmounted; reading it as it is');
    if (sb.state & STATE_ERROR) warn('ext4: the filesystem has errors recorded (e2fsck would repair them); reading it as it is');
    if (recover) warn('ext4: the journal needs recovery and is not replayed here: changes still in the journal are missing');

    const vol = new Ext4Volume(dev, sb, options.metadataCacheBytes ?? DEFAULT_METADATA_CACHE_BYTES);
    await vol.groupDescriptor(0, options.signal);
    const info: Ext4Info = {
      kind: filesystemKind(sb.compat, sb.incompat, sb.roCompat),
      label: sb.label,
      uuid: formatUuid(sb.uuid),
      blockSize: sb.blockSize,
      blocksCount: sb.blocksCount,
      inodesCount: sb.inodesCount,
      freeBlocks: sb.freeBlocks,
      freeInodes: sb.freeInodes,
      inodeSize: sb.inodeSize,
      clean: (sb.state & STATE_VALID) !== 0 && !(sb.state & STATE_ERROR) && !recover,
      features: featureNames(sb.compat, sb.incompat, sb.roCompat),
    };
    return new Ext4Filesystem(vol, info);
  }

  /**
   * The node of inode `ino`.
   * @throws UsageError when `ino` is outside 1..inodesCount; CorruptImageError naming the inode
   *   (checksum, fields, not in use).
   */
  async stat(ino: number, options: ReadOptions = {}): Promise<FsNode> {
    return toFsNode(await this.inode(ino, options.signal));
  }

  /**
   * The node an absolute path names. Symlinks before the last component are followed inside
   * this filesystem (absolute targets from its root), the last one only with `followFinal`.
   * @throws UsageError "no such file or directory: PATH", "not a directory: PATH", "too many
   *   levels of symbolic links" (40); CorruptImageError / UnsupportedError from what it reads.
   */
  async lookup(path: string, options: LookupOptions = {}): Promise<FsNode> {
    const signal = options.signal;
    throwIfAborted(signal, 'ext4 lookup');
    const ino = await resolvePath({
      rootIno: this.rootIno,
      typeOf: async (i) => (await this.inode(i, signal)).type,
      findEntry: (dir, name) => this.findEntry(dir, name, signal),
      readlink: async (i) => readSymlinkBytes(this.vol, await this.inode(i, signal), signal),
    }, path, options.followFinal ?? false);
    return this.stat(ino, options);
  }

  /**
   * The entries of directory `ino`, in on-disk order, without `.` and `..`.
   * @throws UsageError when `ino` is not a directory; UnsupportedError for an encrypted
   *   directory; CorruptImageError naming the directory and block.
   */
  async readdir(ino: number, options: ReadOptions = {}): Promise<DirEntry[]> {
    const dir = await this.directory(ino, options.signal);
    const out: DirEntry[] = [];
    for await (const batch of directoryRecords(this.vol, dir, options.signal)) {
      for (const rec of batch) {
        const n = rec.nameBytes;
        if ((n.length === 1 && n[0] === 0x2e) || (n.length === 2 && n[0] === 0x2e && n[1] === 0x2e)) continue;
        if (out.length >= MAX_DIR_ENTRIES) {
          throw new UnsupportedError(`ext4: directory inode ${ino} has more than ${MAX_DIR_ENTRIES} entries`, { stage: 'ext4 directory' });
        }
        const nameBytes = n.slice();
        out.push({ name: TEXT.decode(nameBytes), nameBytes, ino: rec.ino, type: rec.type ?? (await this.inode(rec.ino, options.signal)).type });
      }
    }
    return out;
  }

  /**
   * The target of symlink `ino`, decoded as UTF-8 (invalid sequences replaced).
   * @throws UsageError when `ino` is not a symlink; UnsupportedError when encrypted;
   *   CorruptImageError naming the inode.
   */
  async readlink(ino: number, options: ReadOptions = {}): Promise<string> {
    const inode = await this.inode(ino, options.signal);
    if (inode.type !== 'symlink') throw new UsageError(`ext4: inode ${ino} is a ${inode.type}, not a symlink`);
    return TEXT.decode(await readSymlinkBytes(this.vol, inode, options.signal));
  }

  /**
   * Up to `length` bytes of regular file `ino` from byte `offset`, clipped at its size; holes
   * and unwritten extents read as zeros.
   * @throws UsageError when `ino` is not a regular file or the range is invalid or over 1 GiB;
   *   UnsupportedError when encrypted; CorruptImageError naming the inode; AbortedError.
   */
  async read(ino: number, offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    const inode = await this.inode(ino, options.signal);
    if (inode.type !== 'file') throw new UsageError(`ext4: inode ${ino} is a ${inode.type}, not a regular file`);
    this.refuseEncrypted(inode);
    return readData(this.vol, inode, offset, length, options.signal);
  }

  /**
   * The map of inode `ino`'s data in file order: byte ranges with their device offsets, holes
   * (and unwritten extents) as `deviceOffset: null`, contiguous ranges merged, ending at its size.
   * Inline data and fast symlink targets are reported where they lie inside the inode.
   * @throws UnsupportedError when encrypted; CorruptImageError naming the inode.
   */
  async *extents(ino: number, options: ReadOptions = {}): AsyncGenerator<FileExtent> {
    const located = await this.vol.inodeInUse(ino, options.signal);
    this.refuseEncrypted(located.inode);
    yield* fileExtents(this.vol, located, options.signal);
  }

  private async inode(ino: number, signal: AbortSignal | undefined): Promise<Inode> {
    throwIfAborted(signal, 'ext4 read');
    return (await this.vol.inodeInUse(ino, signal)).inode;
  }

  private async directory(ino: number, signal: AbortSignal | undefined): Promise<Inode> {
    const inode = await this.inode(ino, signal);
    if (inode.type !== 'dir') throw new UsageError(`ext4: inode ${ino} is a ${inode.type}, not a directory`);
    return inode;
  }

  private async findEntry(dirIno: number, name: Uint8Array, signal: AbortSignal | undefined): Promise<number | undefined> {
    const dir = await this.directory(dirIno, signal);
    for await (const batch of directoryRecords(this.vol, dir, signal)) {
      for (const rec of batch) {
        const n = rec.nameBytes;
        if (n.length === name.length && n.every((b, i) => b === name[i])) return rec.ino;
      }
    }
    return undefined;
  }

  private refuseEncrypted(inode: Inode): void {
    if (inode.flags & InodeFlag.ENCRYPT) {
      throw new UnsupportedError(`ext4: inode ${inode.ino} is encrypted`, { stage: 'ext4 inode' });
    }
  }
}

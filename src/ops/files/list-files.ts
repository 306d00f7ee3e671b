/**
 * `hexz files`: the partitions of an archive's disk and the files under a path of one of its
 * filesystems, streamed depth-first so a whole disk lists in bounded memory.
 */
import { throwIfAborted } from '../../errors.js';
import type { DirEntry } from '../../fs/ext4/index.js';
import type { Archive } from '../../archive/archive.js';
import { childPath, isSafeName, lookupPath, normalizePath, sortByName, toFileEntry } from './file-entry.js';
import { volumeOf, type Volume } from './open-volume.js';
import type { DiskLayout, FileEntry, PartitionSummary, VolumeOptions } from './types.js';

/** Options of {@link listFiles}. */
export interface ListFilesOptions extends VolumeOptions {
  /** Absolute path inside the filesystem (default `/`). */
  path?: string;
  /** List every level below `path` (default true); false lists only its own entries, like `ls`. */
  recursive?: boolean;
}

/** What {@link listFiles} returns: the layout at once, the entries as they are read. */
export interface FileListing {
  /** The disk's partition table, every partition with its filesystem. */
  layout: DiskLayout;
  /** The partition listed. */
  partition: PartitionSummary;
  /** The filesystem listed: kind, label, UUID, block size, whether it was cleanly unmounted. */
  filesystem: { kind: string; label: string; uuid: string; blockSize: number; clean: boolean };
  /**
   * The entries: for a directory, everything below it (not itself), depth-first, names sorted
   * by their bytes within each directory; for any other path, that one entry. Read lazily:
   * memory holds one directory's entries per level, not the tree.
   * @throws (while iterating) CorruptImageError naming a damaged inode or directory; AbortedError.
   */
  entries: AsyncGenerator<FileEntry>;
}

/**
 * Lists the files of a filesystem inside an archive's disk.
 * @param source an archive, or a {@link Volume} already opened (then `stream` and `partition` are its own).
 * @throws UsageError when the path does not exist, the partition is not there or must be
 *   chosen; UnsupportedError for a filesystem other than ext2/3/4; as {@link openVolume}.
 * @example
 * const listing = await listFiles(archive, { path: '/etc' });
 * for await (const e of listing.entries) console.log(e.path, e.size);
 */
export async function listFiles(source: Archive | Volume, options: ListFilesOptions = {}): Promise<FileListing> {
  const vol = await volumeOf(source, options);
  const path = normalizePath(options.path ?? '/');
  const top = await lookupPath(vol, path, { signal: options.signal });
  const { kind, label, uuid, blockSize, clean } = vol.fs.info;
  return {
    layout: vol.layout,
    partition: vol.partition,
    filesystem: { kind, label, uuid, blockSize, clean },
    entries: top.type === 'dir'
      ? walk(vol, path, top.ino, options.recursive ?? true, options)
      : (async function* () { yield await toFileEntry(vol, path, top, options.signal); })(),
  };
}

/** One directory being walked: its path, its sorted entries, the next one to visit. */
interface Frame {
  path: string;
  entries: DirEntry[];
  next: number;
}

/**
 * Depth-first over the directory `ino` at `path`, with an explicit stack rather than nested
 * generators (a deep tree would make every step pass through one generator per level). A
 * directory seen before (a crafted loop, or a directory hard-linked twice) is not entered again.
 */
async function* walk(vol: Volume, path: string, ino: number, recursive: boolean, options: VolumeOptions): AsyncGenerator<FileEntry> {
  const { signal } = options;
  const warn = options.onWarning ?? (() => {});
  const seenDirs = new Set<number>([ino]);
  const stack: Frame[] = [{ path, entries: sortByName(await vol.fs.readdir(ino, { signal })), next: 0 }];
  while (stack.length > 0) {
    throwIfAborted(signal, 'list');
    const frame = stack[stack.length - 1];
    if (frame.next >= frame.entries.length) {
      stack.pop();
      continue;
    }
    const d = frame.entries[frame.next++];
    const here = childPath(frame.path, d.name);
    if (!isSafeName(d.nameBytes)) {
      warn(`${frame.path}: skipping an entry whose name is not a valid file name (${JSON.stringify(d.name)}, inode ${d.ino})`);
      continue;
    }
    const node = await vol.fs.stat(d.ino, { signal });
    yield await toFileEntry(vol, here, node, signal);
    if (node.type !== 'dir' || !recursive) continue;
    if (seenDirs.has(node.ino)) {
      warn(`${here}: directory inode ${node.ino} was already listed (a directory loop): not entered again`);
      continue;
    }
    seenDirs.add(node.ino);
    stack.push({ path: here, entries: sortByName(await vol.fs.readdir(node.ino, { signal })), next: 0 });
  }
}

import { throwIfAborted } from '../../errors.js';
import { SpoolFile } from './spool-file.js';
import { readTarEntries, type TarEntry } from './tar-entries.js';
import { TarFileContent } from './tar-file-content.js';
import { openTarInput } from './tar-input.js';
import { TarTreeBuilder } from './tar-tree-builder.js';
import { treeStats } from './tree-stats.js';
import type { FileContent, SourceInode, SourceTree } from './types.js';

/** Options of {@link scanTar}. */
export interface ScanTarOptions {
  /** Give every inode uid 0 and gid 0 instead of the owners in the tar. */
  rootOwned?: boolean;
  /** Where the spool file goes (default: the system's temporary directory). */
  tmpDir?: string;
  /** Cancels the scan (a stream waiting for data included). */
  signal?: AbortSignal;
  /** Names the input in messages and in {@link SourceTree.name}; default: the path, or `stdin`. */
  name?: string;
}

/**
 * Reads a tar (plain, gzip or zstd, told apart by their magic bytes) into a {@link SourceTree}
 * with what extracting it would give: regular files, directories, symlinks, hard links (one
 * SourceInode per linked file), character and block devices and FIFOs, with the modes, owners
 * and times the tar records (pax times with their nanoseconds; atime and ctime default to the
 * mtime when the tar has none). GNU sparse files (old GNU and pax 0.0, 0.1 and 1.0) keep their
 * holes. Paths are normalised and `..` refused; see {@link TarTreeBuilder} for replaced entries
 * and the directories a tar leaves implicit.
 *
 * Where file data is read from: an uncompressed tar *file* is read in place (entries' data at
 * their offsets, so the scan reads only headers); a compressed tar or a stream is decompressed
 * once, its file data spooled into one temporary file, unlinked as soon as it is created, in
 * which all-zero 4096-byte blocks are left as holes and reported as such in `dataRanges`.
 *
 * @param input a path (a regular file or a named pipe) or a stream (the caller maps `-` to stdin).
 * @throws UsageError when the input is not a tar, or has an entry hexz refuses (a `..`
 *   component, a name over 255 bytes, a root that is not a directory).
 * @throws CorruptImageError for a truncated or damaged tar or compressed stream, or a hard link
 *   to an entry that is not there; messages name the source, the byte offset and the entry.
 * @throws UnsupportedError for xz/bzip2/lz4 compression, multi-volume and unknown entry types.
 * @throws StoreError when reading the input or writing the spool fails.
 * @throws AbortedError when `options.signal` aborts.
 * @example
 * const tree = await scanTar('rootfs.tar.zst', { rootOwned: true });
 * try { console.log(tree.stats); } finally { await tree.close(); }
 */
export async function scanTar(input: string | NodeJS.ReadableStream, options: ScanTarOptions = {}): Promise<SourceTree> {
  const name = options.name ?? (typeof input === 'string' ? input : 'stdin');
  const tar = await openTarInput(input, name, options.signal);
  let spool: SpoolFile | undefined;
  try {
    const builder = new TarTreeBuilder(name);
    for await (const entry of readTarEntries(tar.reader, name)) {
      throwIfAborted(options.signal, 'scan');
      if (entry.type === 'link') {
        builder.link(entry.path, entry.linkPath!);
        continue;
      }
      const inode = inodeOf(entry, options.rootOwned ?? false);
      if (entry.type === 'file' && entry.size > 0) {
        if (tar.file) {
          inode.content = new TarFileContent(tar.file, name, entry.dataOffset, entry.size, entry.segments);
        } else {
          spool ??= await SpoolFile.create(options.tmpDir, name);
          inode.content = await spoolEntry(spool, entry, options.signal);
        }
      }
      builder.put(entry.path, inode);
    }
    // A compressed stream's checksum comes at its end; but what follows the end-of-archive block
    // is not the tree's, so only so much of it is read (128 GiB of zeros there is no reason to wait).
    if (!tar.file) await tar.reader.drain(TRAILER_LIMIT);
    await spool?.seal();
    const root = builder.finish();
    if (!tar.file) await tar.close();
    const opened = { spool, tar: tar.file ? tar : undefined };
    return {
      root,
      stats: treeStats(root),
      name,
      close: async () => {
        await opened.spool?.close();
        await opened.tar?.close();
        opened.spool = opened.tar = undefined;
      },
    };
  } catch (err) {
    await spool?.close().catch(() => {});
    await tar.close().catch(() => {});
    throw err;
  }
}

function inodeOf(entry: TarEntry, rootOwned: boolean): SourceInode {
  const inode: SourceInode = {
    kind: entry.type === 'link' ? 'file' : entry.type,
    mode: entry.mode,
    uid: rootOwned ? 0 : entry.uid,
    gid: rootOwned ? 0 : entry.gid,
    atime: entry.atime ?? entry.mtime,
    mtime: entry.mtime,
    ctime: entry.ctime ?? entry.mtime,
    size: entry.type === 'file' ? entry.size : 0,
  };
  if (entry.type === 'symlink') {
    inode.target = entry.linkPath!;
    inode.size = inode.target.length;
  }
  if (entry.rdev) inode.rdev = entry.rdev;
  return inode;
}

/** Bytes read after the end-of-archive block (GNU tar pads to its record size, 10 KiB by default). */
const TRAILER_LIMIT = 16 << 20;

/** Copies an entry's stored parts into the spool, each at its place in the file. */
async function spoolEntry(spool: SpoolFile, entry: TarEntry, signal: AbortSignal | undefined): Promise<FileContent> {
  const writer = spool.writer(entry.size);
  let part = 0;
  let inPart = 0;
  for await (let piece of entry.data()) {
    throwIfAborted(signal, 'scan');
    while (piece.length > 0) {
      const seg = entry.segments[part]!;
      const take = Math.min(piece.length, seg.length - inPart);
      await writer.write(seg.offset + inPart, piece.subarray(0, take));
      piece = piece.subarray(take);
      inPart += take;
      if (inPart === seg.length) {
        part++;
        inPart = 0;
      }
    }
  }
  return writer.finish();
}

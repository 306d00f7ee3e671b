import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { UsageError, wrapIoError } from '../../errors.js';
import { scanDirectory, type ScanProgress } from './scan-directory.js';
import { scanTar } from './scan-tar.js';
import type { SourceTree } from './types.js';

/** Options of {@link openSourceTree}. */
export interface OpenSourceTreeOptions {
  /** Give every inode uid 0 and gid 0 (for a system image built without root). */
  rootOwned?: boolean;
  /** Where a tar's spool file goes (default: the system's temporary directory). */
  tmpDir?: string;
  signal?: AbortSignal;
  /** The stream a source of `-` reads (default: process.stdin). */
  stdin?: Readable;
  /** Directory sources: called after each directory is read. */
  onProgress?: (progress: ScanProgress) => void;
}

/**
 * Scans the source of a `hexz build` partition into a {@link SourceTree}: a directory (see
 * {@link scanDirectory}), a tar file or named pipe (plain, gzip or zstd; see {@link scanTar}),
 * or `-` for a tar on stdin. The caller closes the tree.
 * @throws UsageError for any other kind of file (a device, a socket), a file that is not a tar
 *   (a zip, say), and whatever the scanners refuse.
 * @throws StoreError when `source` does not exist or cannot be read.
 * @throws CorruptImageError, UnsupportedError, AbortedError as the scanners do.
 * @example
 * const tree = await openSourceTree('rootfs.tar.gz', { rootOwned: true });
 * try { console.log(`${tree.stats.files} files`); } finally { await tree.close(); }
 */
export async function openSourceTree(source: string, options: OpenSourceTreeOptions = {}): Promise<SourceTree> {
  const { rootOwned, tmpDir, signal } = options;
  if (source === '-') return scanTar(options.stdin ?? process.stdin, { rootOwned, tmpDir, signal, name: 'stdin' });
  let st;
  try {
    st = await stat(source);
  } catch (err) {
    throw wrapIoError(err, source, 'open source');
  }
  if (st.isDirectory()) return scanDirectory(source, { rootOwned, signal, onProgress: options.onProgress });
  if (st.isFile() || st.isFIFO()) return scanTar(source, { rootOwned, tmpDir, signal });
  const kind = st.isBlockDevice() ? 'a block device' : st.isCharacterDevice() ? 'a character device' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new UsageError(`${source} is ${kind}: hexz build takes a directory, a tar file or - (a tar on stdin)`, { archive: source, stage: 'open source' });
}

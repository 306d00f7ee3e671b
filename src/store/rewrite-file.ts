import { constants } from 'node:fs';
import { copyFile, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { wrapIoError } from '../errors.js';
import { liveTempFiles } from './live-temp-files.js';
import { removeStaleTemps } from './stale-temps.js';
import { syncDir } from './sync-dir.js';
import { tempPathFor } from './temp-path.js';

/**
 * Changes an existing file atomically: copies `path` to a temporary file beside it (a reflink
 * where the file system can clone, a kernel copy otherwise), lets `patch` change the copy in
 * place, fsyncs it and renames it over `path`, then fsyncs the directory. Readers see either
 * the old file or the new one, never a mix; if `patch` or any step throws, the temporary file
 * is removed and `path` is left untouched.
 *
 * A process killed outright (`kill -9`) leaves its temporary copy behind (never a partial
 * `path`); the next `rewriteFile` of the same file removes it ({@link removeStaleTemps}).
 *
 * The new file keeps the old one's permission bits (and, where allowed, its owner). A symbolic
 * link is followed: its target is rewritten and the link stays. Hard links to the old file keep
 * the old contents (the rename gives `path` a new inode).
 *
 * @param patch receives the open copy (read-write) and its size in bytes; it may write
 *   anywhere and truncate or extend the file.
 * @throws StoreError naming `path` when copying, syncing or renaming fails (missing file, no
 *   space, permission denied); whatever `patch` throws, unchanged (Node system errors from it
 *   are wrapped as StoreError).
 * @example
 * await rewriteFile('vm.hxz', async (fh) => { await fh.write(newHeader, 0, newHeader.length, 0); });
 */
export async function rewriteFile(path: string, patch: (fh: FileHandle, size: number) => Promise<void>): Promise<void> {
  let target: string;
  try {
    target = await realpath(path);
  } catch (err) {
    throw wrapIoError(err, path, 'open');
  }
  await removeStaleTemps(target);
  const temp = tempPathFor(target);
  let fh: FileHandle | undefined;
  let stage = 'stat';
  try {
    const from = await stat(target);
    stage = 'copy';
    // EXCL: never clobber a file that happens to have the temporary name.
    await copyFile(target, temp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
    liveTempFiles.add(temp);
    stage = 'open copy';
    fh = await open(temp, 'r+');
    const copy = await fh.stat();
    stage = 'set mode';
    // Keep the owner when we may (root, or a group we belong to); otherwise the file becomes
    // ours. chown first: it may clear set-id bits, which the chmod then restores.
    if (from.uid !== copy.uid || from.gid !== copy.gid) await fh.chown(from.uid, from.gid).catch(() => {});
    await fh.chmod(from.mode & 0o7777);
    stage = 'rewrite';
    await patch(fh, copy.size);
    stage = 'sync';
    await fh.sync();
    await fh.close();
    fh = undefined;
    stage = 'rename';
    await rename(temp, target);
    liveTempFiles.delete(temp);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    liveTempFiles.delete(temp);
    throw wrapIoError(err, path, stage);
  }
  await syncDir(dirname(target));
}

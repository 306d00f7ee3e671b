import type { Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { wrapIoError } from '../errors.js';

/**
 * Opens a file for reading and stats it, refusing directories.
 * @param what the stage named in the error message (`open input`, `open image`, ...).
 * @throws StoreError naming `path` (missing, permission denied, is a directory).
 */
export async function openInputFile(path: string, what = 'open input'): Promise<{ fh: FileHandle; stat: Stats }> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const stat = await fh.stat();
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return { fh, stat };
  } catch (err) {
    await fh?.close().catch(() => {});
    throw wrapIoError(err, path, what);
  }
}

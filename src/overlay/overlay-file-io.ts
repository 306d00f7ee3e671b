import type { FileHandle } from 'node:fs/promises';
import { CorruptArchiveError, wrapIoError } from '../errors.js';

/**
 * Reads exactly `into.length` bytes at `position` (looping over short reads).
 * @throws CorruptArchiveError when the file ends first (an overlay never points past its end).
 * @throws StoreError on I/O failure.
 */
export async function preadFully(fh: FileHandle, into: Uint8Array, position: number, name: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(into, done, into.length - done, position + done));
    } catch (err) {
      throw wrapIoError(err, name, 'read');
    }
    if (n === 0) throw new CorruptArchiveError(`${name}: overlay file ends at byte ${position + done}, before ${position + into.length}`, { archive: name, fileOffset: position + done, stage: 'overlay read' });
    done += n;
  }
}

/**
 * Writes all of `bytes` at `position` (looping over short writes).
 * @throws StoreError on I/O failure (disk full, ...), with the system error as `cause`.
 */
export async function pwriteFully(fh: FileHandle, bytes: Uint8Array, position: number, name: string): Promise<void> {
  try {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
      done += bytesWritten;
    }
  } catch (err) {
    throw wrapIoError(err, name, 'write');
  }
}

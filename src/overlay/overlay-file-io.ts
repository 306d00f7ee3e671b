import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { CorruptArchiveError, wrapIoError } from '../errors.js';

/** Reads up to this size are synchronous pread, as FileSource's are (store/file-source.ts). */
const SYNC_READ_MAX = 256 * 1024;

/**
 * Reads exactly `into.length` bytes at `position` (looping over short reads).
 * @throws CorruptArchiveError when the file ends first (an overlay never points past its end).
 * @throws StoreError on I/O failure.
 */
export async function preadFully(fh: FileHandle, into: Uint8Array, position: number, name: string): Promise<void> {
  let done = 0;
  // A page or a few: a thread-pool round trip costs far more than a page-cache hit (and wakes a
  // thread that competes with the workers for the cores: a commit reads thousands of pages).
  const sync = into.length <= SYNC_READ_MAX;
  while (done < into.length) {
    let n: number;
    try {
      n = sync ? readSync(fh.fd, into, done, into.length - done, position + done) : (await fh.read(into, done, into.length - done, position + done)).bytesRead;
    } catch (err) {
      throw wrapIoError(err, name, 'read');
    }
    if (n === 0) throw endsEarly(name, position + done, position + into.length);
    done += n;
  }
}

/**
 * {@link preadFully} with blocking reads, for a few pages at most (a page-cache hit): the bytes
 * are in `into` when it returns.
 * @throws as {@link preadFully}.
 */
export function preadFullySync(fh: FileHandle, into: Uint8Array, position: number, name: string): void {
  for (let done = 0; done < into.length;) {
    let n: number;
    try {
      n = readSync(fh.fd, into, done, into.length - done, position + done);
    } catch (err) {
      throw wrapIoError(err, name, 'read');
    }
    if (n === 0) throw endsEarly(name, position + done, position + into.length);
    done += n;
  }
}

function endsEarly(name: string, at: number, wanted: number): CorruptArchiveError {
  return new CorruptArchiveError(`${name}: overlay file ends at byte ${at}, before ${wanted}`, { archive: name, fileOffset: at, stage: 'overlay read' });
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

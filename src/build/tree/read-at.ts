import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { OPEN_FLAGS } from './file-handle-cache.js';
import { StoreError, wrapIoError } from '../../errors.js';

/**
 * Reads exactly `length` bytes at byte `position` of an open file: the read side of every
 * {@link FileContent} of a source tree.
 * @param name the file, for messages.
 * @throws StoreError when the read fails, or when the file ends early ("changed while
 *   building": it shrank since it was scanned).
 * @returns a buffer of its own (not a slice of a shared pool), so it may be transferred.
 */
export async function readAt(fh: FileHandle, position: number, length: number, name: string): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafeSlow(length);
  let done = 0;
  try {
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (err) {
    throw wrapIoError(err, name, 'read source file');
  }
  if (done < length) {
    throw new StoreError(`${name}: changed while building: ${length} bytes expected at offset ${position}, only ${done} there`, { archive: name, offset: position, stage: 'read source file' });
  }
  return buf;
}

/**
 * Fills `dest` with the bytes at `position` of the file at `path` with blocking calls (open,
 * fstat, pread, close): on a warm page cache a thread-pool round trip per call costs more than
 * the syscalls. The file must still be inode `expect` (compared as numbers: a plain fstat is
 * cheaper than a bigint one, and inode numbers past 2^53 do not occur in practice).
 * @throws StoreError as {@link readAt}, and when the file was replaced since it was scanned.
 */
export function readIntoSync(path: Buffer, expect: { dev: bigint; ino: bigint }, dest: Uint8Array, position: number, name: string): void {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    throw wrapIoError(err, name, 'open source file');
  }
  try {
    const st = fstatSync(fd);
    if (st.ino !== Number(expect.ino) || st.dev !== Number(expect.dev)) {
      throw new StoreError(`${name}: changed while building: replaced by another file since it was scanned`, { archive: name, stage: 'open source file' });
    }
    const length = dest.length;
    let done = 0;
    while (done < length) {
      const n = readSync(fd, dest, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    if (done < length) {
      throw new StoreError(`${name}: changed while building: ${length} bytes expected at offset ${position}, only ${done} there`, { archive: name, offset: position, stage: 'read source file' });
    }
  } catch (err) {
    throw err instanceof StoreError ? err : wrapIoError(err, name, 'read source file');
  } finally {
    closeSync(fd);
  }
}

/** {@link readIntoSync} into a new buffer of `length` bytes. */
export function readAtSync(path: Buffer, expect: { dev: bigint; ino: bigint }, position: number, length: number, name: string): Uint8Array {
  const buf = Buffer.allocUnsafeSlow(length);
  readIntoSync(path, expect, buf, position, name);
  return buf;
}

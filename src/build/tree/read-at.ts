import type { FileHandle } from 'node:fs/promises';
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

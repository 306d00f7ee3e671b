/** BlockDevices for the partition and filesystem tests: over a file (counted) and over bytes in memory. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { BlockDevice } from '../src/fs/types.ts';
import { UsageError } from '../src/errors.ts';

/** A BlockDevice over a file, read with node:fs; counts reads and bytes. */
export function fileDevice(path: string): BlockDevice & { reads: number; bytes: number } {
  const size = statSync(path).size;
  const dev = {
    size,
    reads: 0,
    bytes: 0,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > size) throw new UsageError(`read ${offset}+${length} outside ${size}`);
      dev.reads++;
      dev.bytes += length;
      const out = new Uint8Array(length);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, out, 0, length, offset);
      } finally {
        closeSync(fd);
      }
      return out;
    },
  };
  return dev;
}

/**
 * A BlockDevice over bytes in memory. An out-of-range read is a plain Error, not a HexzError:
 * the readers must check bounds before they read, so the hostile tests catch one that does not.
 */
export function memDevice(bytes: Uint8Array): BlockDevice {
  return {
    size: bytes.length,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new Error(`reader bug: read ${offset}+${length} outside ${bytes.length}`);
      }
      return bytes.slice(offset, offset + length);
    },
  };
}

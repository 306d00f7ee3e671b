/**
 * A bounded view of part of a BlockDevice (a partition), itself a BlockDevice, so the
 * filesystem readers read a partition exactly as they would a whole disk.
 */
import { CorruptImageError, UsageError } from '../errors.js';
import type { BlockDevice } from './types.js';

/**
 * The `size` bytes of `dev` from byte `offset`. Reads are checked against the view's own bounds
 * (a read past the partition's end throws rather than spilling into the next partition) and then
 * passed to `dev` shifted by `offset`.
 * @throws CorruptImageError when `offset`/`size` are not safe non-negative integers or the range
 *   is not inside `dev` (it comes from a partition table, so a bad range is a damaged table); the
 *   message names both ranges.
 * @example
 * const root = subDevice(disk, table.partitions[1].offset, table.partitions[1].size);
 */
export function subDevice(dev: BlockDevice, offset: number, size: number): BlockDevice {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > dev.size) {
    throw new CorruptImageError(
      `partition at bytes ${offset}..${offset + size} (${size} bytes) is not inside the device (0..${dev.size})`,
      { offset, stage: 'partition' },
    );
  }
  return {
    size,
    read(at: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
      if (!Number.isSafeInteger(at) || !Number.isSafeInteger(length) || at < 0 || length < 0 || at + length > size) {
        return Promise.reject(new UsageError(
          `read of ${length} bytes at byte ${at} is outside the ${size}-byte partition at byte ${offset}`,
          { offset: at, stage: 'read' },
        ));
      }
      return dev.read(offset + at, length, options);
    },
  };
}

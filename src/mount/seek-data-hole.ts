import type { StreamExtent } from '../archive/stream-view.js';

/** `lseek` whence values for sparse files (Linux `<unistd.h>`). */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** Extents asked for per call while searching: bounded work per step on a huge stream. */
const EXTENTS_PER_STEP = 256;

/**
 * The answer to `lseek(fd, offset, SEEK_DATA | SEEK_HOLE)` on a file of `size` bytes whose zero
 * runs are holes: the first data (or hole) byte at or after `offset`. Every file ends in an
 * implicit hole at `size`, as lseek(2) specifies. Walks `extents` a bounded step at a time.
 * @param extents zero/data runs from an offset (a ServeExport's `extents`).
 * @returns the offset in bytes, or `undefined` for ENXIO (offset at or past the end, or no data
 *   after `offset` for SEEK_DATA).
 * @throws whatever `extents` throws.
 */
export async function seekDataHole(
  extents: (offset: number, length: number, maxExtents: number) => Promise<StreamExtent[]>,
  size: number,
  offset: number,
  whence: typeof SEEK_DATA | typeof SEEK_HOLE,
): Promise<number | undefined> {
  if (offset < 0 || offset >= size) return undefined;
  const wantZero = whence === SEEK_HOLE;
  let at = offset;
  while (at < size) {
    const runs = await extents(at, size - at, EXTENTS_PER_STEP);
    if (runs.length === 0) break;
    for (const r of runs) {
      if (r.zero === wantZero) return Math.max(r.offset, offset);
      at = r.offset + r.length;
    }
  }
  return wantZero ? size : undefined;
}

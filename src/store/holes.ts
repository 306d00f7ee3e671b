/**
 * Finds the data extents of sparse files with lseek(SEEK_DATA / SEEK_HOLE), so packing skips
 * holes without reading their zeros. Node has no binding for these, so the system C library is
 * called through the optional `koffi` package; where either is unavailable (or the filesystem
 * does not support it) callers fall back to reading everything.
 */

/** Looks up data extents of an open file descriptor. */
export interface HoleFinder {
  /** Offset of the first data byte at or after `pos`, or `size` when only a hole remains. */
  nextData(pos: number): number;
  /** Offset of the first hole byte at or after `pos` (the end of the file counts as a hole). */
  nextHole(pos: number): number;
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * Returns a HoleFinder for `fd` of a file of `size` bytes, or null when the platform cannot
 * tell (not Linux, no koffi, or the call fails).
 */
export async function createHoleFinder(fd: number, size: number): Promise<HoleFinder | null> {
  if (process.platform !== 'linux') return null;
  let lseek: (fd: number, off: number, whence: number) => number;
  try {
    const koffi = (await import('koffi')).default;
    const libc = koffi.load('libc.so.6');
    lseek = libc.func('int64_t lseek(int fd, int64_t off, int whence)') as unknown as typeof lseek;
  } catch {
    return null;
  }
  const call = (pos: number, whence: number) => {
    const r = Number(lseek(fd, pos, whence));
    // ENXIO (past the last data) and any other failure both mean "no more data here".
    return r < 0 ? size : Math.min(r, size);
  };
  // Probe once: a filesystem without SEEK_HOLE support must answer SEEK_HOLE(0) with the size.
  if (Number(lseek(fd, 0, SEEK_HOLE)) < 0) return null;
  return { nextData: (pos) => call(pos, SEEK_DATA), nextHole: (pos) => call(pos, SEEK_HOLE) };
}

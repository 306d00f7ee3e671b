import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat as statPath, type FileHandle } from 'node:fs/promises';
import { StoreError, wrapIoError } from '../errors.js';

/**
 * Open flags for inputs. O_NONBLOCK makes `open` of a FIFO (swapped in after our stat) return at
 * once instead of waiting, forever, for a writer; the fstat that follows then refuses it. Regular files and block devices
 * ignore O_NONBLOCK for reads (POSIX), so it needs no clearing for the files we keep.
 */
const INPUT_OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * What kind of file `stat` describes when it is not something hexz may read as an archive, image
 * or backing file (a regular file or a block device), e.g. `a FIFO`; undefined when it is one.
 */
export function specialFileKind(stat: Stats): string | undefined {
  if (stat.isFile() || stat.isBlockDevice()) return undefined;
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isSocket()) return 'a socket';
  return 'not a plain file';
}

/**
 * The error for an input that is not a regular file or block device (see {@link specialFileKind}):
 * a FIFO would block reads forever, a character device such as /dev/zero never ends, a directory
 * has no bytes. `subject` names the file in the message (`a.qcow2: backing file 'b'`);
 * `path` goes to the error's `location.archive`.
 * @returns undefined when `stat` is a regular file or block device.
 */
export function notInputFileError(path: string, stat: Stats, what: string, subject = path): StoreError | undefined {
  const kind = specialFileKind(stat);
  if (kind === undefined) return undefined;
  return new StoreError(`${subject} is ${kind}, not a regular file or block device`, { archive: path, stage: what });
}

/** An input opened by {@link openInputFile}. */
export interface InputFile {
  fh: FileHandle;
  stat: Stats;
  /** Size in bytes: `stat.size`, or for a block device (whose stat size is 0) probed by reading. */
  size: number;
}

/**
 * Opens a file for reading and stats it, refusing anything but regular files and block devices
 * without ever blocking on them (a FIFO with no writer, a tty).
 * @param what the stage named in the error message (`open input`, `open image`, ...).
 * @throws StoreError naming `path` (missing, permission denied, a FIFO, a directory, a
 *   character device or socket).
 */
export async function openInputFile(path: string, what = 'open input'): Promise<InputFile> {
  let fh: FileHandle | undefined;
  let stat: Stats;
  // Refuse by stat first, without opening: even a non-blocking open of a FIFO connects a
  // reader, which a writer waiting on the other end would take as the start of its session.
  const before = await statPath(path).catch(() => undefined);
  const early = before && notInputFileError(path, before, what);
  if (early) throw early;
  try {
    fh = await open(path, INPUT_OPEN_FLAGS);
    stat = await fh.stat();
  } catch (err) {
    await fh?.close().catch(() => {});
    throw wrapIoError(err, path, what);
  }
  try {
    // Checked again on the open descriptor: the path may have been swapped since the stat.
    const refused = notInputFileError(path, stat, what);
    if (refused) throw refused;
    return { fh, stat, size: stat.isBlockDevice() ? await blockDeviceSize(fh) : stat.size };
  } catch (err) {
    await fh.close().catch(() => {});
    throw wrapIoError(err, path, what);
  }
}

/** Bytes of a block device: stat reports 0, so binary-search the last readable position. */
async function blockDeviceSize(fh: FileHandle): Promise<number> {
  const probe = Buffer.alloc(1);
  let lo = 0;
  let hi = 2 ** 50;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    const { bytesRead } = await fh.read(probe, 0, 1, mid - 1);
    if (bytesRead === 1) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** An input opened by {@link openInputFileSync}: a raw descriptor the caller closes. */
export interface InputFd {
  fd: number;
  stat: Stats;
  /** Size in bytes, as {@link InputFile.size}. */
  size: number;
}

/**
 * {@link openInputFile} with synchronous calls: the same checks, without three thread-pool
 * round trips (stat, open, fstat), each of which costs more than the syscall itself on a busy
 * machine — opening an archive to read 4 KiB of it should cost about the read.
 * @throws StoreError as openInputFile.
 */
export function openInputFileSync(path: string, what = 'open input'): InputFd {
  let before: Stats | undefined;
  try {
    before = statSync(path, { throwIfNoEntry: false });
  } catch {
    before = undefined; // the open below reports why
  }
  const early = before && notInputFileError(path, before, what);
  if (early) throw early;
  let fd: number | undefined;
  try {
    fd = openSync(path, INPUT_OPEN_FLAGS);
    const stat = fstatSync(fd);
    const refused = notInputFileError(path, stat, what);
    if (refused) throw refused;
    return { fd, stat, size: stat.isBlockDevice() ? blockDeviceSizeSync(fd) : stat.size };
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    throw wrapIoError(err, path, what);
  }
}

function blockDeviceSizeSync(fd: number): number {
  const probe = Buffer.alloc(1);
  let lo = 0;
  let hi = 2 ** 50;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if (readSync(fd, probe, 0, 1, mid - 1) === 1) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Opens a disk image of any supported format as a {@link DiskImage}, detecting qcow2 by its
 * magic, and resolves qcow2 backing chains (relative names against the image's directory).
 */
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { CorruptImageError, StoreError, UsageError, wrapIoError } from '../errors.js';
import { notInputFileError, openInputFile } from '../store/open-input-file.js';
import { isQcow2 } from './qcow2-header.js';
import { Qcow2Image } from './qcow2-image.js';
import { RawImage } from './raw-image.js';
import type { DiskImage, ImageFormat, OpenImageOptions } from './types.js';

/** Longest backing chain followed; deeper chains are refused as probably corrupt. */
export const MAX_BACKING_DEPTH = 64;

/**
 * Opens `path` as a read-only block device.
 *
 * @example
 * const img = await openImage('vm.qcow2');
 * const boot = await img.read(0, 512);
 * for (const e of await img.extents(0, img.size)) console.log(e.kind, e.offset, e.length);
 * await img.close();
 * @throws UsageError for an unknown `format`.
 * @throws StoreError when the image or a backing file is missing or unreadable, or is not a
 *   regular file or block device (a FIFO, directory, character device).
 * @throws CorruptImageError for a damaged qcow2 image or a backing-file cycle.
 * @throws UnsupportedError naming a qcow2 feature hexz cannot read (encryption, external data
 *   file, extended L2 entries, unknown incompatible features).
 */
export async function openImage(path: string, options: OpenImageOptions = {}): Promise<DiskImage> {
  if (options.format !== undefined && options.format !== 'raw' && options.format !== 'qcow2') {
    throw new UsageError(`unknown disk image format '${String(options.format)}' (raw or qcow2)`);
  }
  return openChain(path, options.format, []);
}

/**
 * Detects the format of `path` from its first bytes: qcow2 by magic, raw otherwise.
 * @throws StoreError when `path` cannot be read or is not a regular file or block device (a
 *   FIFO is refused without waiting for a writer).
 */
export async function detectImageFormat(path: string): Promise<ImageFormat> {
  const { fh } = await openInputFile(path, 'open image');
  try {
    const probe = new Uint8Array(4);
    const { bytesRead } = await fh.read(probe, 0, 4, 0);
    return bytesRead === 4 && isQcow2(probe) ? 'qcow2' : 'raw';
  } catch (err) {
    throw wrapIoError(err, path, 'open image');
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Opens one link of a chain; `seen` holds the real paths of the images above it. */
async function openChain(path: string, format: ImageFormat | undefined, seen: string[]): Promise<DiskImage> {
  const real = await realpath(path).catch((err) => { throw wrapIoError(err, path, 'open image'); });
  if (seen.includes(real)) throw new CorruptImageError(`backing file chain has a cycle: ${[...seen, real].join(' -> ')}`, { archive: seen[0], stage: 'backing chain' });
  if (seen.length >= MAX_BACKING_DEPTH) throw new CorruptImageError(`${seen[0]}: backing file chain is deeper than ${MAX_BACKING_DEPTH}`, { archive: seen[0], stage: 'backing chain' });
  const fmt = format ?? (await detectImageFormat(path));
  if (fmt === 'raw') return RawImage.open(path);
  const chain = [...seen, real];
  return Qcow2Image.open(path, async (name, backingFormat) => {
    const target = isAbsolute(name) ? name : resolve(dirname(path), name);
    // A backing file is read at random offsets: a FIFO (which would block the open forever) or a
    // character device is refused by name here; openInputFile refuses it again if it is swapped in later.
    const st = await stat(target).catch(() => undefined);
    const refused = st && notInputFileError(path, st, 'backing chain', `${path}: backing file '${name}'`);
    if (refused) throw refused;
    try {
      return await openChain(target, backingFormat, chain);
    } catch (err) {
      if (err instanceof StoreError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        throw new StoreError(`${path}: backing file '${name}' not found (${target})`, { archive: path, stage: 'backing chain' }, { cause: err });
      }
      throw err;
    }
  });
}

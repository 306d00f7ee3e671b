import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { STREAM_NAMES } from '../format/constants.js';
import { archiveIdentity } from '../format/parents.js';
import { UnsupportedError, UsageError, wrapIoError } from '../errors.js';
import { blake3 } from '../hash/blake3.js';
import type { Archive } from '../node/archive.js';
import { liveTempFiles } from '../store/live-temp-files.js';
import { parentOf, relativeLocation } from '../store/locations.js';
import { syncDir } from '../store/sync-dir.js';
import { tempPathFor } from '../store/temp-path.js';
import { encodeOverlayHeader, MAX_OVERLAY_BASE_PATH, OVERLAY_HEADER_SIZE, OVERLAY_PAGE_SIZE, OVERLAY_VERSION, type OverlayHeader } from './overlay-format.js';

/**
 * Checks that `base` can carry an overlay: readable, and not encrypted (an overlay stores
 * written pages as plain bytes, which would leak what a VM writes on an encrypted disk).
 * @throws UsageError when it is locked (encrypted, opened without its password).
 * @throws UnsupportedError when it is encrypted.
 */
export function checkBaseUsable(file: string, base: Archive): void {
  if (base.locked) throw new UsageError(`${file}: the overlay's base ${base.name} is encrypted: a password is needed`, { archive: file, stage: 'overlay base' });
  if (base.encrypted) {
    throw new UnsupportedError(`${file}: overlays of encrypted archives are not supported yet (written pages would be stored unencrypted)`, { archive: file, stage: 'overlay base' });
  }
}

/**
 * The header of a new overlay on `base`: its id and identity, its streams, and its location
 * relative to the overlay's directory (a URL stays a URL).
 * @throws UsageError when that path is longer than {@link MAX_OVERLAY_BASE_PATH} bytes.
 */
export function newOverlayHeader(file: string, base: Archive, now = Date.now()): OverlayHeader {
  const basePath = relativeLocation(parentOf(file), base.name);
  if (new TextEncoder().encode(basePath).length > MAX_OVERLAY_BASE_PATH) {
    throw new UsageError(`${file}: the base's path relative to the overlay is longer than ${MAX_OVERLAY_BASE_PATH} bytes: ${basePath}`, { archive: file });
  }
  return {
    version: OVERLAY_VERSION, pageSize: OVERLAY_PAGE_SIZE, flags: 0, createdMs: now,
    overlayId: new Uint8Array(randomBytes(16)), baseId: base.archiveId, baseIdentity: archiveIdentity(base.headerBytes, base.platform.blake3),
    streams: STREAM_NAMES.map((s) => (base.hasStream(s) ? { present: true, size: base.size(s) } : { present: false, size: 0 })),
    basePath,
  };
}

/**
 * Writes a new, empty overlay (its header page, slot A saying "nothing written") to `file`:
 * under a temporary name first, fsynced, then renamed into place and the directory fsynced, so
 * `file` never exists half-written. The caller holds the overlay's lock.
 * @throws UsageError when `file` exists.
 * @throws StoreError when the directory is not writable.
 */
export async function createOverlayFile(file: string, header: OverlayHeader): Promise<void> {
  const page = encodeOverlayHeader(header, { sequence: 1, flushedEnd: OVERLAY_HEADER_SIZE, lastRecord: 0, flushedMs: header.createdMs }, blake3);
  const temp = tempPathFor(file);
  let fh;
  try {
    fh = await open(temp, 'wx', 0o644);
    liveTempFiles.add(temp);
    await fh.write(page, 0, page.length, 0);
    await fh.sync();
    await fh.close();
    fh = undefined;
    // link, unlike rename, refuses to replace a file that appeared meanwhile (the lock only
    // keeps other hexz writers out).
    await linkOrRename(temp, file);
    liveTempFiles.delete(temp);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    liveTempFiles.delete(temp);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file}: overlay exists already`, { archive: file });
    throw wrapIoError(err, file, 'create overlay');
  }
  await syncDir(dirname(file));
}

async function linkOrRename(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
    await unlink(from);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') await rename(from, to);
    else throw err;
  }
}

import { open, type FileHandle } from 'node:fs/promises';
import { MissingParentError, wrapIoError } from '../errors.js';
import { blake3 } from '../hash/blake3.js';
import { Archive, type OpenOptions } from '../node/archive.js';
import { removeStaleTemps } from '../store/stale-temps.js';
import { checkBaseUsable } from './create-overlay-file.js';
import { baseLookupMessage, checkOverlayBase, locateOverlayBase } from './overlay-base.js';
import { readOverlayFile, type OverlayFileState, type RecordChecker } from './read-overlay-file.js';

/** An overlay file opened and read, with its base. */
export interface LoadedOverlay {
  /** The file, open read-write for a writer, read-only otherwise. */
  fh: FileHandle;
  state: OverlayFileState;
  base: Archive;
  /** True when the base was opened here (and is to be closed with the overlay). */
  ownsBase: boolean;
  /** The file's mtime, ms since the epoch. */
  mtimeMs: number;
}

/**
 * Opens overlay `file`, reads it (docs/FORMAT.md §O.4), and opens or checks its base (§O.5). A
 * writer (who holds the lock) first removes temporary files of a compaction that was killed,
 * and cuts a torn tail off durably, so that its bytes can never reappear behind new records.
 * @throws as `Overlay.open`.
 */
export async function loadOverlay(file: string, writable: boolean, options: { base?: Archive; parentDirs?: string[]; archiveOptions?: OpenOptions; checkRecords?: RecordChecker }): Promise<LoadedOverlay> {
  if (writable) await removeStaleTemps(file);
  let fh;
  try {
    fh = await open(file, writable ? 'r+' : 'r');
  } catch (err) {
    throw wrapIoError(err, file, 'open overlay');
  }
  let base = options.base;
  const ownsBase = !base;
  try {
    // A writer appends after what it read: it checks every record before it trusts the log.
    const state = await readOverlayFile(fh, file, blake3, { checkFlushed: writable ? undefined : options.checkRecords });
    if (writable && state.end < state.fileSize) {
      try {
        await fh.truncate(state.end);
        await fh.datasync();
      } catch (err) {
        throw wrapIoError(err, file, 'truncate torn tail');
      }
    }
    if (!base) {
      const r = await locateOverlayBase(file, state.header, { parentDirs: options.parentDirs, open: (p) => Archive.open(p, options.archiveOptions) });
      if (!r.found) throw new MissingParentError(baseLookupMessage(file, state.header, r), { archive: file, stage: 'overlay base' });
      base = r.archive;
    }
    checkOverlayBase(file, state.header, base);
    checkBaseUsable(file, base);
    const mtimeMs = Math.floor((await fh.stat()).mtimeMs);
    return { fh, state, base, ownsBase, mtimeMs };
  } catch (err) {
    await fh.close().catch(() => {});
    if (ownsBase) await base?.close().catch(() => {});
    throw err;
  }
}

import { STREAM_NAMES } from '../format/constants.js';
import { bytesEqual, toHex } from '../format/digest.js';
import { archiveIdentity } from '../format/parents.js';
import { MissingParentError } from '../errors.js';
import type { Archive } from '../node/archive.js';
import { locateParent, type ParentLookup } from '../node/parent-resolver.js';
import { parentOf } from '../store/locations.js';
import type { OverlayHeader } from './overlay-format.js';

/** How to look for an overlay's base (docs/FORMAT.md §O.5). */
export interface BaseSearch {
  /** Further directories (paths or URLs) to look in (`--parent-dir`, `HEXZ_PATH`). */
  parentDirs?: string[];
  /** Opens the candidate at `path`. */
  open(path: string): Promise<Archive>;
}

/**
 * Finds the base archive an overlay header names, like a thin archive's parent (FORMAT.md
 * §15.4): at its recorded path relative to the overlay's directory, else by base name beside the
 * overlay and in each search directory, else any `*.hxz` there with the recorded id. A candidate
 * counts only when its archive id and identity both match the header.
 * @returns the base, left open, or why none was found. Never throws for a candidate that fails to open.
 */
export function locateOverlayBase(file: string, header: OverlayHeader, search: BaseSearch): Promise<ParentLookup<Archive>> {
  return locateParent({ slot: 1, archiveId: header.baseId, identity: header.baseIdentity, path: header.basePath }, {
    baseDir: parentOf(file), searchDirs: search.parentDirs ?? [], open: search.open,
  });
}

/** The one-line reason a failed {@link locateOverlayBase} gives. */
export function baseLookupMessage(file: string, header: OverlayHeader, r: { reason: 'missing' | 'mismatch'; detail: string }): string {
  const what = r.reason === 'mismatch' ? `replaced or modified: ${r.detail}` : `missing (${r.detail})`;
  return `${file}: the overlay's base archive ${toHex(header.baseId)} (recorded path ${header.basePath}) is ${what}`;
}

/**
 * Why `archive` is not the base `header` names, or undefined when it is: another archive id,
 * the same id with another identity (modified), or other streams or sizes.
 */
export function baseMismatch(header: OverlayHeader, archive: Archive): string | undefined {
  if (!bytesEqual(archive.archiveId, header.baseId)) return `${archive.name} is a different archive (id ${toHex(archive.archiveId)})`;
  if (!bytesEqual(archiveIdentity(archive.headerBytes, archive.platform.blake3), header.baseIdentity)) {
    return `${archive.name} has that archive id but was modified since the overlay was made`;
  }
  for (const [i, name] of STREAM_NAMES.entries()) {
    const want = header.streams[i];
    const has = archive.hasStream(name);
    if (want.present !== has || (has && archive.size(name) !== want.size)) {
      return `${archive.name} has stream ${name} ${has ? `of ${archive.size(name)} bytes` : 'absent'}, the overlay ${want.present ? `${want.size} bytes` : 'none'}`;
    }
  }
  return undefined;
}

/**
 * Checks that `archive` is the base `header` names.
 * @throws MissingParentError naming the overlay, the recorded id and what `archive` is instead.
 */
export function checkOverlayBase(file: string, header: OverlayHeader, archive: Archive): void {
  const why = baseMismatch(header, archive);
  if (why) throw new MissingParentError(`${file}: overlay was made on archive ${toHex(header.baseId)}; ${why}`, { archive: file, stage: 'overlay base' });
}

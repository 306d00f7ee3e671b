import { parentOf } from '../store/locations.js';
import { Archive } from '../node/archive.js';
import { toHex } from '../format/digest.js';

/**
 * One slot of a thin archive's parents table as `inspect` reports it (docs/FORMAT.md §15.2):
 * what the table records, and whether an archive with that id and identity can be found now.
 */
export interface InspectParent {
  /** 1..255; slot 1 is the direct parent. */
  slot: number;
  /** True for slot 1. */
  direct: boolean;
  /** Hex archive id the table records. */
  archiveId: string;
  /** Path the table records, relative to the child's directory. */
  recordedPath: string;
  /**
   * `found`: an archive with the recorded id and identity is at `foundAt`. `missing`: no file at
   * the recorded path nor in the search directories. `modified`: files were found but none is
   * the recorded archive (replaced by another, or changed since the child was made). Opening the
   * child for reading fails (MissingParentError, exit 8) unless every slot is `found`.
   */
  status: 'found' | 'missing' | 'modified';
  /** Where the archive was found (as the resolver tried it), when `found`. */
  foundAt?: string;
  /** The resolver's explanation, when not `found`. */
  error?: string;
}

/** A thin archive's parents and how much of its content lives in them; sizes in bytes. */
export interface InspectThin {
  parents: InspectParent[];
  /** Bytes stored in this archive's own data region (its blocks, compressed, sealed if encrypted). */
  ownStoredBytes: number;
  /** Logical bytes of the entries that refer to a parent (header `referenced bytes`, §15.1). */
  referencedBytes: number;
}

/**
 * Looks for every parent of a thin archive the way {@link Archive.open} does (§15.4: recorded
 * path, then base name and archive id in each search directory), but reports each slot's
 * outcome instead of failing, so that `inspect` still works when a parent is missing. Only
 * headers are read; every candidate is closed again.
 * @param a an archive opened with `openParents: false` (opening parents is what may fail).
 * @param options `parentDirs`: search directories; `baseDir`: what recorded paths are relative
 *   to (default: the directory of `a.name`).
 * @returns null when `a` is not thin.
 * @throws nothing for a parent that cannot be found or opened: that is reported per slot.
 */
export async function inspectParents(a: Archive, options: { parentDirs?: string[]; baseDir?: string } = {}): Promise<InspectThin | null> {
  if (a.header.parents.count === 0) return null;
  const { locateParent, parentLookupMessage } = await import('../node/parent-resolver.js');
  const baseDir = options.baseDir ?? parentOf(a.name);
  const parents: InspectParent[] = [];
  for (const record of a.parentRecords) {
    const base = { slot: record.slot, direct: record.slot === 1, archiveId: toHex(record.archiveId), recordedPath: record.path };
    const r = await locateParent(record, {
      baseDir, searchDirs: options.parentDirs ?? [],
      open: (path) => Archive.open(path, { openParents: false, preloadIndexBytes: 0 }),
    });
    if (r.found) {
      await r.archive.close();
      parents.push({ ...base, status: 'found', foundAt: r.path });
    } else {
      parents.push({ ...base, status: r.reason === 'mismatch' ? 'modified' : 'missing', error: parentLookupMessage(record, r) });
    }
  }
  return { parents, ownStoredBytes: a.header.data.length, referencedBytes: a.header.parents.referencedBytes };
}

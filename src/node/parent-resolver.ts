import type { ParentRecord } from '../format/parents.js';
import { blake3 } from '../hash/blake3.js';
import { locateParent as locateIn, resolveParentIn, type ParentCandidate, type ParentLookup, type ParentPlaces, type ParentSearch } from '../archive/locate-parent.js';
import { baseName, joinLocation, listArchives, resolveIn, unreadableKind } from '../store/locations.js';

export { parentLookupMessage, type ParentCandidate, type ParentLookup, type ParentSearch } from '../archive/locate-parent.js';

/** Places as Node sees them: paths and URLs, FIFOs and directories never opened, directories and S3 prefixes listed. */
const NODE_PLACES: ParentPlaces = { resolveIn, joinLocation, baseName, unreadableKind, listArchives };

/**
 * Finds the archive a parents-table record names (docs/FORMAT.md §15.4) among files and URLs;
 * see the portable `locateParent` (archive/locate-parent.ts) for the order and the checks.
 */
export function locateParent<T extends ParentCandidate>(record: ParentRecord, search: ParentSearch<T>): Promise<ParentLookup<T>> {
  return locateIn(record, search, NODE_PLACES, blake3);
}

/**
 * {@link locateParent}, throwing when the parent is not found.
 * @returns the matching candidate, left open, and the path it was found at.
 * @throws MissingParentError naming the slot, the expected id and path: "missing" when no file
 *   was found, "replaced or modified" when files were found but none matched.
 */
export function resolveParent<T extends ParentCandidate>(record: ParentRecord, search: ParentSearch<T>, child: string): Promise<{ path: string; archive: T }> {
  return resolveParentIn(record, search, NODE_PLACES, blake3, child);
}

import { archiveIdentity, type ParentRecord } from '../format/parents.js';
import { bytesEqual, toHex, type Digest32 } from '../format/digest.js';
import { HexzError, MissingParentError } from '../errors.js';
import type { SourceOptions } from '../store/open-source.js';

/** A candidate archive as the resolver sees it: its header bytes and archive id, and a way to close it. */
export interface ParentCandidate {
  headerBytes: Uint8Array;
  archiveId: Uint8Array;
  close(): Promise<void>;
}

/** Where and how to look for a parent archive (docs/FORMAT.md §15.4). */
export interface ParentSearch<T extends ParentCandidate> {
  /** Directory (path or URL) of the child archive: recorded paths are relative to it (undefined when unknown). */
  baseDir?: string;
  /** Further directories (paths or URLs) to look in, in order (`--parent-dir`, then `HEXZ_PATH`). */
  searchDirs: string[];
  /** Opens the archive at `path` (a path or URL; header only suffices); throws when it is not one. */
  open(path: string): Promise<T>;
  /** How remote search directories are listed (s3://). */
  sourceOptions?: SourceOptions;
}

/**
 * How the platform names and looks at places: Node's paths and URLs (store/locations.ts), or a
 * page's URLs only. The two optional checks are what a file system has and a web server has not.
 */
export interface ParentPlaces {
  /** `relative` resolved against the directory `base`. */
  resolveIn(base: string, relative: string): string;
  /** `name` inside directory `dir`. */
  joinLocation(dir: string, name: string): string;
  /** The last component of a location. */
  baseName(location: string): string;
  /** What a location is when it cannot be an archive (a FIFO, a directory); undefined otherwise. */
  unreadableKind?(location: string): Promise<string | undefined>;
  /** The `*.hxz` names in a directory, sorted; empty when it cannot be listed. */
  listArchives?(dir: string, options?: SourceOptions): Promise<string[]>;
}

/** Outcome of {@link locateParent}: the parent, left open, or why there is none. */
export type ParentLookup<T> =
  | { found: true; path: string; archive: T }
  /**
   * `missing`: no file at the recorded path nor under its base name in a search directory, and
   * no `*.hxz` there with the recorded id. `mismatch`: a file was there but is not the recorded
   * archive (another archive, the same id with another identity, or not an archive).
   */
  | { found: false; reason: 'missing' | 'mismatch'; detail: string };

/**
 * Finds the archive a parents-table record names: at its recorded path (relative to the child),
 * else by base name in the child's own directory and then in each search directory, else as any `*.hxz` in a search directory with
 * the recorded archive id. A candidate counts only when its archive id and identity (BLAKE3 of
 * its neutral header) both match the record. Reports instead of throwing, so that callers such
 * as `inspect` can show every slot's state.
 * @returns the matching candidate, left open, and the path it was found at; or the reason none matched.
 *   Never throws for a candidate that fails to open: it is skipped. Candidates that are not
 *   regular files or block devices (a FIFO, a directory) are skipped without being opened.
 */
export async function locateParent<T extends ParentCandidate>(record: ParentRecord, search: ParentSearch<T>, places: ParentPlaces, blake3: Digest32): Promise<ParentLookup<T>> {
  const { resolveIn, joinLocation, baseName } = places;
  const tried: string[] = [];
  let mismatch: string | undefined;
  // `named` = a file at this path is meant to be the parent (recorded path or same base name),
  // so a different archive there is a replacement; the id scan opens unrelated archives too.
  const attempt = async (path: string, named: boolean): Promise<T | undefined> => {
    if (tried.includes(path)) return undefined;
    tried.push(path);
    // A FIFO, directory or device under a parent's name is never opened: opening a FIFO waits
    // for a writer. Named, it is a mismatch the user should hear about; in the id scan, noise.
    const kind = await places.unreadableKind?.(path);
    if (kind !== undefined) {
      if (named) mismatch ??= `${path} is ${kind}, not a regular file or block device`;
      return undefined;
    }
    let c: T;
    try {
      c = await search.open(path);
    } catch (err) {
      // Not there, or not an archive: keep looking. A present file that is not the parent is a mismatch.
      if (named && err instanceof HexzError && err.code !== 'STORE') mismatch ??= `${path} is not the expected archive (${err.message})`;
      return undefined;
    }
    const sameId = bytesEqual(c.archiveId, record.archiveId);
    if (sameId && bytesEqual(archiveIdentity(c.headerBytes, blake3), record.identity)) return c;
    if (named || sameId) {
      mismatch ??= sameId
        ? `${path} has the expected archive id but was modified since the child was made`
        : `${path} is another archive (id ${toHex(c.archiveId)})`;
    }
    await c.close();
    return undefined;
  };
  const recorded = search.baseDir ? resolveIn(search.baseDir, record.path) : record.path;
  // After the recorded path: the same name beside the child (a chain copied flat into one
  // directory or bucket prefix, as push and pull do), then in each search directory.
  const dirs = search.baseDir ? [search.baseDir, ...search.searchDirs] : search.searchDirs;
  const candidates = [recorded, ...dirs.map((d) => joinLocation(d, baseName(record.path)))];
  for (const path of candidates) {
    const c = await attempt(path, true);
    if (c) return { found: true, path, archive: c };
  }
  for (const dir of search.searchDirs) {
    for (const name of (await places.listArchives?.(dir, search.sourceOptions)) ?? []) {
      const path = joinLocation(dir, name);
      const c = await attempt(path, false);
      if (c) return { found: true, path, archive: c };
    }
  }
  return mismatch
    ? { found: false, reason: 'mismatch', detail: mismatch }
    : { found: false, reason: 'missing', detail: `looked at ${tried.slice(0, 4).join(', ')}${tried.length > 4 ? ', …' : ''}` };
}

/** The one-line explanation of a failed lookup: `parent SLOT (archive ID, PATH) is missing (…)`. */
export function parentLookupMessage(record: ParentRecord, r: { reason: 'missing' | 'mismatch'; detail: string }): string {
  const what = r.reason === 'mismatch' ? `replaced or modified: ${r.detail}` : `missing (${r.detail})`;
  return `parent ${record.slot} (archive ${toHex(record.archiveId)}, ${record.path}) is ${what}`;
}

/**
 * {@link locateParent}, throwing when there is none.
 * @throws MissingParentError saying what was looked at, or what was found instead.
 */
export async function resolveParentIn<T extends ParentCandidate>(record: ParentRecord, search: ParentSearch<T>, places: ParentPlaces, blake3: Digest32, child: string): Promise<{ path: string; archive: T }> {
  const r = await locateParent(record, search, places, blake3);
  if (r.found) return { path: r.path, archive: r.archive };
  throw new MissingParentError(parentLookupMessage(record, r), { archive: child, stage: 'parents' });
}

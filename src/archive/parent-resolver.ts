import { readdir } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { archiveIdentity, type ParentRecord } from '../format/parents.js';
import { bytesEqual, toHex } from '../format/digest.js';
import { blake3 } from '../hash/blake3.js';
import { HexzError, MissingParentError } from '../errors.js';

/** A candidate archive as the resolver sees it: its header bytes and archive id, and a way to close it. */
export interface ParentCandidate {
  headerBytes: Uint8Array;
  archiveId: Uint8Array;
  close(): Promise<void>;
}

/** Where and how to look for a parent archive (docs/FORMAT.md §15.4). */
export interface ParentSearch<T extends ParentCandidate> {
  /** Directory of the child archive: recorded paths are relative to it (undefined for non-file sources). */
  baseDir?: string;
  /** Further directories to look in, in order (`--parent-dir`, then `HEXZ_PATH`). */
  searchDirs: string[];
  /** Opens the archive at `path` (header only suffices); throws when it is not one. */
  open(path: string): Promise<T>;
}

/**
 * Finds the archive a parents-table record names: at its recorded path (relative to the child),
 * else by base name in each search directory, else as any `*.hxz` in a search directory with
 * the recorded archive id. A candidate counts only when its archive id and identity (BLAKE3 of
 * its neutral header) both match the record.
 * @returns the matching candidate, left open, and the path it was found at.
 * @throws MissingParentError naming the slot, the expected id and path: "missing" when no file
 *   was found, "replaced or modified" when files were found but none matched.
 */
export async function resolveParent<T extends ParentCandidate>(record: ParentRecord, search: ParentSearch<T>, child: string): Promise<{ path: string; archive: T }> {
  const tried: string[] = [];
  let mismatch: string | undefined;
  const attempt = async (path: string): Promise<T | undefined> => {
    if (tried.includes(path)) return undefined;
    tried.push(path);
    let c: T;
    try {
      c = await search.open(path);
    } catch (err) {
      // Not there, or not an archive: keep looking. A present file that is not the parent is a mismatch.
      if (err instanceof HexzError && err.code !== 'STORE') mismatch ??= `${path} is not the expected archive (${err.message})`;
      return undefined;
    }
    if (bytesEqual(c.archiveId, record.archiveId) && bytesEqual(archiveIdentity(c.headerBytes, blake3), record.identity)) return c;
    mismatch ??= bytesEqual(c.archiveId, record.archiveId)
      ? `${path} has the expected archive id but was modified since the child was made`
      : `${path} is another archive (id ${toHex(c.archiveId)})`;
    await c.close();
    return undefined;
  };
  const recorded = isAbsolute(record.path) || !search.baseDir ? record.path : resolve(search.baseDir, record.path);
  const candidates = [recorded, ...search.searchDirs.map((d) => join(d, basename(record.path)))];
  for (const path of candidates) {
    const c = await attempt(path);
    if (c) return { path, archive: c };
  }
  for (const dir of search.searchDirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of names.filter((n) => n.endsWith('.hxz')).sort()) {
      const c = await attempt(join(dir, name));
      if (c) return { path: join(dir, name), archive: c };
    }
  }
  const what = mismatch ? `replaced or modified: ${mismatch}` : `missing (looked at ${tried.slice(0, 4).join(', ')}${tried.length > 4 ? ', …' : ''})`;
  throw new MissingParentError(
    `parent ${record.slot} (archive ${toHex(record.archiveId)}, ${record.path}) is ${what}`,
    { archive: child, stage: 'parents' },
  );
}

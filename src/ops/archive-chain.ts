import { Archive } from '../node/archive.js';
import { resolveParent } from '../node/parent-resolver.js';
import { archiveIdentity } from '../format/parents.js';
import { toHex } from '../format/digest.js';
import { blake3 } from '../hash/blake3.js';
import { parentOf } from '../store/locations.js';
import { throwIfAborted } from '../errors.js';
import type { SourceOptions } from '../store/open-source.js';

/** One archive of a thin chain, found and identity-checked. */
export interface ChainMember {
  /** Where it was found: a path or URL. */
  location: string;
  /** Hex archive id. */
  id: string;
  /** Hex identity: BLAKE3 of its neutral header (FORMAT.md §15.2). */
  identity: string;
  /** Size in bytes. */
  bytes: number;
}

/**
 * An archive and every archive its parents tables name, transitively, each found as readers
 * find parents (recorded path, then by name in the child's directory and the search
 * directories) and checked by id and identity. Parents come before their children, so copying
 * in this order never leaves a child whose parent is not there yet. Only headers and parents
 * tables are read: no password is needed.
 * @throws AbortedError when `signal` aborts (checked before each archive is visited).
 * @throws MissingParentError when a parent cannot be found; the errors of Archive.open.
 */
export async function archiveChain(location: string, options: { parentDirs?: string[]; source?: SourceOptions; signal?: AbortSignal } = {}): Promise<ChainMember[]> {
  const seen = new Map<string, ChainMember>();
  const order: ChainMember[] = [];
  const visit = async (loc: string, a: Archive): Promise<void> => {
    throwIfAborted(options.signal, 'chain lookup');
    const member: ChainMember = { location: loc, id: toHex(a.archiveId), identity: toHex(archiveIdentity(a.headerBytes, blake3)), bytes: a.fileSize };
    const key = `${member.id}/${member.identity}`;
    if (seen.has(key)) return;
    seen.set(key, member);
    const records = a.parentRecords;
    for (const record of records) {
      const found = await resolveParent(record, {
        baseDir: parentOf(loc), searchDirs: options.parentDirs ?? [], sourceOptions: options.source,
        open: (path) => Archive.open(path, { openParents: false, preloadIndexBytes: 0, source: options.source }),
      }, loc);
      try {
        await visit(found.path, found.archive);
      } finally {
        await found.archive.close();
      }
    }
    order.push(member);
  };
  const top = await Archive.open(location, { openParents: false, preloadIndexBytes: 0, source: options.source });
  try {
    await visit(location, top);
  } finally {
    await top.close();
  }
  return order;
}

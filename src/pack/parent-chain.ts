import { parentOf, relativeLocation } from '../store/locations.js';
import { Archive } from '../node/archive.js';
import { Chunker, CODEC_NAMES, EntryKind } from '../format/constants.js';
import { archiveIdentity, MAX_PARENTS, type ParentRecord } from '../format/parents.js';
import { blake3 } from '../hash/blake3.js';
import { throwIfAborted, UsageError } from '../errors.js';
import type { DedupTable } from './dedup-table.js';

/** The parent of a thin pack, opened, and the parents table the child will carry (§15.2). */
export interface ThinParent {
  archive: Archive;
  /** Slot 1 = the parent; slots 2.. = the archives its own table names, renumbered. */
  records: ParentRecord[];
}

/**
 * Opens the parent of a thin pack (with its own parents, each identity-checked; or takes one
 * already open, which stays the caller's to close) and builds the
 * child's parents table: the parent as slot 1, then every archive of the parent's table, with
 * paths made relative to the child's directory.
 * @throws MissingParentError when the parent or one of its parents cannot be found.
 * @throws WrongKeyError when the parent is encrypted and `password` is wrong or missing.
 * @throws UsageError when the chain would need more than 255 slots (flatten it first).
 */
export async function openThinParent(from: string | Archive, output: string, options: { password?: string; parentDirs?: string[] }): Promise<ThinParent> {
  const archive = typeof from === 'string' ? await Archive.open(from, { password: options.password, parentDirs: options.parentDirs, verify: true }) : from;
  const path = archive.name;
  try {
    if (archive.locked) throw new UsageError(`parent ${path} is encrypted: the child must be packed with --encrypt and the parent's password`);
    if (archive.parentRecords.length + 1 > MAX_PARENTS) {
      throw new UsageError(`parent ${path} already refers to ${archive.parentRecords.length} archives; a chain may hold ${MAX_PARENTS}: flatten it first (hexz flatten)`);
    }
    const outDir = parentOf(output);
    const rel = (p: string) => relativeLocation(outDir, p);
    const records: ParentRecord[] = [
      { slot: 1, archiveId: archive.archiveId, identity: archiveIdentity(archive.headerBytes, blake3), path: rel(path) },
      ...archive.parentRecords.map((r, i) => ({ ...r, slot: i + 2, path: rel(archive.parents[i].name) })),
    ];
    return { archive, records };
  } catch (err) {
    if (typeof from === 'string') await archive.close();
    throw err;
  }
}

/**
 * Records in `table` every block stored in the chain, as a reference to the archive that
 * physically holds it in the child's numbering, so the child points straight at the holder
 * (§15.3): first the parent's entries (its own blocks → slot 1, its slot-k references → slot
 * k + 1), then the blocks stored in each archive of the parent's table (slot k + 1), which also
 * finds content the parent dropped but an ancestor it refers to still holds.
 * @returns the number of distinct blocks recorded.
 */
export async function seedFromParent(parent: Archive, table: DedupTable, signal?: AbortSignal): Promise<number> {
  let seeded = 0;
  const add = async (archive: Archive, slotOf: (slot: number) => number | undefined) => {
    for (const stream of archive.streams) {
      // A leaf at a time: one await per index leaf, not per entry.
      for await (const leaf of archive.entryLeaves(stream, 0, archive.size(stream), signal)) {
        for (const e of leaf) {
          if (e.kind === EntryKind.ZERO) continue;
          const slot = slotOf(e.slot);
          if (slot === undefined || table.get(e.hash)) continue;
          table.set(e.hash, { slot, storedOffset: e.storedOffset, storedLength: e.storedLength, encoding: e.encoding });
          seeded++;
        }
      }
      throwIfAborted(signal, 'pack');
    }
  };
  await add(parent, (slot) => (slot === 0 ? 1 : slot + 1));
  // An ancestor's own references use its own table's numbering: only its stored blocks are taken.
  for (const [k, ancestor] of parent.parents.entries()) await add(ancestor, (slot) => (slot === 0 ? k + 2 : undefined));
  return seeded;
}

/** The codec, level and chunking a thin child inherits from its parent unless told otherwise. */
export interface ParentSettings {
  compression: 'zstd' | 'lz4' | 'none';
  level: number;
  blockSize: number;
  cdc: { min: number; avg: number; max: number } | false;
}

/** The parent's codec, level and chunking, which a thin child reuses unless told otherwise. */
export function parentSettings(parent: Archive): ParentSettings {
  const h = parent.header;
  return {
    compression: CODEC_NAMES[h.codec], level: h.level, blockSize: h.blockSize,
    cdc: h.chunker === Chunker.FASTCDC ? { min: h.chunkMin, avg: h.chunkAvg, max: h.chunkMax } : false,
  };
}

import { bytesEqual, type Digest32 } from '../format/digest.js';
import type { Header } from '../format/header.js';
import { decodeParentsTable, type ParentRecord } from '../format/parents.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError } from '../errors.js';
import type { Archive } from './archive.js';
import type { OpenOptions } from './open-options.js';
import type { ReaderPlatform } from './reader-platform.js';

/**
 * Reads, hash-checks (`blake3`: BLAKE3-256) and decodes a thin snapshot's parents table (§15.1–§15.2).
 * @throws CorruptArchiveError when it lies outside the file, fails its hash or does not decode.
 */
export async function loadParentsTable(source: ByteSource, header: Header, blake3: Digest32): Promise<ParentRecord[]> {
  const { table, tableHash, count } = header.parents;
  const bytes = await source.read(table.offset, table.length);
  if (bytes.length !== table.length) throw new CorruptArchiveError('archive is truncated: the parents table lies beyond the end of the file', { stage: 'parents', fileOffset: table.offset });
  if (!bytesEqual(blake3(bytes), tableHash)) throw new CorruptArchiveError('parents table hash mismatch', { stage: 'parents', fileOffset: table.offset });
  return decodeParentsTable(bytes, count);
}

/**
 * Finds and opens the archive of every slot (§15.4), each checked against its recorded id and
 * identity, unlocked with the child's data key when the chain is encrypted.
 * `open` is {@link Archive.open}, passed in so this module needs only the Archive type; the
 * platform finds each candidate (files and directories in Node, URLs anywhere).
 * @throws MissingParentError when one is missing, replaced or modified.
 */
export async function openParentArchives(
  child: Archive, records: ParentRecord[], baseDir: string | undefined, options: OpenOptions, platform: ReaderPlatform,
  open: (path: string, options: OpenOptions) => Promise<Archive>,
): Promise<Archive[]> {
  const dataKey = child.dataKey;
  const parentOptions: OpenOptions = {
    verify: options.verify, cacheBytes: Math.min(options.cacheBytes ?? 64 << 20, 32 << 20), readAheadBytes: 0, preloadIndexBytes: 0,
    // Parents decode in the calling thread: a pool per parent would multiply threads by chain depth.
    decodeWorkers: 0, dataKey, openParents: false, source: options.source,
  };
  const opened: Archive[] = [];
  try {
    for (const record of records) {
      const { archive } = await platform.findParent(record, {
        baseDir, searchDirs: options.parentDirs ?? [], sourceOptions: options.source,
        open: (path) => open(path, parentOptions), child: child.name,
      });
      if (child.encrypted !== archive.encrypted) {
        await archive.close();
        throw new CorruptArchiveError(`parent ${record.slot} is ${archive.encrypted ? '' : 'not '}encrypted but this archive is${child.encrypted ? '' : ' not'}`, { archive: child.name, stage: 'parents' });
      }
      opened.push(archive);
    }
    return opened;
  } catch (err) {
    await Promise.all(opened.map((a) => a.close()));
    throw err;
  }
}

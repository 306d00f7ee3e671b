import type { Archive } from '../node/archive.js';
import { EntryKind, type StreamName } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { sequentialChunks } from '../node/sequential-chunks.js';
import type { WorkerPool } from '../workers/worker-pool.js';

/** A run of consecutive entries and, for the stored ones, their decoded bytes. */
export interface EntryBatch {
  entries: IndexEntry[];
  /** Decoded bytes of the non-zero entries of `entries`, in order. */
  data: Uint8Array[];
  /** With `recycle`: hands the batch's buffer back once `data` is no longer used (see SequentialChunk.release). */
  release?: () => void;
}

/**
 * Walks a whole stream in order, yielding batches of entries with their blocks decoded and
 * verified: one batch per chunk of {@link sequentialChunks} (about 1 MiB, or one long zero run),
 * read and decoded ahead on worker threads. Used by extract, verify and qcow2 export. With
 * `recycle` the consumer calls each batch's `release()` once done with its data; `pool`: a pool
 * started before the archive was opened, decoded on (see SequentialChunksOptions.pool).
 * @throws CorruptArchiveError at the first damaged node or block, after every earlier batch.
 */
export async function* entryBatches(a: Archive, stream: StreamName, signal?: AbortSignal, options: { recycle?: boolean; pool?: WorkerPool } = {}): AsyncGenerator<EntryBatch> {
  for await (const c of sequentialChunks(a, stream, { signal, recycle: options.recycle, pool: options.pool })) {
    const data: Uint8Array[] = [];
    // The whole stream: chunks start and end at entry boundaries, so every block is whole.
    if (c.data) for (const e of c.entries) if (e.kind !== EntryKind.ZERO) data.push(c.data.subarray(e.offset - c.offset, e.offset - c.offset + e.length));
    yield { entries: c.entries, data, release: c.release };
  }
}

import type { Archive } from '../archive/archive.js';
import { EntryKind, type StreamName } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';

/** A run of consecutive entries and, for the stored ones, their decoded bytes. */
export interface EntryBatch {
  entries: IndexEntry[];
  /** Decoded bytes of the non-zero entries of `entries`, in order. */
  data: Uint8Array[];
}

/** Logical bytes of stored blocks per batch: large enough to coalesce reads, small enough for flat memory. */
const BATCH_BYTES = 8 << 20;

/**
 * Walks a whole stream in order, yielding batches of entries with their blocks decoded and
 * verified. Used by extract and verify.
 * @throws CorruptArchiveError at the first damaged node or block.
 */
export async function* entryBatches(a: Archive, stream: StreamName, signal?: AbortSignal): AsyncGenerator<EntryBatch> {
  let entries: IndexEntry[] = [];
  let stored: IndexEntry[] = [];
  let bytes = 0;
  const flush = async (): Promise<EntryBatch> => {
    const batch = { entries, data: stored.length ? await a.readEntries(stream, stored, signal) : [] };
    entries = [];
    stored = [];
    bytes = 0;
    return batch;
  };
  for await (const e of a.entries(stream, signal)) {
    entries.push(e);
    if (e.kind !== EntryKind.ZERO) {
      stored.push(e);
      bytes += e.length;
    }
    if (bytes >= BATCH_BYTES || entries.length >= 4096) yield await flush();
  }
  if (entries.length) yield await flush();
}

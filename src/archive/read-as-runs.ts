import type { StreamName } from '../format/constants.js';
import { EntryKind } from '../format/constants.js';
import type { RunDecoder } from './run-decoder.js';
import type { Run } from './run-planner.js';
import type { SequentialArchive } from './sequential-reader.js';
import { DamagedChunk, fetchAndDecode, type ReadWith } from './fetch-run.js';

/** Options of {@link readAsRuns}. */
export interface ReadAsRunsOptions {
  /** Decodes the runs (a worker pool in Node: `startRunDecoderPool`). */
  decoder: RunDecoder;
  /** Logical bytes per run, each one decode task (a run never splits a block). */
  runBytes: number;
  signal?: AbortSignal;
}

/**
 * Bytes [offset, offset + length) of `stream`, cut into runs of about `runBytes` that are all
 * read and decoded at once (hash-checked like every read), assembled in order. Leaner than
 * readSequential (no window, planner or per-read abort controllers) for callers that read a few
 * MiB at a time, thousands of times a second: a server's requests, a commit's windows.
 * Returns null when the range holds only zero entries (nothing read); otherwise a buffer the
 * caller owns (when one run covers the range, the decoder's own output).
 * @throws CorruptArchiveError when a block fails its checks or the index is damaged.
 * @throws MissingParentError when a block lives in a parent that was not opened.
 * @throws StoreError as the reads of the source do; AbortedError when `signal` aborts.
 */
export async function readAsRuns(archive: SequentialArchive, stream: StreamName, offset: number, length: number, options: ReadAsRunsOptions): Promise<Uint8Array | null> {
  const { decoder, runBytes, signal } = options;
  const end = offset + length;
  const runs: Run[] = [];
  let run: Run | undefined;
  for await (const leaf of archive.entryLeaves(stream, offset, end, signal)) {
    for (const e of leaf) {
      const from = Math.max(offset, e.offset);
      if (!run || from - run.offset >= runBytes) runs.push((run = { offset: from, length: 0, entries: [], stored: [], storedBytes: 0 }));
      run.entries.push(e);
      run.length = Math.min(end, e.offset + e.length) - run.offset;
      if (e.kind !== EntryKind.ZERO) {
        run.stored.push(e);
        run.storedBytes += e.storedLength;
      }
    }
  }
  if (runs.every((r) => r.stored.length === 0)) return null;
  const stores = archive.blockStores();
  const read: ReadWith = (source, at, n) => source.read(at, n, { signal });
  const results = await Promise.allSettled(runs.map((r) => (r.stored.length ? fetchAndDecode(r, stores, decoder, stream, read) : Promise.resolve(null))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason instanceof DamagedChunk ? failed.reason.error : failed.reason;
  const datas = results.map((r) => (r as PromiseFulfilledResult<Uint8Array | null>).value);
  if (runs.length === 1 && datas[0] && datas[0].length === length) return datas[0];
  const out = new Uint8Array(length);
  runs.forEach((r, i) => datas[i] && out.set(datas[i]!, r.offset - offset));
  return out;
}

import type { StreamName } from '../format/constants.js';
import { EntryKind } from '../format/constants.js';
import type { RunDecoder } from './run-decoder.js';
import type { Run } from './run-planner.js';
import type { SequentialArchive } from './sequential-reader.js';
import { DamagedChunk, fetchAndDecode, type BorrowedMemory, type ReadWith } from './fetch-run.js';

/** Options of {@link readAsRuns}. */
export interface ReadAsRunsOptions {
  /** Decodes the runs (a worker pool in Node: `startRunDecoderPool`). */
  decoder: RunDecoder;
  /** Logical bytes per run, each one decode task (a run never splits a block). */
  runBytes: number;
  signal?: AbortSignal;
  /**
   * Memory to read stored bytes into and to decode into (a server's pool of shared buffers):
   * the result is then a buffer taken from it, which the caller gives back once it is done with
   * it (sent). Stored bytes are given back as soon as they are decoded. Nothing is given back
   * when the read fails: a decoder may not be done with it.
   */
  memory?: BorrowedMemory;
}

/**
 * Bytes [offset, offset + length) of `stream`, cut into runs of about `runBytes` that are all
 * read and decoded at once (hash-checked like every read), assembled in order. Leaner than
 * readSequential (no window, planner or per-read abort controllers) for callers that read a few
 * MiB at a time, thousands of times a second: a server's requests, a commit's windows.
 * Returns null when the range holds only zero entries (nothing read); otherwise a buffer the
 * caller owns (when one run covers the range, the decoder's own output; with `memory`, one taken
 * from it).
 * @throws CorruptArchiveError when a block fails its checks or the index is damaged.
 * @throws MissingParentError when a block lives in a parent that was not opened.
 * @throws StoreError as the reads of the source do; AbortedError when `signal` aborts.
 */
export async function readAsRuns(archive: SequentialArchive, stream: StreamName, offset: number, length: number, options: ReadAsRunsOptions): Promise<Uint8Array | null> {
  const { decoder, runBytes, signal, memory } = options;
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
  // With memory, each run decodes into its place in one borrowed buffer (in place when the decoder can).
  const out = memory?.take(length);
  const into = memory && { memory, signal };
  const place = (r: Run) => out?.subarray(r.offset - offset, r.offset - offset + r.length);
  const results = await Promise.allSettled(runs.map((r) => (r.stored.length ? fetchAndDecode(r, stores, decoder, stream, read, place(r), into) : Promise.resolve(null))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason instanceof DamagedChunk ? failed.reason.error : failed.reason;
  const datas = results.map((r) => (r as PromiseFulfilledResult<Uint8Array | null>).value);
  if (!out && runs.length === 1 && datas[0] && datas[0].length === length) return datas[0];
  const whole = out ?? new Uint8Array(length);
  // Borrowed memory holds an earlier read's bytes: whatever no run decoded into it is zeroed.
  let filled = 0;
  runs.forEach((r, i) => {
    const at = r.offset - offset;
    const data = datas[i];
    if (out && at > filled) whole.fill(0, filled, at);
    if (!data) {
      if (out) whole.fill(0, at, at + r.length);
    } else if (data.buffer !== whole.buffer || data.byteOffset !== whole.byteOffset + at) {
      whole.set(data, at);
    }
    filled = at + r.length;
  });
  if (out && filled < length) whole.fill(0, filled);
  return whole;
}

import { Archive, type PasswordOption } from '../node/archive.js';
import { EntryKind, type StreamName } from '../format/constants.js';
import { AtomicFile } from '../store/atomic-file.js';
import { throwIfAborted } from '../errors.js';
import { entryBatches } from './entry-batches.js';
import { defaultStream } from './default-stream.js';
import { availableParallelism } from 'node:os';
import { WorkerPool } from '../workers/worker-pool.js';
import { PARALLEL_MIN_BYTES } from '../node/parallel-min-bytes.js';

/** Options of {@link extract}. */
export interface ExtractOptions {
  /** Stream to extract (default `disk`, or `memory` when the archive has only that). */
  stream?: StreamName;
  /** Path of the raw image to write. */
  output: string;
  force?: boolean;
  /** Password of an encrypted archive given as a path (docs/FORMAT.md §12). */
  password?: PasswordOption;
  /**
   * Directories to look in for the parents of a thin archive given as a path, when they are not
   * at their recorded paths (docs/FORMAT.md §15.4; the CLI's `--parent-dir` and `HEXZ_PATH`).
   */
  parentDirs?: string[];
  /** Called with bytes done and total as blocks are written. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Result of {@link extract}. */
export interface ExtractResult {
  stream: StreamName;
  output: string;
  /** Logical bytes of the stream (the output's size). */
  bytes: number;
  /** Bytes actually written (zero blocks are left as holes). */
  writtenBytes: number;
  seconds: number;
}

/**
 * Writes one stream of an archive to a sparse raw file: zero blocks become holes. The output
 * is written beside its destination and renamed into place only when complete.
 * @throws UsageError when the stream is missing or the output exists without `force`.
 * @throws CorruptArchiveError when a block fails verification (nothing is left at `output`).
 * @throws MissingParentError when a parent of a thin archive is missing, replaced or modified.
 */
export async function extract(from: string | Archive, options: ExtractOptions): Promise<ExtractResult> {
  const started = Date.now();
  // Decode workers start now and come up while the archive opens (tens of milliseconds each), not
  // after its first read; a stream too short for them closes them unused.
  const cores = availableParallelism();
  let pool = typeof from === 'string' && cores > 1 ? new WorkerPool(cores) : undefined;
  let a: Archive;
  try {
    a = typeof from === 'string' ? await Archive.open(from, { readAheadBytes: 0, cacheBytes: 0, password: options.password, parentDirs: options.parentDirs }) : from;
  } catch (err) {
    await pool?.close();
    throw err;
  }
  let out: AtomicFile | undefined;
  try {
    const stream = options.stream ?? defaultStream(a);
    const total = a.size(stream);
    if (pool && total < PARALLEL_MIN_BYTES) {
      await pool.close();
      pool = undefined;
    }
    out = await AtomicFile.create(options.output, { force: options.force });
    let written = 0;
    let done = 0;
    // One write in flight while the next batch is fetched and decoded.
    let writing: Promise<void> = Promise.resolve();
    for await (const batch of entryBatches(a, stream, options.signal, { recycle: true, pool })) {
      throwIfAborted(options.signal, 'extract');
      await writing;
      const runs: { at: number; bufs: Uint8Array[] }[] = [];
      let k = 0;
      let runEnd = -1;
      for (const e of batch.entries) {
        if (e.kind !== EntryKind.ZERO) {
          // Contiguous stored blocks go out in one writev; zero blocks stay holes.
          if (e.offset !== runEnd) runs.push({ at: e.offset, bufs: [] });
          runs[runs.length - 1].bufs.push(batch.data[k++]);
          runEnd = e.offset + e.length;
          written += e.length;
        }
        done += e.length;
      }
      const file = out;
      writing = (async () => {
        for (const r of runs) await file.writevAt(r.bufs, r.at);
        // Written: the batch's buffer decodes a later batch.
        batch.release?.();
      })();
      writing.catch(() => {});
      options.onProgress?.(done, total);
    }
    await writing;
    await out.truncate(total);
    await out.commit();
    return { stream, output: options.output, bytes: total, writtenBytes: written, seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    await out?.abort();
    throw err;
  } finally {
    await pool?.close();
    if (typeof from === 'string') await a.close();
  }
}

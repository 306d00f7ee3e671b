import { availableParallelism } from 'node:os';
import type { StreamName } from '../format/constants.js';
import { readSequential, type SequentialArchive, type SequentialChunk, type SequentialReadOptions } from '../archive/sequential-reader.js';
import type { WorkerPool } from '../workers/worker-pool.js';
import { lazyRunDecoderPool } from './lazy-pool.js';
import { slotData } from './slot-data.js';
import { PARALLEL_MIN_BYTES } from './parallel-min-bytes.js';

export { DEFAULT_CHUNK_BYTES } from '../archive/sequential-reader.js';

/** Options of {@link sequentialChunks}. */
export interface SequentialChunksOptions extends Omit<SequentialReadOptions, 'decoder'> {
  /**
   * Decode worker threads, started for this read and stopped when it ends. Default: one per
   * core when there is more than one core and the range is at least 16 MiB, else none (decoded
   * in the calling thread).
   */
  workers?: number;
  /**
   * A pool started before the archive was opened (`new WorkerPool(n)`, its threads coming up
   * while the archive opens): configured here with the archive's chain and decoded on, whatever
   * the range's length; the caller closes it. `workers` is then ignored.
   */
  pool?: WorkerPool;
}

/**
 * {@link readSequential} under Node: decodes on a worker pool of its own (each worker holds the
 * dictionary and keys of every archive of a thin chain), stopped when the read ends, fails or
 * is abandoned.
 * @throws as readSequential.
 */
export async function* sequentialChunks(archive: SequentialArchive, stream: StreamName, options: SequentialChunksOptions = {}): AsyncGenerator<SequentialChunk> {
  const start = options.start ?? 0;
  const end = options.end ?? archive.size(stream);
  const cores = availableParallelism();
  const workers = options.workers ?? (cores > 1 && end - start >= PARALLEL_MIN_BYTES ? cores : 0);
  if (options.pool) {
    options.pool.configure({ slots: archive.blockStores().map(slotData) });
    yield* readSequential(archive, stream, { ...options, decoder: options.pool });
    return;
  }
  const pool = workers > 0 && end > start ? lazyRunDecoderPool(archive, workers) : undefined;
  try {
    yield* readSequential(archive, stream, { ...options, decoder: pool });
  } finally {
    await pool?.close();
  }
}

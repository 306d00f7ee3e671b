import { availableParallelism } from 'node:os';
import type { StreamName } from '../format/constants.js';
import { readSequential, type SequentialArchive, type SequentialChunk, type SequentialReadOptions } from '../archive/sequential-reader.js';
import { lazyRunDecoderPool } from './lazy-pool.js';

/**
 * Ranges shorter than this decode in the calling thread by default: starting workers (tens of
 * milliseconds each) costs more than decoding a few MiB.
 */
export const PARALLEL_MIN_BYTES = 16 << 20;

/** Options of {@link sequentialChunks}. */
export interface SequentialChunksOptions extends Omit<SequentialReadOptions, 'decoder'> {
  /**
   * Decode worker threads, started for this read and stopped when it ends. Default: one per
   * core when there is more than one core and the range is at least 16 MiB, else none (decoded
   * in the calling thread).
   */
  workers?: number;
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
  const pool = workers > 0 && end > start ? lazyRunDecoderPool(archive, workers) : undefined;
  try {
    yield* readSequential(archive, stream, { ...options, decoder: pool });
  } finally {
    await pool?.close();
  }
}

import type { BlockDecoder } from '../archive/block-decoder.js';
import type { BlockStore, RunDecoder } from '../archive/run-decoder.js';
import type { BlockWorkerData } from '../workers/block-task.js';
import type { WorkerPool } from '../workers/worker-pool.js';

/** The decoding side of a {@link WorkerPool} that is started on first use. */
export interface LazyPool extends BlockDecoder, RunDecoder {}

/**
 * A {@link BlockDecoder} on a pool of `workers` decode threads (what `nodePlatform.decoder`
 * gives an archive opened with `decodeWorkers`). See {@link lazyPool}.
 * @param shared sent to each worker at start, as WorkerPool's constructor takes it.
 */
export function lazyWorkerDecoder(workers: number, shared: BlockWorkerData): LazyPool {
  return lazyPool(async () => new (await import('../workers/worker-pool.js')).WorkerPool(workers, shared));
}

/**
 * A {@link RunDecoder} on a pool of `workers` threads holding `archive`'s chain, as
 * `startRunDecoderPool` makes it (what a long sequential read decodes on). See {@link lazyPool}.
 */
export function lazyRunDecoderPool(archive: { blockStores(): (BlockStore | undefined)[] }, workers: number): LazyPool {
  return lazyPool(async () => (await import('./run-decoder-pool.js')).startRunDecoderPool(archive, workers));
}

/**
 * A pool that imports its module (and node:worker_threads) and starts its workers at the first
 * decode, not when it is made: every Node archive loads this shell, and a process that never
 * decodes off-thread (inspect, a short cat) should not pay for the worker machinery. Nothing
 * is fetched later for it: a read issues its requests first and decodes what they return, so
 * only the workers' start moves, to when the first stored bytes are there.
 */
function lazyPool(start: () => Promise<WorkerPool>): LazyPool {
  let pool: Promise<WorkerPool> | undefined;
  let closed = false;
  const started = (): Promise<WorkerPool> => {
    // As a closed WorkerPool rejects; and a decode after close must not start workers nobody stops.
    if (closed) return Promise.reject(new Error('worker pool closed'));
    return (pool ??= start());
  };
  return {
    decode: async (request) => (await started()).decode(request),
    decodeRun: async (request) => (await started()).decodeRun(request),
    async close() {
      closed = true;
      // A pool that failed to start has nothing to stop (the decode that started it got the error).
      await pool?.then((p) => p.close(), () => {});
    },
  };
}

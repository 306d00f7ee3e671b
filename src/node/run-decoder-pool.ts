import type { BlockStore } from '../archive/run-decoder.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { slotData } from './slot-data.js';

/**
 * A worker pool that decodes runs of `archive`'s blocks (and its open parents', by slot): each
 * worker holds the dictionary and keys of every archive of the chain. The caller closes it.
 */
export function startRunDecoderPool(archive: { blockStores(): (BlockStore | undefined)[] }, workers: number): WorkerPool {
  return new WorkerPool(workers, { slots: archive.blockStores().map(slotData) });
}

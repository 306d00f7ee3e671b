import type { BlockStore } from '../archive/run-decoder.js';
import type { RunSlotData } from '../workers/block-task.js';
import { WorkerPool } from '../workers/worker-pool.js';

/**
 * A worker pool that decodes runs of `archive`'s blocks (and its open parents', by slot): each
 * worker holds the dictionary and keys of every archive of the chain. The caller closes it.
 */
export function startRunDecoderPool(archive: { blockStores(): (BlockStore | undefined)[] }, workers: number): WorkerPool {
  return new WorkerPool(workers, { slots: archive.blockStores().map(slotData) });
}

/** What a worker needs of one store (a slot whose parent is not open gets none: reading it fails first). */
export function slotData(store: BlockStore | undefined): RunSlotData {
  if (!store) return { verify: true };
  const c = store.cipher;
  return { dictionary: store.dictionary, hashKey: c?.keys.hashKey, objectKey: c?.keys.objectKey, archiveId: c?.archiveId, verify: store.verify };
}

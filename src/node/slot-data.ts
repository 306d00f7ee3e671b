import type { BlockStore } from '../archive/run-decoder.js';
import type { RunSlotData } from '../workers/block-task.js';

/** What a worker needs of one store (a slot whose parent is not open gets none: reading it fails first). */
export function slotData(store: BlockStore | undefined): RunSlotData {
  if (!store) return { verify: true };
  const c = store.cipher;
  return { dictionary: store.dictionary, hashKey: c?.keys.hashKey, objectKey: c?.keys.objectKey, archiveId: c?.archiveId, verify: store.verify };
}

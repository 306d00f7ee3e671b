/**
 * Worker-thread entry of the packing pool: hashes and compresses one block per message.
 * Messages: {@link BlockTask} in, {@link BlockResult} out (buffers transferred, not copied).
 */
import { parentPort } from 'node:worker_threads';
import { CodecSet } from '../codec/registry.js';
import { blake3 } from '../hash/blake3.js';
import type { BlockResult, BlockTask } from './block-task.js';

const codecs = new CodecSet();

parentPort!.on('message', (task: BlockTask) => {
  try {
    const input = new Uint8Array(task.bytes);
    const hash = blake3(input);
    const packed = codecs.get(task.codec).compress(input, task.level);
    const stored = packed ?? input;
    // Both arrays own exactly their ArrayBuffer (codecs return fresh copies), so transfer them.
    const result: BlockResult = {
      id: task.id, hash: new Uint8Array(hash).buffer, stored: stored.buffer as ArrayBuffer,
      storedLength: stored.length, encoding: packed ? task.codec : 0,
    };
    parentPort!.postMessage(result, [result.hash, result.stored]);
  } catch (err) {
    parentPort!.postMessage({ id: task.id, error: String((err as Error)?.message ?? err) });
  }
});

import { FastCdc } from '../chunk/fast-cdc.js';
import type { ChunkParams } from '../chunk/chunk-params.js';
import type { BlockInput, InputBlock } from './block-input.js';

/**
 * Re-cuts an input's blocks into content-defined chunks (docs/FORMAT.md §3.2). Runs on the main
 * thread before hashing and compression. A zero run the input knows without reading (a hole of
 * a sparse file, an unallocated qcow2 cluster) ends the current chunk and restarts the chunker
 * after it, so holes are never read; chunk boundaries therefore depend on the content and on
 * where the input's known zero runs are, never on how its bytes were split into reads.
 */
export function cdcInput(input: BlockInput, params: ChunkParams): BlockInput {
  return {
    size: input.size,
    name: input.name,
    close: () => input.close(),
    blocks: () => cdcBlocks(input, params),
  };
}

async function* cdcBlocks(input: BlockInput, params: ChunkParams): AsyncGenerator<InputBlock> {
  const cdc = new FastCdc(params);
  // Bytes seen but not yet emitted: pieces of input blocks, oldest first.
  let pieces: Uint8Array[] = [];
  const take = (length: number): Uint8Array => {
    // Each chunk gets its own ArrayBuffer so it can be transferred to a worker.
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const p = pieces[0];
      const k = Math.min(p.length, length - at);
      out.set(k === p.length ? p : p.subarray(0, k), at);
      at += k;
      if (k === p.length) pieces.shift();
      else pieces[0] = p.subarray(k);
    }
    return out;
  };
  for await (const block of input.blocks()) {
    if (block.kind === 'zero') {
      const last = cdc.finish();
      if (last > 0) yield { kind: 'data', bytes: take(last) };
      yield block;
      continue;
    }
    pieces.push(block.bytes);
    for (const length of cdc.push(block.bytes)) yield { kind: 'data', bytes: take(length) };
  }
  const last = cdc.finish();
  if (last > 0) yield { kind: 'data', bytes: take(last) };
  pieces = [];
}

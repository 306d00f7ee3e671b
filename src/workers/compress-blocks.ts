import type { CodecId } from '../format/constants.js';

/** What {@link compressBlocks} needs of the worker: its content hash, known set and codecs. */
export interface CompressTools {
  contentHash(bytes: Uint8Array): Uint8Array;
  known?: { has(hash: Uint8Array): boolean };
  compress(codec: CodecId, bytes: Uint8Array, level: number): Uint8Array | null;
  /** When given, blocks it says are all zero are only flagged (2), neither hashed nor compressed. */
  allZero?(bytes: Uint8Array): boolean;
}

/**
 * Per block, in order, as compress tasks return them (block-task.ts): 32-byte hashes back to
 * back, stored lengths, codecs (0 = raw), flags (1 known: nothing compressed; 2 all zero), and
 * the stored bytes back to back in one buffer of their own (a raw block is copied into it, so
 * the inputs may be views of a buffer the worker reuses).
 */
export interface CompressedBlocks {
  hashes: Uint8Array<ArrayBuffer>;
  storedLengths: Uint32Array<ArrayBuffer>;
  encodings: Uint8Array<ArrayBuffer>;
  flags: Uint8Array<ArrayBuffer>;
  stored: Uint8Array<ArrayBuffer>;
}

/** Hashes and compresses `blocks` with `tools` (shared by the worker's compress and compress-batch tasks). */
export function compressBlocks(blocks: Uint8Array[], codec: CodecId, level: number, tools: CompressTools): CompressedBlocks {
  const n = blocks.length;
  const out = { hashes: new Uint8Array(n * 32), storedLengths: new Uint32Array(n), encodings: new Uint8Array(n), flags: new Uint8Array(n) };
  const parts: Uint8Array[] = [];
  let total = 0;
  blocks.forEach((block, i) => {
    if (tools.allZero?.(block)) {
      out.flags[i] = 2;
      return;
    }
    const hash = tools.contentHash(block);
    out.hashes.set(hash, i * 32);
    // A block the chain already holds is stored as a reference by the main thread: compressing it would be wasted work.
    if (tools.known?.has(hash)) {
      out.flags[i] = 1;
      return;
    }
    const packed = tools.compress(codec, block, level);
    const stored = packed ?? block;
    out.encodings[i] = packed ? codec : 0;
    out.storedLengths[i] = stored.length;
    parts.push(stored);
    total += stored.length;
  });
  const stored = new Uint8Array(total);
  for (let i = 0, at = 0; i < parts.length; at += parts[i].length, i++) stored.set(parts[i], at);
  return { ...out, stored };
}

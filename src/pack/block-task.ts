import type { CodecId } from '../format/constants.js';

/** A block sent to a packing worker. `bytes` is transferred. */
export interface BlockTask {
  id: number;
  bytes: ArrayBuffer;
  codec: CodecId;
  level: number;
}

/** What a packing worker returns for a block. Buffers are transferred. */
export interface BlockResult {
  id: number;
  /** BLAKE3-256 of the block (32 bytes). */
  hash: ArrayBuffer;
  /** The bytes to store: compressed, or the input itself when compression did not shrink it. */
  stored: ArrayBuffer;
  storedLength: number;
  /** Codec of `stored` (0 = raw). */
  encoding: CodecId;
  error?: string;
}

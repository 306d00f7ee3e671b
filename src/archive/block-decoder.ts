import type { CodecId } from '../format/constants.js';

/** One stored block to decode: its stored bytes and what its index entry says of them. */
export interface BlockDecodeRequest {
  /** The stored bytes (sealed when `aad` is given). The decoder may copy them; it never keeps them. */
  stored: Uint8Array;
  /** The entry's encoding (codec id, §3). */
  encoding: CodecId;
  /** The entry's logical length: decoding must give exactly this many bytes. */
  length: number;
  /** When given, the content hash the decoded bytes must have (§5, §12.4). */
  hash?: Uint8Array;
  /** When given, the block is sealed (§12.3) and this is its associated data. */
  aad?: Uint8Array;
}

/**
 * Decodes stored blocks off the calling thread (a worker pool in Node, Web Workers in a page).
 * The reader core decodes in-thread when it is given none.
 */
export interface BlockDecoder {
  /**
   * Opens (when sealed), decompresses and hash-checks one block.
   * @throws BlockDecodeError saying which check failed.
   */
  decode(request: BlockDecodeRequest): Promise<Uint8Array>;
  /** Stops the decoder; requests still pending are rejected. */
  close(): Promise<void>;
}

/** Why a block did not decode: its seal, its codec, its hash, or the decoder itself. */
export type BlockDecodeFailure = 'auth' | 'decode' | 'hash' | 'internal';

/** A block a {@link BlockDecoder} could not decode; `kind` says which check failed. */
export class BlockDecodeError extends Error {
  constructor(message: string, readonly kind: BlockDecodeFailure) {
    super(message);
  }
}

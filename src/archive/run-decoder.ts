import type { Digest32 } from '../format/digest.js';
import type { Extent } from '../format/header.js';
import type { ByteSource } from '../store/types.js';
import { decodeRun, type RunRequest, type RunSlotTools } from './decode-run.js';
import type { ArchiveOpener, BlockCodecs } from './reader-platform.js';

/**
 * One archive's stored blocks as a reader that plans its own reads sees them
 * ({@link readSequential}): where they are, and how they are opened, decoded and checked. A thin
 * archive has one per slot (§15.3): itself, then each parent.
 */
export interface BlockStore {
  /** The archive's name, for errors. */
  name: string;
  /** Where its bytes are read from. */
  source: ByteSource;
  /** Its data region: every stored extent must lie inside it. */
  region: Extent;
  /** Check every block's content hash against its entry. */
  verify: boolean;
  /** The content hash: BLAKE3-256, keyed in encrypted archives. */
  digest: Digest32;
  /** In-thread decompressors, its dictionary bound in. */
  codecs: BlockCodecs;
  /** Its verified zstd dictionary, when it has one (for decoders on other threads). */
  dictionary?: Uint8Array;
  /** Opens its sealed blocks when it is encrypted. */
  cipher?: ArchiveOpener;
}

/**
 * Decodes runs of stored blocks into logical bytes (archive/decode-run.ts): on worker threads
 * (`WorkerPool.decodeRun`, given the stores' keys and dictionaries at start) or in the calling
 * thread ({@link inThreadRunDecoder}).
 */
export interface RunDecoder {
  /**
   * Opens, decodes and hash-checks the run's blocks into one buffer of `request.length` bytes.
   * May take (transfer) `request.stored`.
   * @throws RunBlockError naming the block that failed and how.
   */
  decodeRun(request: RunRequest): Promise<Uint8Array>;
}

/** A {@link RunDecoder} that decodes in the calling thread, with each store's codecs, seal and hash. */
export function inThreadRunDecoder(stores: (BlockStore | undefined)[]): RunDecoder {
  const slots: RunSlotTools[] = stores.map((s) => {
    if (!s) return undefined as unknown as RunSlotTools;
    const cipher = s.cipher;
    return {
      codecs: s.codecs,
      digest: s.verify ? s.digest : undefined,
      open: cipher ? (sealed, b) => cipher.openBlock(sealed, b.storedOffset, b.length, b.encoding, b.hash) : undefined,
    };
  });
  return {
    decodeRun: (request) => decodeRun(request, slots, (n) => (request.output && request.output.length >= n ? request.output.subarray(0, n) : new Uint8Array(n))),
  };
}

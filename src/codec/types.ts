import type { CodecId } from '../format/constants.js';

/**
 * A block codec. Instances hold native contexts and scratch buffers, so create one per thread
 * (worker or reader) with {@link createCodec}; they are not shared.
 */
export interface BlockCodec {
  readonly id: CodecId;
  readonly name: 'none' | 'lz4' | 'zstd';
  /**
   * Compresses one block. Returns a fresh array, or `null` when the result would not be
   * smaller than the input (the caller then stores the block raw).
   */
  compress(input: Uint8Array, level: number): Uint8Array | null;
  /**
   * Decompresses one block that must expand to exactly `outputLength` bytes.
   * @throws Error when the input is malformed or expands to another size; callers wrap it
   *   as CorruptArchiveError with the block's location.
   */
  decompress(input: Uint8Array, outputLength: number): Uint8Array;
  /**
   * Decompresses one block straight into `output`, which it must fill exactly (a sequential
   * reader decodes into its chunk buffer, saving an allocation and a copy per block).
   * @throws Error as {@link decompress}.
   */
  decompressInto(input: Uint8Array, output: Uint8Array): void;
}

import { createRequire } from 'node:module';
import { Codec } from '../format/constants.js';
import type { BlockCodec } from './types.js';

/**
 * LZ4 raw block format (no frame) through the `lz4` package's bundled C library, chosen over
 * lz4-napi because it compresses ~2.5x faster here (529 vs 213 MB/s on 64 KiB blocks) and
 * writes plain blocks without a size prefix.
 */
/** The `lz4` package's API (its default export; require() returns the same object). */
type Lz4Binding = (typeof import('lz4'))['default'];

/** The `lz4` addon, loaded when the first LZ4 codec is made (it costs ~35 ms; zstd archives never need it). */
let lz4: Lz4Binding | undefined;

export class Lz4Codec implements BlockCodec {
  readonly id = Codec.LZ4;
  readonly name = 'lz4' as const;
  private scratch = Buffer.alloc(0);
  private readonly lz4: Lz4Binding;

  constructor() {
    this.lz4 = lz4 ??= createRequire(import.meta.url)('lz4') as Lz4Binding;
  }

  compress(input: Uint8Array, _level: number): Uint8Array | null {
    const bound = this.lz4.encodeBound(input.length);
    if (this.scratch.length < bound) this.scratch = Buffer.alloc(bound);
    const n = this.lz4.encodeBlock(Buffer.from(input.buffer, input.byteOffset, input.byteLength), this.scratch);
    return n > 0 && n < input.length ? new Uint8Array(this.scratch.subarray(0, n)) : null;
  }

  decompress(input: Uint8Array, outputLength: number): Uint8Array {
    // Exactly sized (and not from Buffer's shared pool): a block that would expand to more is
    // rejected by LZ4's bounds checks, and the output can be transferred without a copy.
    const out = new Uint8Array(outputLength);
    this.decompressInto(input, out);
    return out;
  }

  decompressInto(input: Uint8Array, output: Uint8Array): void {
    const n = this.lz4.decodeBlock(Buffer.from(input.buffer, input.byteOffset, input.byteLength), Buffer.from(output.buffer, output.byteOffset, output.byteLength));
    if (n !== output.length) throw new Error(n < 0 ? `lz4 block is malformed at byte ${-n}` : `lz4 block decoded to ${n} bytes, expected ${output.length}`);
  }
}

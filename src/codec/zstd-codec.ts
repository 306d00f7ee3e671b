import binding from 'zstd-napi/binding.js';
import { Codec } from '../format/constants.js';
import type { BlockCodec } from './types.js';

/** zstd through zstd-napi's native contexts; output is a standard zstd frame per block. */
export class ZstdCodec implements BlockCodec {
  readonly id = Codec.ZSTD;
  readonly name = 'zstd' as const;
  private readonly cctx = new binding.CCtx();
  private readonly dctx = new binding.DCtx();
  private scratch = new Uint8Array(0);

  compress(input: Uint8Array, level: number): Uint8Array | null {
    const bound = binding.compressBound(input.length);
    if (this.scratch.length < bound) this.scratch = new Uint8Array(bound);
    const n = this.cctx.compress(this.scratch, input, level);
    return n < input.length ? this.scratch.slice(0, n) : null;
  }

  decompress(input: Uint8Array, outputLength: number): Uint8Array {
    // Exactly sized: a frame that would expand to more fails with "destination buffer is too
    // small", so the output owns its whole buffer and can be transferred without a copy.
    const out = new Uint8Array(outputLength);
    const n = this.dctx.decompress(out, input);
    if (n !== outputLength) throw new Error(`zstd frame decoded to ${n} bytes, expected ${outputLength}`);
    return out;
  }
}

/** Range of zstd levels accepted by `--level`. */
export const ZSTD_MIN_LEVEL = -7;
export const ZSTD_MAX_LEVEL = 22;

import { zstdBinding, type ZstdBinding } from './zstd-binding.js';
import { Codec } from '../format/constants.js';
import type { BlockCodec } from './types.js';

/**
 * zstd through zstd-napi's native contexts; output is a standard zstd frame per block. With a
 * dictionary (an archive with the DICTIONARY feature, docs/FORMAT.md §3.3) every frame is
 * compressed and decompressed with it; the prepared CDict (one per level) and DDict are built
 * once per codec instance, not per block, because loading a dictionary costs far more than a
 * 4 KiB block.
 */
export class ZstdCodec implements BlockCodec {
  readonly id = Codec.ZSTD;
  readonly name = 'zstd' as const;
  private readonly zstd = zstdBinding();
  private readonly cctx = new this.zstd.CCtx();
  private readonly dctx = new this.zstd.DCtx();
  private readonly cdicts = new Map<number, ZstdBinding.CDict>();
  private ddict: ZstdBinding.DDict | undefined;
  private scratch = new Uint8Array(0);

  /** @param dictionary zstd dictionary bytes every frame uses, or undefined for none. */
  constructor(private readonly dictionary?: Uint8Array) {}

  compress(input: Uint8Array, level: number): Uint8Array | null {
    const bound = this.zstd.compressBound(input.length);
    if (this.scratch.length < bound) this.scratch = new Uint8Array(bound);
    let n: number;
    if (this.dictionary) {
      let cdict = this.cdicts.get(level);
      if (!cdict) this.cdicts.set(level, (cdict = new this.zstd.CDict(this.dictionary, level)));
      n = this.cctx.compressUsingCDict(this.scratch, input, cdict);
    } else {
      n = this.cctx.compress(this.scratch, input, level);
    }
    return n < input.length ? this.scratch.slice(0, n) : null;
  }

  decompress(input: Uint8Array, outputLength: number): Uint8Array {
    // Exactly sized: a frame that would expand to more fails with "destination buffer is too
    // small", so the output owns its whole buffer and can be transferred without a copy. Not
    // zero-filled first (a 64 KiB memset per random read): decompressInto throws unless the
    // frame wrote every byte, so no byte of the old memory is ever returned.
    const out = new Uint8Array(Buffer.allocUnsafeSlow(outputLength).buffer, 0, outputLength);
    this.decompressInto(input, out);
    return out;
  }

  decompressInto(input: Uint8Array, output: Uint8Array): void {
    let n: number;
    if (this.dictionary) {
      this.ddict ??= new this.zstd.DDict(this.dictionary);
      n = this.dctx.decompressUsingDDict(output, input, this.ddict);
    } else {
      n = this.dctx.decompress(output, input);
    }
    if (n !== output.length) throw new Error(`zstd frame decoded to ${n} bytes, expected ${output.length}`);
  }
}

/** Range of zstd levels accepted by `--level`. */
export const ZSTD_MIN_LEVEL = -7;
export const ZSTD_MAX_LEVEL = 22;

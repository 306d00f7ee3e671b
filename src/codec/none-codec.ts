import { Codec } from '../format/constants.js';
import type { BlockCodec } from './types.js';

/** The identity codec: never compresses, so every block is stored raw. */
export class NoneCodec implements BlockCodec {
  readonly id = Codec.NONE;
  readonly name = 'none' as const;

  compress(): Uint8Array | null {
    return null;
  }

  decompress(input: Uint8Array, outputLength: number): Uint8Array {
    if (input.length !== outputLength) throw new Error(`raw block is ${input.length} bytes, expected ${outputLength}`);
    return input;
  }

  decompressInto(input: Uint8Array, output: Uint8Array): void {
    if (input.length !== output.length) throw new Error(`raw block is ${input.length} bytes, expected ${output.length}`);
    output.set(input);
  }
}

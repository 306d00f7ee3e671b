import type { BlockCodecLike, BlockCodecs } from '../archive/reader-platform.js';
import { Codec, CODEC_NAMES, type CodecId } from '../format/constants.js';
import { UnsupportedError } from '../errors.js';
import { NoneCodec } from '../codec/none-codec.js';
import { zstdFrameContentSize } from './zstd-frame.js';

type ZstdModule = typeof import('@bokuweb/zstd-wasm');
type Lz4Module = typeof import('lz4js');

/** The decoders loaded so far: each is fetched the first time an archive needs it. */
const loaded: { zstd?: ZstdModule; zstdContext?: number; lz4?: Lz4Module } = {};
let zstdLoading: Promise<void> | undefined;
let lz4Loading: Promise<void> | undefined;

/**
 * Where the zstd WebAssembly file is: beside the bundle (the build copies it there). A page
 * that hosts the bundle elsewhere can set `globalThis.HEXZ_ZSTD_WASM_URL` first.
 */
function zstdWasmUrl(): string {
  const override = (globalThis as { HEXZ_ZSTD_WASM_URL?: string }).HEXZ_ZSTD_WASM_URL;
  return override ?? new URL('./zstd.wasm', import.meta.url).href;
}

/**
 * Loads the decoder blocks of codec `id` need (zstd: libzstd in WebAssembly, ~250 KB, fetched
 * once; LZ4: a small JavaScript decoder), once per page. `none` needs nothing.
 * @throws UnsupportedError when the decoder cannot be loaded (its file is missing or blocked).
 */
export async function loadCodecFor(id: CodecId): Promise<void> {
  if (id === Codec.ZSTD && !loaded.zstd) {
    zstdLoading ??= (async () => {
      const zstd = await import('@bokuweb/zstd-wasm');
      // Typed from the Node build (no argument); the browser build takes the file's URL.
      await (zstd.init as (path?: string) => Promise<void>)(zstdWasmUrl());
      loaded.zstdContext = zstd.createDCtx();
      loaded.zstd = zstd;
    })().catch((err) => {
      zstdLoading = undefined;
      throw new UnsupportedError(`the zstd decoder could not be loaded from ${zstdWasmUrl()}: ${(err as Error)?.message ?? err}`, { stage: 'block' }, { cause: err });
    });
    await zstdLoading;
  }
  if (id === Codec.LZ4 && !loaded.lz4) {
    lz4Loading ??= import('lz4js').then((m) => void (loaded.lz4 = (m as { default?: Lz4Module }).default ?? m));
    await lz4Loading;
  }
}

class Lz4Codec implements BlockCodecLike {
  constructor(private readonly lz4: Lz4Module) {}

  decompress(input: Uint8Array, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.decompressInto(input, out);
    return out;
  }

  decompressInto(input: Uint8Array, output: Uint8Array): void {
    // A raw LZ4 block has no checksum and lz4js never throws: the length is checked here and
    // the content by the block's hash.
    let n: number;
    try {
      n = this.lz4.decompressBlock(input, output, 0, input.length, 0);
    } catch {
      throw new Error('lz4 block is malformed');
    }
    if (n !== output.length) throw new Error(`lz4 block decoded to ${n} bytes, expected ${output.length}`);
  }
}

class ZstdCodec implements BlockCodecLike {
  constructor(private readonly zstd: ZstdModule, private readonly context: number, private readonly dictionary: Uint8Array | undefined) {}

  decompress(input: Uint8Array, length: number): Uint8Array {
    const declared = zstdFrameContentSize(input);
    if (declared !== length) {
      throw new Error(declared === undefined ? 'not a zstd frame with a content size' : `zstd frame declares ${declared} bytes, expected ${length}`);
    }
    let out: Uint8Array;
    try {
      out = this.dictionary ? this.zstd.decompressUsingDict(this.context, input, this.dictionary) : this.zstd.decompress(input);
    } catch {
      // The wrapper's message says "compress" and a number; ours says what failed.
      throw new Error('zstd frame is malformed');
    }
    if (out.length !== length) throw new Error(`zstd block decoded to ${out.length} bytes, expected ${length}`);
    return out;
  }
}

/**
 * The in-thread decoders of one archive, with its zstd dictionary bound in; the decoders were
 * loaded by {@link loadCodecFor} when the archive was opened.
 */
export function browserCodecs(dictionary?: Uint8Array): BlockCodecs {
  const made = new Map<CodecId, BlockCodecLike>();
  const make = (encoding: CodecId): BlockCodecLike | undefined => {
    if (encoding === Codec.NONE) return new NoneCodec();
    if (encoding === Codec.LZ4 && loaded.lz4) return new Lz4Codec(loaded.lz4);
    if (encoding === Codec.ZSTD && loaded.zstd) return new ZstdCodec(loaded.zstd, loaded.zstdContext!, dictionary);
    return undefined;
  };
  return {
    get(encoding: CodecId): BlockCodecLike {
      let codec = made.get(encoding);
      if (!codec && (codec = make(encoding))) made.set(encoding, codec);
      if (codec) return codec;
      throw new UnsupportedError(`a block is encoded with ${CODEC_NAMES[encoding] ?? `codec ${encoding}`}, whose decoder this page has not loaded (the archive's header names another codec)`);
    },
  };
}

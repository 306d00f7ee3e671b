import { Codec, type CodecId, CODEC_NAMES } from '../format/constants.js';
import { UsageError } from '../errors.js';
import type { BlockCodec } from './types.js';
import { NoneCodec } from './none-codec.js';
import { Lz4Codec } from './lz4-codec.js';
import { ZstdCodec, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from './zstd-codec.js';

/**
 * Creates a fresh codec instance (own native contexts) for codec `id`; `dictionary` (zstd only)
 * is the archive's trained dictionary.
 */
export function createCodec(id: CodecId, dictionary?: Uint8Array): BlockCodec {
  switch (id) {
    case Codec.NONE: return new NoneCodec();
    case Codec.LZ4: return new Lz4Codec();
    case Codec.ZSTD: return new ZstdCodec(dictionary);
  }
}

/**
 * A lazily filled set of codec instances, one per codec id, for a single thread.
 * Not shared between threads.
 */
export class CodecSet {
  private readonly codecs = new Map<CodecId, BlockCodec>();

  /** @param dictionary the archive's zstd dictionary, used by the zstd codec; none by default. */
  constructor(private readonly dictionary?: Uint8Array) {}

  get(id: CodecId): BlockCodec {
    let c = this.codecs.get(id);
    if (!c) this.codecs.set(id, (c = createCodec(id, this.dictionary)));
    return c;
  }
}

/**
 * Parses a codec name from the CLI or library options.
 * @throws UsageError for an unknown name.
 */
export function parseCodecName(name: string): CodecId {
  const id = (Object.entries(CODEC_NAMES).find(([, n]) => n === name)?.[0]);
  if (id === undefined) throw new UsageError(`unknown compression '${name}' (use zstd, lz4 or none)`);
  return Number(id) as CodecId;
}

/** The default level for a codec (zstd 3; others have none and use 0). */
export function defaultLevel(id: CodecId): number {
  return id === Codec.ZSTD ? 3 : 0;
}

/**
 * Checks a level for a codec.
 * @throws UsageError when the level is outside the codec's range or the codec has no levels.
 */
export function validateLevel(id: CodecId, level: number): number {
  if (!Number.isInteger(level)) throw new UsageError(`level must be an integer, got ${level}`);
  if (id === Codec.ZSTD) {
    if (level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL || level === 0) {
      throw new UsageError(`zstd level must be from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL} and not 0, got ${level}`);
    }
    return level;
  }
  if (level !== 0 && level !== 1) throw new UsageError(`${CODEC_NAMES[id]} has no compression levels (got --level ${level})`);
  return 0;
}

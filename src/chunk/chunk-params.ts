import { UsageError } from '../errors.js';

/** Content-defined chunking parameters, in bytes (docs/FORMAT.md §3.2). */
export interface ChunkParams {
  /** No chunk is shorter than this, except the last one of a stream or before a hole. */
  min: number;
  /** Target average; a power of two. Selects the two normalized masks. */
  avg: number;
  /** No chunk is longer than this. */
  max: number;
}

/** Defaults of `hexz pack --cdc`: 16 KiB / 64 KiB / 128 KiB. */
export const DEFAULT_CHUNK_PARAMS: ChunkParams = { min: 16 * 1024, avg: 64 * 1024, max: 128 * 1024 };
/** Smallest allowed chunk min and avg (bytes). */
export const MIN_CHUNK_MIN = 64;
export const MIN_CHUNK_AVG = 256;
/** Largest allowed chunk max: the largest block a reader must hold (4 MiB). */
export const MAX_CHUNK_MAX = 4 * 1024 * 1024;
/** Normalization level N of FastCDC (mask bits log2(avg) ± N). Fixed by the format. */
export const NORMALIZATION_LEVEL = 2;

/**
 * Validates chunking parameters.
 * @throws UsageError naming the offending value when the bounds below are violated:
 *   64 <= min <= avg <= max <= 4 MiB, avg a power of two >= 256.
 */
export function validateChunkParams(p: ChunkParams): ChunkParams {
  const { min, avg, max } = p;
  for (const [name, v] of [['min', min], ['avg', avg], ['max', max]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new UsageError(`chunk ${name} must be a positive whole number of bytes, got ${v}`);
  }
  if (min < MIN_CHUNK_MIN) throw new UsageError(`min chunk must be at least ${MIN_CHUNK_MIN} bytes, got ${min}`);
  if (avg < MIN_CHUNK_AVG || (avg & (avg - 1)) !== 0) throw new UsageError(`avg chunk must be a power of two of at least ${MIN_CHUNK_AVG} bytes, got ${avg}`);
  if (max > MAX_CHUNK_MAX) throw new UsageError(`max chunk must be at most 4M, got ${max}`);
  if (!(min <= avg && avg <= max)) throw new UsageError(`chunk sizes must satisfy min <= avg <= max, got ${min} / ${avg} / ${max}`);
  return p;
}

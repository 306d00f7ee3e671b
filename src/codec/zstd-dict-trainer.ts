/**
 * Trains a zstd dictionary with zstd's own trainer (ZDICT_trainFromBuffer, the fastCover
 * algorithm with default parameters). Neither npm zstd package exposes ZDICT, so the system
 * libzstd is called through the optional `koffi` package (the same pattern as
 * src/store/holes.ts). Where either is missing only `--train-dict` is affected.
 */
import { UnsupportedError, UsageError } from '../errors.js';

/** Largest dictionary we train, in bytes (zstd's CLI default, ~110 KiB). */
export const MAX_DICTIONARY_BYTES = 112640;

interface Zdict {
  train: (dict: Uint8Array, capacity: number, samples: Uint8Array, sizes: BigUint64Array, n: number) => number | bigint;
  isError: (code: number | bigint) => number;
  errorName: (code: number | bigint) => string;
}

let loaded: Promise<Zdict | null> | undefined;

async function loadZdict(): Promise<Zdict | null> {
  try {
    const koffi = (await import('koffi')).default;
    const lib = koffi.load(process.platform === 'darwin' ? 'libzstd.1.dylib' : 'libzstd.so.1');
    return {
      train: lib.func('size_t ZDICT_trainFromBuffer(void *dict, size_t capacity, const void *samples, const size_t *sizes, unsigned int n)') as Zdict['train'],
      isError: lib.func('unsigned int ZDICT_isError(size_t code)') as Zdict['isError'],
      errorName: lib.func('const char *ZDICT_getErrorName(size_t code)') as Zdict['errorName'],
    };
  } catch {
    return null;
  }
}

/** True when the system libzstd trainer can be loaded (koffi and libzstd.so.1 present). */
export async function dictionaryTrainingAvailable(): Promise<boolean> {
  return (await (loaded ??= loadZdict())) !== null;
}

/** A trained dictionary and the id zstd wrote into it. */
export interface TrainedDictionary {
  bytes: Uint8Array;
  /** zstd dictionary id (bytes 4..7 of the dictionary, little-endian). */
  id: number;
}

/**
 * Trains a dictionary of at most `capacity` bytes from `samples` (each one block-sized piece of input).
 * @throws UnsupportedError when koffi or the system libzstd is unavailable.
 * @throws UsageError when zstd cannot train from these samples (too few or too small).
 */
export async function trainZstdDictionary(samples: Uint8Array[], capacity = MAX_DICTIONARY_BYTES): Promise<TrainedDictionary> {
  const z = await (loaded ??= loadZdict());
  if (!z) throw new UnsupportedError('--train-dict needs the system libzstd (Debian package libzstd1) and the koffi package');
  const total = samples.reduce((n, s) => n + s.length, 0);
  const joined = new Uint8Array(total);
  const sizes = new BigUint64Array(samples.length);
  let at = 0;
  samples.forEach((s, i) => {
    joined.set(s, at);
    at += s.length;
    sizes[i] = BigInt(s.length);
  });
  const out = new Uint8Array(capacity);
  const r = z.train(out, capacity, joined, sizes, samples.length);
  if (z.isError(r)) throw new UsageError(`zstd could not train a dictionary from ${samples.length} samples (${total} bytes): ${z.errorName(r)}`);
  const bytes = out.slice(0, Number(r));
  return { bytes, id: dictionaryId(bytes) };
}

/** The dictionary id of a zstd dictionary (0 for raw content without the zstd dictionary magic). */
export function dictionaryId(dict: Uint8Array): number {
  if (dict.length < 8) return 0;
  const v = new DataView(dict.buffer, dict.byteOffset, 8);
  return v.getUint32(0, true) === 0xec30a437 ? v.getUint32(4, true) : 0;
}

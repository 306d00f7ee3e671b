import { UsageError } from '../errors.js';
import { MAX_DICTIONARY_BYTES, trainZstdDictionary } from '../codec/zstd-dict-trainer.js';
import { ZstdCodec } from '../codec/zstd-codec.js';
import { sampleStreamPrefix } from './dict-samples.js';
import type { BlockInput } from './block-input.js';

/** Samples a stream's first bytes into `samples`; returns the input that replays them. */
export async function takePrefix(input: BlockInput, pieceSize: number, samples: Uint8Array[]): Promise<BlockInput> {
  const r = await sampleStreamPrefix(input, pieceSize);
  samples.push(...r.samples);
  return r.input;
}

/** Largest sample total the gain is measured on (compressing it twice costs pack time). */
const GAIN_SAMPLE_BUDGET = 4 << 20;

/**
 * Trains the archive dictionary and measures its gain. Every 8th sample (when there are at
 * least 16) is held out of training and used to measure the gain, so the figure is not
 * flattered by the dictionary having seen the data; with fewer samples all are used for both.
 * @returns null when `required` is false and training is impossible (no libzstd, too few samples).
 * @throws UnsupportedError / UsageError from the trainer when `required`.
 */
export async function buildDictionary(samples: Uint8Array[], level: number, required: boolean) {
  const holdOut = samples.length >= 16;
  const train = holdOut ? samples.filter((_, i) => i % 8 !== 7) : samples;
  const measure = holdOut ? samples.filter((_, i) => i % 8 === 7) : samples;
  const trainBytes = train.reduce((n, s) => n + s.length, 0);
  // zstd suggests samples ~100x the dictionary; never below 1 KiB, never above ~110 KiB.
  const capacity = Math.min(MAX_DICTIONARY_BYTES, Math.max(1024, Math.floor(trainBytes / 10)));
  const started = performance.now();
  let trained;
  try {
    if (train.length === 0) throw new UsageError('--train-dict found no compressible, non-zero blocks to train on');
    trained = await trainZstdDictionary(train, capacity);
  } catch (err) {
    if (required) throw err;
    return null;
  }
  const trainMs = Math.round(performance.now() - started);
  const plain = new ZstdCodec();
  const withDict = new ZstdCodec(trained.bytes);
  let sampleBytes = 0;
  let sampleStoredPlain = 0;
  let sampleStoredDict = 0;
  for (const s of measure) {
    if (sampleBytes >= GAIN_SAMPLE_BUDGET) break;
    sampleBytes += s.length;
    // Blocks that do not shrink are stored raw, so they count at their own size.
    sampleStoredPlain += plain.compress(s, level)?.length ?? s.length;
    sampleStoredDict += withDict.compress(s, level)?.length ?? s.length;
  }
  return { bytes: trained.bytes, info: { id: trained.id, trainMs, sampleBytes, sampleStoredPlain, sampleStoredDict } };
}

/**
 * Chooses the training samples for `--train-dict` (docs/FORMAT.md §3.3, README "Dictionaries").
 * Files are sampled at evenly spaced offsets across their whole length before packing; streams
 * (pipes, qcow2 images) from their first {@link STREAM_SAMPLE_WINDOW} bytes, which are buffered
 * and then packed as usual. Zero pieces and high-entropy pieces (already compressed or
 * encrypted data, on which a dictionary cannot help) are skipped.
 */
import { open } from 'node:fs/promises';
import { wrapIoError } from '../errors.js';
import type { BlockInput, InputBlock } from './block-input.js';

/** Most sample bytes kept for training: ~100x the largest dictionary, zstd's rule of thumb. */
export const SAMPLE_BUDGET = 12 << 20;
/** How much of a stream input is buffered to draw samples from. */
export const STREAM_SAMPLE_WINDOW = 32 << 20;
/** Pieces above this Shannon entropy (bits per byte) are skipped. */
export const MAX_SAMPLE_ENTROPY = 7.5;

/** Shannon entropy of `bytes` in bits per byte (0..8). */
export function shannonEntropy(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < bytes.length; i++) counts[bytes[i]]++;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    if (counts[i] === 0) continue;
    const p = counts[i] / bytes.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** True when `piece` is worth training on: not all zero and not near-random. */
export function isUsefulSample(piece: Uint8Array): boolean {
  let nonzero = false;
  for (let i = 0; i < piece.length; i += 64) if (piece[i] !== 0) { nonzero = true; break; }
  if (!nonzero && piece.every((b) => b === 0)) return false;
  return shannonEntropy(piece) <= MAX_SAMPLE_ENTROPY;
}

/**
 * Reads up to `budget / pieceSize` pieces of `pieceSize` bytes at evenly spaced, piece-aligned
 * offsets of a file of `size` bytes, keeping the useful ones.
 * @throws StoreError when the file cannot be read.
 */
export async function sampleFile(path: string, size: number, pieceSize: number, budget = SAMPLE_BUDGET): Promise<Uint8Array[]> {
  const pieces = Math.floor(size / pieceSize);
  const want = Math.min(pieces, Math.ceil(budget / pieceSize));
  const out: Uint8Array[] = [];
  if (want === 0) return out;
  try {
    const fh = await open(path, 'r');
    try {
      for (let k = 0; k < want; k++) {
        const at = Math.floor((k * pieces) / want) * pieceSize;
        const buf = new Uint8Array(pieceSize);
        const { bytesRead } = await fh.read(buf, 0, pieceSize, at);
        const piece = buf.subarray(0, bytesRead);
        if (isUsefulSample(piece)) out.push(piece);
      }
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw wrapIoError(err, path, 'read samples');
  }
  return out;
}

/**
 * Buffers the first `window` bytes of `input`'s blocks, cuts them into `pieceSize` pieces and
 * keeps the useful ones (at most `budget` bytes). Returns the samples and an input that yields
 * the buffered blocks again followed by the rest, so nothing is read twice.
 */
export async function sampleStreamPrefix(input: BlockInput, pieceSize: number, window = STREAM_SAMPLE_WINDOW, budget = SAMPLE_BUDGET): Promise<{ samples: Uint8Array[]; input: BlockInput }> {
  const gen = input.blocks();
  const buffered: InputBlock[] = [];
  const samples: Uint8Array[] = [];
  let seen = 0;
  let kept = 0;
  let done = false;
  while (seen < window) {
    const r = await gen.next();
    if (r.done) {
      done = true;
      break;
    }
    buffered.push(r.value);
    if (r.value.kind === 'zero') {
      seen += r.value.length;
      continue;
    }
    const bytes = r.value.bytes;
    seen += bytes.length;
    for (let at = 0; at < bytes.length && kept < budget; at += pieceSize) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + pieceSize));
      // Copies: the block's own buffer is later transferred to a worker.
      if (isUsefulSample(piece)) {
        samples.push(piece.slice());
        kept += piece.length;
      }
    }
  }
  async function* replay(): AsyncGenerator<InputBlock> {
    yield* buffered;
    buffered.length = 0;
    if (!done) for (let r = await gen.next(); !r.done; r = await gen.next()) yield r.value;
  }
  return { samples, input: { size: input.size, name: input.name, close: () => input.close(), blocks: replay } };
}

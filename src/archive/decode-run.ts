/**
 * Decoding of a run: several stored blocks, possibly from several archives of a thin chain,
 * decoded into one buffer of consecutive logical bytes. Pure code over bytes (codecs, digest and
 * seal opening are injected), shared by the decode workers (`block-worker.ts`) and the reader's
 * in-thread decoder, so both check exactly the same things.
 */
import type { CodecId } from '../format/constants.js';
import { bytesEqual, type Digest32 } from '../format/digest.js';

/** One stored block of a run: where its stored bytes are, what its entry says, where its bytes go. */
export interface RunBlock {
  /** Which of the decoder's archives holds the block (its slot in a thin chain, §15.3; 0 otherwise). */
  slot: number;
  /** Offset of the block's stored bytes in the run's stored buffer. */
  at: number;
  /** Stored length (sealed length when encrypted). */
  storedLength: number;
  /** Stored offset in its archive: an encrypted block's seal is bound to it (§12.3). */
  storedOffset: number;
  /** The entry's encoding (§3). */
  encoding: CodecId;
  /** The stored block's decoded length (an entry's `blockLength`: its length, or a SLICE's block's): it must decode to exactly this many bytes. */
  length: number;
  /** The entry's content hash (§5). */
  hash: Uint8Array;
  /** Decoded bytes to skip before copying (the run starts inside this block). */
  skip: number;
  /** Decoded bytes to copy (the run may end inside this block). */
  take: number;
  /** Where in the run's output they go. */
  to: number;
}

/** A run to decode: the stored bytes of its blocks (each unique extent once), back to back. */
export interface RunRequest {
  /**
   * Stored bytes; the decoder may take (transfer) this buffer: the caller must own it and not use
   * it again. Shared memory (a SharedArrayBuffer) is never taken: the decoder reads it in place
   * until its promise settles, and the caller may reuse it once it has fulfilled.
   */
  stored: Uint8Array;
  blocks: RunBlock[];
  /** Logical bytes of the run's output; bytes no block covers (zero entries) stay zero. */
  length: number;
  /**
   * Memory of at least `length` bytes to decode into instead of allocating (a reader's recycled
   * buffer): the result is then a view of it. Decoders on other threads use it only when it is
   * shared memory (a SharedArrayBuffer).
   */
  output?: Uint8Array;
}

/** How one archive of the chain opens, decodes and checks its blocks. */
export interface RunSlotTools {
  /** In-thread decompressors, the archive's dictionary bound in. */
  codecs: { get(encoding: CodecId): { decompress(input: Uint8Array, length: number): Uint8Array; decompressInto?(input: Uint8Array, output: Uint8Array): void } };
  /** The content hash (keyed in encrypted archives); undefined: blocks are not hash-checked. */
  digest?: Digest32;
  /** Opens a sealed block (encrypted archives, §12.3); undefined: blocks are not sealed. */
  open?(sealed: Uint8Array, block: RunBlock): Uint8Array | Promise<Uint8Array>;
}

/** Numbers per block in {@link packRunBlocks}'s fields. */
const FIELDS = 9;

/**
 * The blocks of a run as two flat arrays (numbers, then hashes): a worker message of a few
 * buffers rather than dozens of objects with a 32-byte array each, which costs the main thread
 * measurably more to clone.
 */
export function packRunBlocks(blocks: RunBlock[]): { fields: Float64Array; hashes: Uint8Array } {
  const fields = new Float64Array(blocks.length * FIELDS);
  const hashes = new Uint8Array(blocks.length * 32);
  blocks.forEach((b, i) => {
    fields.set([b.slot, b.at, b.storedLength, b.storedOffset, b.encoding, b.length, b.skip, b.take, b.to], i * FIELDS);
    hashes.set(b.hash.subarray(0, 32), i * 32);
  });
  return { fields, hashes };
}

/** The blocks {@link packRunBlocks} packed. */
export function unpackRunBlocks(fields: Float64Array, hashes: Uint8Array): RunBlock[] {
  const blocks: RunBlock[] = [];
  for (let i = 0, f = 0; f < fields.length; i++, f += FIELDS) {
    blocks.push({
      slot: fields[f], at: fields[f + 1], storedLength: fields[f + 2], storedOffset: fields[f + 3], encoding: fields[f + 4] as CodecId,
      length: fields[f + 5], skip: fields[f + 6], take: fields[f + 7], to: fields[f + 8], hash: hashes.subarray(i * 32, i * 32 + 32),
    });
  }
  return blocks;
}

/**
 * What failed in a run: `block` is the index in {@link RunRequest.blocks}, `kind` which check,
 * and `partial` (when known) the run's output before that block, complete.
 */
export class RunBlockError extends Error {
  constructor(message: string, readonly kind: 'auth' | 'decode' | 'hash' | 'internal', readonly block: number, readonly partial?: Uint8Array) {
    super(message);
  }
}

/**
 * Opens, decodes and hash-checks every block of `request` and copies its bytes into a fresh
 * buffer of `request.length` bytes; bytes no block covers are zeroed. Blocks that share stored
 * bytes (dedup) are decoded once. `alloc` gives the output buffer, which need not be zeroed
 * (a worker passes one that skips zeroing: every byte is written anyway).
 * @throws RunBlockError naming the first block that fails, how, and the output before it.
 */
export async function decodeRun(request: RunRequest, slots: RunSlotTools[], alloc: (length: number) => Uint8Array = (n) => new Uint8Array(n)): Promise<Uint8Array> {
  const out = alloc(request.length);
  /** Blocks decoded last, newest first: a block whose clean parts are SLICE entries around new data recurs a few blocks apart. */
  const recent: Decoded[] = [];
  // Blocks come in logical order; what lies between them (zero entries) is zeroed.
  let filled = 0;
  for (let i = 0; i < request.blocks.length; i++) {
    const b = request.blocks[i];
    if (b.to > filled) out.fill(0, filled, b.to);
    filled = Math.max(filled, b.to + b.take);
    try {
      const d = await placeBlock(request.stored, out, b, slots[b.slot], recent);
      const k = recent.indexOf(d);
      if (k !== 0) {
        // Newest first, each block once.
        if (k > 0) recent.splice(k, 1);
        recent.unshift(d);
        if (recent.length > RECENT_BLOCKS) recent.pop();
      }
    } catch (err) {
      // Everything before this block is complete: the caller may deliver it before the error.
      const e = err instanceof RunBlockError ? err : new RunBlockError(message(err), 'internal', i);
      throw new RunBlockError(e.message, e.kind, i, out.subarray(0, b.to));
    }
  }
  if (filled < out.length) out.fill(0, filled);
  return out;
}

/** A block decoded and checked, and where its bytes are. */
interface Decoded {
  block: RunBlock;
  data: Uint8Array;
}

/** Decoded blocks a run keeps for blocks that recur (see decodeRun). */
const RECENT_BLOCKS = 4;

/** Opens, decodes and checks one block (or reuses a recent one when it is the same) and copies its part into `out`. */
async function placeBlock(stored: Uint8Array, out: Uint8Array, b: RunBlock, tools: RunSlotTools | undefined, recent: readonly Decoded[]): Promise<Decoded> {
  if (!tools) throw new RunBlockError(`no decoder for slot ${b.slot}`, 'internal', -1);
  for (const r of recent) {
    if (!sameBlock(r.block, b)) continue;
    out.set(r.data.subarray(b.skip, b.skip + b.take), b.to);
    return r;
  }
  let encoded = stored.subarray(b.at, b.at + b.storedLength);
  if (tools.open) {
    try {
      encoded = await tools.open(encoded, b);
    } catch (err) {
      throw new RunBlockError(message(err), 'auth', -1);
    }
  }
  // A whole block is decoded straight into the output (no allocation, no copy).
  const into = b.skip === 0 && b.take === b.length ? out.subarray(b.to, b.to + b.length) : undefined;
  let data: Uint8Array;
  try {
    const codec = tools.codecs.get(b.encoding);
    if (into && codec.decompressInto) codec.decompressInto(encoded, (data = into));
    else data = codec.decompress(encoded, b.length);
  } catch (err) {
    throw new RunBlockError(message(err), 'decode', -1);
  }
  if (data.length !== b.length) throw new RunBlockError(`decoded to ${data.length} bytes, expected ${b.length}`, 'decode', -1);
  if (tools.digest && !bytesEqual(tools.digest(data), b.hash)) throw new RunBlockError('content hash mismatch', 'hash', -1);
  if (data !== into) out.set(data.subarray(b.skip, b.skip + b.take), b.to);
  return { block: b, data };
}

/** True when `b` names exactly the stored block `a` was decoded and checked as (a duplicate, §5). */
function sameBlock(a: RunBlock, b: RunBlock): boolean {
  return a.slot === b.slot && a.storedOffset === b.storedOffset && a.storedLength === b.storedLength
    && a.encoding === b.encoding && a.length === b.length && bytesEqual(a.hash, b.hash);
}

function message(err: unknown): string {
  return String((err as Error)?.message ?? err);
}

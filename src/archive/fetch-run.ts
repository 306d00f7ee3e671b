import type { IndexEntry } from '../format/entry.js';
import { CorruptArchiveError, MissingParentError } from '../errors.js';
import type { ByteSource } from '../store/types.js';
import { RunBlockError, type RunBlock } from './decode-run.js';
import type { BlockStore, RunDecoder } from './run-decoder.js';
import type { Run } from './run-planner.js';

/** Coalescing of one chunk's stored extents into source reads (as BlockLoader does). */
const MAX_GAP = 64 << 10;
const MAX_SPAN = 8 << 20;
const AUTH_FAILED = 'block fails authentication (AES-GCM tag mismatch: altered, moved or from another archive)';

/** Reads from a source with the sequential reader's abort signal (one of its own per read). */
export type ReadWith = (source: ByteSource, offset: number, length: number) => Promise<Uint8Array>;

/**
 * Memory a read borrows and gives back (a server's pool of shared buffers): a decoder on another
 * thread then reads and writes it in place, and nothing is allocated per read.
 */
export interface BorrowedMemory {
  /** A buffer of exactly `length` bytes, not zeroed. */
  take(length: number): Uint8Array;
  /** Returns the memory of a buffer {@link take} gave once nothing uses it any more. */
  give(view: Uint8Array): void;
}

/** Stored bytes read into borrowed memory (see {@link fetchAndDecode}), with the read's abort signal. */
export interface ReadIntoBorrowed {
  memory: BorrowedMemory;
  signal?: AbortSignal;
}

/**
 * Reads the stored extents of `run` (each unique extent once, nearby ones in one request per
 * archive) and decodes the run (into `output` when given: a buffer of at least the run's length
 * that the decoder may take). With `into`, stored bytes that come in one request from a source
 * that reads into a caller's buffer (ByteSource.readInto: a file, an HTTP source and their
 * wrappers) are read into memory borrowed from it, given back once decoded.
 * @throws DamagedChunk when a block fails its checks: the error, and the chunk's bytes before it.
 */
export async function fetchAndDecode(
  run: Run, stores: (BlockStore | undefined)[], decoder: RunDecoder, stream: string, read: ReadWith, output?: Uint8Array, into?: ReadIntoBorrowed,
): Promise<Uint8Array> {
  const groups = planReads(run, stores, stream);
  const borrow = into && groups.length === 1 && groups[0].store.source.readInto ? into : undefined;
  const settled = await Promise.allSettled(groups.map((g) => readGroup(g.store, g.extents, stream, read, borrow)));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const reads = settled.map((s) => (s as PromiseFulfilledResult<Uint8Array>).value);
  const { stored, at } = assemble(groups, reads);
  let decoded: Uint8Array;
  try {
    decoded = await decoder.decodeRun({ stored, blocks: runBlocks(run, at), length: run.length, output });
  } catch (err) {
    // The borrowed bytes are not given back: a decoder that failed (or was closed) may not be done with them.
    throw damaged(err, run, stores, stream);
  }
  borrow?.memory.give(reads[0]);
  return decoded;
}

/** The unique stored extents of `run`, sorted by slot and offset, grouped into one read per run of nearby extents. */
function planReads(run: Run, stores: (BlockStore | undefined)[], stream: string): { store: BlockStore; extents: IndexEntry[] }[] {
  const unique = new Map<string, IndexEntry>();
  for (const e of run.stored) {
    const key = extentKey(e);
    if (!unique.has(key)) unique.set(key, e);
  }
  const sorted = [...unique.values()].sort((a, b) => a.slot - b.slot || a.storedOffset - b.storedOffset);
  const groups: { store: BlockStore; extents: IndexEntry[] }[] = [];
  for (let i = 0; i < sorted.length;) {
    const first = sorted[i];
    const store = stores[first.slot];
    if (!store) {
      throw new MissingParentError(`parent ${first.slot} was not opened (openParents: false)`, { archive: stores[0]?.name, stream, offset: first.offset, stage: 'parents' });
    }
    let j = i + 1;
    let groupEnd = first.storedOffset + first.storedLength;
    for (; j < sorted.length; j++) {
      const e = sorted[j];
      if (e.slot !== first.slot || e.storedOffset < groupEnd || e.storedOffset - groupEnd > MAX_GAP || e.storedOffset + e.storedLength - first.storedOffset > MAX_SPAN) break;
      groupEnd = e.storedOffset + e.storedLength;
    }
    groups.push({ store, extents: sorted.slice(i, j) });
    i = j;
  }
  return groups;
}

/**
 * The extents back to back in one buffer, and where each is. When one request returned exactly
 * them (no gap), its buffer is used as it is: a worker pool then takes it without a copy when it
 * owns its whole ArrayBuffer (a ByteSource's read result belongs to its caller).
 */
function assemble(groups: { extents: IndexEntry[] }[], reads: Uint8Array[]): { stored: Uint8Array; at: Map<string, number> } {
  const at = new Map<string, number>();
  const total = groups.reduce((n, g) => g.extents.reduce((m, e) => m + e.storedLength, n), 0);
  if (groups.length === 1 && reads[0].length === total) {
    const base = groups[0].extents[0].storedOffset;
    for (const e of groups[0].extents) at.set(extentKey(e), e.storedOffset - base);
    return { stored: reads[0], at };
  }
  const stored = new Uint8Array(total);
  let n = 0;
  groups.forEach((g, k) => {
    const base = g.extents[0].storedOffset;
    for (const e of g.extents) {
      stored.set(reads[k].subarray(e.storedOffset - base, e.storedOffset - base + e.storedLength), n);
      at.set(extentKey(e), n);
      n += e.storedLength;
    }
  });
  return { stored, at };
}

/** What the decoder needs of each stored entry of `run`: where its bytes are and which part of it the run holds. */
function runBlocks(run: Run, at: Map<string, number>): RunBlock[] {
  return run.stored.map((e) => {
    const from = Math.max(run.offset, e.offset);
    const to = Math.min(run.offset + run.length, e.offset + e.length);
    return {
      slot: e.slot, at: at.get(extentKey(e))!, storedLength: e.storedLength, storedOffset: e.storedOffset, encoding: e.encoding, length: e.blockLength, hash: e.hash,
      skip: e.skip + from - e.offset, take: to - from, to: from - run.offset,
    };
  });
}

/** A chunk with a damaged block: the error, and the chunk's bytes before the block (delivered first). */
export class DamagedChunk extends Error {
  constructor(readonly error: unknown, readonly prefix: Uint8Array | undefined) {
    super('damaged chunk');
  }
}

/** The decoder's failure as the CorruptArchiveError of the block, located like BlockLoader's. */
function damaged(err: unknown, run: Run, stores: (BlockStore | undefined)[], stream: string): unknown {
  if (!(err instanceof RunBlockError)) return err;
  const e = run.stored[err.block];
  if (!e) return err;
  const what = err.kind === 'hash' ? 'content hash mismatch' : err.kind === 'auth' ? AUTH_FAILED : `block does not decode: ${err.message}`;
  return new DamagedChunk(corrupt(what, e, stores[e.slot]?.name, stream, err), err.partial);
}

function extentKey(e: IndexEntry): string {
  return `${e.slot}:${e.storedOffset}:${e.storedLength}`;
}

/** Reads one coalesced group of extents (sorted, of one store), checked to lie in its data region; into borrowed memory with `into`. */
async function readGroup(store: BlockStore, extents: IndexEntry[], stream: string, read: ReadWith, into?: ReadIntoBorrowed): Promise<Uint8Array> {
  const first = extents[0];
  const last = extents[extents.length - 1];
  const offset = first.storedOffset;
  const length = last.storedOffset + last.storedLength - offset;
  const regionEnd = store.region.offset + store.region.length;
  if (offset < store.region.offset || offset + length > regionEnd) {
    throw corrupt(`stored extent [${offset}, ${offset + length}) lies outside the data region`, first, store.name, stream);
  }
  let bytes: Uint8Array;
  if (into && store.source.readInto) {
    const target = into.memory.take(length);
    bytes = target.subarray(0, await store.source.readInto(offset, target, { signal: into.signal }));
  } else {
    bytes = await read(store.source, offset, length);
  }
  if (bytes.length !== length) throw corrupt('archive is truncated: stored block lies beyond the end of the file', first, store.name, stream);
  return bytes;
}

function corrupt(message: string, e: IndexEntry, archive: string | undefined, stream: string, cause?: unknown): CorruptArchiveError {
  return new CorruptArchiveError(
    `${stream} block at offset ${e.offset} (file offset ${e.storedOffset}): ${message}`,
    { archive, stream, offset: e.offset, fileOffset: e.storedOffset, stage: 'block' },
    { cause },
  );
}

import { EntryKind, type StreamName } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { AbortedError, CorruptArchiveError, MissingParentError, UsageError } from '../errors.js';
import { raceAbort } from '../util/race-abort.js';
import { RunBlockError, type RunBlock } from '../workers/decode-run.js';
import { inThreadRunDecoder, type BlockStore, type RunDecoder } from './run-decoder.js';

/** What {@link readSequential} reads: an `Archive` (see `Archive.entryLeaves` and `Archive.blockStores`). */
export interface SequentialArchive {
  readonly name: string;
  readonly header: { blockSize: number };
  /** Logical size of `stream`. */
  size(stream: StreamName): number;
  /** The index entries overlapping [from, to), in order, a leaf at a time, checked to tile the range. */
  entryLeaves(stream: StreamName, from: number, to: number, signal?: AbortSignal): AsyncIterable<IndexEntry[]>;
  /** The store of each slot: 0 the archive itself, k its parent k (undefined when not opened). */
  blockStores(): (BlockStore | undefined)[];
}

/** Options of {@link readSequential}. */
export interface SequentialReadOptions {
  /** First logical byte (default 0). */
  start?: number;
  /** End of the range, EXCLUSIVE (default: the stream's size). */
  end?: number;
  /** Logical bytes per chunk, each one decode task (default max(block size, 4 MiB)). */
  chunkBytes?: number;
  /**
   * Most stored bytes read ahead of the consumer: requested or decoding, not yet delivered
   * (default 16 MiB). One chunk is always in flight, however large.
   */
  windowBytes?: number;
  /** Most decoded bytes ahead of the consumer (default 4 × `windowBytes`: highly compressible data). */
  decodedWindowBytes?: number;
  /** Decodes the chunks (default: in the calling thread; the Node shell passes its worker pool). */
  decoder?: RunDecoder;
  signal?: AbortSignal;
}

/** A piece of the range, delivered in order. */
export interface SequentialChunk {
  /** Logical offset of the first byte. */
  offset: number;
  length: number;
  /** The bytes; null when the whole chunk is zero entries (nothing stored, nothing allocated). */
  data: Uint8Array | null;
  /**
   * The index entries overlapping the chunk, in order (the first and last may extend past it
   * when the range starts or ends inside a block). Zero entries inside a chunk are zero bytes in `data`.
   */
  entries: IndexEntry[];
}

/** Default read-ahead window of stored bytes. */
export const DEFAULT_WINDOW_BYTES = 16 << 20;
/**
 * Default chunk: large enough that per-chunk costs (a worker message, a result buffer, a read)
 * stay small beside decoding it, small enough that a window holds several per worker.
 */
export const DEFAULT_CHUNK_BYTES = 4 << 20;
/** A zero run at least this long is its own chunk (no bytes), not zeros inside a data chunk. */
const ZERO_SPLIT = 256 << 10;
/** Most chunks ahead of the consumer, whatever their sizes. */
const MAX_AHEAD = 256;
/** Coalescing of one chunk's stored extents into source reads (as BlockLoader does). */
const MAX_GAP = 64 << 10;
const MAX_SPAN = 8 << 20;
const AUTH_FAILED = 'block fails authentication (AES-GCM tag mismatch: altered, moved or from another archive)';

/** A planned chunk: its entries, the stored ones, and what it holds of the window. */
interface Run {
  offset: number;
  length: number;
  entries: IndexEntry[];
  stored: IndexEntry[];
  storedBytes: number;
}

/** A started chunk. */
interface Ahead {
  run: Run;
  result: Promise<Uint8Array | null>;
}

/**
 * Reads [start, end) of `stream` front to back with decode-ahead: walks the index entries of the
 * range, cuts them into chunks of about `chunkBytes`, and keeps up to `windowBytes` of stored
 * bytes in flight (several coalesced source reads at once, decoded and hash-checked by
 * `decoder`, e.g. on worker threads), yielding chunks strictly in order. Memory stays bounded by
 * the window. Zero entries are never read nor decoded; a long zero run is a chunk with null data.
 * Blocks of a thin archive's slot k come from parent k (§15.3), verified against the entry.
 *
 * An error (a damaged block or index node, a failed read) is thrown when the consumer reaches
 * the chunk it belongs to, after every earlier chunk was delivered. Returning early, or aborting
 * `signal`, stops the reads in flight and waits for the work already started to settle, so
 * nothing is left running.
 *
 * @throws UsageError when the range is not inside the stream.
 * @throws CorruptArchiveError at the chunk of the first damaged node or block.
 * @throws MissingParentError at a chunk that needs a parent that was not opened.
 * @throws AbortedError when `signal` aborts.
 * @example
 * for await (const c of readSequential(archive, 'disk', { start: 0, end: 1 << 30 })) use(c.offset, c.data);
 */
export async function* readSequential(archive: SequentialArchive, stream: StreamName, options: SequentialReadOptions = {}): AsyncGenerator<SequentialChunk> {
  const size = archive.size(stream);
  const start = options.start ?? 0;
  const end = options.end ?? size;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > size) {
    throw new UsageError(`range [${start}, ${end}) is outside stream ${stream} (${size} bytes)`, { archive: archive.name, stream, offset: start });
  }
  if (options.signal?.aborted) throw new AbortedError('read cancelled');
  if (start === end) return;
  const stores = archive.blockStores();
  const decoder = options.decoder ?? inThreadRunDecoder(stores);
  const chunkBytes = Math.max(1, options.chunkBytes ?? Math.max(archive.header.blockSize, DEFAULT_CHUNK_BYTES));
  const window = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
  const decodedWindow = options.decodedWindowBytes ?? 4 * window;

  // Our own signal: aborted by the caller's, and when we stop, so reads in flight stop too.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = stop.signal;
  const leaves = archive.entryLeaves(stream, start, end, signal)[Symbol.asyncIterator]();
  const planner = new RunPlanner(leaves, start, end, chunkBytes, archive.name, stream);
  const ahead: Ahead[] = [];
  let storedAhead = 0;
  let decodedAhead = 0;
  let next: Run | undefined;
  let planned = false;

  // Each chunk's reads get a signal of their own, all aborted through one listener: dozens of
  // reads in flight on one AbortSignal would each add a listener to it.
  const live = new Set<AbortController>();
  signal.addEventListener('abort', () => {
    for (const c of live) c.abort();
  }, { once: true });
  const begin = (run: Run): Ahead => {
    let result: Promise<Uint8Array | null> = Promise.resolve(null);
    if (run.stored.length) {
      const own = new AbortController();
      if (signal.aborted) own.abort();
      live.add(own);
      result = fetchAndDecode(run, stores, decoder, stream, own.signal).finally(() => live.delete(own));
    }
    result.catch(() => {}); // thrown when the consumer reaches it
    storedAhead += run.storedBytes;
    decodedAhead += run.stored.length ? run.length : 0;
    return { run, result };
  };
  /**
   * Starts chunks while the window has room (always one), once it is at most half full: the
   * reads of a burst are issued in one turn, so a remote source's coalescing wrapper can merge
   * neighbouring chunks into few large requests. An index error becomes a chunk that fails.
   */
  const fill = async () => {
    if (ahead.length && (storedAhead > window / 2 || decodedAhead > decodedWindow / 2)) return;
    while (!planned && ahead.length < MAX_AHEAD) {
      if (!next) {
        try {
          next = await planner.next();
        } catch (err) {
          ahead.push({ run: emptyRun(planner.position), result: rejected(err) });
          planned = true;
          return;
        }
        if (!next) {
          planned = true;
          return;
        }
      }
      const decodedNext = next.stored.length ? next.length : 0;
      if (ahead.length && (storedAhead + next.storedBytes > window || decodedAhead + decodedNext > decodedWindow)) return;
      ahead.push(begin(next));
      next = undefined;
    }
  };

  try {
    await fill();
    while (ahead.length) {
      const head = ahead[0];
      let data: Uint8Array | null;
      try {
        data = await raceAbort(head.result, signal);
      } catch (err) {
        if (!(err instanceof DamagedChunk)) throw err;
        // The bytes before the damaged block first, then the error: it surfaces at its position.
        const { run } = head;
        if (err.prefix?.length) yield { offset: run.offset, length: err.prefix.length, data: err.prefix, entries: run.entries.filter((e) => e.offset < run.offset + err.prefix!.length) };
        throw err.error;
      }
      ahead.shift();
      storedAhead -= head.run.storedBytes;
      decodedAhead -= data ? head.run.length : 0;
      await fill();
      yield { offset: head.run.offset, length: head.run.length, data, entries: head.run.entries };
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    // Nothing may outlive the reader: reads stop on the signal, decodes finish (not cancellable).
    await Promise.allSettled(ahead.map((a) => a.result));
    await leaves.return?.().catch(() => {});
  }
}

/** Cuts the entries of [start, end) into chunks. */
class RunPlanner {
  private leaf: IndexEntry[] = [];
  private i = 0;
  private pos: number;

  constructor(
    private readonly leaves: AsyncIterator<IndexEntry[]>,
    start: number,
    private readonly end: number,
    private readonly chunkBytes: number,
    private readonly archive: string,
    private readonly stream: string,
  ) {
    this.pos = start;
  }

  /** Where the next chunk starts. */
  get position(): number {
    return this.pos;
  }

  /** The next chunk, or undefined at the end of the range. */
  async next(): Promise<Run | undefined> {
    if (this.pos >= this.end) return undefined;
    const run: Run = { offset: this.pos, length: 0, entries: [], stored: [], storedBytes: 0 };
    while (this.pos < this.end) {
      const e = await this.peek();
      if (!e || e.offset > this.pos || e.offset + e.length <= this.pos) {
        throw new CorruptArchiveError(`index entries do not tile the stream at offset ${this.pos}`, { archive: this.archive, stream: this.stream, offset: this.pos, stage: 'index' });
      }
      const to = Math.min(this.end, e.offset + e.length);
      const n = to - this.pos;
      const zero = e.kind === EntryKind.ZERO;
      if (run.entries.length) {
        // A long zero run is a chunk of its own; a short one rides inside the data around it.
        if (zero ? run.stored.length > 0 && n >= ZERO_SPLIT : run.stored.length === 0 && run.length >= ZERO_SPLIT) break;
        if ((run.stored.length > 0 || !zero) && run.length + n > this.chunkBytes) break;
      }
      run.entries.push(e);
      run.length += n;
      if (!zero) {
        run.stored.push(e);
        run.storedBytes += e.storedLength;
      }
      this.pos = to;
      if (to === e.offset + e.length) this.i++;
    }
    return run;
  }

  private async peek(): Promise<IndexEntry | undefined> {
    while (this.i >= this.leaf.length) {
      const r = await this.leaves.next();
      if (r.done) return undefined;
      this.leaf = r.value;
      this.i = 0;
    }
    return this.leaf[this.i];
  }
}

/**
 * Reads the stored extents of `run` (each unique extent once, nearby ones in one request per
 * archive) and decodes the run.
 * @throws DamagedChunk when a block fails its checks: the error, and the chunk's bytes before it.
 */
async function fetchAndDecode(run: Run, stores: (BlockStore | undefined)[], decoder: RunDecoder, stream: string, signal: AbortSignal): Promise<Uint8Array> {
  const groups = planReads(run, stores, stream);
  const settled = await Promise.allSettled(groups.map((g) => readGroup(g.store, g.extents, stream, signal)));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const { stored, at } = assemble(groups, settled.map((s) => (s as PromiseFulfilledResult<Uint8Array>).value));
  try {
    return await decoder.decodeRun({ stored, blocks: runBlocks(run, at), length: run.length });
  } catch (err) {
    throw damaged(err, run, stores, stream);
  }
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
      slot: e.slot, at: at.get(extentKey(e))!, storedLength: e.storedLength, storedOffset: e.storedOffset, encoding: e.encoding, length: e.length, hash: e.hash,
      skip: from - e.offset, take: to - from, to: from - run.offset,
    };
  });
}

/** A chunk with a damaged block: the error, and the chunk's bytes before the block (delivered first). */
class DamagedChunk extends Error {
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

/** Reads one coalesced group of extents (sorted, of one store), checked to lie in its data region. */
async function readGroup(store: BlockStore, extents: IndexEntry[], stream: string, signal: AbortSignal): Promise<Uint8Array> {
  const first = extents[0];
  const last = extents[extents.length - 1];
  const offset = first.storedOffset;
  const length = last.storedOffset + last.storedLength - offset;
  const regionEnd = store.region.offset + store.region.length;
  if (offset < store.region.offset || offset + length > regionEnd) {
    throw corrupt(`stored extent [${offset}, ${offset + length}) lies outside the data region`, first, store.name, stream);
  }
  const bytes = await store.source.read(offset, length, { signal });
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

function emptyRun(offset: number): Run {
  return { offset, length: 0, entries: [], stored: [], storedBytes: 0 };
}

function rejected(err: unknown): Promise<never> {
  const p = Promise.reject(err);
  p.catch(() => {});
  return p;
}

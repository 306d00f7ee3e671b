import type { StreamName } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { AbortedError, UsageError } from '../errors.js';
import { raceAbort } from '../util/race-abort.js';
import { inThreadRunDecoder, type BlockStore, type RunDecoder } from './run-decoder.js';
import { RunPlanner, type Run } from './run-planner.js';
import { DamagedChunk, fetchAndDecode, type ReadIntoBorrowed, type ReadWith } from './fetch-run.js';
import { SlabPool } from '../util/slab-pool.js';

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
  /**
   * The consumer calls each data chunk's `release()` once done with its bytes: chunks are then
   * decoded into a bounded set of reused buffers of shared memory (SharedArrayBuffer) instead of
   * a new buffer each, which spares a long read most of its garbage collection. The stored bytes
   * are then read into reused shared memory too, from sources that read into a caller's buffer.
   */
  recycle?: boolean;
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
  /**
   * With the `recycle` option: hands `data`'s buffer back to the reader, which decodes a later
   * chunk into it. Call it once the bytes are no longer needed (written out), and never use
   * them after; a chunk not released keeps its buffer (the reader allocates another).
   */
  release?: () => void;
}

/** Default read-ahead window of stored bytes. */
export const DEFAULT_WINDOW_BYTES = 16 << 20;
/**
 * Default chunk: large enough that per-chunk costs (a worker message, a result buffer, a read)
 * stay small beside decoding it, small enough that a window holds several per worker.
 */
export const DEFAULT_CHUNK_BYTES = 4 << 20;
/** Most chunks ahead of the consumer, whatever their sizes. */
const MAX_AHEAD = 256;

/** The reason the reader's own signal carries once it has stopped (never seen by callers). */
const FINISHED = new AbortedError('sequential read finished');

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
  const onAbort = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = stop.signal;
  const leaves = archive.entryLeaves(stream, start, end, signal)[Symbol.asyncIterator]();
  const planner = new RunPlanner(leaves, start, end, chunkBytes, archive.name, stream);
  const ahead: Ahead[] = [];
  let storedAhead = 0;
  let decodedAhead = 0;
  let next: Run | undefined;
  let planned = false;

  // Each read gets a signal of its own, all aborted through one listener: dozens of reads in
  // flight on one AbortSignal would each add listeners to it (every wrapper of a remote source does).
  const live = new Set<AbortController>();
  signal.addEventListener('abort', () => {
    for (const c of live) c.abort(signal.reason);
  }, { once: true });
  const ownSignal = (): AbortController => {
    const own = new AbortController();
    if (signal.aborted) own.abort(signal.reason);
    live.add(own);
    return own;
  };
  const read: ReadWith = async (source, offset, length) => {
    const own = ownSignal();
    try {
      return await source.read(offset, length, { signal: own.signal });
    } finally {
      live.delete(own);
    }
  };
  // With `recycle`, stored bytes are read into reused shared memory (given back once decoded):
  // fresh buffers for them cost a page fault per 4 KiB the kernel zeroes (each reused buffer is
  // faulted in once), and their external memory drove garbage collections.
  const storedMemory = options.recycle ? new SlabPool(8 << 20, 2 * window) : undefined;
  const borrowed = (): { into: ReadIntoBorrowed; done: () => void } | undefined => {
    if (!storedMemory) return undefined;
    const own = ownSignal();
    return { into: { memory: storedMemory, signal: own.signal }, done: () => live.delete(own) };
  };
  // With `recycle`, data chunks decode into buffers of shared memory (decoders on other threads
  // write them in place) that the consumer hands back; a chunk that finds none free, or is longer
  // than one, gets a buffer of its own.
  const free: Uint8Array[] = [];
  let slots = 0;
  const maxSlots = Math.ceil(decodedWindow / chunkBytes) + 2;
  const output = (length: number): Uint8Array | undefined => {
    if (!options.recycle || length > chunkBytes) return undefined;
    if (free.length) return free.pop();
    if (slots >= maxSlots) return undefined;
    slots++;
    return new Uint8Array(new SharedArrayBuffer(chunkBytes));
  };
  const releaser = (data: Uint8Array) => {
    let done = false;
    return () => {
      // Twice would hand one buffer to two chunks.
      if (done || !(data.buffer instanceof SharedArrayBuffer) || data.buffer.byteLength !== chunkBytes) return;
      done = true;
      free.push(new Uint8Array(data.buffer));
    };
  };
  const begin = (run: Run): Ahead => {
    let result: Promise<Uint8Array | null> = Promise.resolve(null);
    if (run.stored.length) {
      const b = borrowed();
      result = fetchAndDecode(run, stores, decoder, stream, read, output(run.length), b?.into);
      if (b) result.then(b.done, b.done);
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
      yield { offset: head.run.offset, length: head.run.length, data, entries: head.run.entries, release: data && options.recycle ? releaser(data) : undefined };
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // With a reason: abort() without one builds a DOMException (a stack capture), which cost
    // more than the rest of a short read's bookkeeping (a server runs one reader per request).
    stop.abort(FINISHED);
    // Nothing may outlive the reader: reads stop on the signal, decodes finish (not cancellable).
    await Promise.allSettled(ahead.map((a) => a.result));
    await leaves.return?.().catch(() => {});
  }
}

function emptyRun(offset: number): Run {
  return { offset, length: 0, entries: [], stored: [], storedBytes: 0 };
}

function rejected(err: unknown): Promise<never> {
  const p = Promise.reject(err);
  p.catch(() => {});
  return p;
}

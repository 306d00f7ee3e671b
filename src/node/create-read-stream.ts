import { Readable } from 'node:stream';
import type { StreamName } from '../format/constants.js';
import type { Archive } from '../archive/archive.js';
import type { SequentialChunk } from '../archive/sequential-reader.js';

/**
 * The reader's modules (a dozen), loaded at a stream's first read: every Node archive loads
 * this shell, and a command that never streams (inspect) should not pay for them at start.
 */
let reader: Promise<typeof import('./sequential-chunks.js')> | undefined;

/** Options of {@link createReadStream}: `end` is INCLUSIVE, as in fs.createReadStream. */
export interface ReadStreamOptions {
  start?: number;
  end?: number;
  chunkSize?: number;
  signal?: AbortSignal;
}

/**
 * A Node Readable over `stream` of `archive`, from byte `start` to byte `end` INCLUSIVE (like
 * fs.createReadStream), in pieces of at most max(block size, 1 MiB) (`chunkSize`); defaults to
 * the whole stream. Read front to back with decode-ahead ({@link sequentialChunks}: a window of
 * coalesced reads in flight, decoded and verified on worker threads when the range is long and
 * there is more than one core); zero runs are never read. Every chunk before a damaged block is
 * delivered before the error. Destroying the stream (or aborting `signal`) stops the reads and
 * the workers. The Node shell of `Archive.createReadStream`.
 */
export function createReadStream(archive: Archive, stream: StreamName, options: ReadStreamOptions = {}): Readable {
  const size = archive.size(stream);
  const start = options.start ?? 0;
  const stop = Math.min(options.end === undefined ? size : options.end + 1, size);
  const chunk = options.chunkSize ?? Math.max(archive.header.blockSize, 1 << 20);
  const abort = new AbortController();
  let chunks: AsyncGenerator<SequentialChunk> | undefined;
  /** The rest of the current chunk: bytes, or a count of zero bytes. */
  let rest: Uint8Array | number = 0;
  const piece = (): Uint8Array => {
    if (typeof rest === 'number') {
      const n = Math.min(chunk, rest);
      rest -= n;
      return new Uint8Array(n);
    }
    const out = rest.subarray(0, Math.min(chunk, rest.length));
    rest = rest.length > out.length ? rest.subarray(out.length) : 0;
    return out;
  };
  let failed: { err: Error } | undefined;
  return new Readable({
    // One piece buffered at a time: the reader already reads and decodes ahead, and a reader of
    // the stream that finds several pieces buffered gets them concatenated (a copy of everything).
    highWaterMark: 1,
    signal: options.signal,
    async read() {
      // Chunks already pushed are delivered before an error: destroying the stream while they
      // are buffered would drop them for a for-await consumer. An empty push ends this read
      // call; the next comes when the consumer has taken more.
      if (failed) return void (this.readableLength === 0 ? this.destroy(failed.err) : this.push(EMPTY));
      // Never push from inside Readable.read(): a piece pushed there joins the one being taken,
      // and the consumer gets both concatenated (a copy).
      await undefined;
      try {
        if (rest === 0 || (typeof rest !== 'number' && rest.length === 0)) {
          if (start >= stop) return void this.push(null);
          if (!chunks) {
            const { sequentialChunks, DEFAULT_CHUNK_BYTES } = await (reader ??= import('./sequential-chunks.js'));
            chunks = sequentialChunks(archive, stream, { start, end: stop, chunkBytes: Math.max(chunk, DEFAULT_CHUNK_BYTES), signal: abort.signal });
          }
          const next = await chunks.next();
          if (next.done) return void this.push(null);
          rest = next.value.data ?? next.value.length;
        }
        this.push(piece());
      } catch (err) {
        if (this.readableLength === 0) return void this.destroy(err as Error);
        failed = { err: err as Error };
        this.push(EMPTY);
      }
    },
    destroy(err, callback) {
      abort.abort();
      // Wait for the reader to stop (reads ended, workers closed) so nothing outlives the stream.
      (chunks?.return(undefined) ?? Promise.resolve()).then(() => callback(err), () => callback(err));
    },
  });
}

const EMPTY = new Uint8Array(0);

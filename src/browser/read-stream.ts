import type { Archive } from '../archive/archive.js';
import { readSequential, type SequentialChunk } from '../archive/sequential-reader.js';
import type { StreamName } from '../format/constants.js';
import { workerRunDecoder } from './worker-run-decoder.js';

/** Options of {@link readableStream}: a range of the stream, `end` EXCLUSIVE (as `Blob.slice`). */
export interface RangeStreamOptions {
  /** First byte (default 0). */
  start?: number;
  /** End of the range, exclusive (default: the stream's size). */
  end?: number;
  signal?: AbortSignal;
  /** Decode on the page's Web Workers (default true; false: in the calling thread). */
  workers?: boolean;
  /** Logical bytes per decode task, one request each (default 8 MiB). */
  chunkBytes?: number;
  /** Most stored bytes requested ahead of the consumer (default 16 MiB). */
  windowBytes?: number;
}

/** Zero runs come out in pieces of at most this size: nothing stored is never allocated whole. */
const ZERO_PIECE = 1 << 20;
/** Chunks of 8 MiB: fewer, larger requests (Chromium's cost per request is high; see open-url-source.ts). */
const DEFAULT_CHUNK = 8 << 20;

/**
 * A WHATWG `ReadableStream` of bytes [start, end) of `stream`, read front to back with the
 * reader's decode-ahead (several requests in flight, every block hash-checked); zero runs are
 * never fetched. Cancelling the stream (or aborting `signal`) stops the reads in flight. A
 * damaged block errors the stream at its position, after every earlier byte was delivered.
 * @throws UsageError (as the stream's error) when the range is not inside the stream.
 */
export function readableStream(archive: Archive, stream: StreamName, options: RangeStreamOptions = {}): ReadableStream<Uint8Array> {
  const abort = new AbortController();
  if (options.signal?.aborted) abort.abort(options.signal.reason);
  else options.signal?.addEventListener('abort', () => abort.abort(options.signal!.reason), { once: true });
  let chunks: AsyncGenerator<SequentialChunk> | undefined;
  let zeros = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (zeros > 0) {
        const n = Math.min(zeros, ZERO_PIECE);
        zeros -= n;
        return controller.enqueue(new Uint8Array(n));
      }
      chunks ??= readSequential(archive, stream, {
        start: options.start, end: options.end, signal: abort.signal, chunkBytes: options.chunkBytes ?? DEFAULT_CHUNK, windowBytes: options.windowBytes,
        // A long read decodes on the page's Web Workers, leaving the page's thread to fetch.
        decoder: options.workers === false ? undefined : workerRunDecoder(archive.blockStores()),
      });
      const next = await chunks.next();
      if (next.done) return controller.close();
      const { data, length } = next.value;
      if (data) return controller.enqueue(data);
      zeros = length;
      return this.pull!(controller);
    },
    async cancel() {
      abort.abort();
      await chunks?.return(undefined);
    },
  }, { highWaterMark: 1 });
}

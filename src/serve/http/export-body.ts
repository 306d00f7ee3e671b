/**
 * Streams byte ranges of a {@link ServeExport} into an HTTP response with backpressure: read a
 * chunk, write it, wait for 'drain' when the socket is full, with one read in flight ahead so
 * reading and sending overlap. Memory per response is about two chunks whatever the range's
 * size; a client that stops reading stalls only its own response, and a client that goes away
 * aborts the reads through the AbortSignal.
 */
import type { ServerResponse } from 'node:http';
import { AbortedError } from '../../errors.js';
import type { ByteRange } from '../../util/byte-ranges.js';
import type { ServeExport } from '../serve-export.js';

/** What to send: each part's optional head (a multipart delimiter), its bytes, then an optional tail. */
export interface BodyPlan {
  parts: ReadonlyArray<{ head?: string; range: ByteRange }>;
  tail?: string;
}

const noop = (): void => {};

/**
 * The bytes of `ranges` of `exp`, in order, as chunks of at most `chunkSize` bytes that end on
 * multiples of `chunkSize` (so chunks line up with archive blocks and no block is decoded for
 * two chunks) and never cross a range's end. The next chunk's read starts before this one is
 * yielded; stopping early (`return()`, or `signal` aborted) leaves at most that one read behind,
 * whose outcome is ignored.
 * @throws whatever `exp.read` throws (CorruptArchiveError, StoreError, AbortedError, …).
 * @throws Error when the export returns a different number of bytes than asked (a bug that
 *   would otherwise corrupt the framing of the response).
 */
export async function* readExportChunks(exp: ServeExport, ranges: readonly ByteRange[], chunkSize: number, signal: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
  const pieces = chunksOf(ranges, chunkSize);
  const start = (piece: IteratorResult<[number, number]>): Promise<Uint8Array> | undefined => {
    if (piece.done) return undefined;
    const [offset, length] = piece.value;
    let p: Promise<Uint8Array>;
    try {
      p = exp.read(offset, length, signal).then((data) => {
        if (data.length !== length) throw new Error(`export ${exp.name} returned ${data.length} bytes for a read of ${length} at ${offset}`);
        return data;
      });
    } catch (err) {
      p = Promise.reject(err);
    }
    // Marks the read as handled now: it may fail while the consumer waits for 'drain', before
    // anyone awaits it, which Node would otherwise report as an unhandled rejection.
    p.catch(noop);
    return p;
  };
  let pending = start(pieces.next());
  while (pending) {
    const data = await pending;
    pending = start(pieces.next());
    yield data;
  }
}

/** [offset, length] pieces of `ranges`, cut at multiples of `chunkSize`. */
function* chunksOf(ranges: readonly ByteRange[], chunkSize: number): Generator<[number, number]> {
  for (const r of ranges) {
    for (let at = r.start; at < r.end;) {
      const end = Math.min(r.end, (Math.floor(at / chunkSize) + 1) * chunkSize);
      yield [at, end - at];
      at = end;
    }
  }
}

/**
 * Writes `plan` to `res` (whose head is already written) from `chunks`, the output of
 * {@link readExportChunks} over the plan's ranges, whose first result the caller has already
 * taken (it reads the first chunk before sending the head, so an early error can still become
 * an error status). Ends the response when everything is written. `recycle` gets each chunk
 * once it is written (the export's {@link ServeExport.recycle}).
 * @throws AbortedError when `signal` is aborted (the client went away, the server is closing).
 * @throws whatever reading the chunks throws; the caller then destroys the response so the
 *   client sees a truncated body, never wrong bytes.
 */
export async function writeBody(
  res: ServerResponse, plan: BodyPlan, chunks: AsyncIterator<Uint8Array>, first: IteratorResult<Uint8Array>, signal: AbortSignal, recycle?: (data: Uint8Array) => void,
): Promise<void> {
  let chunk = first;
  for (const part of plan.parts) {
    if (part.head) await write(res, part.head, signal);
    for (let left = part.range.end - part.range.start; left > 0;) {
      if (chunk.done) throw new Error('export body ended before its ranges did');
      await write(res, chunk.value, signal, recycle);
      left -= chunk.value.length;
      chunk = await chunks.next();
    }
  }
  if (plan.tail) await write(res, plan.tail, signal);
  res.end();
}

/**
 * Writes one piece, then waits for 'drain' when the response's buffer is full. With `recycle`,
 * the bytes go back to the export once written (not after a failed write: they are left to
 * the garbage collector).
 */
async function write(res: ServerResponse, data: Uint8Array | string, signal: AbortSignal, recycle?: (data: Uint8Array) => void): Promise<void> {
  if (signal.aborted || res.destroyed) throw new AbortedError('client went away');
  const ok = typeof data === 'string' ? res.write(data, 'latin1')
    : recycle ? res.write(data, (err) => { if (!err) recycle(data); }) : res.write(data);
  if (!ok) await drained(res, signal);
  if (signal.aborted) throw new AbortedError('client went away');
}

/** Resolves on 'drain', or when `signal` aborts (a destroyed response never drains). */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    signal.addEventListener('abort', done);
  });
}

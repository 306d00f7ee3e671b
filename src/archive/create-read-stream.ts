import { Readable } from 'node:stream';
import type { StreamName } from '../format/constants.js';
import type { Archive } from './archive.js';

/** Options of {@link createReadStream}: `end` is INCLUSIVE, as in fs.createReadStream. */
export interface ReadStreamOptions {
  start?: number;
  end?: number;
  chunkSize?: number;
  signal?: AbortSignal;
}

/**
 * A Node Readable over `stream` of `archive`, from byte `start` to byte `end` INCLUSIVE (like
 * fs.createReadStream), read with {@link Archive.readAt} in chunks of max(block size, 1 MiB);
 * defaults to the whole stream. The Node shell of `Archive.createReadStream`.
 */
export function createReadStream(archive: Archive, stream: StreamName, options: ReadStreamOptions = {}): Readable {
  const size = archive.size(stream);
  const start = options.start ?? 0;
  const stop = Math.min(options.end === undefined ? size : options.end + 1, size);
  const chunk = options.chunkSize ?? Math.max(archive.header.blockSize, 1 << 20);
  let pos = start;
  return new Readable({
    highWaterMark: chunk,
    signal: options.signal,
    async read() {
      try {
        if (pos >= stop) return void this.push(null);
        const n = Math.min(chunk, stop - pos);
        const bytes = await archive.readAt(stream, pos, n, { signal: options.signal });
        pos += n;
        this.push(bytes);
      } catch (err) {
        this.destroy(err as Error);
      }
    },
  });
}

import { Archive as CoreArchive } from '../archive/archive.js';
import type { OpenOptions } from '../archive/open-options.js';
import type { StreamName } from '../format/constants.js';
import type { ByteSource } from '../store/types.js';
import { browserPlatform } from './platform.js';
import { readableStream, type RangeStreamOptions } from './read-stream.js';
import { absoluteUrl } from './url-places.js';

/**
 * A .hxz archive read in a web page: the same reader core as Node's `Archive`, over HTTP range
 * requests (`fetch`), with WebAssembly decoders and WebCrypto. Every block is checked against
 * its BLAKE3 hash; a thin archive's parents are found by URL next to it (or in
 * `options.parentDirs`, which are URLs here).
 *
 * @example
 * const a = await Archive.open('https://example.org/snapshots/disk.hxz');
 * const sector = await a.readAt('disk', 0, 512);
 * const body = a.readableStream('disk', { start: 0, end: 1 << 20 });
 * await a.close();
 */
export class Archive extends CoreArchive {
  /** The opened, identity-checked archive of each slot. */
  declare parents: Archive[];

  /**
   * Opens the archive at `from`: a URL (absolute, or relative to the page) or any ByteSource.
   * The first request reads 256 KiB, which holds the header and, for most archives, the whole
   * index top: open + a first random read cost 2–3 requests.
   * @throws NotAnArchiveError, CorruptArchiveError, UnsupportedError, WrongKeyError, StoreError
   *   (a 404, a CORS refusal, a server that cannot serve ranges), MissingParentError.
   */
  static override async open(from: string | ByteSource, options: OpenOptions = {}): Promise<Archive> {
    const platform = await browserPlatform();
    return (await super.open(typeof from === 'string' ? absoluteUrl(from) : from, { ...options, platform })) as Archive;
  }

  /** A `ReadableStream` of bytes [start, end) of `stream` (end exclusive), read ahead and verified. */
  readableStream(stream: StreamName, options: RangeStreamOptions = {}): ReadableStream<Uint8Array> {
    return readableStream(this, stream, options);
  }
}

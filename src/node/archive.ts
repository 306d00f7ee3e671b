import type { Readable } from 'node:stream';
import { Archive as CoreArchive } from '../archive/archive.js';
import type { OpenOptions } from '../archive/open-options.js';
import type { StreamName } from '../format/constants.js';
import type { ByteSource } from '../store/types.js';
import { createReadStream, type ReadStreamOptions } from './create-read-stream.js';
import { nodePlatform } from './platform.js';

export type { ArchiveInfo, ArchiveParts } from '../archive/archive.js';
export type { OpenOptions, PasswordOption } from '../archive/open-options.js';

/**
 * A readable .hxz archive under Node: the portable reader core ({@link CoreArchive}) with Node's
 * platform (files, HTTP and S3, native codecs and hashes, worker threads) and Node streams.
 *
 * @example
 * const a = await Archive.open('disk.hxz'); // or 'https://…/disk.hxz', 's3://bucket/disk.hxz'
 * const bytes = await a.readAt('disk', 1 << 20, 4096);
 * await a.close();
 */
export class Archive extends CoreArchive {
  /** The opened, identity-checked archive of each slot (opened by this class, so Node archives too). */
  declare parents: Archive[];

  /**
   * Opens an archive from a path, an http(s):// or s3:// URL, or any {@link ByteSource}.
   * @throws NotAnArchiveError when the bytes are not a hexz archive.
   * @throws UnsupportedError for a newer version or unknown required features.
   * @throws CorruptArchiveError when the header is damaged or the file is truncated.
   * @throws StoreError when the file cannot be read.
   * @throws WrongKeyError when `password` is not the encrypted archive's.
   * @throws MissingParentError when a thin archive's parent is missing or was replaced.
   */
  static override async open(from: string | ByteSource, options: OpenOptions = {}): Promise<Archive> {
    return (await super.open(from, { ...options, platform: nodePlatform })) as Archive;
  }

  /**
   * A Node Readable over `stream`, from byte `start` to byte `end` INCLUSIVE (like
   * fs.createReadStream); defaults to the whole stream.
   */
  createReadStream(stream: StreamName, options: ReadStreamOptions = {}): Readable {
    return createReadStream(this, stream, options);
  }
}

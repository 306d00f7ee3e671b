import { close, read, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { openInputFileSync } from './open-input-file.js';
import { StoreError, wrapIoError } from '../errors.js';
import type { ByteSource, ReadOptions } from './types.js';

/** Reads up to this size are done synchronously (see {@link FileSource.read}). */
const SYNC_READ_MAX = 256 * 1024;

/** A {@link ByteSource} over a local file, read with positional reads (pread). */
export class FileSource implements ByteSource {
  private constructor(readonly name: string, private readonly fd: number, private readonly bytes: number, private readonly closeFd: () => Promise<void>) {}

  /** A local file: small reads are page-cache copies (see ByteSource.local). */
  readonly local = true;

  /** The file's path (its name): a thin archive's parents are looked up beside it. */
  get location(): string {
    return this.name;
  }

  /**
   * Opens `path` for reading. Never blocks on a FIFO: anything but a regular file or block
   * device is refused before the first read.
   * @throws StoreError when the file cannot be opened (missing, permission) or is a FIFO,
   *   directory, character device or socket.
   */
  static async open(path: string): Promise<FileSource> {
    // Synchronous: a local open is a few microseconds of syscalls, the thread pool's round trips
    // would cost more than reading the header.
    const { fd, size } = openInputFileSync(path, 'open');
    return new FileSource(path, fd, size, () => closeAsync(fd));
  }

  /**
   * Wraps a handle that is already open for reading (e.g. the copy `rewriteFile` passes to its
   * patch), named `name` in error messages. `close()` closes the handle.
   * @param size the file's size in bytes, as the caller knows it.
   */
  static fromHandle(name: string, fh: FileHandle, size: number): FileSource {
    return new FileSource(name, fh.fd, size, () => fh.close());
  }

  async size(): Promise<number> {
    return this.bytes;
  }

  async read(offset: number, length: number, _options?: ReadOptions): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.bytes);
    if (end <= offset) return new Uint8Array(0);
    const buf = new Uint8Array(end - offset);
    if (await this.readInto(offset, buf) !== buf.length) throw new StoreError(`${this.name}: file shrank while reading`, { archive: this.name, stage: 'read' });
    return buf;
  }

  async readInto(offset: number, target: Uint8Array, _options?: ReadOptions): Promise<number> {
    // Small reads (index nodes, single blocks) are synchronous pread: a thread-pool round trip
    // costs ~100-150 us here against ~3 us for a page-cache hit, and random-read latency is
    // what they are for. Large reads stay asynchronous so they never stall the event loop long.
    if (target.length <= SYNC_READ_MAX) return this.readIntoSync(offset, target);
    const buf = target.subarray(0, Math.max(0, Math.min(target.length, this.bytes - offset)));
    let done = 0;
    try {
      while (done < buf.length) {
        const bytesRead = await readAsync(this.fd, buf, done, buf.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw wrapIoError(err, this.name, 'read');
    }
    return done;
  }

  readIntoSync(offset: number, target: Uint8Array): number {
    const buf = target.subarray(0, Math.max(0, Math.min(target.length, this.bytes - offset)));
    let done = 0;
    try {
      while (done < buf.length) {
        const bytesRead = readSync(this.fd, buf, done, buf.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw wrapIoError(err, this.name, 'read');
    }
    return done;
  }

  async close(): Promise<void> {
    // Once: a second close of the number could close a descriptor opened since under it.
    this.closing ??= this.closeFd();
    await this.closing;
  }

  private closing: Promise<void> | undefined;
}

const closeAsync = promisify(close);
const readAsync = (fd: number, buf: Uint8Array, at: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));

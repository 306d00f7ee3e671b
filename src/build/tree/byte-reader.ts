import type { FileHandle } from 'node:fs/promises';
import { wrapIoError } from '../../errors.js';

/**
 * A forward-only reader of a byte stream (a tar, after decompression), counting the bytes it
 * has consumed. Every method returns fewer bytes than asked only at the end of the input;
 * the caller decides whether that is a truncation.
 */
export interface ByteReader {
  /** Bytes consumed so far: the offset of the next byte in the stream. */
  readonly position: number;
  /** Reads up to `n` bytes into a buffer of their own. */
  read(n: number): Promise<Uint8Array>;
  /** Yields the next `n` bytes in pieces (views of buffers no one else uses). */
  pieces(n: number): AsyncGenerator<Uint8Array>;
  /** Skips up to `n` bytes; returns how many were skipped. */
  skip(n: number): Promise<number>;
  /**
   * Reads what is left, up to `limit` bytes, and discards it (a decompressor checks its trailer
   * on the way). @returns true when the input ended within the limit.
   */
  drain(limit: number): Promise<boolean>;
}

const EMPTY = new Uint8Array(0);

/**
 * A ByteReader over an async sequence of chunks (a stream). `mapError` turns what the sequence
 * throws into the error to report (an I/O error, a corrupt compressed stream).
 */
export class StreamByteReader implements ByteReader {
  position = 0;
  private chunk: Uint8Array = EMPTY;
  private at = 0;
  private ended = false;

  constructor(private readonly chunks: AsyncIterator<Uint8Array>, private readonly mapError: (err: unknown) => Error) {}

  async read(n: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const p of this.pieces(n)) parts.push(p);
    return parts.length === 1 ? Uint8Array.prototype.slice.call(parts[0]!) : Buffer.concat(parts);
  }

  async *pieces(n: number): AsyncGenerator<Uint8Array> {
    while (n > 0 && (await this.fill())) {
      const take = Math.min(n, this.chunk.length - this.at);
      const piece = this.chunk.subarray(this.at, this.at + take);
      this.at += take;
      this.position += take;
      n -= take;
      yield piece;
    }
  }

  async skip(n: number): Promise<number> {
    let done = 0;
    while (done < n && (await this.fill())) {
      const take = Math.min(n - done, this.chunk.length - this.at);
      this.at += take;
      this.position += take;
      done += take;
    }
    return done;
  }

  async drain(limit: number): Promise<boolean> {
    let left = limit;
    while (await this.fill()) {
      if (left <= 0) return false;
      const n = this.chunk.length - this.at;
      this.position += n;
      this.at = this.chunk.length;
      left -= n;
    }
    return true;
  }

  /** Makes sure unread bytes are buffered; false at the end of the input. */
  private async fill(): Promise<boolean> {
    while (this.at >= this.chunk.length) {
      if (this.ended) return false;
      let r: IteratorResult<Uint8Array>;
      try {
        r = await this.chunks.next();
      } catch (err) {
        throw this.mapError(err);
      }
      if (r.done) {
        this.ended = true;
        this.chunk = EMPTY;
        this.at = 0;
        return false;
      }
      this.chunk = r.value;
      this.at = 0;
    }
    return true;
  }
}

/** Bytes read ahead at once for headers (one pread serves many small reads). */
const READ_AHEAD = 64 * 1024;

/**
 * A ByteReader over a regular file with positioned reads: skipping costs nothing, so a tar's
 * file data need not be read at all while its headers are.
 */
export class FileByteReader implements ByteReader {
  position = 0;
  private buf: Uint8Array = EMPTY;
  private bufAt = 0;

  /**
   * @param size the file's size in bytes: reads and skips stop there.
   * @param name the file, for messages.
   */
  constructor(private readonly fh: FileHandle, readonly size: number, private readonly name: string) {}

  async read(n: number): Promise<Uint8Array> {
    n = Math.min(n, this.size - this.position);
    if (n <= 0) return EMPTY;
    if (this.position < this.bufAt || this.position + n > this.bufAt + this.buf.length) {
      this.bufAt = this.position;
      this.buf = await this.pread(this.position, Math.min(this.size - this.position, Math.max(n, READ_AHEAD)));
    }
    const from = this.position - this.bufAt;
    const got = Math.max(0, Math.min(n, this.buf.length - from)); // less if the file shrank
    this.position += got;
    return this.buf.slice(from, from + got);
  }

  async *pieces(n: number): AsyncGenerator<Uint8Array> {
    const end = Math.min(this.size, this.position + n);
    while (this.position < end) {
      const piece = await this.pread(this.position, Math.min(end - this.position, 1 << 20));
      if (piece.length === 0) return;
      this.position += piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<number> {
    const take = Math.max(0, Math.min(n, this.size - this.position));
    this.position += take;
    return take;
  }

  async drain(_limit: number): Promise<boolean> {
    this.position = this.size;
    return true;
  }

  private async pread(at: number, n: number): Promise<Uint8Array> {
    const out = Buffer.allocUnsafeSlow(n);
    let done = 0;
    try {
      while (done < n) {
        const { bytesRead } = await this.fh.read(out, done, n - done, at + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw wrapIoError(err, this.name, 'read tar');
    }
    return new Uint8Array(out.buffer, out.byteOffset, done); // a plain view: cheaper to slice than a Buffer
  }
}

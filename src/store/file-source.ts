import { open, type FileHandle } from 'node:fs/promises';
import { StoreError, wrapIoError } from '../errors.js';
import type { ByteSource, ReadOptions } from './types.js';

/** A {@link ByteSource} over a local file, read with positional reads (pread). */
export class FileSource implements ByteSource {
  private constructor(readonly name: string, private readonly fh: FileHandle, private readonly bytes: number) {}

  /**
   * Opens `path` for reading.
   * @throws StoreError when the file cannot be opened (missing, permission, directory).
   */
  static async open(path: string): Promise<FileSource> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      return new FileSource(path, fh, st.size);
    } catch (err) {
      await fh?.close().catch(() => {});
      throw wrapIoError(err, path, 'open');
    }
  }

  async size(): Promise<number> {
    return this.bytes;
  }

  async read(offset: number, length: number, _options?: ReadOptions): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.bytes);
    if (end <= offset) return new Uint8Array(0);
    const buf = new Uint8Array(end - offset);
    let done = 0;
    try {
      while (done < buf.length) {
        const { bytesRead } = await this.fh.read(buf, done, buf.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw wrapIoError(err, this.name, 'read');
    }
    if (done !== buf.length) throw new StoreError(`${this.name}: file shrank while reading`, { archive: this.name, stage: 'read' });
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

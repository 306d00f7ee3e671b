import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AbortedError, CorruptImageError, HexzError, UnsupportedError, UsageError, wrapIoError } from '../../errors.js';
import { FileByteReader, StreamByteReader, type ByteReader } from './byte-reader.js';
import { MAGIC_BYTES, detectMagic, gunzip, unzstd, type InputMagic } from './decompress.js';

/** An opened tar: its bytes (decompressed), and the file itself when it can be read in place. */
export interface TarInput {
  reader: ByteReader;
  compression: 'none' | 'gzip' | 'zstd';
  /**
   * The uncompressed tar file on disk, whose entries' data can be read where they lie (at
   * their offsets) instead of being spooled; absent for pipes and compressed tars.
   */
  file?: FileHandle;
  /** Closes the file or stops the stream. */
  close(): Promise<void>;
}

/** Bytes per read of a compressed tar file. */
const FILE_CHUNK = 1 << 20;

/**
 * Opens a tar file (a regular file or a named pipe) or stream, and recognises gzip and zstd
 * compression by the magic bytes.
 * @param name names the input in messages.
 * @param signal aborting it stops a stream read that is waiting for data.
 * @throws UsageError for a path that is neither a regular file nor a pipe, and for a zip.
 * @throws UnsupportedError for xz, bzip2 and lz4 compression.
 * @throws StoreError when the file cannot be opened or read.
 */
export async function openTarInput(input: string | NodeJS.ReadableStream, name: string, signal?: AbortSignal): Promise<TarInput> {
  if (typeof input !== 'string') return openStream(input as Readable, name, signal);
  let fh: FileHandle;
  try {
    const st = await stat(input);
    if (st.isFIFO()) {
      fh = await open(input, constants.O_RDONLY);
      return openStream(fh.createReadStream({ highWaterMark: FILE_CHUNK }), name, signal);
    }
    if (!st.isFile()) throw new UsageError(`${name}: not a regular file or pipe, cannot read it as a tar`, { archive: name, stage: 'open tar' });
    fh = await open(input, constants.O_RDONLY);
  } catch (err) {
    throw wrapIoError(err, name, 'open tar');
  }
  try {
    const size = (await fh.stat()).size;
    const compression = accepted(detectMagic(await new FileByteReader(fh, size, name).read(MAGIC_BYTES)), name);
    const reader = new FileByteReader(fh, size, name);
    if (compression === 'none') return { reader, compression, file: fh, close: () => fh.close() };
    const d = decompressed(reader.pieces(Number.MAX_SAFE_INTEGER), compression, name);
    return { reader: d.reader, compression, close: async () => { await d.stop(); await fh.close(); } };
  } catch (err) {
    await fh.close();
    throw wrapIoError(err, name, 'open tar');
  }
}

async function openStream(stream: Readable, name: string, signal: AbortSignal | undefined): Promise<TarInput> {
  const onAbort = () => stream.destroy(new AbortedError(`reading ${name} cancelled`));
  signal?.addEventListener('abort', onAbort, { once: true });
  const close = async () => {
    signal?.removeEventListener('abort', onAbort);
    stream.destroy();
  };
  try {
    if (signal?.aborted) throw new AbortedError(`reading ${name} cancelled`);
    const it = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    // Peek at the first bytes for the magic, then hand them on with the rest.
    const head: Uint8Array[] = [];
    let headLength = 0;
    while (headLength < MAGIC_BYTES) {
      const r = await it.next().catch((err) => { throw wrapIoError(err, name, 'read tar'); });
      if (r.done) break;
      head.push(r.value);
      headLength += r.value.length;
    }
    const first = Buffer.concat(head);
    const compression = accepted(detectMagic(first), name);
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (first.length > 0) yield first;
      for (;;) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (err) {
          throw wrapIoError(err, name, 'read tar');
        }
        if (r.done) return;
        yield r.value;
      }
    }
    if (compression === 'none') return { reader: new StreamByteReader(chunks(), (err) => err as Error), compression, close };
    const d = decompressed(chunks(), compression, name);
    // Destroy the stream first: a decompressor waiting on it is released by the error.
    return { reader: d.reader, compression, close: async () => { await close(); await d.stop(); } };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A reader of the decompressed bytes, and a way to stop the decompressor early (freeing it). */
function decompressed(chunks: AsyncIterable<Uint8Array>, compression: 'gzip' | 'zstd', name: string): { reader: ByteReader; stop: () => Promise<void> } {
  const out = compression === 'gzip' ? gunzip(chunks) : unzstd(chunks);
  const stop = async () => {
    await out.return(undefined).catch(() => {});
  };
  return { stop, reader: decompressedReader(out, compression, name) };
}

function decompressedReader(out: AsyncGenerator<Uint8Array>, compression: string, name: string): ByteReader {
  return new StreamByteReader(out, (err) =>
    err instanceof HexzError ? err
    : new CorruptImageError(`${name}: ${compression} data is corrupt or truncated: ${(err as Error)?.message ?? err}`, { archive: name, stage: `decompress ${compression}` }, { cause: err }));
}

function accepted(magic: InputMagic, name: string): 'none' | 'gzip' | 'zstd' {
  switch (magic) {
    case 'gzip': case 'zstd': return magic;
    case 'other': return 'none';
    case 'zip': throw new UsageError(`${name}: a zip archive, not a tar (hexz build reads tar, tar.gz and tar.zst)`, { archive: name, stage: 'open tar' });
    default: throw new UnsupportedError(`${name}: ${magic}-compressed; hexz build reads tar, tar.gz and tar.zst: decompress it first (e.g. ${magic === 'bzip2' ? 'bzip2' : magic} -dc ${name} | hexz build - ...)`, { archive: name, stage: 'open tar' });
  }
}

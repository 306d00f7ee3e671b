/**
 * Compressed tars: recognised by their magic bytes (never by the file name), decompressed as
 * async sequences of chunks, so that the reader's pace limits how much is decompressed ahead.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { zstdBinding } from '../../codec/zstd-binding.js';

/** What the first bytes of an input say it is. */
export type InputMagic = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'lz4' | 'zip' | 'other';

/** Bytes {@link detectMagic} looks at. */
export const MAGIC_BYTES = 6;

const MAGICS: ReadonlyArray<readonly [InputMagic, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]], // RFC 1952 §2.3.1
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]], // RFC 8878 §3.1.1
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh"
  ['lz4', [0x04, 0x22, 0x4d, 0x18]],
  ['zip', [0x50, 0x4b, 0x03, 0x04]], // "PK\3\4"
];

/** Identifies an input by its first bytes (up to {@link MAGIC_BYTES}). */
export function detectMagic(head: Uint8Array): InputMagic {
  for (const [kind, magic] of MAGICS) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return 'other';
}

/** Output bytes per decompression step. */
const OUT_CHUNK = 256 * 1024;

/**
 * Decompresses gzip data (all members, as gzip -d does) with node:zlib.
 * @throws what `chunks` throws; zlib's errors for corrupt or truncated data.
 */
export async function* gunzip(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const source = Readable.from(chunks, { objectMode: false });
  const z = createGunzip({ chunkSize: OUT_CHUNK });
  source.on('error', (err) => z.destroy(err));
  source.pipe(z);
  try {
    yield* z;
  } finally {
    source.destroy();
    z.destroy();
  }
}

/**
 * Decompresses zstd data (any number of frames) with zstd-napi's streaming context. Unlike
 * zstd-napi's DecompressStream, which decompresses each input chunk completely before anyone
 * reads (64 KiB of a zstd'd run of zeros can be gigabytes), output is produced as it is read.
 * @throws what `chunks` throws; Error for corrupt data or a stream that ends inside a frame.
 */
export async function* unzstd(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const dctx = new (zstdBinding().DCtx)();
  let inFrame = false;
  for await (const chunk of chunks) {
    let src = chunk;
    for (;;) {
      const dst = Buffer.allocUnsafeSlow(OUT_CHUNK);
      const [ret, produced, consumed] = dctx.decompressStream(dst, src);
      src = src.subarray(consumed);
      inFrame = ret !== 0;
      if (produced > 0) yield dst.subarray(0, produced);
      // Done with this chunk once it is consumed and the context has no more output for it.
      if (src.length === 0 && (produced < dst.length || ret === 0)) break;
    }
  }
  if (inFrame) throw new Error('zstd data ends inside a frame');
}

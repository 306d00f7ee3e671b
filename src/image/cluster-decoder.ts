/**
 * Decoding of qcow2 compressed clusters, bounded to one cluster (qemu docs/interop/qcow2.txt,
 * "Compressed Clusters Descriptor" and compression_type). The stored payload is followed by
 * padding up to the next 512-byte sector, so decoding stops at the end of the stream or once a
 * full cluster has been produced, never reading the padding as data.
 */
import { inflateRaw } from 'node:zlib';
import { zstdBinding, type ZstdBinding } from '../codec/zstd-binding.js';
import type { Qcow2Compression } from './qcow2-header.js';

/** Why a compressed cluster could not be decoded (turned into CorruptImageError by the caller). */
export class ClusterDecodeError extends Error {}

/**
 * Decodes compressed clusters to exactly `clusterSize` bytes.
 * zlib (type 0): raw DEFLATE, no zlib header; decoded on the libuv thread pool so several
 * clusters decode in parallel. zstd (type 1): one zstd frame, streamed so the padding is never
 * taken for a second frame.
 * @throws ClusterDecodeError when the payload is not a valid stream, ends short of a cluster
 *   or would decode to more than one cluster.
 */
export class ClusterDecoder {
  /** One zstd context per image, reused across clusters (it is reset after every frame). */
  private dctx: ZstdBinding.DCtx | undefined;

  constructor(readonly kind: Qcow2Compression, readonly clusterSize: number) {}

  /** Decodes one compressed cluster's payload (stream plus padding) to exactly a cluster. */
  async decode(payload: Uint8Array): Promise<Uint8Array> {
    if (this.kind === 'zlib') return inflateCluster(payload, this.clusterSize);
    this.dctx ??= new (zstdBinding()).DCtx();
    try {
      return zstdCluster(this.dctx, payload, this.clusterSize);
    } finally {
      this.dctx.reset(0 /* ResetDirective.sessionOnly */);
    }
  }
}

function inflateCluster(payload: Uint8Array, clusterSize: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // maxOutputLength bounds memory: a stream producing more than a cluster fails at once.
    inflateRaw(payload, { maxOutputLength: clusterSize }, (err, out) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        reject(new ClusterDecodeError(code === 'ERR_BUFFER_TOO_LARGE' ? `deflate stream decodes to more than ${clusterSize} bytes` : `invalid deflate data (${err.message})`));
      } else if (out.length !== clusterSize) {
        reject(new ClusterDecodeError(`deflate stream decodes to ${out.length} bytes, expected ${clusterSize}`));
      } else {
        resolve(new Uint8Array(out.buffer, out.byteOffset, out.length));
      }
    });
  });
}

function zstdCluster(dctx: ZstdBinding.DCtx, payload: Uint8Array, clusterSize: number): Uint8Array {
  const out = new Uint8Array(clusterSize);
  let produced = 0;
  let consumed = 0;
  // One spare byte of output tells "exactly a cluster" from "more than a cluster".
  const spare = new Uint8Array(1);
  try {
    while (consumed < payload.length) {
      const dst = produced < clusterSize ? out.subarray(produced) : spare;
      const [ret, made, used] = dctx.decompressStream(dst, payload.subarray(consumed));
      if (dst === spare && made > 0) throw new ClusterDecodeError(`zstd frame decodes to more than ${clusterSize} bytes`);
      produced += dst === spare ? 0 : made;
      consumed += used;
      if (ret === 0) break; // frame complete and flushed: what follows is padding
      if (made === 0 && used === 0) break; // no progress: input exhausted mid-frame
    }
  } catch (err) {
    if (err instanceof ClusterDecodeError) throw err;
    throw new ClusterDecodeError(`invalid zstd data (${(err as Error).message})`);
  }
  if (produced !== clusterSize) throw new ClusterDecodeError(`zstd frame decodes to ${produced} bytes, expected ${clusterSize}`);
  return out;
}

/**
 * Encoding of qcow2 compressed clusters (qemu docs/interop/qcow2.txt, "Compressed Clusters
 * Descriptor" and compression_type), the counterpart of image/cluster-decoder.ts. Pure
 * compression, CPU only, no I/O and no image/ imports: it lives in codec/ so that both
 * image/qcow2-writer.ts (main thread) and the block worker (workers/) can use it with imports
 * pointing down only.
 */
import { deflateRawSync } from 'node:zlib';
import { zstdBinding, type ZstdBinding } from './zstd-binding.js';

/** Cluster compression types (qcow2 compression_type 0 and 1; same as image's Qcow2Compression). */
export type ClusterCompression = 'zlib' | 'zstd';

/** Default levels: what qemu uses (zlib Z_DEFAULT_COMPRESSION, zstd's default). */
export const QCOW2_DEFAULT_LEVEL: Record<ClusterCompression, number> = { zlib: 6, zstd: 3 };

/**
 * One codec context for encoding clusters. zlib (type 0): raw DEFLATE with a 4 KiB window
 * (windowBits 12), because qemu inflates with windowBits -12 and a larger window would make
 * back-references it cannot follow. zstd (type 1): one frame per cluster.
 */
export class ClusterEncoder {
  private cctx: ZstdBinding.CCtx | undefined;
  private scratch = new Uint8Array(0);

  constructor(readonly kind: ClusterCompression, readonly level = QCOW2_DEFAULT_LEVEL[kind]) {}

  /**
   * Compresses one cluster; returns the payload only when it is strictly smaller than the
   * input (otherwise the cluster is stored uncompressed), else null. The result owns its buffer.
   */
  encode(cluster: Uint8Array): Uint8Array | null {
    if (this.kind === 'zlib') {
      const out = deflateRawSync(cluster, { windowBits: 12, level: this.level });
      return out.length < cluster.length ? new Uint8Array(out.buffer, out.byteOffset, out.length) : null;
    }
    const zstd = zstdBinding();
    this.cctx ??= new zstd.CCtx();
    const bound = zstd.compressBound(cluster.length);
    if (this.scratch.length < bound) this.scratch = new Uint8Array(bound);
    const n = this.cctx.compress(this.scratch, cluster, this.level);
    return n < cluster.length ? this.scratch.slice(0, n) : null;
  }
}

/** Per-cluster outcome of {@link encodeClusters}, by length: 0 zero, = clusterSize raw, else compressed. */
export interface EncodedClusters {
  /** Stored bytes of the non-zero clusters, back to back. */
  stored: Uint8Array;
  /** One length per cluster (see the type's description). */
  lengths: Uint32Array;
}

/** True when every byte of `b` is zero. */
export function isAllZero(b: Uint8Array, zeros: Buffer): boolean {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(zeros.subarray(0, b.length));
}

/**
 * Encodes a run of whole clusters: all-zero clusters are marked (length 0, nothing stored),
 * clusters that compress below a cluster are stored compressed, the rest raw.
 * `data.length` must be a multiple of `clusterSize`.
 */
export function encodeClusters(encoder: ClusterEncoder, data: Uint8Array, clusterSize: number): EncodedClusters {
  const n = data.length / clusterSize;
  const lengths = new Uint32Array(n);
  const parts: Uint8Array[] = [];
  const zeros = Buffer.alloc(clusterSize);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const c = data.subarray(i * clusterSize, (i + 1) * clusterSize);
    if (isAllZero(c, zeros)) continue;
    const packed = encoder.encode(c) ?? c;
    parts.push(packed);
    lengths[i] = packed.length;
    total += packed.length;
  }
  const stored = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    stored.set(p, at);
    at += p.length;
  }
  return { stored, lengths };
}

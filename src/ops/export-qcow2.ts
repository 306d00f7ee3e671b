import { availableParallelism } from 'node:os';
import { Archive, type PasswordOption } from '../node/archive.js';
import { EntryKind, type StreamName } from '../format/constants.js';
import { UsageError, throwIfAborted } from '../errors.js';
import { isAllZero, QCOW2_DEFAULT_LEVEL } from '../codec/cluster-codec.js';
import type { Qcow2Compression } from '../image/qcow2-header.js';
import { SECTOR, clusterBitsOf } from '../image/qcow2-layout.js';
import { Qcow2Writer } from '../image/qcow2-writer.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { defaultStream } from './default-stream.js';
import { entryBatches } from './entry-batches.js';

/** Options of {@link exportQcow2}. */
export interface ExportQcow2Options {
  /** Stream to export (default `disk`, or `memory` when the archive has only that). */
  stream?: StreamName;
  /** Path of the qcow2 image to write. */
  output: string;
  /** Cluster size in bytes: a power of two from 512 B to 2 MiB (default 64 KiB). */
  clusterSize?: number;
  /** Compress clusters with this codec (default: uncompressed clusters). */
  compress?: Qcow2Compression;
  /** Compression level (default qemu's: zlib 6, zstd 3). */
  level?: number;
  /** Compression workers (default: the number of cores). */
  workers?: number;
  force?: boolean;
  /** Password of an encrypted archive given as a path (docs/FORMAT.md §12). */
  password?: PasswordOption;
  /**
   * Directories to look in for the parents of a thin archive given as a path, when they are not
   * at their recorded paths (docs/FORMAT.md §15.4; the CLI's `--parent-dir` and `HEXZ_PATH`).
   */
  parentDirs?: string[];
  /** Called with stream bytes done and total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Result of {@link exportQcow2}. */
export interface ExportQcow2Result {
  stream: StreamName;
  output: string;
  /** Logical bytes of the stream. */
  bytes: number;
  /** Virtual size of the image: the stream size rounded up to 512 bytes. */
  virtualSize: number;
  /** Size of the qcow2 file. */
  fileBytes: number;
  clusterSize: number;
  compress: Qcow2Compression | 'none';
  /** Guest clusters stored uncompressed and compressed (zero clusters are left unallocated). */
  dataClusters: number;
  compressedClusters: number;
  seconds: number;
}

/** Guest bytes handed to a worker at once (at least one cluster). */
const CHUNK_BYTES = 1 << 20;

/**
 * Writes one stream of an archive as a qcow2 v3 image: zero clusters stay unallocated,
 * clusters are stored raw or (with `compress`) compressed in a worker pool, results written in
 * order. A stream whose size is not a multiple of 512 bytes is padded with zeros to the next
 * multiple (qcow2 sizes are whole sectors). Written to a temporary file renamed into place.
 *
 * @example
 * await exportQcow2('vm.hxz', { output: 'vm.qcow2', compress: 'zstd' });
 * @throws UsageError for a bad cluster size, a missing stream, an existing output without
 *   `force`, or an image too large for the cluster size (qemu's 32 MiB L1 limit).
 * @throws CorruptArchiveError when a block fails verification (nothing is left at `output`).
 * @throws AbortedError when `signal` fires (nothing is left at `output`).
 * @throws MissingParentError when a parent of a thin archive is missing, replaced or modified.
 */
export async function exportQcow2(from: string | Archive, options: ExportQcow2Options): Promise<ExportQcow2Result> {
  const started = Date.now();
  const clusterSize = options.clusterSize ?? 64 * 1024;
  clusterBitsOf(clusterSize);
  if (options.compress !== undefined && options.compress !== 'zlib' && options.compress !== 'zstd') {
    throw new UsageError(`unknown qcow2 compression '${String(options.compress)}' (zlib or zstd)`);
  }
  const a = typeof from === 'string' ? await Archive.open(from, { readAheadBytes: 0, cacheBytes: 0, password: options.password, parentDirs: options.parentDirs }) : from;
  let writer: Qcow2Writer | undefined;
  let pool: WorkerPool | undefined;
  try {
    const stream = options.stream ?? defaultStream(a);
    const total = a.size(stream);
    const virtualSize = Math.ceil(total / SECTOR) * SECTOR;
    const compress = options.compress;
    const level = compress ? (options.level ?? QCOW2_DEFAULT_LEVEL[compress]) : 0;
    writer = await Qcow2Writer.create(options.output, { virtualSize, clusterSize, compress, level, force: options.force });
    const w = writer;
    const chunkBytes = Math.max(CHUNK_BYTES, clusterSize);
    const zeros = Buffer.alloc(clusterSize);
    if (compress) pool = new WorkerPool(options.workers ?? availableParallelism());
    const maxInFlight = pool ? pool.size * 2 : 1;
    // In-order pipeline: chunks compress in parallel; results are written in submission order.
    const inFlight: { start: number; result: Promise<{ stored: Uint8Array; lengths: Uint32Array }> }[] = [];

    const writeEncoded = async (start: number, enc: { stored: Uint8Array; lengths: Uint32Array }) => {
      let at = 0;
      for (let i = 0; i < enc.lengths.length; i++) {
        const n = enc.lengths[i];
        if (n === 0) continue;
        await w.writePrepared(start + i * clusterSize, enc.stored.subarray(at, at + n), n < clusterSize);
        at += n;
      }
    };
    const drain = async (keep: number) => {
      while (inFlight.length > keep) {
        const head = inFlight.shift()!;
        await writeEncoded(head.start, await head.result);
      }
    };
    const submit = async (start: number, data: Uint8Array) => {
      if (pool && compress) {
        const result = pool.qcow2Compress(data, clusterSize, compress, level);
        result.catch(() => {});
        inFlight.push({ start, result });
        await drain(maxInFlight);
      } else {
        for (let i = 0; i * clusterSize < data.length; i++) {
          const c = data.subarray(i * clusterSize, (i + 1) * clusterSize);
          if (!isAllZero(c, zeros)) await w.writePrepared(start + i * clusterSize, c, false);
        }
      }
    };

    // Chunks are fixed windows of guest space; only windows holding stored data are emitted.
    let chunkStart = -1;
    let chunk: Uint8Array | undefined;
    const flushChunk = async () => {
      if (chunk) await submit(chunkStart, chunk);
      chunk = undefined;
    };
    let done = 0;
    for await (const batch of entryBatches(a, stream, options.signal)) {
      throwIfAborted(options.signal, 'export');
      let k = 0;
      for (const e of batch.entries) {
        done += e.length;
        if (e.kind === EntryKind.ZERO) continue;
        const data = batch.data[k++];
        for (let at = 0; at < data.length;) {
          const pos = e.offset + at;
          const start = pos - (pos % chunkBytes);
          if (start !== chunkStart) {
            await flushChunk();
            chunkStart = start;
            const len = Math.min(chunkBytes, Math.ceil((virtualSize - start) / clusterSize) * clusterSize);
            chunk = new Uint8Array(len);
          }
          const n = Math.min(data.length - at, start + chunkBytes - pos);
          chunk!.set(data.subarray(at, at + n), pos - start);
          at += n;
        }
      }
      options.onProgress?.(done, total);
    }
    await flushChunk();
    await drain(0);
    throwIfAborted(options.signal, 'export');
    await w.finish();
    return {
      stream, output: options.output, bytes: total, virtualSize, fileBytes: w.stats.hostBytes, clusterSize,
      compress: compress ?? 'none', dataClusters: w.stats.dataClusters, compressedClusters: w.stats.compressedClusters,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (err) {
    await writer?.abort();
    throw err;
  } finally {
    await pool?.close();
    if (typeof from === 'string') await a.close();
  }
}

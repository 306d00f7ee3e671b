/**
 * Streaming writer of qcow2 version 3 images. Guest clusters arrive in increasing order; host
 * clusters are allocated append-only, so memory stays bounded whatever the image size:
 *
 * - the L1 table (8 bytes per L2 table) and the host offset of each refcount block (8 bytes per
 *   refcount block) are kept in memory; only the current L2 table and the current refcount
 *   block (one cluster each) are, and each is written once the writer has moved past it;
 * - every refcount block lives inside the host range it counts, allocated the moment the
 *   allocator first enters that range, so it is final (and written) when the allocator leaves;
 * - compressed payloads are packed byte by byte into shared host clusters; a host cluster
 *   holding pieces of k payloads has refcount k, exactly;
 * - the refcount table (any number of clusters) goes at the end, once the host size is known;
 *   its own clusters, and refcount blocks for the ranges they reach, are placed by iterating to
 *   a fixed point.
 * The file is written under a temporary name and renamed into place by {@link finish}.
 */
import { UsageError } from '../errors.js';
import { AtomicFile } from '../store/atomic-file.js';
import { ClusterEncoder, QCOW2_DEFAULT_LEVEL } from '../codec/cluster-codec.js';
import type { Qcow2Compression } from './qcow2-header.js';
import {
  MAX_REFCOUNT, SECTOR, clusterBitsOf, encodeQcow2Header, l1EntriesFor, l2EntriesPerTable,
  refcountsPerBlock, setCompressedEntry, setStandardEntry, tableClusters,
} from './qcow2-layout.js';

/** Options of {@link Qcow2Writer.create}. */
export interface Qcow2WriterOptions {
  /** Virtual disk size in bytes; must be a multiple of 512. */
  virtualSize: number;
  /** Cluster size in bytes: a power of two from 512 B to 2 MiB (default 64 KiB). */
  clusterSize?: number;
  /** Compression of clusters written with {@link Qcow2Writer.writeCluster}; none by default. */
  compress?: Qcow2Compression;
  /** Compression level (default: qemu's, zlib 6 / zstd 3). */
  level?: number;
  /** Overwrite an existing output. */
  force?: boolean;
}

/** Contiguous bytes queued to be written at `at`. */
interface Run {
  at: number;
  bufs: Uint8Array[];
  bytes: number;
}

/** Queued bytes after which they are written out. */
const FLUSH_BYTES = 8 << 20;

/** Streaming qcow2 v3 writer; see the module description for the layout and memory bounds. */
export class Qcow2Writer {
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly virtualSize: number;
  /** Compression type recorded in the header (zlib when nothing is compressed). */
  readonly compression: Qcow2Compression;
  private readonly encoder: ClusterEncoder | undefined;
  private readonly perL2: number;
  private readonly perBlock: number;

  // Host allocation (in clusters).
  private next = 0;
  /** Host cluster of the refcount block of each range of `perBlock` clusters. */
  private readonly blockAt: number[] = [];
  /** Refcounts of range `curRange` (the one being allocated). */
  private counts: Uint16Array;
  private curRange = 0;

  // Guest mapping.
  private readonly l1: Float64Array;
  private readonly l1Offset: number;
  private readonly l1Clusters: number;
  private l2: Uint8Array;
  private l2View: DataView;
  private l2Index = -1;
  private lastGuest = -1;

  // Compressed packing: the open host cluster and the byte position where the next payload goes.
  private packCluster = -1;
  private packAt = -1;

  // Output.
  private readonly runs: Run[] = [];
  private queued = 0;
  private done = false;
  /** Counters for callers and tests. */
  readonly stats = { dataClusters: 0, compressedClusters: 0, hostBytes: 0, refcountTableClusters: 0, l1Clusters: 0 };

  private constructor(private readonly file: AtomicFile, options: Required<Pick<Qcow2WriterOptions, 'virtualSize' | 'clusterSize'>> & Qcow2WriterOptions) {
    this.clusterSize = options.clusterSize;
    this.clusterBits = clusterBitsOf(options.clusterSize);
    this.virtualSize = options.virtualSize;
    this.compression = options.compress ?? 'zlib';
    this.encoder = options.compress ? new ClusterEncoder(options.compress, options.level ?? QCOW2_DEFAULT_LEVEL[options.compress]) : undefined;
    this.perL2 = l2EntriesPerTable(this.clusterSize);
    this.perBlock = refcountsPerBlock(this.clusterSize);
    this.counts = new Uint16Array(this.perBlock);
    this.l2 = new Uint8Array(this.clusterSize);
    this.l2View = new DataView(this.l2.buffer);
    this.l1 = new Float64Array(l1EntriesFor(this.virtualSize, this.clusterSize));
    // Cluster 0: the header (written last). Then the L1 table, contiguous.
    this.bump(0);
    this.next = 1;
    this.l1Clusters = tableClusters(this.l1.length, this.clusterSize);
    this.l1Offset = this.allocRun(this.l1Clusters) * this.clusterSize;
    this.stats.l1Clusters = this.l1Clusters;
  }

  /**
   * Creates the temporary output for `path`.
   * @throws UsageError for a bad cluster size, a virtual size that is not a multiple of 512 or
   *   needs an L1 table over qemu's 32 MiB limit, or when `path` exists without `force`.
   * @throws StoreError when the directory is not writable.
   */
  static async create(path: string, options: Qcow2WriterOptions): Promise<Qcow2Writer> {
    const clusterSize = options.clusterSize ?? 64 * 1024;
    clusterBitsOf(clusterSize);
    if (!Number.isSafeInteger(options.virtualSize) || options.virtualSize < 0 || options.virtualSize % SECTOR !== 0) {
      throw new UsageError(`qcow2 virtual size ${options.virtualSize} must be a multiple of 512 bytes`);
    }
    l1EntriesFor(options.virtualSize, clusterSize);
    const file = await AtomicFile.create(path, { force: options.force });
    try {
      return new Qcow2Writer(file, { ...options, clusterSize });
    } catch (err) {
      await file.abort();
      throw err;
    }
  }

  /**
   * Stores one guest cluster at `guestOffset` (cluster aligned, greater than the previous one).
   * `bytes` is at most a cluster; a short last cluster is padded with zeros. With `compress`,
   * it is compressed here (on the calling thread) and stored compressed when that is smaller
   * than a cluster. All-zero clusters should simply not be written: they stay unallocated.
   * @throws UsageError when offsets are out of order or outside the image.
   * @throws StoreError on I/O failure.
   */
  async writeCluster(guestOffset: number, bytes: Uint8Array): Promise<void> {
    const full = bytes.length === this.clusterSize ? bytes : padded(bytes, this.clusterSize);
    const packed = this.encoder?.encode(full) ?? null;
    await this.writePrepared(guestOffset, packed ?? full, packed !== null);
  }

  /**
   * Stores one guest cluster already prepared by the caller (e.g. compressed in a worker with
   * {@link ClusterEncoder}): `compressed` false means `bytes` is the whole cluster; true means a
   * payload in this image's compression type, smaller than a cluster.
   * @throws UsageError for out-of-order offsets, wrong lengths or compressed data in an image
   *   created without `compress`.
   * @throws StoreError on I/O failure.
   */
  async writePrepared(guestOffset: number, bytes: Uint8Array, compressed: boolean): Promise<void> {
    if (this.done) throw new UsageError('qcow2 writer is already finished');
    const cs = this.clusterSize;
    if (guestOffset % cs !== 0 || guestOffset <= this.lastGuest || guestOffset >= this.virtualSize) {
      throw new UsageError(`qcow2 guest cluster offset ${guestOffset} is unaligned, out of order or past the end`);
    }
    if (compressed ? !this.encoder || bytes.length >= cs || bytes.length === 0 : bytes.length !== cs) {
      throw new UsageError(`qcow2 cluster of ${bytes.length} bytes (${compressed ? 'compressed' : 'raw'}) does not fit a ${cs}-byte cluster`);
    }
    this.lastGuest = guestOffset;
    const guestCluster = guestOffset / cs;
    const l2Index = Math.floor(guestCluster / this.perL2);
    if (l2Index !== this.l2Index) {
      this.flushL2();
      this.l2Index = l2Index;
      this.l1[l2Index] = this.alloc() * cs;
    }
    const at = (guestCluster % this.perL2) * 8;
    if (compressed) {
      const host = this.placeCompressed(bytes.length);
      setCompressedEntry(this.l2View, at, host, bytes.length, this.clusterBits);
      this.emit(host, bytes);
      this.stats.compressedClusters++;
    } else {
      const host = this.alloc() * cs;
      setStandardEntry(this.l2View, at, host);
      this.emit(host, bytes);
      this.stats.dataClusters++;
    }
    if (this.queued >= FLUSH_BYTES) await this.flush();
  }

  /**
   * Writes the last L2 table, the refcount structures, the L1 table and the header, then syncs
   * and renames the file into place.
   * @throws StoreError on I/O failure (nothing is left at the destination).
   */
  async finish(): Promise<void> {
    if (this.done) throw new UsageError('qcow2 writer is already finished');
    this.done = true;
    try {
      const cs = this.clusterSize;
      this.flushL2();
      this.packCluster = -1;
      // Refcount table: T clusters at the end; grow T until it covers every refcount block,
      // including blocks for the ranges its own clusters (and those blocks) reach.
      let t = 1;
      for (;;) {
        const { end } = this.planRun(t);
        const need = tableClusters(Math.ceil(end / this.perBlock), cs);
        if (need <= t) break;
        t = need;
      }
      const tableStart = this.allocRun(t);
      this.flushRefcounts();
      const table = new Uint8Array(t * cs);
      const tdv = new DataView(table.buffer);
      for (let r = 0; r < this.blockAt.length; r++) {
        const off = this.blockAt[r] * cs;
        tdv.setUint32(r * 8, Math.floor(off / 2 ** 32));
        tdv.setUint32(r * 8 + 4, off % 2 ** 32);
      }
      this.emit(tableStart * cs, table);
      const l1 = new Uint8Array(this.l1Clusters * cs);
      const l1dv = new DataView(l1.buffer);
      for (let i = 0; i < this.l1.length; i++) if (this.l1[i]) setStandardEntry(l1dv, i * 8, this.l1[i]);
      this.emit(this.l1Offset, l1);
      this.emit(0, encodeQcow2Header({
        clusterBits: this.clusterBits, size: this.virtualSize, l1Size: this.l1.length, l1TableOffset: this.l1Offset,
        refcountTableOffset: tableStart * cs, refcountTableClusters: t, compression: this.compression,
      }));
      await this.flush();
      this.stats.hostBytes = this.next * cs;
      this.stats.refcountTableClusters = t;
      await this.file.truncate(this.next * cs);
      await this.file.commit();
    } catch (err) {
      await this.file.abort();
      throw err;
    }
  }

  /** Discards the output: the temporary file is removed, nothing appears at the destination. */
  async abort(): Promise<void> {
    this.done = true;
    this.runs.length = 0;
    await this.file.abort();
  }

  // ---------------------------------------------------------------------------------------
  // Host allocation and refcounts

  /** Allocates one host cluster (refcount 1) and closes compressed packing. */
  private alloc(): number {
    this.packCluster = -1;
    return this.allocOne();
  }

  private allocOne(): number {
    // Entering a range without a refcount block: the block takes the range's first free cluster.
    while (this.blockAt.length <= Math.floor(this.next / this.perBlock)) {
      this.blockAt.push(this.next);
      this.bump(this.next++);
    }
    const c = this.next++;
    this.bump(c);
    return c;
  }

  /**
   * Where a run of `n` contiguous clusters would start, and where allocation would continue
   * after it plus any refcount blocks for the ranges it reaches (placed right after the run).
   */
  private planRun(n: number): { start: number; end: number; blocks: number } {
    const start = this.next;
    let end = start + n;
    let blocks = this.blockAt.length;
    while (blocks <= Math.floor((end - 1) / this.perBlock)) {
      blocks++;
      end++;
    }
    return { start, end, blocks };
  }

  /** Allocates `n` contiguous clusters (refcount 1 each); returns the first. */
  private allocRun(n: number): number {
    this.packCluster = -1;
    const { start, end, blocks } = this.planRun(n);
    for (let pos = start + n; this.blockAt.length < blocks; pos++) this.blockAt.push(pos);
    for (let c = start; c < end; c++) this.bump(c);
    this.next = end;
    return start;
  }

  /**
   * Places a compressed payload of `length` bytes: in the open host cluster when it fits, across
   * into the next cluster when that one is free and not a refcount-block boundary, else at the
   * start of a new cluster. Returns its byte offset.
   */
  private placeCompressed(length: number): number {
    const cs = this.clusterSize;
    if (this.packCluster >= 0) {
      const clusterEnd = (this.packCluster + 1) * cs;
      const room = clusterEnd - this.packAt;
      const shared = this.counts[this.packCluster % this.perBlock] < MAX_REFCOUNT;
      const nextHasBlock = this.blockAt.length > Math.floor(this.next / this.perBlock);
      if (shared && room > 0 && (length <= room || (nextHasBlock && this.next === this.packCluster + 1))) {
        const at = this.packAt;
        this.counts[this.packCluster % this.perBlock]++;
        if (length > room) this.packCluster = this.allocOne();
        this.packAt = at + length;
        if (this.packAt === (this.packCluster + 1) * cs) this.packCluster = -1;
        return at;
      }
    }
    const c = this.alloc();
    this.packCluster = c;
    this.packAt = c * cs + length;
    return c * cs;
  }

  /** Adds one reference to host cluster `c`; clusters are counted in increasing range order. */
  private bump(c: number): void {
    const range = Math.floor(c / this.perBlock);
    if (range !== this.curRange) {
      this.flushRefcounts();
      this.curRange = range;
      this.counts = new Uint16Array(this.perBlock);
    }
    this.counts[c % this.perBlock]++;
  }

  /** Queues the current refcount block (big-endian u16s) for writing. */
  private flushRefcounts(): void {
    const block = new Uint8Array(this.clusterSize);
    const dv = new DataView(block.buffer);
    for (let i = 0; i < this.perBlock; i++) if (this.counts[i]) dv.setUint16(i * 2, this.counts[i]);
    this.emit(this.blockAt[this.curRange] * this.clusterSize, block);
  }

  /** Queues the current L2 table for writing. */
  private flushL2(): void {
    if (this.l2Index < 0) return;
    this.emit(this.l1[this.l2Index], this.l2);
    this.l2 = new Uint8Array(this.clusterSize);
    this.l2View = new DataView(this.l2.buffer);
    this.l2Index = -1;
  }

  // ---------------------------------------------------------------------------------------
  // Output

  /** Queues `bytes` at host byte `at`, joining the last run when contiguous. */
  private emit(at: number, bytes: Uint8Array): void {
    const last = this.runs[this.runs.length - 1];
    if (last && last.at + last.bytes === at) {
      last.bufs.push(bytes);
      last.bytes += bytes.length;
    } else {
      this.runs.push({ at, bufs: [bytes], bytes: bytes.length });
    }
    this.queued += bytes.length;
  }

  private async flush(): Promise<void> {
    const runs = this.runs.splice(0);
    this.queued = 0;
    for (const r of runs) await this.file.writevAt(r.bufs, r.at);
  }
}

function padded(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.length > size) throw new UsageError(`qcow2 cluster data of ${bytes.length} bytes exceeds the ${size}-byte cluster`);
  const out = new Uint8Array(size);
  out.set(bytes);
  return out;
}

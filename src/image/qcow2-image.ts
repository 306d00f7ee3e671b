/**
 * A qcow2 image (versions 2 and 3) read as a block device: L1/L2 translation with bounded
 * caches, zero and unallocated clusters answered without reading data, standard and compressed
 * clusters, and reads of unallocated clusters falling through to the backing file.
 * Layout per qemu docs/interop/qcow2.txt ("Cluster mapping").
 */
import type { FileHandle } from 'node:fs/promises';
import { CorruptImageError, StoreError, UsageError, throwIfAborted, wrapIoError } from '../errors.js';
import { openInputFile } from '../store/open-input-file.js';
import type { ReadOptions } from '../store/types.js';
import { ClusterDecodeError, ClusterDecoder } from './cluster-decoder.js';
import { decodeL1Entry, decodeL2Entry } from './qcow2-entry.js';
import { decodeQcow2Header, type Qcow2Header } from './qcow2-header.js';
import type { DiskImage, ImageExtent } from './types.js';

/** Opens a backing image; given by openImage so this file does not import it (no cycle). */
export type BackingOpener = (path: string, format: 'raw' | 'qcow2' | undefined) => Promise<DiskImage>;

/** A piece of the virtual disk and where its bytes come from. */
type Run =
  | { kind: 'zero' | 'unallocated'; offset: number; length: number }
  | { kind: 'data'; offset: number; length: number; host: number }
  | { kind: 'compressed'; offset: number; length: number; host: number; maxLength: number; within: number };

/** Bytes of L2 tables kept (at least two tables). */
const L2_CACHE_BYTES = 8 << 20;
/** Bytes of decoded compressed clusters kept (at least two clusters). */
const CLUSTER_CACHE_BYTES = 8 << 20;
/** Bytes read by the header probe before the cluster size is known. */
const HEADER_PROBE = 64 << 10;

/** A small insertion-ordered cache of promises; failed entries are dropped so errors recur. */
class PromiseCache<V> {
  private readonly map = new Map<number, Promise<V>>();
  constructor(private readonly max: number) {}
  get(key: number, load: () => Promise<V>): Promise<V> {
    let p = this.map.get(key);
    if (p) {
      this.map.delete(key);
      this.map.set(key, p);
      return p;
    }
    p = load();
    this.map.set(key, p);
    p.catch(() => this.map.get(key) === p && this.map.delete(key));
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as number);
    return p;
  }
}

/** A qcow2 image opened read-only. Create with {@link Qcow2Image.open} (or `openImage`). */
export class Qcow2Image implements DiskImage {
  readonly format = 'qcow2' as const;
  readonly size: number;
  private readonly l2Entries: number;
  private readonly l2Cache: PromiseCache<Uint32Array>;
  private readonly clusterCache: PromiseCache<Uint8Array>;
  private readonly decoder: ClusterDecoder;

  private constructor(
    readonly name: string,
    private readonly fh: FileHandle,
    private readonly fileSize: number,
    readonly header: Qcow2Header,
    private readonly l1: Uint32Array,
    /** The backing image, or undefined when unallocated clusters read as zeros. */
    readonly backing: DiskImage | undefined,
  ) {
    this.size = header.size;
    this.l2Entries = header.clusterSize / 8;
    this.l2Cache = new PromiseCache(Math.max(2, Math.floor(L2_CACHE_BYTES / header.clusterSize)));
    this.clusterCache = new PromiseCache(Math.max(2, Math.floor(CLUSTER_CACHE_BYTES / header.clusterSize)));
    this.decoder = new ClusterDecoder(header.compression, header.clusterSize);
  }

  /**
   * Opens `path`, decodes its header and L1 table, and opens its backing file through
   * `openBacking` (which resolves the name and guards against cycles).
   * @throws StoreError when the file cannot be read.
   * @throws CorruptImageError / UnsupportedError from the header (see decodeQcow2Header).
   */
  static async open(path: string, openBacking: BackingOpener): Promise<Qcow2Image> {
    let fh: FileHandle | undefined;
    let backing: DiskImage | undefined;
    try {
      const opened = await openInputFile(path, 'open image');
      fh = opened.fh;
      const fileSize = opened.size;
      let first = await preadAt(fh, path, 0, Math.min(HEADER_PROBE, fileSize));
      const clusterBits = first.length >= 24 ? new DataView(first.buffer).getUint32(20) : 0;
      if (clusterBits > 16 && clusterBits <= 21 && first.length < fileSize) first = await preadAt(fh, path, 0, Math.min(2 ** clusterBits, fileSize));
      const header = decodeQcow2Header(first, fileSize, path);
      const l1 = header.l1Size > 0 ? toWords(await preadAt(fh, path, header.l1TableOffset, header.l1Size * 8)) : new Uint32Array(0);
      if (header.backingFile !== undefined) backing = await openBacking(header.backingFile, backingFormat(header.backingFormat, path));
      return new Qcow2Image(path, fh, fileSize, header, l1, backing);
    } catch (err) {
      await backing?.close().catch(() => {});
      await fh?.close().catch(() => {});
      throw wrapIoError(err, path, 'open image');
    }
  }

  async extents(offset: number, length: number): Promise<ImageExtent[]> {
    this.checkRange(offset, length);
    const out: ImageExtent[] = [];
    const push = (e: ImageExtent) => {
      const last = out[out.length - 1];
      if (last && last.kind === e.kind && last.offset + last.length === e.offset) last.length += e.length;
      else if (e.length > 0) out.push({ ...e });
    };
    for (const r of await this.runs(offset, length)) {
      if (r.kind === 'data' || r.kind === 'compressed') push({ offset: r.offset, length: r.length, kind: 'data' });
      else if (r.kind === 'zero' || !this.backing) push({ offset: r.offset, length: r.length, kind: 'zero' });
      else {
        const inBacking = Math.max(0, Math.min(r.length, this.backing.size - r.offset));
        if (inBacking > 0) for (const e of await this.backing.extents(r.offset, inBacking)) push(e);
        push({ offset: r.offset + inBacking, length: r.length - inBacking, kind: 'zero' });
      }
    }
    return out;
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.checkRange(offset, length);
    throwIfAborted(options?.signal, 'read');
    const out = new Uint8Array(length);
    const runs = await this.runs(offset, length);
    await Promise.all(runs.map(async (r) => {
      const dst = out.subarray(r.offset - offset, r.offset - offset + r.length);
      if (r.kind === 'data') {
        // A last cluster cut short by the end of the file reads as zeros past it.
        const n = Math.max(0, Math.min(r.length, this.fileSize - r.host));
        if (n > 0) await preadInto(this.fh, this.name, dst.subarray(0, n), r.host);
      } else if (r.kind === 'compressed') {
        const cluster = await this.clusterCache.get(r.host, () => this.decodeCluster(r.host, r.maxLength, r.offset));
        dst.set(cluster.subarray(r.within, r.within + r.length));
      } else if (r.kind === 'unallocated' && this.backing) {
        const n = Math.max(0, Math.min(r.length, this.backing.size - r.offset));
        if (n > 0) dst.set(await this.backing.read(r.offset, n, options));
      }
    }));
    return out;
  }

  async close(): Promise<void> {
    await this.backing?.close().catch(() => {});
    await this.fh.close();
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new UsageError(`${this.name}: range ${offset}+${length} is outside the image (${this.size} bytes)`);
    }
  }

  private corrupt(message: string, offset?: number, cause?: unknown): CorruptImageError {
    return new CorruptImageError(`${this.name}: ${message}`, { archive: this.name, offset, stage: 'qcow2' }, { cause });
  }

  /** The runs covering [offset, offset+length), adjacent host-contiguous data merged. */
  private async runs(offset: number, length: number): Promise<Run[]> {
    const { clusterSize, clusterBits } = this.header;
    const runs: Run[] = [];
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const cluster = Math.floor(pos / clusterSize);
      const l1Index = Math.floor(cluster / this.l2Entries);
      const tableEnd = Math.min(end, (l1Index + 1) * this.l2Entries * clusterSize);
      const l2 = await this.l2Table(l1Index, pos);
      if (!l2) {
        // No L2 table: its whole range is unallocated, one run (a sparse multi-TiB image has
        // millions of such clusters; walking them one by one took seconds).
        const last = runs[runs.length - 1];
        if (last?.kind === 'unallocated' && last.offset + last.length === pos) last.length += tableEnd - pos;
        else runs.push({ kind: 'unallocated', offset: pos, length: tableEnd - pos });
        pos = tableEnd;
        continue;
      }
      while (pos < tableEnd) {
        const c = Math.floor(pos / clusterSize);
        const within = pos - c * clusterSize;
        const n = Math.min(clusterSize - within, tableEnd - pos);
        const i = (c % this.l2Entries) * 2;
        const m = decodeL2Entry(l2[i], l2[i + 1], clusterBits);
        if (!m) throw this.corrupt(`L2 entry for guest offset ${c * clusterSize} has reserved bits set`, pos);
        const last = runs[runs.length - 1];
        if (m.kind === 'data') {
          if (m.hostOffset % clusterSize !== 0) throw this.corrupt(`L2 entry for guest offset ${c * clusterSize} points at unaligned host offset ${m.hostOffset}`, pos);
          if (m.hostOffset >= this.fileSize) throw this.corrupt(`L2 entry for guest offset ${c * clusterSize} points past the end of the file (host offset ${m.hostOffset}, file is ${this.fileSize} bytes)`, pos);
          const host = m.hostOffset + within;
          if (last?.kind === 'data' && last.offset + last.length === pos && last.host + last.length === host) last.length += n;
          else runs.push({ kind: 'data', offset: pos, length: n, host });
        } else if (m.kind === 'compressed') {
          if (m.hostOffset >= this.fileSize) throw this.corrupt(`compressed cluster at guest offset ${c * clusterSize} points past the end of the file (host offset ${m.hostOffset}, file is ${this.fileSize} bytes)`, pos);
          // The descriptor's sector count has cluster_bits - 8 bits, so maxLength is at most two
          // clusters by construction; the end of the file bounds it further.
          runs.push({ kind: 'compressed', offset: pos, length: n, host: m.hostOffset, maxLength: Math.min(m.maxLength, this.fileSize - m.hostOffset), within });
        } else if (last?.kind === m.kind && last.offset + last.length === pos) last.length += n;
        else runs.push({ kind: m.kind, offset: pos, length: n });
        pos += n;
      }
    }
    return runs;
  }

  /** The L2 table of L1 entry `l1Index` as big-endian word pairs, or null when unallocated. */
  private async l2Table(l1Index: number, guest: number): Promise<Uint32Array | null> {
    if (l1Index >= this.header.l1Size) throw this.corrupt(`guest offset ${guest} is past the L1 table`, guest);
    const l2Offset = decodeL1Entry(this.l1[l1Index * 2], this.l1[l1Index * 2 + 1]);
    if (l2Offset < 0) throw this.corrupt(`L1 entry ${l1Index} has reserved bits set`, guest);
    if (l2Offset === 0) return null;
    const { clusterSize } = this.header;
    if (l2Offset % clusterSize !== 0 || l2Offset + clusterSize > this.fileSize) {
      throw this.corrupt(`L1 entry ${l1Index} points past the end of the file or is unaligned (L2 table at ${l2Offset}, file is ${this.fileSize} bytes)`, guest);
    }
    return this.l2Cache.get(l2Offset, async () => toWords(await preadAt(this.fh, this.name, l2Offset, clusterSize)));
  }

  private async decodeCluster(host: number, maxLength: number, guest: number): Promise<Uint8Array> {
    const payload = await preadAt(this.fh, this.name, host, maxLength);
    try {
      return await this.decoder.decode(payload);
    } catch (err) {
      if (err instanceof ClusterDecodeError) throw this.corrupt(`compressed cluster at guest offset ${guest - (guest % this.header.clusterSize)} (host offset ${host}): ${err.message}`, guest, err);
      throw err;
    }
  }
}

function backingFormat(format: string | undefined, path: string): 'raw' | 'qcow2' | undefined {
  if (format === undefined || format === 'raw' || format === 'qcow2') return format;
  throw new CorruptImageError(`${path}: backing file format '${format}' is not supported (raw and qcow2 are)`, { archive: path, stage: 'qcow2 header' });
}

/** Big-endian u64 table bytes as [hi, lo] u32 pairs in host order. */
function toWords(bytes: Uint8Array): Uint32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint32(i * 4);
  return out;
}

/** Reads exactly `length` bytes at `pos` (fewer only at the end of the file). */
async function preadAt(fh: FileHandle, name: string, pos: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  const n = await preadInto(fh, name, buf, pos, true);
  return n === length ? buf : buf.subarray(0, n);
}

async function preadInto(fh: FileHandle, name: string, buf: Uint8Array, pos: number, allowShort = false): Promise<number> {
  let done = 0;
  try {
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (err) {
    throw wrapIoError(err, name, 'read image');
  }
  if (done !== buf.length && !allowShort) throw new StoreError(`${name}: image shrank while reading`, { archive: name, stage: 'read image' });
  return done;
}

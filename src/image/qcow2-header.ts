/**
 * Pure decoding of the qcow2 image header and its header extensions: bytes in, plain object out,
 * no I/O. Field offsets and meanings follow qemu's specification, docs/interop/qcow2.txt
 * ("Header", "Header extensions"); section names below refer to that document.
 */
import { CorruptImageError, UnsupportedError } from '../errors.js';

/** "QFI\xfb": the first four bytes of every qcow2 image (spec: Header, bytes 0-3). */
export const QCOW2_MAGIC = 0x514649fb;

/** Bytes of the fixed version-2 header; version 3 headers are at least 104 bytes. */
export const QCOW2_V2_HEADER_SIZE = 72;
export const QCOW2_V3_MIN_HEADER_SIZE = 104;

/** Cluster sizes qemu accepts: 512 B (bits 9) to 2 MiB (bits 21) (spec: Header, cluster_bits). */
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;

/** qemu refuses active L1 tables larger than 32 MiB (QCOW_MAX_L1_SIZE); so do we. */
export const MAX_L1_BYTES = 32 << 20;

/** qemu refuses refcount tables larger than 8 MiB (QCOW_MAX_REFTABLE_SIZE); so do we. */
export const MAX_REFCOUNT_TABLE_BYTES = 8 << 20;

/** Longest backing file name qemu accepts (spec: backing_file_size "must not be longer than 1023"). */
export const MAX_BACKING_NAME = 1023;

/** Largest refcount_order (spec: Header, bytes 96-99: "may not exceed 6", i.e. 64-bit refcounts). */
export const MAX_REFCOUNT_ORDER = 6;

/** refcount_order of version 2 images, which have no such field (spec: 16-bit refcounts). */
export const V2_REFCOUNT_ORDER = 4;

/** Most internal snapshots qemu accepts (QCOW_MAX_SNAPSHOTS). */
export const MAX_SNAPSHOTS = 65536;

/** Bytes of the fixed part of a snapshot table entry (spec: Snapshots, bytes 0-39). */
export const SNAPSHOT_HEADER_SIZE = 40;

/** Bytes of a guest sector: qemu rounds the virtual size down to whole sectors. */
export const QCOW2_SECTOR = 512;

/** Incompatible feature bits (spec: Header, bytes 72-79). */
export const IncompatibleFeature = {
  DIRTY: 1n << 0n,
  CORRUPT: 1n << 1n,
  EXTERNAL_DATA_FILE: 1n << 2n,
  COMPRESSION_TYPE: 1n << 3n,
  EXTENDED_L2: 1n << 4n,
} as const;

/** Header extension types (spec: Header extensions). */
export const HeaderExtension = {
  END: 0x00000000,
  BACKING_FORMAT: 0xe2792aca,
  FEATURE_NAMES: 0x6803f857,
  BITMAPS: 0x23852875,
  FULL_DISK_ENCRYPTION: 0x0537be77,
  EXTERNAL_DATA_FILE: 0x44415441,
} as const;

/** Compression of compressed clusters (spec: Header, byte 104, compression_type). */
export type Qcow2Compression = 'zlib' | 'zstd';

/** The decoded header: only what a reader needs. Offsets and sizes are in bytes. */
export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  /**
   * Virtual disk size, rounded down to a multiple of 512 as qemu does (it counts the disk in
   * whole sectors), so a hand-made size such as 1000 reads as 512 bytes here and in qemu alike.
   */
  size: number;
  /** refcount_order: refcounts are 2^order bits wide (4 for version 2). */
  refcountOrder: number;
  l1Size: number;
  l1TableOffset: number;
  /** Backing file name as stored (may be relative to the image's directory), or undefined. */
  backingFile: string | undefined;
  /** Backing format from the header extension ('raw', 'qcow2', ...), or undefined. */
  backingFormat: string | undefined;
  compression: Qcow2Compression;
  incompatibleFeatures: bigint;
  headerLength: number;
}

/** True when `bytes` starts with the qcow2 magic. */
export function isQcow2(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) === QCOW2_MAGIC;
}

/** Reads a big-endian u64 that must fit a JS number exactly. */
function u64(dv: DataView, at: number, what: string, name: string): number {
  const v = dv.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptImageError(`${name}: qcow2 ${what} ${v} is out of range`, { archive: name, stage: 'qcow2 header' });
  return Number(v);
}

/**
 * Decodes and validates the header at the start of an image. `bytes` must hold the first
 * cluster (or the whole file when shorter); `fileSize` (bytes) bounds the tables.
 *
 * Every size or offset a reader could be made to allocate or read from is bounded twice: by
 * what the spec and qemu allow (cluster_bits 9..21, L1 table ≤ 32 MiB, refcount table ≤ 8 MiB,
 * refcount_order ≤ 6, backing file name ≤ 1023 bytes, ≤ 65536 snapshots, header extensions
 * inside the first cluster) and by the file itself (tables lie inside it), so a hostile header
 * costs at most one cluster and one L1 table no larger than the file.
 * @throws CorruptImageError naming the offending header field (bad magic, truncated or
 *   inconsistent fields, sizes beyond the spec's limits or the end of the file).
 * @throws UnsupportedError naming the feature for encryption, external data files, extended L2
 *   entries, unknown incompatible feature bits or an unknown compression type.
 */
export function decodeQcow2Header(bytes: Uint8Array, fileSize: number, name: string): Qcow2Header {
  const corrupt = (msg: string) => new CorruptImageError(`${name}: ${msg}`, { archive: name, stage: 'qcow2 header' });
  const unsupported = (feature: string) =>
    new UnsupportedError(`${name}: qcow2 feature not supported: ${feature}`, { archive: name, stage: 'qcow2 header' });
  if (bytes.length < QCOW2_V2_HEADER_SIZE || !isQcow2(bytes)) throw corrupt('not a qcow2 image (bad magic or too short)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(4);
  if (version !== 2 && version !== 3) throw new UnsupportedError(`${name}: qcow2 version ${version} is not supported (2 and 3 are)`, { archive: name, stage: 'qcow2 header' });
  const clusterBits = dv.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) throw corrupt(`qcow2 cluster_bits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  const clusterSize = 2 ** clusterBits;
  const headerSize = u64(dv, 24, 'virtual size', name);
  const size = headerSize - (headerSize % QCOW2_SECTOR);

  const cryptMethod = dv.getUint32(32);
  if (cryptMethod === 1) throw unsupported('encryption (AES)');
  if (cryptMethod === 2) throw unsupported('encryption (LUKS)');
  if (cryptMethod !== 0) throw unsupported(`encryption (method ${cryptMethod})`);

  let incompatibleFeatures = 0n;
  let headerLength = QCOW2_V2_HEADER_SIZE;
  let refcountOrder = V2_REFCOUNT_ORDER;
  let compression: Qcow2Compression = 'zlib';
  if (version === 3) {
    if (bytes.length < QCOW2_V3_MIN_HEADER_SIZE) throw corrupt('qcow2 v3 header is truncated');
    incompatibleFeatures = dv.getBigUint64(72);
    refcountOrder = dv.getUint32(96);
    if (refcountOrder > MAX_REFCOUNT_ORDER) throw corrupt(`qcow2 refcount_order ${refcountOrder} is outside 0..${MAX_REFCOUNT_ORDER}`);
    headerLength = dv.getUint32(100);
    if (headerLength < QCOW2_V3_MIN_HEADER_SIZE || headerLength > Math.min(clusterSize, bytes.length)) throw corrupt(`qcow2 header_length ${headerLength} is invalid`);
    // Known bits first, so the error names the feature; then anything left is unknown.
    if (incompatibleFeatures & IncompatibleFeature.EXTERNAL_DATA_FILE) throw unsupported('external data file');
    if (incompatibleFeatures & IncompatibleFeature.EXTENDED_L2) throw unsupported('extended L2 entries (subclusters)');
    const known = IncompatibleFeature.DIRTY | IncompatibleFeature.CORRUPT | IncompatibleFeature.COMPRESSION_TYPE;
    const unknown = incompatibleFeatures & ~known;
    if (unknown) throw unsupported(`unknown incompatible feature bits 0x${unknown.toString(16)}`);
    const compressionType = headerLength > 104 ? bytes[104] : 0;
    if (compressionType === 1) compression = 'zstd';
    else if (compressionType !== 0) throw unsupported(`compression type ${compressionType}`);
    if (compressionType !== 0 && !(incompatibleFeatures & IncompatibleFeature.COMPRESSION_TYPE)) throw corrupt('qcow2 compression_type is set but its incompatible feature bit is not');
  }

  /** A table of `bytes` at `offset` must be cluster aligned and lie inside the file. */
  const checkTable = (what: string, offset: number, bytes: number, detail: string) => {
    if (offset % clusterSize !== 0) throw corrupt(`qcow2 ${what} ${offset} is not cluster aligned (${detail})`);
    if (offset + bytes > fileSize) throw corrupt(`qcow2 ${what} ${offset} puts the table past the end of the file (${detail}, file is ${fileSize} bytes)`);
  };

  // L1 table (spec: Header, bytes 36-47). One L2 table maps clusterSize/8 clusters; the L1 must
  // cover the whole virtual size (qemu checks the size as stored, before rounding).
  const l1Size = dv.getUint32(36);
  const l1TableOffset = u64(dv, 40, 'L1 table offset', name);
  const bytesPerL1 = clusterSize * (clusterSize / 8);
  const needL1 = Math.ceil(headerSize / bytesPerL1);
  if (l1Size * 8 > MAX_L1_BYTES) throw corrupt(`qcow2 L1 table is too large: l1_size ${l1Size} entries exceeds qemu's ${MAX_L1_BYTES / 8}`);
  if (l1Size < needL1) throw corrupt(`qcow2 L1 table is too small: l1_size ${l1Size} entries for ${headerSize} bytes`);
  if (l1Size > 0) checkTable('l1_table_offset', l1TableOffset, l1Size * 8, `L1 table of ${l1Size} entries`);

  // Refcount table and snapshot table (spec: Header, bytes 48-71). hexz reads neither, but qemu
  // refuses images whose tables are out of bounds, and so do we rather than guess.
  const refcountTableOffset = u64(dv, 48, 'refcount table offset', name);
  const refcountTableClusters = dv.getUint32(56);
  if (refcountTableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES) {
    throw corrupt(`qcow2 refcount table is too large: refcount_table_clusters ${refcountTableClusters} exceeds qemu's ${MAX_REFCOUNT_TABLE_BYTES / clusterSize} at ${clusterSize}-byte clusters`);
  }
  if (refcountTableClusters > 0) checkTable('refcount_table_offset', refcountTableOffset, refcountTableClusters * clusterSize, `${refcountTableClusters} clusters`);
  const nbSnapshots = dv.getUint32(60);
  const snapshotsOffset = u64(dv, 64, 'snapshot table offset', name);
  if (nbSnapshots > MAX_SNAPSHOTS) throw corrupt(`qcow2 nb_snapshots ${nbSnapshots} exceeds qemu's ${MAX_SNAPSHOTS}`);
  if (nbSnapshots > 0) checkTable('snapshots_offset', snapshotsOffset, nbSnapshots * SNAPSHOT_HEADER_SIZE, `${nbSnapshots} snapshots`);

  // Backing file name (spec: Header, bytes 8-19): inside the first cluster, at most 1023 bytes.
  let backingFile: string | undefined;
  const backingOffset = u64(dv, 8, 'backing file offset', name);
  const backingSize = dv.getUint32(16);
  if (backingOffset !== 0) {
    if (backingSize > MAX_BACKING_NAME) throw corrupt(`qcow2 backing file name is too long: backing_file_size ${backingSize} bytes exceeds ${MAX_BACKING_NAME}`);
    if (backingOffset + backingSize > Math.min(clusterSize, bytes.length)) throw corrupt(`qcow2 backing file name lies outside the first cluster (backing_file_offset ${backingOffset}, backing_file_size ${backingSize})`);
    backingFile = new TextDecoder().decode(bytes.subarray(backingOffset, backingOffset + backingSize));
    if (backingFile.length === 0) backingFile = undefined;
  }

  // Header extensions follow the header (spec: Header extensions), each padded to 8 bytes, all
  // inside the first cluster and before the backing file name.
  let backingFormat: string | undefined;
  let at = headerLength;
  const limit = backingOffset !== 0 ? Math.min(backingOffset, bytes.length) : Math.min(clusterSize, bytes.length);
  while (at + 8 <= limit) {
    const type = dv.getUint32(at);
    const len = dv.getUint32(at + 4);
    if (type === HeaderExtension.END) break;
    if (at + 8 + len > limit) throw corrupt(`qcow2 header extension 0x${type.toString(16)} length ${len} overruns the header`);
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (type === HeaderExtension.BACKING_FORMAT) backingFormat = new TextDecoder().decode(data);
    else if (type === HeaderExtension.FULL_DISK_ENCRYPTION) throw unsupported('encryption (LUKS header extension)');
    else if (type === HeaderExtension.EXTERNAL_DATA_FILE) throw unsupported('external data file');
    at += 8 + Math.ceil(len / 8) * 8;
  }

  return { version, clusterBits, clusterSize, size, refcountOrder, l1Size, l1TableOffset, backingFile, backingFormat, compression, incompatibleFeatures, headerLength };
}

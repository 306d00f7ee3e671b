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

/** Longest backing file name qemu accepts (spec: backing_file_size "must not be longer than 1023"). */
export const MAX_BACKING_NAME = 1023;

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
  /** Virtual disk size. */
  size: number;
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
 * cluster (or the whole file when shorter); `fileSize` bounds the tables.
 * @throws CorruptImageError for bad magic, truncated or inconsistent fields, absurd sizes.
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
  const size = u64(dv, 24, 'virtual size', name);

  const cryptMethod = dv.getUint32(32);
  if (cryptMethod === 1) throw unsupported('encryption (AES)');
  if (cryptMethod === 2) throw unsupported('encryption (LUKS)');
  if (cryptMethod !== 0) throw unsupported(`encryption (method ${cryptMethod})`);

  let incompatibleFeatures = 0n;
  let headerLength = QCOW2_V2_HEADER_SIZE;
  let compression: Qcow2Compression = 'zlib';
  if (version === 3) {
    if (bytes.length < QCOW2_V3_MIN_HEADER_SIZE) throw corrupt('qcow2 v3 header is truncated');
    incompatibleFeatures = dv.getBigUint64(72);
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

  const l1Size = dv.getUint32(36);
  const l1TableOffset = u64(dv, 40, 'L1 table offset', name);
  // One L2 table maps clusterSize/8 clusters; the L1 must cover the whole virtual size.
  const bytesPerL1 = clusterSize * (clusterSize / 8);
  const needL1 = Math.ceil(size / bytesPerL1);
  if (l1Size * 8 > MAX_L1_BYTES) throw corrupt(`qcow2 L1 table is too large (${l1Size} entries)`);
  if (l1Size < needL1) throw corrupt(`qcow2 L1 table is too small (${l1Size} entries for ${size} bytes)`);
  if (l1Size > 0 && (l1TableOffset % clusterSize !== 0 || l1TableOffset + l1Size * 8 > fileSize)) {
    throw corrupt(`qcow2 L1 table (offset ${l1TableOffset}, ${l1Size} entries) lies outside the file or is misaligned`);
  }

  let backingFile: string | undefined;
  const backingOffset = u64(dv, 8, 'backing file offset', name);
  const backingSize = dv.getUint32(16);
  if (backingOffset !== 0) {
    if (backingSize > MAX_BACKING_NAME) throw corrupt(`qcow2 backing file name is too long (${backingSize} bytes)`);
    if (backingOffset + backingSize > Math.min(clusterSize, bytes.length)) throw corrupt('qcow2 backing file name lies outside the first cluster');
    backingFile = new TextDecoder().decode(bytes.subarray(backingOffset, backingOffset + backingSize));
    if (backingFile.length === 0) backingFile = undefined;
  }

  // Header extensions follow the header (spec: Header extensions), each padded to 8 bytes.
  let backingFormat: string | undefined;
  let at = headerLength;
  const limit = backingOffset !== 0 ? Math.min(backingOffset, bytes.length) : Math.min(clusterSize, bytes.length);
  while (at + 8 <= limit) {
    const type = dv.getUint32(at);
    const len = dv.getUint32(at + 4);
    if (type === HeaderExtension.END) break;
    if (at + 8 + len > limit) throw corrupt(`qcow2 header extension 0x${type.toString(16)} overruns the header`);
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (type === HeaderExtension.BACKING_FORMAT) backingFormat = new TextDecoder().decode(data);
    else if (type === HeaderExtension.FULL_DISK_ENCRYPTION) throw unsupported('encryption (LUKS header extension)');
    else if (type === HeaderExtension.EXTERNAL_DATA_FILE) throw unsupported('external data file');
    at += 8 + Math.ceil(len / 8) * 8;
  }

  return { version, clusterBits, clusterSize, size, l1Size, l1TableOffset, backingFile, backingFormat, compression, incompatibleFeatures, headerLength };
}

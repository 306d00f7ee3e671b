/**
 * Pure layout arithmetic and encoding for WRITING qcow2 version 3 images (qemu
 * docs/interop/qcow2.txt): header bytes, L1/L2 entry encoding, table and refcount block sizes.
 * No I/O. Decoding lives in qcow2-header.ts and qcow2-entry.ts; constants are shared with them.
 */
import { UsageError } from '../errors.js';
import {
  IncompatibleFeature, MAX_CLUSTER_BITS, MAX_L1_BYTES, MIN_CLUSTER_BITS, QCOW2_MAGIC, QCOW2_SECTOR,
  QCOW2_V3_MIN_HEADER_SIZE, type Qcow2Compression,
} from './qcow2-header.js';

/** Header length we write: the 104-byte v3 header plus compression_type (byte 104), padded to 8. */
export const QCOW2_WRITE_HEADER_LENGTH = 112;

/** refcount_order we write: 16-bit refcounts (qemu's default). */
export const WRITE_REFCOUNT_ORDER = 4;

/** Largest refcount a 16-bit entry holds. */
export const MAX_REFCOUNT = 0xffff;

/** Bytes of one guest or host sector; qcow2 virtual sizes are multiples of it. */
export const SECTOR = QCOW2_SECTOR;

const TWO32 = 2 ** 32;
/** Bit 63 (QCOW_OFLAG_COPIED) in the high u32: the cluster's refcount is exactly 1. */
const COPIED_HI = 0x80000000;
/** Bit 62 (QCOW_OFLAG_COMPRESSED) in the high u32. */
const COMPRESSED_HI = 0x40000000;

/** Fields of a header we write. Offsets and sizes in bytes. */
export interface Qcow2WriteHeader {
  clusterBits: number;
  /** Virtual disk size (a multiple of 512). */
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  compression: Qcow2Compression;
}

/**
 * log2 of `clusterSize`.
 * @throws UsageError unless it is a power of two from 512 B to 2 MiB (what qemu accepts).
 */
export function clusterBitsOf(clusterSize: number): number {
  const bits = Math.log2(clusterSize);
  if (!Number.isInteger(bits) || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) {
    throw new UsageError(`qcow2 cluster size ${clusterSize} must be a power of two from 512 B to 2 MiB`);
  }
  return bits;
}

/** Guest clusters mapped by one L2 table (8-byte entries). */
export function l2EntriesPerTable(clusterSize: number): number {
  return clusterSize / 8;
}

/** Host clusters counted by one refcount block (16-bit refcounts). */
export function refcountsPerBlock(clusterSize: number): number {
  return (clusterSize * 8) >> WRITE_REFCOUNT_ORDER;
}

/**
 * L1 entries needed for `virtualSize` bytes.
 * @throws UsageError when the L1 table would exceed qemu's 32 MiB limit (use larger clusters).
 */
export function l1EntriesFor(virtualSize: number, clusterSize: number): number {
  const n = Math.ceil(virtualSize / (clusterSize * l2EntriesPerTable(clusterSize)));
  if (n * 8 > MAX_L1_BYTES) {
    throw new UsageError(`a ${virtualSize}-byte qcow2 image needs an L1 table larger than qemu's 32 MiB limit at ${clusterSize}-byte clusters; use a larger cluster size`);
  }
  return n;
}

/** Clusters holding `entries` 8-byte table entries (L1 or refcount table); at least one. */
export function tableClusters(entries: number, clusterSize: number): number {
  return Math.max(1, Math.ceil((entries * 8) / clusterSize));
}

/**
 * Encodes the header into the start of a cluster-sized buffer (the rest is zero: an end-of-
 * extensions marker). zstd sets compression_type 1 and incompatible feature bit 3.
 */
export function encodeQcow2Header(h: Qcow2WriteHeader): Uint8Array {
  const clusterSize = 2 ** h.clusterBits;
  const out = new Uint8Array(clusterSize);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, QCOW2_MAGIC);
  dv.setUint32(4, 3);
  // 8: backing_file_offset, 16: backing_file_size stay 0.
  dv.setUint32(20, h.clusterBits);
  dv.setBigUint64(24, BigInt(h.size));
  // 32: crypt_method 0.
  dv.setUint32(36, h.l1Size);
  dv.setBigUint64(40, BigInt(h.l1TableOffset));
  dv.setBigUint64(48, BigInt(h.refcountTableOffset));
  dv.setUint32(56, h.refcountTableClusters);
  // 60: nb_snapshots 0; 64: snapshots_offset 0.
  dv.setBigUint64(72, h.compression === 'zstd' ? IncompatibleFeature.COMPRESSION_TYPE : 0n);
  // 80: compatible features 0; 88: autoclear features 0.
  dv.setUint32(96, WRITE_REFCOUNT_ORDER);
  dv.setUint32(100, QCOW2_WRITE_HEADER_LENGTH);
  out[QCOW2_V3_MIN_HEADER_SIZE] = h.compression === 'zstd' ? 1 : 0;
  return out;
}

/**
 * Writes a standard L1 or L2 entry at `at`: `hostOffset` (cluster aligned) with the COPIED flag
 * (every cluster we allocate for tables and uncompressed data has refcount 1).
 */
export function setStandardEntry(dv: DataView, at: number, hostOffset: number): void {
  dv.setUint32(at, (COPIED_HI | Math.floor(hostOffset / TWO32)) >>> 0);
  dv.setUint32(at + 4, hostOffset % TWO32);
}

/**
 * Writes a compressed-cluster L2 entry (spec: "Compressed Clusters Descriptor"): bit 62 set,
 * x = 62 - (cluster_bits - 8), bits 0..x-1 the byte offset of the payload, bits x..61 the number
 * of 512-byte sectors it touches minus one. Never COPIED (compressed clusters may be shared).
 */
export function setCompressedEntry(dv: DataView, at: number, hostOffset: number, length: number, clusterBits: number): void {
  const x = 62 - (clusterBits - 8);
  const hiOffsetBits = x - 32;
  const extraSectors = Math.floor((hostOffset + length - 1) / SECTOR) - Math.floor(hostOffset / SECTOR);
  const hi = COMPRESSED_HI | (extraSectors << hiOffsetBits) | Math.floor(hostOffset / TWO32);
  dv.setUint32(at, hi >>> 0);
  dv.setUint32(at + 4, hostOffset % TWO32);
}

/** Host clusters a compressed payload of `length` bytes at byte `hostOffset` touches (first, last). */
export function compressedClusterSpan(hostOffset: number, length: number, clusterSize: number): [number, number] {
  return [Math.floor(hostOffset / clusterSize), Math.floor((hostOffset + length - 1) / clusterSize)];
}

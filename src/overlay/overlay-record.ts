/**
 * Pure encode/decode of the records of an overlay's log (docs/FORMAT.md, "Overlay files", §O.3).
 * A record is a 64-byte header and, for DATA, its pages; records follow each other from byte
 * 4096 with no padding.
 */
import { bytesEqual, type Digest32 } from '../format/digest.js';
import { OVERLAY_PAGE_SIZE } from './overlay-format.js';

/** §O.3 Magic at record offset 16: ASCII "HXOR". */
export const RECORD_MAGIC = 0x524f5848; // "HXOR" read as little-endian u32
/** §O.3 Size of a record header. */
export const RECORD_HEADER_SIZE = 64;
/** §O.3 The checksum (first 16 bytes of BLAKE3-256) covers the record from this offset to its end. */
export const RECORD_CHECKSUM_FROM = 16;
/** §O.3 Most pages one DATA record carries (8 MiB): bounds what a reader loads per record. */
export const MAX_DATA_RECORD_PAGES = 2048;
/** §O.3 Most pages one ZERO record covers (the u32 page count). */
export const MAX_ZERO_RECORD_PAGES = 0xffff_ffff;

/** §O.3 Record kinds. */
export const RecordKind = {
  /** The pages' bytes follow the header. */
  DATA: 1,
  /** The pages read as zeros (write-zeroes, trim, or written pages that were all zero). */
  ZERO: 2,
} as const;
/** One of the {@link RecordKind} values. */
export type RecordKindId = (typeof RecordKind)[keyof typeof RecordKind];

/** A decoded record header. */
export interface RecordHeader {
  kind: RecordKindId;
  /** Stream index (0 disk, 1 memory). */
  stream: number;
  /** First page (byte offset / 4096). */
  page: number;
  /** Pages covered, ≥ 1. */
  count: number;
  /** Monotonic across the log, ≥ 1. */
  sequence: number;
}

/** Total bytes of a record with `h`'s header: the header plus, for DATA, its pages. */
export function recordLength(h: Pick<RecordHeader, 'kind' | 'count'>): number {
  return RECORD_HEADER_SIZE + (h.kind === RecordKind.DATA ? h.count * OVERLAY_PAGE_SIZE : 0);
}

/**
 * A whole record in one buffer, checksum filled in: `payload` (DATA only, count × 4096 bytes) is
 * copied after the header, so the caller writes it with one positional write.
 * @throws RangeError when the payload does not match the kind and count, or a field is out of range.
 */
export function encodeRecord(h: RecordHeader, payload: Uint8Array | undefined, digest: Digest32): Uint8Array {
  const max = h.kind === RecordKind.DATA ? MAX_DATA_RECORD_PAGES : MAX_ZERO_RECORD_PAGES;
  if (!Number.isSafeInteger(h.count) || h.count < 1 || h.count > max) throw new RangeError(`a record covers 1..${max} pages, not ${h.count}`);
  if (h.kind !== RecordKind.DATA && h.kind !== RecordKind.ZERO) throw new RangeError(`unknown record kind ${h.kind}`);
  const dataLength = h.kind === RecordKind.DATA ? h.count * OVERLAY_PAGE_SIZE : 0;
  if ((payload?.length ?? 0) !== dataLength) throw new RangeError(`record payload of ${payload?.length ?? 0} bytes, expected ${dataLength}`);
  const out = new Uint8Array(RECORD_HEADER_SIZE + dataLength);
  const v = new DataView(out.buffer);
  v.setUint32(16, RECORD_MAGIC, true);
  v.setUint8(20, h.kind);
  v.setUint8(21, h.stream);
  v.setUint32(24, h.count, true);
  v.setBigUint64(32, BigInt(h.page), true);
  v.setBigUint64(40, BigInt(h.sequence), true);
  if (payload) out.set(payload, RECORD_HEADER_SIZE);
  out.set(digest(out.subarray(RECORD_CHECKSUM_FROM)).subarray(0, 16), 0);
  return out;
}

/**
 * Decodes a record header's fields without checking the checksum (which needs the payload):
 * enough to know how long the record is.
 * @returns the header, or a reason it cannot be one (bad magic, kind, count, or a u64 past 2^53).
 */
export function decodeRecordHeader(bytes: Uint8Array): RecordHeader | { invalid: string } {
  if (bytes.length < RECORD_HEADER_SIZE) return { invalid: 'truncated header' };
  const v = new DataView(bytes.buffer, bytes.byteOffset, RECORD_HEADER_SIZE);
  if (v.getUint32(16, true) !== RECORD_MAGIC) return { invalid: 'bad magic' };
  const kind = v.getUint8(20);
  if (kind !== RecordKind.DATA && kind !== RecordKind.ZERO) return { invalid: `unknown kind ${kind}` };
  const count = v.getUint32(24, true);
  if (count < 1 || (kind === RecordKind.DATA && count > MAX_DATA_RECORD_PAGES)) return { invalid: `page count ${count}` };
  // u64s as two u32 halves (no BigInt: a scan decodes a header per 4 KiB written).
  const page = u53(v, 32);
  const sequence = u53(v, 40);
  if (page < 0 || sequence < 1) return { invalid: 'field out of range' };
  return { kind, stream: v.getUint8(21), page, count, sequence };
}

/** The u64 at `at`, or −1 when it is above 2^53 − 1. */
function u53(v: DataView, at: number): number {
  const high = v.getUint32(at + 4, true);
  return high > 0x1f_ffff ? -1 : high * 0x1_0000_0000 + v.getUint32(at, true);
}

/** True when a whole record (header and payload, `recordLength` bytes) matches its checksum. */
export function recordChecksumMatches(record: Uint8Array, digest: Digest32): boolean {
  return bytesEqual(digest(record.subarray(RECORD_CHECKSUM_FROM)).subarray(0, 16), record.subarray(0, 16));
}

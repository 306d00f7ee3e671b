/**
 * Pure encode/decode of an overlay file's header page and its two state slots (docs/FORMAT.md,
 * "Overlay files", §O.1–§O.2). Bytes in, plain objects out; no I/O. The digest is injected so
 * this stays free of native code.
 */
import { MAGIC, STREAM_NAMES } from '../format/constants.js';
import { bytesEqual, copyBytes, type Digest32 } from '../format/digest.js';
import { CorruptArchiveError, NotAnArchiveError, UnsupportedError } from '../errors.js';

/** §O.1 Magic at offset 0: ASCII "HXZOVL", then 0x00 0x01. */
export const OVERLAY_MAGIC = Uint8Array.of(0x48, 0x58, 0x5a, 0x4f, 0x56, 0x4c, 0x00, 0x01);
/** §O.1 The overlay format version this build writes and reads. */
export const OVERLAY_VERSION = 1;
/** §O.1 Granularity of an overlay: writes are kept in pages of this many bytes. */
export const OVERLAY_PAGE_SIZE = 4096;
/** §O.1 The header page occupies bytes [0, 4096); the record log starts right after it. */
export const OVERLAY_HEADER_SIZE = 4096;
/** §O.1 Longest recorded base path, in bytes of UTF-8. */
export const MAX_OVERLAY_BASE_PATH = 2048;
/** §O.1 The fixed part's BLAKE3-256 is stored at [2528, 2560) and covers [0, 2528). */
export const OVERLAY_HEADER_CHECKSUM_OFFSET = 2528;
/**
 * §O.2 Offsets of state slots A and B. Each sits in its own 512-byte sector, apart from the
 * fixed part, so a torn sector write while one slot is rewritten cannot take the other with it.
 */
export const OVERLAY_SLOT_OFFSETS = [3072, 3584] as const;
/** §O.2 Size of a state slot. */
export const OVERLAY_SLOT_SIZE = 64;
/** §O.1 Required-feature bits this build understands (none yet; reserved e.g. for encrypted payloads). */
export const KNOWN_OVERLAY_FLAGS = 0;

const PATH_OFFSET = 160;
const STREAM_OFFSET = 96;
const STREAM_RECORD = 16;
const SLOT_CHECKSUM_OFFSET = 48;

/** One stream as an overlay header records it: whether the base has it, and its size in bytes. */
export interface OverlayStream {
  present: boolean;
  /** Logical size in bytes (0 when absent). */
  size: number;
}

/** The fixed part of an overlay header (§O.1), written once when the overlay is created. */
export interface OverlayHeader {
  version: number;
  /** Page size in bytes (always {@link OVERLAY_PAGE_SIZE}). */
  pageSize: number;
  /** Required-feature bits (0). */
  flags: number;
  /** Creation time, ms since the Unix epoch. */
  createdMs: number;
  /** 16 random bytes naming this overlay (kept by compaction). */
  overlayId: Uint8Array;
  /** The base archive's 16-byte archive id. */
  baseId: Uint8Array;
  /** The base's identity: BLAKE3-256 of its neutral header (FORMAT.md §15.2). */
  baseIdentity: Uint8Array;
  /** Per stream in STREAM_NAMES order (disk, memory). */
  streams: OverlayStream[];
  /** Where the base was, relative to the overlay's directory (`/`-separated), or a URL. */
  basePath: string;
}

/** A state slot (§O.2): how far the log is known durable. */
export interface OverlaySlot {
  /** Slot sequence, ≥ 1; the valid slot with the highest one wins. Odd ones live in slot A, even in B. */
  sequence: number;
  /** File offset up to which records were fdatasync'ed before this slot was written. */
  flushedEnd: number;
  /** Sequence number of the last record before `flushedEnd` (0: none). */
  lastRecord: number;
  /** When the flush happened, ms since the Unix epoch. */
  flushedMs: number;
}

/**
 * The header page (4096 bytes) for `h` with slot A holding `slot` and slot B empty (invalid),
 * as a new overlay starts.
 * @throws RangeError for a base path that is empty or longer than {@link MAX_OVERLAY_BASE_PATH}, or ids of the wrong size.
 */
export function encodeOverlayHeader(h: OverlayHeader, slot: OverlaySlot, digest: Digest32): Uint8Array {
  const path = new TextEncoder().encode(h.basePath);
  if (path.length === 0 || path.length > MAX_OVERLAY_BASE_PATH) throw new RangeError(`base path of ${path.length} bytes (1..${MAX_OVERLAY_BASE_PATH})`);
  if (h.overlayId.length !== 16 || h.baseId.length !== 16 || h.baseIdentity.length !== 32) throw new RangeError('overlay id and base id are 16 bytes, base identity 32');
  if (h.streams.length !== STREAM_NAMES.length) throw new RangeError(`an overlay header has ${STREAM_NAMES.length} stream records`);
  const out = new Uint8Array(OVERLAY_HEADER_SIZE);
  const v = view(out);
  out.set(OVERLAY_MAGIC, 0);
  v.setUint32(8, h.version, true);
  v.setUint32(12, h.pageSize, true);
  v.setUint32(16, h.flags, true);
  v.setBigUint64(24, BigInt(h.createdMs), true);
  out.set(h.overlayId, 32);
  out.set(h.baseId, 48);
  out.set(h.baseIdentity, 64);
  h.streams.forEach((s, i) => {
    const at = STREAM_OFFSET + i * STREAM_RECORD;
    v.setUint8(at, s.present ? 1 : 0);
    v.setBigUint64(at + 8, BigInt(s.present ? s.size : 0), true);
  });
  v.setUint16(128, path.length, true);
  out.set(path, PATH_OFFSET);
  out.set(digest(out.subarray(0, OVERLAY_HEADER_CHECKSUM_OFFSET)), OVERLAY_HEADER_CHECKSUM_OFFSET);
  out.set(encodeOverlaySlot(slot, digest), slotOffset(slot.sequence));
  return out;
}

/**
 * Decodes the fixed part of a header page (the first 4096 bytes of an overlay file).
 * @param name the file, for messages.
 * @throws NotAnArchiveError when the bytes are too short or do not start with the overlay magic.
 * @throws UnsupportedError for another version, page size or unknown required flags.
 * @throws CorruptArchiveError when the checksum or a field is wrong.
 */
export function decodeOverlayHeader(page: Uint8Array, digest: Digest32, name = 'overlay'): OverlayHeader {
  const where = { archive: name, stage: 'overlay header' };
  if (page.length < OVERLAY_HEADER_SIZE) {
    throw new NotAnArchiveError(`${name}: not an overlay file (${page.length} bytes, shorter than the ${OVERLAY_HEADER_SIZE}-byte header)`, where);
  }
  if (!bytesEqual(page.subarray(0, 8), OVERLAY_MAGIC)) {
    const archive = bytesEqual(page.subarray(0, 4), MAGIC);
    throw new NotAnArchiveError(`${name}: not an overlay file (${archive ? 'it is a hexz archive' : 'wrong magic'})`, where);
  }
  const v = view(page);
  const version = v.getUint32(8, true);
  if (version !== OVERLAY_VERSION) throw new UnsupportedError(`${name}: overlay format version ${version} is not supported (this build reads version ${OVERLAY_VERSION})`, where);
  if (!bytesEqual(digest(page.subarray(0, OVERLAY_HEADER_CHECKSUM_OFFSET)), page.subarray(OVERLAY_HEADER_CHECKSUM_OFFSET, OVERLAY_HEADER_CHECKSUM_OFFSET + 32))) {
    throw new CorruptArchiveError(`${name}: overlay header fails its checksum`, where);
  }
  const pageSize = v.getUint32(12, true);
  if (pageSize !== OVERLAY_PAGE_SIZE) throw new UnsupportedError(`${name}: overlay page size ${pageSize} is not supported (only ${OVERLAY_PAGE_SIZE})`, where);
  const flags = v.getUint32(16, true);
  if ((flags & ~KNOWN_OVERLAY_FLAGS) !== 0) throw new UnsupportedError(`${name}: overlay requires features this build does not have (flags 0x${flags.toString(16)})`, where);
  const u64 = (at: number, what: string) => {
    const x = v.getBigUint64(at, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptArchiveError(`${name}: overlay header field ${what} is out of range (${x})`, where);
    return Number(x);
  };
  const streams = STREAM_NAMES.map((s, i) => {
    const at = STREAM_OFFSET + i * STREAM_RECORD;
    const present = (v.getUint8(at) & 1) === 1;
    const size = u64(at + 8, `${s}.size`);
    if (!present && size !== 0) throw new CorruptArchiveError(`${name}: overlay header: absent stream ${s} has size ${size}`, where);
    return { present, size };
  });
  if (!streams.some((s) => s.present)) throw new CorruptArchiveError(`${name}: overlay header names no stream`, where);
  const pathLength = v.getUint16(128, true);
  if (pathLength === 0 || pathLength > MAX_OVERLAY_BASE_PATH) throw new CorruptArchiveError(`${name}: overlay header: base path length ${pathLength}`, where);
  let basePath: string;
  try {
    basePath = new TextDecoder('utf-8', { fatal: true }).decode(page.subarray(PATH_OFFSET, PATH_OFFSET + pathLength));
  } catch {
    throw new CorruptArchiveError(`${name}: overlay header: base path is not UTF-8`, where);
  }
  return {
    version, pageSize, flags, createdMs: u64(24, 'created'),
    overlayId: copyBytes(page, 32, 48), baseId: copyBytes(page, 48, 64), baseIdentity: copyBytes(page, 64, 96),
    streams, basePath,
  };
}

/** The 64 bytes of a state slot (§O.2). */
export function encodeOverlaySlot(slot: OverlaySlot, digest: Digest32): Uint8Array {
  const out = new Uint8Array(OVERLAY_SLOT_SIZE);
  const v = view(out);
  v.setBigUint64(0, BigInt(slot.sequence), true);
  v.setBigUint64(8, BigInt(slot.flushedEnd), true);
  v.setBigUint64(16, BigInt(slot.lastRecord), true);
  v.setBigUint64(24, BigInt(slot.flushedMs), true);
  out.set(digest(out.subarray(0, SLOT_CHECKSUM_OFFSET)).subarray(0, 16), SLOT_CHECKSUM_OFFSET);
  return out;
}

/**
 * Decodes one slot's 64 bytes.
 * @returns the slot, or undefined when it is not valid (never written, torn, or damaged): the
 *   other slot is then used.
 */
export function decodeOverlaySlot(bytes: Uint8Array, digest: Digest32): OverlaySlot | undefined {
  if (bytes.length < OVERLAY_SLOT_SIZE) return undefined;
  if (!bytesEqual(digest(bytes.subarray(0, SLOT_CHECKSUM_OFFSET)).subarray(0, 16), bytes.subarray(SLOT_CHECKSUM_OFFSET, OVERLAY_SLOT_SIZE))) return undefined;
  const v = view(bytes);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  const fields = [0, 8, 16, 24].map((at) => v.getBigUint64(at, true));
  if (fields.some((x) => x > max)) return undefined;
  const [sequence, flushedEnd, lastRecord, flushedMs] = fields.map(Number);
  if (sequence < 1 || flushedEnd < OVERLAY_HEADER_SIZE) return undefined;
  return { sequence, flushedEnd, lastRecord, flushedMs };
}

/**
 * The slot that counts in a header page: of the valid ones, the highest sequence.
 * @returns the slot and which one it is (0 = A, 1 = B), or undefined when neither is valid.
 */
export function pickOverlaySlot(page: Uint8Array, digest: Digest32): { slot: OverlaySlot; index: 0 | 1 } | undefined {
  let best: { slot: OverlaySlot; index: 0 | 1 } | undefined;
  OVERLAY_SLOT_OFFSETS.forEach((at, index) => {
    const slot = decodeOverlaySlot(page.subarray(at, at + OVERLAY_SLOT_SIZE), digest);
    if (slot && (!best || slot.sequence > best.slot.sequence)) best = { slot, index: index as 0 | 1 };
  });
  return best;
}

/** §O.2 File offset of the slot that holds slot sequence `sequence`: odd ones in A, even ones in B. */
export function slotOffset(sequence: number): number {
  return OVERLAY_SLOT_OFFSETS[sequence % 2 === 1 ? 0 : 1];
}

/** Number of pages a stream of `size` bytes spans (the last one may be partial). */
export function pagesOf(size: number): number {
  return Math.ceil(size / OVERLAY_PAGE_SIZE);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

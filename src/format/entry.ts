/**
 * Pure encode/decode of one 64-byte index entry (docs/FORMAT.md §5).
 */
import { Codec, type CodecId, ENTRY_SIZE, EntryKind, type EntryKindId, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from './constants.js';
import { bytesEqual } from './digest.js';
import { CorruptArchiveError } from '../errors.js';

/** One index entry: a logical extent of a stream and where its bytes are. */
export interface IndexEntry {
  /** Logical byte offset within the stream. */
  offset: number;
  /** Logical length in bytes (> 0). */
  length: number;
  kind: EntryKindId;
  /** How the stored bytes are encoded: NONE means stored raw. */
  encoding: CodecId;
  /** Which archive holds the stored bytes: 0 = this one (parents are reserved for thin snapshots). */
  slot: number;
  /** Absolute offset and length of the stored bytes (0/0 for ZERO). */
  storedOffset: number;
  storedLength: number;
  /**
   * BLAKE3-256 of the logical (uncompressed) bytes; all zero for ZERO entries. For a SLICE
   * entry, of the whole stored block's decoded bytes ({@link blockLength} of them).
   */
  hash: Uint8Array;
  /** Decoded bytes of the stored block before this entry's first byte: 0 except for SLICE entries (§5, version 8). */
  skip: number;
  /**
   * Decoded length of the stored block, in bytes: what its stored bytes must decode to and its
   * hash covers. Equal to `length` except for SLICE entries (a power of two, ≥ skip + length).
   */
  blockLength: number;
}

/** The entry of the part `[from, to)` (logical offsets inside `e`) of `e`: `e` itself when whole, else a SLICE of its stored block. */
export function sliceOf(e: IndexEntry, from: number, to: number): IndexEntry {
  if (from === e.offset && to === e.offset + e.length) return e;
  if (e.kind === EntryKind.ZERO) return { ...e, offset: from, length: to - from, blockLength: to - from };
  return { ...e, kind: EntryKind.SLICE, offset: from, length: to - from, skip: e.skip + (from - e.offset) };
}

/**
 * True when entries `a` and `b` (both covering logical offset `pos`) prove their bytes from
 * `pos` on equal as far as both reach: both zero, or the same stored content (hash) at the same
 * place in its block (a DATA or DEDUP entry holds its block from byte 0, a SLICE from `skip`).
 */
export function sameBytes(a: IndexEntry, b: IndexEntry, pos: number): boolean {
  if (a.kind === EntryKind.ZERO || b.kind === EntryKind.ZERO) return a.kind === b.kind;
  return a.skip + (pos - a.offset) === b.skip + (pos - b.offset) && bytesEqual(a.hash, b.hash);
}

/** True when a part of `e`'s stored block can be referred to by a SLICE entry: its decoded length is a power of two from 4 KiB to 4 MiB (§5). */
export function sliceable(e: IndexEntry): boolean {
  const n = e.blockLength;
  return e.kind !== EntryKind.ZERO && n >= MIN_BLOCK_SIZE && n <= MAX_BLOCK_SIZE && (n & (n - 1)) === 0;
}

/** Writes `e` as 64 bytes at `at` of `view`'s buffer. */
export function encodeEntry(view: DataView, bytes: Uint8Array, at: number, e: IndexEntry): void {
  encodeEntryFields(view, bytes, at, e.offset, e.length, e.kind, e.encoding, e.slot, e.storedOffset, e.storedLength, e.hash, e.skip, e.blockLength);
}

/**
 * {@link encodeEntry} from the fields one by one (a writer copying many entries with another
 * offset or slot need not build an object per entry). Offsets are below 2^53.
 */
export function encodeEntryFields(
  view: DataView, bytes: Uint8Array, at: number, offset: number, length: number, kind: EntryKindId, encoding: CodecId, slot: number,
  storedOffset: number, storedLength: number, hash: Uint8Array, skip = 0, blockLength = length,
): void {
  // Two 32-bit halves rather than setBigUint64: no BigInt per field (index writing is per entry).
  view.setUint32(at, offset >>> 0, true);
  view.setUint32(at + 4, Math.floor(offset / 0x1_0000_0000), true);
  view.setUint32(at + 8, length, true);
  view.setUint8(at + 12, kind);
  view.setUint8(at + 13, encoding);
  view.setUint8(at + 14, slot);
  // A SLICE's block length as its base-2 logarithm and its skip (§5); reserved zeros otherwise.
  const slice = kind === EntryKind.SLICE;
  view.setUint8(at + 15, slice ? Math.log2(blockLength) : 0);
  view.setUint32(at + 16, storedOffset >>> 0, true);
  view.setUint32(at + 20, Math.floor(storedOffset / 0x1_0000_0000), true);
  view.setUint32(at + 24, storedLength, true);
  view.setUint32(at + 28, slice ? skip : 0, true);
  bytes.set(hash.length === 32 ? hash : hash.subarray(0, 32), at + 32);
}

/** The fields of an entry without its hash, as {@link checkEntryFields} validates them. */
export type EntryFields = Omit<IndexEntry, 'hash'>;

/**
 * Reads and validates the fields of the 64-byte entry at `at` without allocating (the leaf
 * check of §8.2 runs it over every entry of a node). `sealOverhead` (§12.4) is what encryption
 * adds to every stored extent: 28 bytes in encrypted archives, else 0. `slices`: the archive
 * sets the SLICES feature (version 8), so SLICE entries are allowed.
 * @throws CorruptArchiveError for an unknown kind or encoding or an inconsistent extent.
 */
export function checkEntryFields(view: DataView, at: number, sealOverhead = 0, slices = false): EntryFields {
  const offset = safeU64(view, at);
  const length = view.getUint32(at + 8, true);
  const kind = view.getUint8(at + 12);
  const encoding = view.getUint8(at + 13);
  const storedOffset = safeU64(view, at + 16);
  const storedLength = view.getUint32(at + 24, true);
  if (length === 0) throw new CorruptArchiveError('index entry with zero length', { stage: 'index', offset });
  if (kind > EntryKind.SLICE || (kind === EntryKind.SLICE && !slices)) throw new CorruptArchiveError(`index entry with unknown kind ${kind}`, { stage: 'index', offset });
  let skip = 0;
  let blockLength = length;
  if (kind === EntryKind.SLICE) {
    const log2 = view.getUint8(at + 15);
    skip = view.getUint32(at + 28, true);
    if (log2 < 12 || log2 > 22) throw new CorruptArchiveError(`slice entry of a block of 2^${log2} bytes (2^12 to 2^22 allowed)`, { stage: 'index', offset });
    blockLength = 2 ** log2;
    if (skip + length > blockLength) throw new CorruptArchiveError(`slice entry [${skip}, ${skip + length}) reaches past its block of ${blockLength} bytes`, { stage: 'index', offset });
  }
  // Bounds what a damaged or crafted entry can make a reader allocate.
  if (kind !== EntryKind.ZERO && (blockLength > MAX_BLOCK_SIZE || storedLength > blockLength + sealOverhead || (sealOverhead > 0 && storedLength <= sealOverhead))) {
    throw new CorruptArchiveError(`index entry with an impossible size (${blockLength} bytes, ${storedLength} stored)`, { stage: 'index', offset });
  }
  if (encoding > Codec.ZSTD) throw new CorruptArchiveError(`index entry with unknown encoding ${encoding}`, { stage: 'index', offset });
  if (kind === EntryKind.ZERO ? storedLength !== 0 : storedLength === 0) {
    throw new CorruptArchiveError('index entry with an inconsistent stored length', { stage: 'index', offset });
  }
  if (kind !== EntryKind.ZERO && encoding === Codec.NONE && storedLength !== blockLength + sealOverhead) {
    throw new CorruptArchiveError('raw index entry whose stored length differs from its length', { stage: 'index', offset });
  }
  return { offset, length, kind: kind as EntryKindId, encoding: encoding as CodecId, slot: view.getUint8(at + 14), storedOffset, storedLength, skip, blockLength };
}

/**
 * Reads the 64-byte entry at `at`, validating its fields ({@link checkEntryFields}).
 * @throws CorruptArchiveError for an unknown kind or encoding or an inconsistent extent.
 */
export function decodeEntry(view: DataView, bytes: Uint8Array, at: number, sealOverhead = 0, slices = false): IndexEntry {
  const e = checkEntryFields(view, at, sealOverhead, slices) as IndexEntry;
  // A view, not a copy: readers decode entries on every read (a server, thousands a second),
  // and index node buffers are never written after they are checked. Keep the hash of an entry
  // you hold for long? It keeps its node's buffer alive, which the node cache does anyway.
  e.hash = bytes.subarray(at + 32, at + ENTRY_SIZE);
  return e;
}

/**
 * Reads a u64 that must fit a JavaScript safe integer (2^53 - 1).
 * @throws CorruptArchiveError when it does not.
 */
export function safeU64(view: DataView, at: number): number {
  // Two u32 halves instead of getBigUint64: no BigInt allocation on the hot decode path.
  const hi = view.getUint32(at + 4, true);
  if (hi > 0x1fffff) throw new CorruptArchiveError(`index field out of range (high word 0x${hi.toString(16)})`, { stage: 'index' });
  return hi * 0x100000000 + view.getUint32(at, true);
}

/**
 * Pure encode/decode of thin-snapshot parent references (docs/FORMAT.md §15): the summary at
 * header 512..1024 and the parents table it points at, plus the identity of an archive.
 */
import { copyBytes, type Digest32 } from './digest.js';
import type { Extent } from './header.js';
import { neutralHeader } from './signature.js';
import { CorruptArchiveError } from '../errors.js';

/** §15.1 Most parent slots (entry slot is a u8; 0 means "this archive"). */
export const MAX_PARENTS = 255;
/** §15.1 Largest parents table a reader accepts. */
export const MAX_PARENTS_TABLE = 1 << 20;
/** §15.2 Longest stored path, in bytes of UTF-8. */
export const MAX_PARENT_PATH = 4096;
const RECORD_FIXED = 56;

/** The header's summary of a thin archive's parents (§15.1); count 0 when not thin. */
export interface ParentsInfo {
  count: number;
  table: Extent;
  /** BLAKE3-256 of the table's bytes. */
  tableHash: Uint8Array;
  /** Σ length of the entries whose slot ≠ 0 (informative). */
  referencedBytes: number;
  /** Archive id of slot 1 (zeros when not thin). */
  directParentId: Uint8Array;
}

/** One record of the parents table (§15.2). */
export interface ParentRecord {
  /** 1..255; slot 1 is the direct parent. */
  slot: number;
  /** 16-byte archive id. */
  archiveId: Uint8Array;
  /** BLAKE3-256 of the archive's neutral header ({@link archiveIdentity}). */
  identity: Uint8Array;
  /** Path relative to the child's directory, `/`-separated. */
  path: string;
}

/** A ParentsInfo of a non-thin archive. */
export function emptyParentsInfo(): ParentsInfo {
  return { count: 0, table: { offset: 0, length: 0 }, tableHash: new Uint8Array(32), referencedBytes: 0, directParentId: new Uint8Array(16) };
}

/** Writes `p` into the 512-byte region (`out` is the region itself). */
export function encodeParentsInfo(out: Uint8Array, p: ParentsInfo): void {
  const v = new DataView(out.buffer, out.byteOffset, 512);
  out.fill(0, 0, 512);
  v.setUint16(0, p.count, true);
  v.setBigUint64(8, BigInt(p.table.offset), true);
  v.setUint32(16, p.table.length, true);
  out.set(p.tableHash.subarray(0, 32), 24);
  v.setBigUint64(56, BigInt(p.referencedBytes), true);
  out.set(p.directParentId.subarray(0, 16), 64);
}

/**
 * Decodes the 512-byte region (header bytes 512..1024).
 * @throws CorruptArchiveError for a table longer than {@link MAX_PARENTS_TABLE} or out-of-range u64s.
 */
export function decodeParentsInfo(region: Uint8Array): ParentsInfo {
  const v = new DataView(region.buffer, region.byteOffset, 512);
  const u64 = (at: number, what: string) => {
    const x = v.getBigUint64(at, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptArchiveError(`header field ${what} is out of range (${x})`, { stage: 'header' });
    return Number(x);
  };
  const count = v.getUint16(0, true);
  const table = { offset: u64(8, 'parents.offset'), length: v.getUint32(16, true) };
  if (count > MAX_PARENTS || table.length > MAX_PARENTS_TABLE || (count > 0) !== (table.length > 0)) {
    throw new CorruptArchiveError(`invalid parents table: ${count} parents in ${table.length} bytes`, { stage: 'header' });
  }
  return {
    count, table, tableHash: copyBytes(region, 24, 56), referencedBytes: u64(56, 'parents.referencedBytes'),
    directParentId: copyBytes(region, 64, 80),
  };
}

/**
 * Encodes the parents table; records must be in slot order 1, 2, ….
 * @throws RangeError for more than 255 records, a path that is empty or too long, or slots out of order.
 */
export function encodeParentsTable(records: ParentRecord[]): Uint8Array {
  if (records.length === 0 || records.length > MAX_PARENTS) throw new RangeError(`a thin archive has 1 to ${MAX_PARENTS} parents, not ${records.length}`);
  const paths = records.map((r) => new TextEncoder().encode(r.path));
  const out = new Uint8Array(paths.reduce((n, p) => n + RECORD_FIXED + p.length, 0));
  const v = new DataView(out.buffer);
  let at = 0;
  records.forEach((r, i) => {
    if (r.slot !== i + 1) throw new RangeError(`parent record ${i} has slot ${r.slot}, expected ${i + 1}`);
    const p = paths[i];
    if (p.length === 0 || p.length > MAX_PARENT_PATH) throw new RangeError(`parent path of ${p.length} bytes (1..${MAX_PARENT_PATH})`);
    v.setUint8(at, r.slot);
    v.setUint8(at + 1, r.slot === 1 ? 1 : 0);
    v.setUint16(at + 2, p.length, true);
    out.set(r.archiveId.subarray(0, 16), at + 8);
    out.set(r.identity.subarray(0, 32), at + 24);
    out.set(p, at + RECORD_FIXED);
    at += RECORD_FIXED + p.length;
  });
  return out;
}

/**
 * Decodes a parents table of `count` records.
 * @throws CorruptArchiveError when the bytes do not hold exactly `count` well-formed records.
 */
export function decodeParentsTable(bytes: Uint8Array, count: number): ParentRecord[] {
  const bad = (why: string) => new CorruptArchiveError(`parents table: ${why}`, { stage: 'parents' });
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: ParentRecord[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + RECORD_FIXED > bytes.length) throw bad(`record ${i + 1} is truncated`);
    const slot = v.getUint8(at);
    const flags = v.getUint8(at + 1);
    const len = v.getUint16(at + 2, true);
    if (slot !== i + 1) throw bad(`record ${i + 1} has slot ${slot}`);
    if (((flags & 1) === 1) !== (slot === 1)) throw bad(`record ${slot} has direct-parent flag ${flags & 1}`);
    if (len === 0 || len > MAX_PARENT_PATH || at + RECORD_FIXED + len > bytes.length) throw bad(`record ${slot} has a bad path length ${len}`);
    let path: string;
    try {
      path = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at + RECORD_FIXED, at + RECORD_FIXED + len));
    } catch {
      throw bad(`record ${slot} has a path that is not UTF-8`);
    }
    out.push({ slot, archiveId: bytes.slice(at + 8, at + 24), identity: bytes.slice(at + 24, at + 56), path });
    at += RECORD_FIXED + len;
  }
  if (at !== bytes.length) throw bad(`${bytes.length - at} bytes after the last record`);
  return out;
}

/**
 * The identity of an archive (§15.2): BLAKE3-256 of its neutral header. Ignores the signature
 * extent and key envelope, so re-signing or `passwd` keep children valid.
 */
export function archiveIdentity(headerBytes: Uint8Array, digest: Digest32): Uint8Array {
  return digest(neutralHeader(headerBytes));
}

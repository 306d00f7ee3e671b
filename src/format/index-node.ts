/**
 * Pure encode/decode of index nodes (docs/FORMAT.md §6). A stream's index is a tree of nodes:
 * leaves (level 0) hold entries sorted by logical offset, internal nodes hold child records.
 * Each child record carries the child's BLAKE3-256, so the header's root hash authenticates
 * the whole index.
 */
import {
  CHILD_RECORD_SIZE, ENTRY_SIZE, NODE_HEADER_SIZE, NODE_MAGIC, NODE_MAX_RECORDS,
} from './constants.js';
import { decodeEntry, safeU64, type IndexEntry } from './entry.js';
import { CorruptArchiveError } from '../errors.js';

/** A pointer from an internal node to a child node. */
export interface ChildRecord {
  /** Logical offset of the first byte the child covers. */
  firstOffset: number;
  /** Absolute offset and length of the child node in the archive. */
  nodeOffset: number;
  nodeLength: number;
  /** Number of entries in the child's subtree. */
  entryCount: number;
  /** BLAKE3-256 of the child node's bytes. */
  hash: Uint8Array;
}

/** A decoded node: the raw bytes plus each record's first logical offset for binary search. */
export interface IndexNode {
  level: number;
  stream: number;
  count: number;
  /** `firsts[i]` = logical offset of record i (entry offset or child firstOffset). */
  firsts: Float64Array;
  bytes: Uint8Array;
  view: DataView;
}

/** Byte size of a node holding `count` records. */
export function nodeSize(count: number): number {
  return NODE_HEADER_SIZE + count * ENTRY_SIZE; // CHILD_RECORD_SIZE === ENTRY_SIZE
}

/** Writes a node header into the first 16 bytes of `view`. */
export function encodeNodeHeader(view: DataView, level: number, stream: number, count: number): void {
  view.setUint32(0, NODE_MAGIC, true);
  view.setUint8(4, level);
  view.setUint8(5, stream);
  view.setUint16(6, 0, true);
  view.setUint32(8, count, true);
  view.setUint32(12, 0, true);
}

/** Writes child record `c` at `at`. */
export function encodeChild(view: DataView, bytes: Uint8Array, at: number, c: ChildRecord): void {
  view.setBigUint64(at, BigInt(c.firstOffset), true);
  view.setBigUint64(at + 8, BigInt(c.nodeOffset), true);
  view.setUint32(at + 16, c.nodeLength, true);
  view.setUint32(at + 20, 0, true);
  view.setBigUint64(at + 24, BigInt(c.entryCount), true);
  bytes.set(c.hash.subarray(0, 32), at + 32);
}

/**
 * Decodes and structurally validates a node.
 * @throws CorruptArchiveError when the magic, level, stream, size or ordering is wrong.
 */
export function decodeNode(bytes: Uint8Array, expectLevel: number, expectStream: number): IndexNode {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new CorruptArchiveError(`index node: ${why}`, { stage: 'index' });
  if (bytes.length < NODE_HEADER_SIZE || view.getUint32(0, true) !== NODE_MAGIC) throw bad('bad magic');
  const level = view.getUint8(4);
  const stream = view.getUint8(5);
  const count = view.getUint32(8, true);
  if (level !== expectLevel) throw bad(`level ${level}, expected ${expectLevel}`);
  if (stream !== expectStream) throw bad(`stream ${stream}, expected ${expectStream}`);
  if (count === 0 || count > NODE_MAX_RECORDS) throw bad(`record count ${count}`);
  if (bytes.length !== nodeSize(count)) throw bad(`size ${bytes.length} for ${count} records`);
  const firsts = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    firsts[i] = safeU64(view, NODE_HEADER_SIZE + i * ENTRY_SIZE);
    if (i > 0 && !(firsts[i] > firsts[i - 1])) throw bad('records out of order');
  }
  return { level, stream, count, firsts, bytes, view };
}

/** Index of the record covering logical `offset` (the last with first <= offset), or -1. O(log n). */
export function findRecord(node: IndexNode, offset: number): number {
  let lo = 0;
  let hi = node.count - 1;
  if (offset < node.firsts[0]) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (node.firsts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Decodes entry `i` of a leaf node. `sealOverhead` is 28 in encrypted archives (stored
 * extents carry a nonce and tag, §12.4), else 0; `slices`: SLICE entries are allowed (the
 * archive sets the SLICES feature).
 */
export function leafEntry(node: IndexNode, i: number, sealOverhead = 0, slices = false): IndexEntry {
  return decodeEntry(node.view, node.bytes, NODE_HEADER_SIZE + i * ENTRY_SIZE, sealOverhead, slices);
}

/** Decodes child record `i` of an internal node. */
export function childRecord(node: IndexNode, i: number): ChildRecord {
  const at = NODE_HEADER_SIZE + i * CHILD_RECORD_SIZE;
  const v = node.view;
  return {
    firstOffset: safeU64(v, at),
    nodeOffset: safeU64(v, at + 8),
    nodeLength: v.getUint32(at + 16, true),
    entryCount: safeU64(v, at + 24),
    hash: node.bytes.slice(at + 32, at + 64),
  };
}

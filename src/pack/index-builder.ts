import { ENTRY_SIZE, type EntryKindId, LEAF_RECORDS, NODE_HEADER_SIZE, NODE_MAX_RECORDS } from '../format/constants.js';
import type { Digest32 } from '../format/digest.js';
import { encodeEntryFields, type IndexEntry } from '../format/entry.js';
import { encodeChild, encodeNodeHeader, nodeSize, type ChildRecord } from '../format/index-node.js';

/**
 * Where finished nodes go: stores a node of `level` and returns the offset it was written at.
 * The writer places each level of a tree in its own run of the file (§7: the top levels may go
 * in the front index area), so the sink is told the level.
 */
export type NodeSink = (bytes: Uint8Array, level: number) => Promise<number>;

/**
 * Turns an encoded node into the bytes stored for it: the identity for plain archives, the
 * AES-GCM seal for encrypted ones (docs/FORMAT.md §12.4). Child hashes are of the result.
 */
export type NodeSealer = (node: Uint8Array, level: number, firstOffset: number) => Uint8Array;

const identity: NodeSealer = (node) => node;

/**
 * Builds one stream's index leaves as entries arrive, in logical order, writing each full leaf
 * ({@link LEAF_RECORDS} entries) to a sink so memory holds one leaf plus one child record per leaf.
 */
export class LeafBuilder {
  private readonly buf = new Uint8Array(nodeSize(LEAF_RECORDS));
  private readonly view = new DataView(this.buf.buffer);
  private count = 0;
  private first = 0;
  /** Child records of the leaves written so far; offsets are those the sink returned. */
  readonly leaves: ChildRecord[] = [];
  /** Bytes of leaves written so far. */
  bytes = 0;

  constructor(private readonly stream: number, private readonly sink: NodeSink, private readonly digest: Digest32, private readonly sealNode: NodeSealer = identity) {}

  /**
   * Appends `e` at logical `offset` with archive slot `slot` and kind `kind` (the entry's own by
   * default; a thin child lists a parent's DATA as DEDUP), without building an entry object.
   * Entries must arrive in increasing, contiguous logical order.
   * @returns true when the leaf is full: call {@link flush} before the next entry.
   */
  addAt(offset: number, slot: number, e: Omit<IndexEntry, 'offset' | 'slot'>, kind: EntryKindId = e.kind): boolean {
    if (this.count === 0) this.first = offset;
    encodeEntryFields(this.view, this.buf, NODE_HEADER_SIZE + this.count * ENTRY_SIZE, offset, e.length, kind, e.encoding, slot, e.storedOffset, e.storedLength, e.hash, e.skip, e.blockLength);
    return ++this.count === LEAF_RECORDS;
  }

  /** Writes the partial last leaf, if any. */
  async flush(): Promise<void> {
    if (this.count === 0) return;
    encodeNodeHeader(this.view, 0, this.stream, this.count);
    const node = this.sealNode(this.buf.slice(0, nodeSize(this.count)), 0, this.first);
    const at = await this.sink(node, 0);
    this.leaves.push({ firstOffset: this.first, nodeOffset: at, nodeLength: node.length, entryCount: this.count, hash: this.digest(node) });
    this.bytes += node.length;
    this.count = 0;
  }
}

/** The root of a finished tree. */
export interface TreeRoot {
  offset: number;
  length: number;
  level: number;
  hash: Uint8Array;
  /** Bytes of internal nodes written (leaves not included). */
  internalBytes: number;
}

/**
 * Writes internal levels above `leaves` until one node remains and returns it as the root.
 * With a single leaf, that leaf is the root (level 0).
 */
export async function buildTree(stream: number, leaves: ChildRecord[], sink: NodeSink, digest: Digest32, sealNode: NodeSealer = identity): Promise<TreeRoot> {
  let level = 0;
  let nodes = leaves;
  let internalBytes = 0;
  while (nodes.length > 1) {
    level++;
    const parents: ChildRecord[] = [];
    for (let i = 0; i < nodes.length; i += NODE_MAX_RECORDS) {
      const group = nodes.slice(i, i + NODE_MAX_RECORDS);
      const plain = new Uint8Array(nodeSize(group.length));
      const view = new DataView(plain.buffer);
      encodeNodeHeader(view, level, stream, group.length);
      group.forEach((c, k) => encodeChild(view, plain, NODE_HEADER_SIZE + k * ENTRY_SIZE, c));
      const node = sealNode(plain, level, group[0].firstOffset);
      const at = await sink(node, level);
      internalBytes += node.length;
      parents.push({
        firstOffset: group[0].firstOffset, nodeOffset: at, nodeLength: node.length,
        entryCount: group.reduce((n, c) => n + c.entryCount, 0), hash: digest(node),
      });
    }
    nodes = parents;
  }
  const root = nodes[0];
  return { offset: root.nodeOffset, length: root.nodeLength, level, hash: root.hash, internalBytes };
}

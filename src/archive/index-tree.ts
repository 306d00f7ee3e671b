import { NODE_MAX_RECORDS, NODE_HEADER_SIZE, SEAL_OVERHEAD, STREAM_NAMES } from '../format/constants.js';
import { bytesEqual, toHex, type Digest32 } from '../format/digest.js';
import { raceAbort } from '../util/race-abort.js';
import type { IndexEntry } from '../format/entry.js';
import type { StreamRecord } from '../format/header.js';
import { decodeNode, findRecord, leafEntry, nodeSize, type ChildRecord, type IndexNode } from '../format/index-node.js';
import { checkNodePlace, childAt, type LeafRules, type NodePlace } from '../format/node-place.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError, HexzError } from '../errors.js';
import type { LruCache } from '../util/lru.js';
import type { ArchiveOpener } from './reader-platform.js';
import { SealError } from '../crypto/seal-error.js';

/** A verified node in the cache, with the hash it was verified against. */
export interface CachedNode {
  node: IndexNode;
  hash: Uint8Array;
}

/**
 * The key a verified node is cached under: its place (stream, level, logical range) and file
 * offset. A node is only ever reused for the place it was checked for (§8.2), so one stream's
 * node can never answer for the other's, nor a node for another level or range.
 */
export type NodeCacheKey = string;

/** Where an {@link IndexTree} reads its stream's index from. */
export interface IndexTreeOptions {
  /** The storage the archive is read from. */
  source: ByteSource;
  /** The stream's index in the header's stream table (0 disk, 1 memory). */
  streamIndex: number;
  /** The stream's record in the header: root node, entry count, logical size. */
  record: StreamRecord;
  /** Size of the archive in bytes: no node may lie beyond it. */
  fileSize: number;
  /** Verified nodes, shared by the archive's trees. */
  cache: LruCache<NodeCacheKey, CachedNode>;
  /** Opens sealed nodes of an encrypted archive (§12.4). */
  cipher?: ArchiveOpener;
  /** BLAKE3-256, which every node's hash is checked with. */
  blake3: Digest32;
  /** Parent slots a DEDUP entry may name (§15.3): the parents table's count; 0 (the default) when not thin. */
  parentCount?: number;
  /** The archive sets the SLICES feature (version 8): SLICE entries are allowed (§5). */
  slices?: boolean;
}

/** A leaf and the position of one entry in it. */
export interface LeafPosition {
  leaf: IndexNode;
  index: number;
}

/**
 * One stream's index tree, loaded node by node on demand. Every node is checked against the
 * hash its parent (or the header) records and against the logical range its parent gives it
 * before it is used, so a damaged or crafted index is an error. Lookup descends one node per
 * level: O(log n) with fan-out 1024.
 */
export class IndexTree {
  private readonly root: ChildRecord;
  private readonly rootPlace: NodePlace;
  private readonly rules: LeafRules;
  /** Longest stored node: a full node, plus the seal when encrypted (bounds what a crafted reference makes us read). */
  private readonly maxNodeLength: number;
  private readonly inflight = new Map<string, Promise<IndexNode>>();
  private readonly source: ByteSource;
  private readonly streamIndex: number;
  private readonly record: StreamRecord;
  private readonly fileSize: number;
  private readonly cache: LruCache<NodeCacheKey, CachedNode>;
  /** Opens sealed nodes of an encrypted archive (§12.4). */
  private readonly cipher: ArchiveOpener | undefined;
  private readonly blake3: Digest32;

  constructor(options: IndexTreeOptions) {
    const { record, cipher, parentCount = 0, slices = false } = options;
    this.source = options.source;
    this.streamIndex = options.streamIndex;
    this.record = record;
    this.fileSize = options.fileSize;
    this.cache = options.cache;
    this.cipher = cipher;
    this.blake3 = options.blake3;
    this.root = {
      firstOffset: 0, nodeOffset: record.rootOffset, nodeLength: record.rootLength,
      entryCount: record.entryCount, hash: record.rootHash,
    };
    this.rootPlace = { stream: this.streamIndex, level: record.rootLevel, first: 0, end: record.logicalSize };
    this.rules = { sealOverhead: cipher ? SEAL_OVERHEAD : 0, parentCount, slices };
    this.maxNodeLength = nodeSize(NODE_MAX_RECORDS) + this.rules.sealOverhead;
  }

  /** Loads and verifies the root node now (done at open, as qcow2 readers load the L1 table). */
  async loadRoot(signal?: AbortSignal): Promise<void> {
    await this.load(this.root, this.rootPlace, signal);
  }

  /** Finds the leaf entry covering logical `offset` (which must be < the stream size). */
  async find(offset: number, signal?: AbortSignal): Promise<LeafPosition> {
    let ref = this.root;
    let place = this.rootPlace;
    for (;;) {
      const node = await this.load(ref, place, signal);
      const i = findRecord(node, offset);
      if (i < 0) throw this.corrupt(`no index record covers offset ${offset}`, offset);
      // Leaves were checked to tile their range when loaded, so entry i covers `offset`.
      if (place.level === 0) return { leaf: node, index: i };
      ({ ref, place } = childAt(node, i, place));
    }
  }

  /**
   * {@link find} without waiting: descends through nodes in the cache, or read now from a source
   * that reads synchronously (a local file); undefined when a node would have to be waited for
   * (a remote source, an encrypted archive's sealed node, a load in flight).
   * @throws CorruptArchiveError as find.
   */
  findNow(offset: number): LeafPosition | undefined {
    let ref = this.root;
    let place = this.rootPlace;
    for (;;) {
      const node = this.loadNow(ref, place);
      if (!node) return undefined;
      const i = findRecord(node, offset);
      if (i < 0) throw this.corrupt(`no index record covers offset ${offset}`, offset);
      if (place.level === 0) return { leaf: node, index: i };
      ({ ref, place } = childAt(node, i, place));
    }
  }

  /** Yields every entry in logical order, checking that they tile the stream exactly. */
  async *entries(signal?: AbortSignal): AsyncGenerator<IndexEntry> {
    if (this.record.entryCount === 0) return;
    let expect = 0;
    for await (const e of this.walk(this.root, this.rootPlace, signal)) {
      if (e.offset !== expect) throw this.corrupt(`index entries do not tile the stream at offset ${expect}`, expect);
      expect = e.offset + e.length;
      yield e;
    }
    if (expect !== this.record.logicalSize) throw this.corrupt(`index covers ${expect} bytes, stream has ${this.record.logicalSize}`, expect);
  }

  private async *walk(ref: ChildRecord, place: NodePlace, signal?: AbortSignal): AsyncGenerator<IndexEntry> {
    const node = await this.load(ref, place, signal);
    for (let i = 0; i < node.count; i++) {
      if (place.level === 0) yield this.entry(node, i);
      else {
        const child = childAt(node, i, place);
        yield* this.walk(child.ref, child.place, signal);
      }
    }
  }

  /** Decodes entry `i` of `leaf` (already checked with its leaf), naming this stream in any error. */
  entry(leaf: IndexNode, i: number): IndexEntry {
    try {
      return leafEntry(leaf, i, this.rules.sealOverhead, this.rules.slices);
    } catch (err) {
      throw this.located(err);
    }
  }

  /**
   * The verified node at `ref` for `place`: from the cache, from a load already in flight for
   * the same place and hash (concurrent readers of one leaf share one read), or read now.
   */
  private load(ref: ChildRecord, place: NodePlace, signal?: AbortSignal): Promise<IndexNode> {
    const key = nodeKey(ref, place);
    const hit = this.cache.get(key);
    if (hit && bytesEqual(hit.hash, ref.hash)) return Promise.resolve(hit.node);
    const flightKey = loadKey(key, ref);
    let loading = this.inflight.get(flightKey);
    if (!loading) {
      // Shared, so it gets no caller's signal (raceAbort stops only this caller waiting).
      loading = this.read(ref, place, key);
      this.inflight.set(flightKey, loading);
      loading.catch(() => {}).finally(() => this.inflight.delete(flightKey));
    }
    return raceAbort(loading, signal);
  }

  /** The node at `ref` from the cache, or read and checked now from a synchronous source; undefined when it must be waited for. */
  private loadNow(ref: ChildRecord, place: NodePlace): IndexNode | undefined {
    const key = nodeKey(ref, place);
    const hit = this.cache.get(key);
    if (hit && bytesEqual(hit.hash, ref.hash)) return hit.node;
    if (this.cipher || !this.source.readIntoSync || this.inflight.has(loadKey(key, ref))) return undefined;
    this.checkRef(ref, place);
    const bytes = new Uint8Array(ref.nodeLength);
    const got = this.source.readIntoSync(ref.nodeOffset, bytes);
    this.checkHash(bytes.subarray(0, got), ref, place);
    return this.accept(bytes, ref, place, key);
  }

  /** Refuses a reference whose node cannot be what it says before anything is read. */
  private checkRef(ref: ChildRecord, place: NodePlace): void {
    if (ref.nodeLength < NODE_HEADER_SIZE || ref.nodeLength > this.maxNodeLength) {
      throw this.corrupt(`index node at ${ref.nodeOffset} has an impossible length ${ref.nodeLength}`, place.first, ref.nodeOffset);
    }
    if (ref.nodeOffset + ref.nodeLength > this.fileSize) {
      throw this.corrupt(`index node at ${ref.nodeOffset} lies beyond the end of the file (truncated archive?)`, place.first, ref.nodeOffset);
    }
  }

  /** The stored bytes of the node at `ref` must be all of it and hash to the reference's hash. */
  private checkHash(bytes: Uint8Array, ref: ChildRecord, place: NodePlace): void {
    if (bytes.length !== ref.nodeLength || !bytesEqual(this.blake3(bytes), ref.hash)) {
      throw this.corrupt(`index node at file offset ${ref.nodeOffset} fails its hash check`, place.first, ref.nodeOffset);
    }
  }

  /** Decodes a node's plain bytes, checks it belongs at `place`, and caches it (weighed by its stored length). */
  private accept(plain: Uint8Array, ref: ChildRecord, place: NodePlace, key: NodeCacheKey): IndexNode {
    let node: IndexNode;
    try {
      node = decodeNode(plain, place.level, this.streamIndex);
      checkNodePlace(node, place, this.rules, ref.nodeOffset);
    } catch (err) {
      throw this.located(err, ref.nodeOffset);
    }
    this.cache.set(key, { node, hash: ref.hash }, ref.nodeLength);
    return node;
  }

  private async read(ref: ChildRecord, place: NodePlace, key: NodeCacheKey): Promise<IndexNode> {
    this.checkRef(ref, place);
    const bytes = await this.source.read(ref.nodeOffset, ref.nodeLength);
    this.checkHash(bytes, ref, place);
    let plain = bytes;
    if (this.cipher) {
      try {
        plain = await this.cipher.openNode(bytes, this.streamIndex, place.level, place.first);
      } catch (err) {
        if (!(err instanceof SealError)) throw err;
        throw this.corrupt(`index node at file offset ${ref.nodeOffset} fails authentication (AES-GCM tag mismatch)`, place.first, ref.nodeOffset);
      }
    }
    return this.accept(plain, ref, place, key);
  }

  private corrupt(message: string, offset?: number, fileOffset?: number): CorruptArchiveError {
    return new CorruptArchiveError(message, { archive: this.source.name, stream: streamName(this.streamIndex), offset, fileOffset, stage: 'index' });
  }

  private located(err: unknown, fileOffset?: number): unknown {
    if (err instanceof HexzError) {
      err.location.archive ??= this.source.name;
      err.location.stream ??= streamName(this.streamIndex);
      err.location.fileOffset ??= fileOffset;
    }
    return err;
  }
}

/** The node cache's key: a node is cached for the place it was checked for. */
function nodeKey(ref: ChildRecord, place: NodePlace): NodeCacheKey {
  return `${place.stream}/${place.level}/${place.first}/${place.end}@${ref.nodeOffset}`;
}

/** A load in flight: for that place and that hash (concurrent readers of one node share it). */
function loadKey(key: NodeCacheKey, ref: ChildRecord): string {
  return `${key}#${toHex(ref.hash)}`;
}

function streamName(i: number): string {
  return STREAM_NAMES[i];
}

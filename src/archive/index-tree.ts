import { ENTRY_SIZE, EntryKind, NODE_HEADER_SIZE, STREAM_NAMES } from '../format/constants.js';
import { bytesEqual } from '../format/digest.js';
import type { IndexEntry } from '../format/entry.js';
import type { StreamRecord } from '../format/header.js';
import { childRecord, decodeNode, findRecord, leafEntry, type ChildRecord, type IndexNode } from '../format/index-node.js';
import { blake3 } from '../hash/blake3.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError, HexzError } from '../errors.js';
import type { LruCache } from '../util/lru.js';
import type { ArchiveCipher } from '../crypto/archive-cipher.js';
import { SealError } from '../crypto/object-cipher.js';
import { SEAL_OVERHEAD } from '../format/constants.js';

/** A verified node in the cache, with the level and hash it was verified against. */
export interface CachedNode {
  node: IndexNode;
  level: number;
  hash: Uint8Array;
}

/** A leaf and the position of one entry in it. */
export interface LeafPosition {
  leaf: IndexNode;
  index: number;
}

/**
 * One stream's index tree, loaded node by node on demand. Every node is checked against the
 * hash its parent (or the header) records before it is used, so a damaged index is an error.
 * Lookup descends one node per level: O(log n) with fan-out 1024.
 */
export class IndexTree {
  private readonly root: ChildRecord;

  constructor(
    private readonly source: ByteSource,
    private readonly streamIndex: number,
    private readonly record: StreamRecord,
    private readonly fileSize: number,
    private readonly cache: LruCache<number, CachedNode>,
    /** Opens sealed nodes of an encrypted archive (§12.4). */
    private readonly cipher?: ArchiveCipher,
    /** Parent slots a DEDUP entry may name (§15.3): the parents table's count; 0 when not thin. */
    private readonly parentCount = 0,
  ) {
    this.root = {
      firstOffset: 0, nodeOffset: record.rootOffset, nodeLength: record.rootLength,
      entryCount: record.entryCount, hash: record.rootHash,
    };
  }

  /** Loads and verifies the root node now (done at open, as qcow2 readers load the L1 table). */
  async loadRoot(signal?: AbortSignal): Promise<void> {
    await this.load(this.root, this.record.rootLevel, signal);
  }

  /** Finds the leaf entry covering logical `offset` (which must be < the stream size). */
  async find(offset: number, signal?: AbortSignal): Promise<LeafPosition> {
    let ref = this.root;
    for (let level = this.record.rootLevel; ; level--) {
      const node = await this.load(ref, level, signal);
      const i = findRecord(node, offset);
      if (i < 0) throw this.corrupt(`no index record covers offset ${offset}`, offset);
      if (level === 0) {
        const end = i + 1 < node.count ? node.firsts[i + 1] : leafEntryEnd(node, i);
        if (offset >= end) throw this.corrupt(`gap in index at offset ${offset}`, offset);
        return { leaf: node, index: i };
      }
      ref = childRecord(node, i);
    }
  }

  /** Yields every entry in logical order, checking that they tile the stream exactly. */
  async *entries(signal?: AbortSignal): AsyncGenerator<IndexEntry> {
    if (this.record.entryCount === 0) return;
    let expect = 0;
    for await (const e of this.walk(this.root, this.record.rootLevel, signal)) {
      if (e.offset !== expect) throw this.corrupt(`index entries do not tile the stream at offset ${expect}`, expect);
      expect = e.offset + e.length;
      yield e;
    }
    if (expect !== this.record.logicalSize) throw this.corrupt(`index covers ${expect} bytes, stream has ${this.record.logicalSize}`, expect);
  }

  private async *walk(ref: ChildRecord, level: number, signal?: AbortSignal): AsyncGenerator<IndexEntry> {
    const node = await this.load(ref, level, signal);
    for (let i = 0; i < node.count; i++) {
      if (level === 0) yield this.entry(node, i);
      else yield* this.walk(childRecord(node, i), level - 1, signal);
    }
  }

  /** Decodes entry `i` of `leaf`, naming this stream in any error. */
  entry(leaf: IndexNode, i: number): IndexEntry {
    try {
      const e = leafEntry(leaf, i, this.cipher ? SEAL_OVERHEAD : 0);
      if (e.kind !== EntryKind.ZERO && e.slot !== 0 && (e.kind !== EntryKind.DEDUP || e.slot > this.parentCount)) {
        throw this.corrupt(`entry refers to archive slot ${e.slot}, which this archive does not have`, e.offset);
      }
      return e;
    } catch (err) {
      throw this.located(err);
    }
  }

  private async load(ref: ChildRecord, level: number, signal?: AbortSignal): Promise<IndexNode> {
    const hit = this.cache.get(ref.nodeOffset);
    // A cached node is reused only where it is the node this parent expects.
    if (hit && hit.level === level && bytesEqual(hit.hash, ref.hash)) return hit.node;
    if (ref.nodeOffset + ref.nodeLength > this.fileSize) {
      throw this.corrupt(`index node at ${ref.nodeOffset} lies beyond the end of the file (truncated archive?)`, ref.firstOffset, ref.nodeOffset);
    }
    const bytes = await this.source.read(ref.nodeOffset, ref.nodeLength, { signal });
    if (!bytesEqual(blake3(bytes), ref.hash)) {
      throw this.corrupt(`index node at file offset ${ref.nodeOffset} fails its hash check`, ref.firstOffset, ref.nodeOffset);
    }
    let plain = bytes;
    if (this.cipher) {
      try {
        plain = this.cipher.openNode(bytes, this.streamIndex, level, ref.firstOffset);
      } catch (err) {
        if (!(err instanceof SealError)) throw err;
        throw this.corrupt(`index node at file offset ${ref.nodeOffset} fails authentication (AES-GCM tag mismatch)`, ref.firstOffset, ref.nodeOffset);
      }
    }
    let node: IndexNode;
    try {
      node = decodeNode(plain, level, this.streamIndex);
    } catch (err) {
      throw this.located(err, ref.nodeOffset);
    }
    if (node.firsts[0] !== ref.firstOffset) throw this.corrupt(`index node at ${ref.nodeOffset} starts at ${node.firsts[0]}, parent says ${ref.firstOffset}`, ref.firstOffset, ref.nodeOffset);
    this.cache.set(ref.nodeOffset, { node, level, hash: ref.hash }, bytes.length);
    return node;
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

function leafEntryEnd(node: IndexNode, i: number): number {
  // The entry's length field sits 8 bytes into the entry (FORMAT.md §5).
  return node.firsts[i] + node.view.getUint32(NODE_HEADER_SIZE + i * ENTRY_SIZE + 8, true);
}

function streamName(i: number): string {
  return STREAM_NAMES[i];
}

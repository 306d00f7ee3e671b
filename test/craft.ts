/**
 * Crafting self-consistent hostile archives for tests: change index nodes or header fields, then
 * recompute everything the format uses to detect damage (node hashes up to the root, the header
 * checksum and, given the data key, seals and the header tag), so that only the reader's
 * semantic checks can catch the change.
 */
import { ENTRY_SIZE, HEADER_SIZE, NODE_HEADER_SIZE, SEAL_OVERHEAD, STREAM_RECORD_SIZE, STREAM_TABLE_OFFSET } from '../src/format/constants.ts';
import { decodeHeader, resealHeader, type Header } from '../src/format/header.ts';
import { childRecord, decodeNode, encodeChild, type ChildRecord } from '../src/format/index-node.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { deriveArchiveKeys } from '../src/crypto/archive-keys.ts';
import { ArchiveCipher } from '../src/crypto/archive-cipher.ts';
import { sealHeaderTag } from '../src/crypto/header-tag.ts';

/** A node of the tree as stored, with where it sits and its plaintext. */
export interface CraftNode {
  offset: number;
  length: number;
  level: number;
  first: number;
  plain: Uint8Array;
  /** Index of the child record in the parent that points here, and the parent; none for the root. */
  parent?: { node: CraftNode; index: number };
}

/** An archive's bytes opened for crafting; `dataKey` is needed for encrypted archives. */
export class Crafter {
  readonly bytes: Buffer;
  readonly header: Header;
  private readonly cipher: ArchiveCipher | undefined;

  constructor(bytes: Uint8Array, private readonly dataKey?: Uint8Array) {
    this.bytes = Buffer.from(bytes);
    this.header = decodeHeader(this.bytes.subarray(0, HEADER_SIZE), blake3);
    this.cipher = dataKey ? new ArchiveCipher(deriveArchiveKeys(dataKey, this.header.archiveId, this.header.version), this.header.archiveId) : undefined;
  }

  /** The root node of `stream` (0 disk, 1 memory). */
  root(stream: number): CraftNode {
    const s = this.header.streams[stream];
    return this.load(stream, s.rootOffset, s.rootLength, s.rootLevel, 0);
  }

  /** Child `i` of internal node `node`. */
  child(stream: number, node: CraftNode, i: number): CraftNode {
    const c = childRecord(decodeNode(node.plain, node.level, stream), i);
    const n = this.load(stream, c.nodeOffset, c.nodeLength, node.level - 1, c.firstOffset);
    n.parent = { node, index: i };
    return n;
  }

  /** A DataView of entry/record `i` of a node's plaintext (64 bytes from its start). */
  record(node: CraftNode, i: number): DataView {
    return new DataView(node.plain.buffer, node.plain.byteOffset + NODE_HEADER_SIZE + i * ENTRY_SIZE, ENTRY_SIZE);
  }

  /**
   * Writes a changed node back in place (re-sealed when encrypted) and recomputes every hash
   * above it: parents' child records up to the stream record's root hash.
   */
  store(stream: number, node: CraftNode): void {
    const stored = this.cipher ? this.cipher.sealNode(node.plain, stream, node.level, node.first) : node.plain;
    if (stored.length !== node.length) throw new Error('crafting changed a node length');
    this.bytes.set(stored, node.offset);
    const hash = blake3(stored);
    if (!node.parent) {
      this.bytes.set(hash, STREAM_TABLE_OFFSET + stream * STREAM_RECORD_SIZE + 32);
      this.header.streams[stream].rootHash = hash;
      return;
    }
    const { node: up, index } = node.parent;
    const view = new DataView(up.plain.buffer, up.plain.byteOffset, up.plain.byteLength);
    const c: ChildRecord = childRecord(decodeNode(up.plain, up.level, stream), index);
    encodeChild(view, up.plain, NODE_HEADER_SIZE + index * ENTRY_SIZE, { ...c, hash });
    this.store(stream, up);
  }

  /** Recomputes the header checksum and, when the data key is known, the header tag. */
  seal(): Buffer {
    const head = this.bytes.subarray(0, HEADER_SIZE);
    if (this.cipher) sealHeaderTag(head, this.cipher.keys);
    else resealHeader(head, blake3);
    return this.bytes;
  }

  private load(stream: number, offset: number, length: number, level: number, first: number): CraftNode {
    const stored = this.bytes.subarray(offset, offset + length);
    const plain = this.cipher ? this.cipher.openNode(stored, stream, level, first) : Uint8Array.from(stored);
    if (plain.length !== length - (this.cipher ? SEAL_OVERHEAD : 0)) throw new Error('unexpected node length');
    return { offset, length, level, first, plain: Uint8Array.from(plain) };
  }
}

/** Reads the fields of an entry record the tests change. */
export function entryFields(v: DataView): { offset: number; length: number; kind: number; storedOffset: number; storedLength: number } {
  return { offset: Number(v.getBigUint64(0, true)), length: v.getUint32(8, true), kind: v.getUint8(12), storedOffset: Number(v.getBigUint64(16, true)), storedLength: v.getUint32(24, true) };
}

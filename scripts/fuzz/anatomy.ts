/**
 * The anatomy of a healthy archive: every header field, every region, and every index node with
 * its plaintext and the place that refers to it (the stream record of the header, or a child
 * record of its parent node). Mutations are aimed at these; crafted mutations edit the
 * plaintexts and then re-seal the whole chain (reseal.ts).
 */
import { CHILD_RECORD_SIZE, ENTRY_SIZE, EntryKind, HEADER_SIZE, NODE_HEADER_SIZE, RequiredFeature, STREAM_RECORD_SIZE, STREAM_TABLE_OFFSET } from '../../src/format/constants.ts';
import { decodeHeader, type Header } from '../../src/format/header.ts';
import { childRecord, decodeNode, leafEntry } from '../../src/format/index-node.ts';
import type { IndexEntry } from '../../src/format/entry.ts';
import { ArchiveCipher } from '../../src/crypto/archive-cipher.ts';
import { deriveKeys } from './keys.ts';
import { blake3 } from '../../src/hash/blake3.ts';

/** A fixed-width field of the header. */
export interface Field {
  name: string;
  offset: number;
  size: number;
}

const H = (name: string, offset: number, size: Field['size']): Field => ({ name, offset, size });

/** Every header field of §1, §12.2 and §15.1 (stream records are added per stream). */
export const HEADER_FIELDS: Field[] = [
  H('magic', 0, 4), H('version', 4, 2), H('headerSize', 6, 2), H('requiredFeatures', 8, 4), H('optionalFeatures', 12, 4),
  H('archiveId', 16, 16), H('created', 32, 8), H('blockSize', 40, 4), H('codec', 44, 1), H('level', 45, 1), H('chunker', 46, 1),
  H('profile', 47, 1), H('chunkMin', 48, 4), H('chunkAvg', 52, 4), H('chunkMax', 56, 4), H('reserved60', 60, 4),
  H('dataOffset', 64, 8), H('dataLength', 72, 8), H('dictOffset', 80, 8), H('dictLength', 88, 4), H('dictId', 92, 4),
  H('metadataOffset', 96, 8), H('metadataLength', 104, 4), H('signatureOffset', 112, 8), H('signatureLength', 120, 4),
  H('cipher', 128, 1), H('kdf', 129, 1), H('kdfMemory', 132, 4), H('kdfIterations', 136, 4), H('kdfLanes', 140, 4),
  H('salt', 144, 16), H('wrapNonce', 160, 12), H('wrappedKey', 176, 32), H('wrapTag', 208, 16), H('keyCheck', 224, 16),
  H('parentCount', 512, 2), H('parentsOffset', 520, 8), H('parentsLength', 528, 4), H('parentsHash', 536, 32),
  H('referencedBytes', 568, 8), H('directParentId', 576, 16),
  H('dictHash', 1024, 32), H('dictSampleBytes', 1056, 8), H('dictPlain', 1064, 8), H('dictStored', 1072, 8),
  H('metadataHash', 1088, 32), H('reservedTail', 2000, 8), H('checksum', 4064, 32),
];

/** The fields of stream record `i` (§4). */
export function streamFields(i: number): Field[] {
  const at = STREAM_TABLE_OFFSET + i * STREAM_RECORD_SIZE;
  const n = i === 0 ? 'disk' : 'memory';
  return [
    H(`${n}.logicalSize`, at, 8), H(`${n}.entryCount`, at + 8, 8), H(`${n}.rootOffset`, at + 16, 8), H(`${n}.rootLength`, at + 24, 4),
    H(`${n}.rootLevel`, at + 28, 1), H(`${n}.flags`, at + 29, 1), H(`${n}.rootHash`, at + 32, 32),
    ...['dataBlocks', 'rawBlocks', 'dedupBlocks', 'zeroBlocks', 'storedBytes', 'dedupBytes', 'zeroBytes', 'indexBytes'].map((s, k) => H(`${n}.${s}`, at + 64 + k * 8, 8)),
  ];
}

/** Entry fields (§5) of ZERO, DATA and DEDUP entries, relative to the entry (bytes 15 and 28..31 reserved). */
export const ENTRY_FIELDS: Field[] = [
  H('offset', 0, 8), H('length', 8, 4), H('kind', 12, 1), H('encoding', 13, 1), H('slot', 14, 1), H('reserved15', 15, 1),
  H('storedOffset', 16, 8), H('storedLength', 24, 4), H('reserved28', 28, 4), H('hash', 32, 32),
];
/**
 * Entry fields of a SLICE entry (§5, version 8): the reserved bytes of the other kinds carry the
 * base-2 logarithm of its block's decoded length (byte 15, 12..22) and its skip (u32 at 28);
 * the hash is the whole block's.
 */
export const SLICE_ENTRY_FIELDS: Field[] = ENTRY_FIELDS.map((f) => (f.offset === 15 ? H('blockLog2', 15, 1) : f.offset === 28 ? H('skip', 28, 4) : f));
/** The fields of an entry of kind `kind` (the byte at 12). */
export function entryFieldsOf(kind: number): Field[] {
  return kind === EntryKind.SLICE ? SLICE_ENTRY_FIELDS : ENTRY_FIELDS;
}
/** True when a header sets the SLICES feature: its leaves may hold SLICE entries (decoders need to be told). */
export function slicesAllowed(header: Header): boolean {
  return (header.requiredFeatures & RequiredFeature.SLICES) !== 0;
}
/** Child record fields (§6), relative to the record. */
export const CHILD_FIELDS: Field[] = [H('firstOffset', 0, 8), H('nodeOffset', 8, 8), H('nodeLength', 16, 4), H('reserved20', 20, 4), H('entryCount', 24, 8), H('hash', 32, 32)];
/** Node header fields (§6). */
export const NODE_FIELDS: Field[] = [H('magic', 0, 4), H('level', 4, 1), H('stream', 5, 1), H('reserved6', 6, 2), H('count', 8, 4), H('reserved12', 12, 4)];

/** Who refers to a node: the header's stream record, or record `record` of node `node`. */
export type Referrer = { kind: 'root'; stream: number } | { kind: 'child'; node: number; record: number };

/** One index node as found in the healthy archive. */
export interface NodeInfo {
  stream: number;
  level: number;
  offset: number;
  /** Stored length (sealed length when encrypted). */
  length: number;
  /** The first offset its referrer records (0 for a root). */
  first: number;
  referrer: Referrer;
  /** Decoded plaintext (a copy the mutations may edit). */
  plain: Uint8Array;
  count: number;
  /** Set by a mutation that changed the plaintext's length: reseal then updates the referrer's length. */
  resized?: boolean;
}

export interface Anatomy {
  bytes: Uint8Array;
  header: Header;
  fileSize: number;
  /** Nodes in walk order (each parent before its children). */
  nodes: NodeInfo[];
  /** Every leaf entry: node index, record index, decoded entry. */
  entries: { node: number; record: number; entry: IndexEntry; stream: number }[];
  cipher?: ArchiveCipher;
  /** The plaintext zstd dictionary, when the archive has one. */
  dictionary?: Uint8Array;
  regions: { name: string; offset: number; length: number }[];
}

/**
 * Parses a healthy archive. `dataKey` is needed for encrypted archives (to open the nodes).
 * @throws whatever the src decoders throw on a damaged archive (callers parse only originals).
 */
export function dissect(bytes: Uint8Array, dataKey?: Uint8Array): Anatomy {
  const header = decodeHeader(bytes.subarray(0, HEADER_SIZE), blake3);
  const cipher = header.encryption && dataKey ? new ArchiveCipher(deriveKeys(dataKey, header.archiveId, header.version), header.archiveId) : undefined;
  const nodes: NodeInfo[] = [];
  const entries: Anatomy['entries'] = [];
  const seal = header.encryption ? 28 : 0;
  const slices = slicesAllowed(header);
  const visit = (stream: number, level: number, offset: number, length: number, first: number, referrer: Referrer) => {
    const stored = bytes.subarray(offset, offset + length);
    const plain = cipher ? cipher.openNode(stored, stream, level, first) : stored.slice();
    const node = decodeNode(plain, level, stream);
    const idx = nodes.push({ stream, level, offset, length, first, referrer, plain, count: node.count }) - 1;
    for (let i = 0; i < node.count; i++) {
      if (level === 0) entries.push({ node: idx, record: i, entry: leafEntry(node, i, seal, slices), stream });
      else {
        const c = childRecord(node, i);
        visit(stream, level - 1, c.nodeOffset, c.nodeLength, c.firstOffset, { kind: 'child', node: idx, record: i });
      }
    }
  };
  header.streams.forEach((s, i) => {
    if (s.present && s.entryCount > 0) visit(i, s.rootLevel, s.rootOffset, s.rootLength, 0, { kind: 'root', stream: i });
  });
  const d = header.dictionary;
  const dictStored = d.length > 0 ? bytes.subarray(d.offset, d.offset + d.length) : undefined;
  const dictionary = dictStored && (cipher ? cipher.openDictionary(dictStored) : dictStored.slice());
  const regions = [
    { name: 'header', offset: 0, length: HEADER_SIZE },
    { name: 'dictionary', ...header.dictionary },
    { name: 'data', ...header.data },
    { name: 'metadata', ...header.metadata },
    { name: 'parents', ...header.parents.table },
    { name: 'signature', ...header.signature },
    ...nodes.map((n, i) => ({ name: `node${i}`, offset: n.offset, length: n.length })),
  ].filter((r) => r.length > 0);
  return { bytes, header, fileSize: bytes.length, nodes, entries, cipher, dictionary, regions };
}

/** Byte offset of record `i` inside a node's plaintext. */
export function recordAt(i: number): number {
  return NODE_HEADER_SIZE + i * ENTRY_SIZE;
}

export { CHILD_RECORD_SIZE };

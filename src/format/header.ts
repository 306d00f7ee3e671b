/**
 * Pure encode/decode of the 4096-byte archive header (docs/FORMAT.md §1–§4).
 * Bytes in, plain objects out; the checksum function is injected.
 */
import {
  Chunker, Codec, type CodecId, HEADER_CHECKSUM_OFFSET, HEADER_SIZE,
  DICTIONARY_INFO_OFFSET, ENCRYPTION_PARAMS_OFFSET, knownRequiredFeatures, MAX_METADATA_LENGTH, METADATA_HASH_OFFSET, MAGIC, MAX_DICTIONARY_LENGTH, PROFILE_NAMES, READABLE_VERSIONS, RequiredFeature, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, STREAM_NAMES,
  STREAM_RECORD_SIZE, STREAM_TABLE_OFFSET,
} from './constants.js';
import { bytesEqual, copyBytes, type Digest32 } from './digest.js';
import { decodeEncryptionParams, encodeEncryptionParams, type EncryptionParams } from './encryption-params.js';
import { decodeParentsInfo, emptyParentsInfo, encodeParentsInfo, type ParentsInfo } from './parents.js';
import { CorruptArchiveError, NotAnArchiveError, UnsupportedError } from '../errors.js';

/** A region of the archive file: absolute offset and length in bytes; length 0 means absent. */
export interface Extent {
  offset: number;
  length: number;
}

/** Counters kept per stream so `inspect` needs only the header (§4). */
export interface StreamStats {
  /** Entries of kind DATA (stored, own bytes), including raw ones. */
  dataBlocks: number;
  /** DATA entries stored uncompressed because compression did not shrink them. */
  rawBlocks: number;
  /** Entries of kind DEDUP. */
  dedupBlocks: number;
  /** Zero blocks, counted in units of the block size (the last one may be short). */
  zeroBlocks: number;
  /** Bytes of the data region owned by this stream's DATA entries. */
  storedBytes: number;
  /** Logical bytes served by DEDUP entries. */
  dedupBytes: number;
  /** Logical bytes that are zero runs. */
  zeroBytes: number;
  /** Bytes of all index nodes of this stream. */
  indexBytes: number;
}

/**
 * The trained zstd dictionary's identity and statistics (version 3, header 92..95 and
 * 1024..1087, §1/§3.3). All zero when the archive has no dictionary.
 */
export interface DictionaryInfo {
  /** zstd dictionary id (informative; the bytes are identified by `hash`). */
  id: number;
  /** BLAKE3-256 of the dictionary bytes; the reader checks it before use. */
  hash: Uint8Array;
  /** Bytes of the training samples the packer measured the gain on. */
  sampleBytes: number;
  /** Those samples compressed at the archive level without, and with, the dictionary (informative). */
  sampleStoredPlain: number;
  sampleStoredDict: number;
}

/** A DictionaryInfo of zeros (no dictionary). */
export function emptyDictionaryInfo(): DictionaryInfo {
  return { id: 0, hash: new Uint8Array(32), sampleBytes: 0, sampleStoredPlain: 0, sampleStoredDict: 0 };
}

/** One stream's record in the header (§4). */
export interface StreamRecord {
  present: boolean;
  /** Logical size of the stream in bytes. */
  logicalSize: number;
  /** Number of index entries. */
  entryCount: number;
  /** Absolute offset, length and level of the root index node (level 0 = leaf). */
  rootOffset: number;
  rootLength: number;
  rootLevel: number;
  /** BLAKE3-256 of the root node's bytes. */
  rootHash: Uint8Array;
  stats: StreamStats;
}

/** The decoded header (§1–§4). Reserved regions are kept as raw bytes so they round-trip. */
export interface Header {
  version: number;
  requiredFeatures: number;
  optionalFeatures: number;
  /** 16 random bytes identifying this archive. */
  archiveId: Uint8Array;
  /** Creation time, milliseconds since the Unix epoch. */
  createdMs: number;
  /** Nominal block size in bytes (fixed chunking). */
  blockSize: number;
  /** Default codec and level used by the packer. */
  codec: CodecId;
  level: number;
  chunker: number;
  /** Index into PROFILE_NAMES of the preset the packer used (0 = custom; version 2, byte 47). */
  profile: number;
  /** Content-defined chunk bounds in bytes (chunker FASTCDC); 0 for fixed blocks. */
  chunkMin: number;
  chunkAvg: number;
  chunkMax: number;
  /** The data region: where stored block bytes live. */
  data: Extent;
  /** The trained zstd dictionary (version 3, feature DICTIONARY); length 0 when absent. */
  dictionary: Extent;
  /** Identity and statistics of the dictionary (version 3; zeros otherwise). */
  dictionaryInfo: DictionaryInfo;
  /** (version 4) The metadata JSON object (§13); length 0 when absent, and always in versions 1–3. */
  metadata: Extent;
  /** (version 4) BLAKE3-256 of the metadata's stored bytes (header 1088..1120); zeros when absent. */
  metadataHash: Uint8Array;
  /** (version 4) The signature block (§14); length 0 when unsigned, and always in versions 1–3. */
  signature: Extent;
  /** (version 4, feature ENCRYPTED) Cipher, KDF and key envelope (§12.2); null when unencrypted. */
  encryption: EncryptionParams | null;
  /** Stream records in {@link STREAM_NAMES} order. */
  streams: StreamRecord[];
  /** (version 5) Parent references of a thin snapshot (§15.1); count 0 when not thin. */
  parents: ParentsInfo;
}

const U64_MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);


function u64(view: DataView, at: number, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > U64_MAX_SAFE) throw new CorruptArchiveError(`header field ${what} is out of range (${v})`, { stage: 'header' });
  return Number(v);
}

function putU64(view: DataView, at: number, v: number): void {
  view.setBigUint64(at, BigInt(v), true);
}

/** An empty stream record (stream absent). */
export function emptyStreamRecord(): StreamRecord {
  return {
    present: false, logicalSize: 0, entryCount: 0, rootOffset: 0, rootLength: 0, rootLevel: 0,
    rootHash: new Uint8Array(32),
    stats: { dataBlocks: 0, rawBlocks: 0, dedupBlocks: 0, zeroBlocks: 0, storedBytes: 0, dedupBytes: 0, zeroBytes: 0, indexBytes: 0 },
  };
}

const STAT_FIELDS: (keyof StreamStats)[] = [
  'dataBlocks', 'rawBlocks', 'dedupBlocks', 'zeroBlocks', 'storedBytes', 'dedupBytes', 'zeroBytes', 'indexBytes',
];

/** Encodes `h` into a fresh 4096-byte header with its checksum filled in. */
export function encodeHeader(h: Header, digest: Digest32): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  const v = new DataView(out.buffer);
  out.set(MAGIC, 0);
  v.setUint16(4, h.version, true);
  v.setUint16(6, HEADER_SIZE, true);
  v.setUint32(8, h.requiredFeatures, true);
  v.setUint32(12, h.optionalFeatures, true);
  out.set(h.archiveId.subarray(0, 16), 16);
  putU64(v, 32, h.createdMs);
  v.setUint32(40, h.blockSize, true);
  v.setUint8(44, h.codec);
  v.setInt8(45, h.level);
  v.setUint8(46, h.chunker);
  v.setUint8(47, h.profile);
  v.setUint32(48, h.chunkMin, true);
  v.setUint32(52, h.chunkAvg, true);
  v.setUint32(56, h.chunkMax, true);
  putU64(v, 64, h.data.offset);
  putU64(v, 72, h.data.length);
  const extents: [number, Extent][] = [[80, h.dictionary], [96, h.metadata], [112, h.signature]];
  for (const [at, e] of extents) {
    putU64(v, at, e.offset);
    v.setUint32(at + 8, e.length, true);
  }
  v.setUint32(92, h.dictionaryInfo.id, true);
  const d = DICTIONARY_INFO_OFFSET;
  out.set(h.dictionaryInfo.hash.subarray(0, 32), d);
  putU64(v, d + 32, h.dictionaryInfo.sampleBytes);
  putU64(v, d + 40, h.dictionaryInfo.sampleStoredPlain);
  putU64(v, d + 48, h.dictionaryInfo.sampleStoredDict);
  if (h.encryption) out.set(encodeEncryptionParams(h.encryption), ENCRYPTION_PARAMS_OFFSET);
  out.set(h.metadataHash.subarray(0, 32), METADATA_HASH_OFFSET);
  h.streams.forEach((s, i) => {
    const at = STREAM_TABLE_OFFSET + i * STREAM_RECORD_SIZE;
    putU64(v, at, s.logicalSize);
    putU64(v, at + 8, s.entryCount);
    putU64(v, at + 16, s.rootOffset);
    v.setUint32(at + 24, s.rootLength, true);
    v.setUint8(at + 28, s.rootLevel);
    v.setUint8(at + 29, s.present ? 1 : 0);
    out.set(s.rootHash.subarray(0, 32), at + 32);
    STAT_FIELDS.forEach((f, k) => putU64(v, at + 64 + k * 8, s.stats[f]));
  });
  encodeParentsInfo(out.subarray(512, 1024), h.parents);
  return resealHeader(out, digest);
}

/**
 * Recomputes the checksum of a 4096-byte header in place (after bytes were patched rather than
 * re-encoded, so fields this build does not know survive) and returns it.
 */
export function resealHeader(bytes: Uint8Array, digest: Digest32): Uint8Array {
  bytes.set(digest(bytes.subarray(0, HEADER_CHECKSUM_OFFSET)), HEADER_CHECKSUM_OFFSET);
  return bytes;
}

/**
 * Decodes and validates a header.
 * @param bytes at least the first 4096 bytes of the archive.
 * @throws NotAnArchiveError when too short or the magic is wrong.
 * @throws UnsupportedError for an unknown version or an unknown required feature.
 * @throws CorruptArchiveError when the checksum or a field is invalid.
 */
export function decodeHeader(bytes: Uint8Array, digest: Digest32): Header {
  if (bytes.length < MAGIC.length || !bytesEqual(bytes.subarray(0, 4), MAGIC)) {
    throw new NotAnArchiveError('not a hexz archive (bad magic)', { stage: 'header' });
  }
  if (bytes.length < HEADER_SIZE) {
    throw new CorruptArchiveError(`truncated header: ${bytes.length} of ${HEADER_SIZE} bytes`, { stage: 'header' });
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const version = v.getUint16(4, true);
  const checksumOk = bytesEqual(digest(bytes.subarray(0, HEADER_CHECKSUM_OFFSET)), bytes.subarray(HEADER_CHECKSUM_OFFSET, HEADER_SIZE));
  if (!READABLE_VERSIONS.includes(version)) {
    // A damaged version field must not masquerade as a newer format.
    if (!checksumOk && version < 17) {
      throw new CorruptArchiveError('header checksum mismatch', { stage: 'header' });
    }
    throw new UnsupportedError(`unsupported format version ${version} (this hexz reads versions ${READABLE_VERSIONS.join(', ')})`, { stage: 'header' });
  }
  if (!checksumOk) throw new CorruptArchiveError('header checksum mismatch', { stage: 'header' });
  if (v.getUint16(6, true) !== HEADER_SIZE) {
    throw new CorruptArchiveError(`header size field is ${v.getUint16(6, true)}, expected ${HEADER_SIZE}`, { stage: 'header' });
  }
  const requiredFeatures = v.getUint32(8, true);
  const unknown = requiredFeatures & ~knownRequiredFeatures(version);
  if (unknown !== 0) {
    throw new UnsupportedError(`archive requires unknown feature flags 0x${(unknown >>> 0).toString(16)}`, { stage: 'header' });
  }
  const blockSize = v.getUint32(40, true);
  if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new CorruptArchiveError(`invalid block size ${blockSize}`, { stage: 'header' });
  }
  const codec = v.getUint8(44);
  if (codec > Codec.ZSTD) throw new UnsupportedError(`unknown codec id ${codec}`, { stage: 'header' });
  const chunker = v.getUint8(46);
  if (chunker !== Chunker.FIXED && !(version >= 2 && chunker === Chunker.FASTCDC)) {
    throw new UnsupportedError(`unknown chunker id ${chunker}`, { stage: 'header' });
  }
  const extent = (at: number, what: string): Extent => ({ offset: u64(v, at, `${what}.offset`), length: v.getUint32(at + 8, true) });
  const chunkMin = v.getUint32(48, true);
  const chunkAvg = v.getUint32(52, true);
  const chunkMax = v.getUint32(56, true);
  if ((chunker === Chunker.FASTCDC) !== ((requiredFeatures & RequiredFeature.CDC) !== 0)) {
    throw new CorruptArchiveError(`chunker ${chunker} disagrees with the CDC feature bit`, { stage: 'header' });
  }
  if (chunker === Chunker.FASTCDC && !(chunkMin > 0 && chunkMin <= chunkAvg && chunkAvg <= chunkMax && chunkMax <= blockSize && (chunkAvg & (chunkAvg - 1)) === 0)) {
    throw new CorruptArchiveError(`invalid chunk sizes ${chunkMin}/${chunkAvg}/${chunkMax}`, { stage: 'header' });
  }
  const dictionary = extent(80, 'dictionary');
  let dictionaryInfo = emptyDictionaryInfo();
  // Versions 1 and 2 reserved the dictionary extent; it is ignored there.
  if (version >= 3) {
    const hasDict = (requiredFeatures & RequiredFeature.DICTIONARY) !== 0;
    if (hasDict !== dictionary.length > 0) {
      throw new CorruptArchiveError(`dictionary length ${dictionary.length} disagrees with the DICTIONARY feature bit`, { stage: 'header' });
    }
    if (hasDict && (dictionary.offset < HEADER_SIZE || dictionary.length > MAX_DICTIONARY_LENGTH)) {
      throw new CorruptArchiveError(`invalid dictionary extent ${dictionary.offset}+${dictionary.length}`, { stage: 'header' });
    }
    const d = DICTIONARY_INFO_OFFSET;
    dictionaryInfo = {
      id: v.getUint32(92, true), hash: copyBytes(bytes, d, d + 32), sampleBytes: u64(v, d + 32, 'dictionary.sampleBytes'),
      sampleStoredPlain: u64(v, d + 40, 'dictionary.sampleStoredPlain'), sampleStoredDict: u64(v, d + 48, 'dictionary.sampleStoredDict'),
    };
  }
  const metadata = extent(96, 'metadata');
  if (version >= 4 && metadata.length > MAX_METADATA_LENGTH) {
    throw new CorruptArchiveError(`metadata length ${metadata.length} exceeds ${MAX_METADATA_LENGTH}`, { stage: 'header' });
  }
  // Versions 1–4 reserved the parent references; they are ignored there.
  const parents = version >= 5 ? decodeParentsInfo(bytes.subarray(512, 1024)) : emptyParentsInfo();
  if ((parents.count > 0) !== ((requiredFeatures & RequiredFeature.THIN) !== 0)) {
    throw new CorruptArchiveError(`parent count ${parents.count} disagrees with the THIN feature bit`, { stage: 'header' });
  }
  // Version 1 reserved byte 47; an unknown profile id is informative only.
  const profile = version >= 2 ? v.getUint8(47) : 0;
  const streams = STREAM_NAMES.map((name, i): StreamRecord => {
    const at = STREAM_TABLE_OFFSET + i * STREAM_RECORD_SIZE;
    const stats = {} as StreamStats;
    STAT_FIELDS.forEach((f, k) => (stats[f] = u64(v, at + 64 + k * 8, `${name}.${f}`)));
    const flags = v.getUint8(at + 29);
    return {
      present: (flags & 1) === 1,
      logicalSize: u64(v, at, `${name}.logicalSize`),
      entryCount: u64(v, at + 8, `${name}.entryCount`),
      rootOffset: u64(v, at + 16, `${name}.rootOffset`),
      rootLength: v.getUint32(at + 24, true),
      rootLevel: v.getUint8(at + 28),
      rootHash: copyBytes(bytes, at + 32, at + 64),
      stats,
    };
  });
  for (const [i, s] of streams.entries()) {
    // A present stream's index must exist exactly when it has bytes.
    if (s.present && (s.logicalSize > 0) !== (s.entryCount > 0 && s.rootLength > 0)) {
      throw new CorruptArchiveError(`stream ${STREAM_NAMES[i]} has ${s.logicalSize} bytes but ${s.entryCount} index entries`, { stage: 'header' });
    }
  }
  return {
    version,
    requiredFeatures,
    optionalFeatures: v.getUint32(12, true),
    archiveId: copyBytes(bytes, 16, 32),
    createdMs: u64(v, 32, 'created'),
    blockSize,
    codec: codec as CodecId,
    level: v.getInt8(45),
    chunker,
    profile: profile < PROFILE_NAMES.length ? profile : 0,
    chunkMin,
    chunkAvg,
    chunkMax,
    data: { offset: u64(v, 64, 'data.offset'), length: u64(v, 72, 'data.length') },
    dictionary: version >= 3 ? dictionary : { offset: 0, length: 0 },
    dictionaryInfo,
    // Versions 1–3 reserved the metadata and signature extents; they are ignored there.
    metadata: version >= 4 ? metadata : { offset: 0, length: 0 },
    metadataHash: version >= 4 ? copyBytes(bytes, METADATA_HASH_OFFSET, METADATA_HASH_OFFSET + 32) : new Uint8Array(32),
    signature: version >= 4 ? extent(112, 'signature') : { offset: 0, length: 0 },
    encryption: (requiredFeatures & RequiredFeature.ENCRYPTED) !== 0 ? decodeEncryptionParams(bytes.subarray(ENCRYPTION_PARAMS_OFFSET, ENCRYPTION_PARAMS_OFFSET + 128)) : null,
    streams,
    parents,
  };
}

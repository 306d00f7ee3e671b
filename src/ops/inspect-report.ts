import type { Archive } from '../archive/archive.js';
import { Chunker, CODEC_NAMES, HEADER_SIZE, PROFILE_NAMES, STREAM_NAMES, type StreamName } from '../format/constants.js';
import { toHex } from '../format/digest.js';
import { formatTime } from '../util/format-time.js';
import type { InspectThin } from './inspect-parents.js';

/** One stream in an {@link InspectReport}; sizes in bytes. */
export interface InspectStream {
  name: StreamName;
  logicalBytes: number;
  entries: number;
  blocks: { data: number; raw: number; zero: number; dedup: number };
  /** Data-region bytes this stream's own blocks occupy. */
  storedBytes: number;
  zeroBytes: number;
  dedupBytes: number;
  indexBytes: number;
  /** Logical bytes per stored byte, over the non-zero, non-duplicate content. */
  compressionRatio: number;
}

/**
 * An archive's signature as `inspect` reads it (docs/FORMAT.md §14): who signed and when, NOT
 * checked — anyone can write a block; `hexz verify --pubkey` checks it. When the block or its
 * extent is malformed, only `error` is set.
 */
export interface InspectSignature {
  /** `Ed25519`. */
  algorithm?: string;
  /** `SHA256:…` of the embedded public key. */
  fingerprint?: string;
  /** When it was signed, ISO 8601 (as the signer's clock said). */
  signedAt?: string;
  /** Always false: inspect does not verify signatures. */
  verified: false;
  /** Why the signature block could not be read. */
  error?: string;
}

/** What `hexz inspect` reports; everything comes from the header (and the signature block), no index walk needed. */
export interface InspectReport {
  file: string;
  fileBytes: number;
  version: number;
  archiveId: string;
  created: string;
  blockSize: number;
  compression: 'none' | 'lz4' | 'zstd';
  level: number;
  /** How streams were cut: fixed blocks of `blockSize`, or FastCDC with these bounds (bytes). */
  chunking: { kind: 'fixed' } | { kind: 'fastcdc'; min: number; avg: number; max: number };
  /** The `--profile` preset recorded by the packer ('custom' when none). */
  profile: string;
  /**
   * The trained zstd dictionary, or null. `gain` is the ratio gained, as the packer measured it
   * on held-out samples (header 1056..1079): sample bytes compressed without the dictionary /
   * with it. Read from the header; nothing is recompressed at inspect time.
   */
  dictionary: { bytes: number; id: number; hash: string; sampleBytes: number; gain: number } | null;
  requiredFeatures: number;
  optionalFeatures: number;
  headerBytes: number;
  dataBytes: number;
  indexBytes: number;
  logicalBytes: number;
  /** logicalBytes / fileBytes. */
  ratio: number;
  /** Logical bytes not stored thanks to deduplication. */
  dedupSavedBytes: number;
  /** The signature, unverified; null when the archive is not signed. */
  signature: InspectSignature | null;
  /**
   * How the archive is encrypted (§12.2), or null when it is not. `unlocked` says whether a
   * password was given (then the metadata below could be read).
   */
  encryption: { cipher: 'AES-256-GCM'; kdf: 'Argon2id'; memoryKiB: number; iterations: number; lanes: number; unlocked: boolean } | null;
  /** The metadata object (§13: tool, input names, formats, sizes); null when absent or locked. */
  metadata: Record<string, unknown> | null;
  /**
   * A thin snapshot's parents (§15), each with whether it can be found now, and its own stored
   * bytes vs the logical bytes it refers to in them; null when the archive is not thin.
   */
  thin: InspectThin | null;
  streams: InspectStream[];
}

/**
 * What the header alone tells of an open archive (portable: the Node `inspect` and the browser
 * build both start from it): everything in {@link InspectReport} but `signature`, `metadata`
 * and `thin`, which are null here for the caller to fill in (they need reads and, for parents,
 * the platform's lookup).
 */
export function headerReport(a: Archive): InspectReport {
  const h = a.header;
  const enc = h.encryption;
  const streams = STREAM_NAMES.flatMap((name, i): InspectStream[] => {
    const s = h.streams[i];
    if (!s.present) return [];
    const st = s.stats;
    const ownLogical = s.logicalSize - st.zeroBytes - st.dedupBytes;
    return [{
      name, logicalBytes: s.logicalSize, entries: s.entryCount,
      blocks: { data: st.dataBlocks, raw: st.rawBlocks, zero: st.zeroBlocks, dedup: st.dedupBlocks },
      storedBytes: st.storedBytes, zeroBytes: st.zeroBytes, dedupBytes: st.dedupBytes, indexBytes: st.indexBytes,
      compressionRatio: st.storedBytes > 0 ? ownLogical / st.storedBytes : 1,
    }];
  });
  const logicalBytes = streams.reduce((n, s) => n + s.logicalBytes, 0);
  return {
    file: a.name, fileBytes: a.fileSize, version: h.version, archiveId: toHex(h.archiveId),
    created: formatTime(h.createdMs), blockSize: h.blockSize, compression: CODEC_NAMES[h.codec], level: h.level,
    chunking: h.chunker === Chunker.FASTCDC ? { kind: 'fastcdc', min: h.chunkMin, avg: h.chunkAvg, max: h.chunkMax } : { kind: 'fixed' },
    profile: PROFILE_NAMES[h.profile] ?? 'custom',
    dictionary: h.dictionary.length > 0 ? {
      bytes: h.dictionary.length, id: h.dictionaryInfo.id, hash: toHex(h.dictionaryInfo.hash),
      sampleBytes: h.dictionaryInfo.sampleBytes, gain: h.dictionaryInfo.sampleStoredPlain / Math.max(1, h.dictionaryInfo.sampleStoredDict),
    } : null,
    requiredFeatures: h.requiredFeatures, optionalFeatures: h.optionalFeatures,
    headerBytes: HEADER_SIZE, dataBytes: h.data.length, indexBytes: streams.reduce((n, s) => n + s.indexBytes, 0),
    logicalBytes, ratio: a.fileSize > 0 ? logicalBytes / a.fileSize : 0,
    dedupSavedBytes: streams.reduce((n, s) => n + s.dedupBytes, 0), signature: null,
    encryption: enc ? { cipher: 'AES-256-GCM', kdf: 'Argon2id', ...enc.kdfParams, unlocked: !a.locked } : null,
    metadata: null,
    thin: null,
    streams,
  };
}

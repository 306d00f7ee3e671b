import { Archive } from '../archive/archive.js';
import { Chunker, CODEC_NAMES, HEADER_SIZE, PROFILE_NAMES, STREAM_NAMES, type StreamName } from '../format/constants.js';
import { toHex } from '../format/digest.js';

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

/** What `hexz inspect` reports; everything comes from the header, no index walk needed. */
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
  streams: InspectStream[];
}

/**
 * Reads an archive's header and summarises it.
 * @throws as {@link Archive.open}.
 */
export async function inspect(path: string): Promise<InspectReport> {
  const a = await Archive.open(path);
  try {
    return inspectArchive(a);
  } finally {
    await a.close();
  }
}

/** Summarises an already open archive. */
export function inspectArchive(a: Archive): InspectReport {
  const h = a.header;
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
    created: new Date(h.createdMs).toISOString(), blockSize: h.blockSize, compression: CODEC_NAMES[h.codec], level: h.level,
    chunking: h.chunker === Chunker.FASTCDC ? { kind: 'fastcdc', min: h.chunkMin, avg: h.chunkAvg, max: h.chunkMax } : { kind: 'fixed' },
    profile: PROFILE_NAMES[h.profile] ?? 'custom',
    dictionary: h.dictionary.length > 0 ? {
      bytes: h.dictionary.length, id: h.dictionaryInfo.id, hash: toHex(h.dictionaryInfo.hash),
      sampleBytes: h.dictionaryInfo.sampleBytes, gain: h.dictionaryInfo.sampleStoredPlain / Math.max(1, h.dictionaryInfo.sampleStoredDict),
    } : null,
    requiredFeatures: h.requiredFeatures, optionalFeatures: h.optionalFeatures,
    headerBytes: HEADER_SIZE, dataBytes: h.data.length, indexBytes: streams.reduce((n, s) => n + s.indexBytes, 0),
    logicalBytes, ratio: a.fileSize > 0 ? logicalBytes / a.fileSize : 0,
    dedupSavedBytes: streams.reduce((n, s) => n + s.dedupBytes, 0), streams,
  };
}

/**
 * Constants of the .hxz on-disk format. Every number here is specified in docs/FORMAT.md;
 * the section is cited beside each group. Changing any of them is a format change: bump
 * {@link FORMAT_VERSION}, update the spec and regenerate the golden vectors.
 */

/** §1 Magic bytes at offset 0: ASCII "HEXZ". */
export const MAGIC = Uint8Array.of(0x48, 0x45, 0x58, 0x5a);
/** §1 The format version this build writes. */
export const FORMAT_VERSION = 8;
/** §1 Every version this build reads (§11.1: version 1 archives stay readable). */
export const READABLE_VERSIONS: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8];
/** §1 The header occupies bytes [0, 4096) of every archive. */
export const HEADER_SIZE = 4096;
/**
 * §7 (version 7) Bytes a remote reader asks for with its first request: the header, the
 * dictionary and the front index area, which the writer sizes so that it ends by here. Part of
 * the reading contract: the writer lays the top of the index out for a first read of this size.
 */
export const FIRST_CONTACT_BYTES = 256 << 10;
/** §1 The header checksum (BLAKE3-256 of bytes [0, 4064)) is stored at [4064, 4096). */
export const HEADER_CHECKSUM_OFFSET = HEADER_SIZE - 32;

/** §2 Required feature flags. A reader must refuse an archive that sets one it does not know. */
export const RequiredFeature = {
  /** Entries follow the content-defined chunker recorded at header bytes 46..60 (§3.2). */
  CDC: 1 << 0,
  /** (version 3) zstd entries are compressed with the archive's dictionary (§3.3, header 80..95 and 1024..1087). */
  DICTIONARY: 1 << 1,
  /** (version 4) Stored objects are sealed with AES-256-GCM and content hashes are keyed (§12). */
  ENCRYPTED: 1 << 2,
  /** (version 5) A thin snapshot: entries may refer to stored bytes in parent archives by slot (§15). */
  THIN: 1 << 3,
  /** (version 8) Entries may be SLICE entries: a part of a stored block (§5). */
  SLICES: 1 << 4,
} as const;
/** §2 Bit mask of every required feature this build implements, by format version. */
export function knownRequiredFeatures(version: number): number {
  return (version >= 2 ? RequiredFeature.CDC : 0) | (version >= 3 ? RequiredFeature.DICTIONARY : 0) | (version >= 4 ? RequiredFeature.ENCRYPTED : 0) | (version >= 5 ? RequiredFeature.THIN : 0)
    | (version >= 8 ? RequiredFeature.SLICES : 0);
}
/** §3.3 Largest dictionary a reader accepts, in bytes (the writer stores at most ~110 KiB). */
export const MAX_DICTIONARY_LENGTH = 1 << 20;
/** §1 (version 3) Offset of the dictionary's BLAKE3-256 and its informative statistics in the header. */
export const DICTIONARY_INFO_OFFSET = 1024;
/** §12.3 Bytes a sealed object adds to its plaintext: a 12-byte nonce and a 16-byte GCM tag. */
export const SEAL_OVERHEAD = 28;
/** §12.2 Offset and size of the encryption parameters in the header; 132..256 is the key envelope. */
export const ENCRYPTION_PARAMS_OFFSET = 128;
export const KEY_ENVELOPE_OFFSET = 132;
/** §13 (version 4) Offset of the metadata's BLAKE3-256 in the header, and the largest metadata a reader accepts. */
export const METADATA_HASH_OFFSET = 1088;
export const MAX_METADATA_LENGTH = 1 << 20;
/** §12.5 (version 6) Offset of the header tag of an encrypted archive: keyed BLAKE3-256 of the neutral header. */
export const HEADER_TAG_OFFSET = 1120;
/** §12.5 Size of the header tag. */
export const HEADER_TAG_SIZE = 32;
/** §12.5 First version whose encrypted archives carry a header tag and derive the object key with the v6 label. */
export const HEADER_TAG_VERSION = 6;
/** §2 Optional feature flags. Unknown ones are ignored by readers. */
export const OptionalFeature = {
  /** Zero runs are merged into one index entry each (always set by this writer). */
  MERGED_ZERO_RUNS: 1 << 0,
} as const;

/** §3 Codec ids, used both for the archive default codec and per index entry. */
export const Codec = {
  NONE: 0,
  LZ4: 1,
  ZSTD: 2,
} as const;
export type CodecId = (typeof Codec)[keyof typeof Codec];
/** §3 Codec names as they appear in the CLI and in JSON output. */
export const CODEC_NAMES: Record<CodecId, 'none' | 'lz4' | 'zstd'> = { 0: 'none', 1: 'lz4', 2: 'zstd' };

/** §3 Chunker ids (header byte 46). FASTCDC (version 2): FastCDC, normalized level 2, §3.2. */
export const Chunker = { FIXED: 0, FASTCDC: 1 } as const;

/** §1 Profile ids (header byte 47, version 2): the `--profile` preset the packer started from. */
export const PROFILE_NAMES = ['custom', 'generic', 'ml', 'eda', 'embedded', 'archival'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** §4 Streams, in header order. */
export const STREAM_NAMES = ['disk', 'memory'] as const;
export type StreamName = (typeof STREAM_NAMES)[number];
/** §4 Size of one stream record in the header. */
export const STREAM_RECORD_SIZE = 128;
/** §4 Offset of the first stream record in the header. */
export const STREAM_TABLE_OFFSET = 256;

/** §5 Index entry kinds. */
export const EntryKind = {
  /** All-zero bytes; nothing stored. */
  ZERO: 0,
  /** Bytes stored in this entry's own stored extent (first copy). */
  DATA: 1,
  /** Same content as an earlier DATA entry; points at that entry's stored extent. */
  DEDUP: 2,
  /**
   * (version 8, feature SLICES) Bytes `[skip, skip + length)` of a stored block of 2^b bytes
   * (b at entry byte 15, skip at 28); the hash is the whole block's.
   */
  SLICE: 3,
} as const;
export type EntryKindId = (typeof EntryKind)[keyof typeof EntryKind];
/** §5 Size of one index entry in bytes. */
export const ENTRY_SIZE = 64;

/** §6 Magic at the start of every index node: ASCII "HXIX". */
export const NODE_MAGIC = 0x58495848; // "HXIX" read as little-endian u32
/** §6 Size of an index node's header. */
export const NODE_HEADER_SIZE = 16;
/** §6 Size of one child record in an internal node. */
export const CHILD_RECORD_SIZE = 64;
/** §6 Most records one index node holds (the writer's fan-out for internal nodes). Readers accept any count ≤ this. */
export const NODE_MAX_RECORDS = 1024;
/**
 * §6 Entries per leaf as the writer fills them (the last leaf of a stream may hold fewer).
 * Smaller than the internal fan-out because a random read loads a whole leaf: a 256-entry leaf
 * is 16 KiB to read, verify and decode where a full node is 64 KiB, while 1024 leaves still
 * cover 256 Ki entries under one level-1 node.
 */
export const LEAF_RECORDS = 256;

/** §3 Block sizes allowed for fixed chunking: powers of two in [4 KiB, 4 MiB]. */
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 4 * 1024 * 1024;
/** Default block size (64 KiB). */
export const DEFAULT_BLOCK_SIZE = 65536;
/** §5 Largest logical length of one zero-run entry (a multiple of every legal block size). */
export const MAX_ZERO_RUN = 2 ** 31;

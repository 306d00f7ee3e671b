import type { Readable } from 'node:stream';
import type { StreamName } from '../format/constants.js';
import type { Header } from '../format/header.js';
import type { KdfParams } from '../format/encryption-params.js';
import type { DiskImage, ImageFormat } from '../image/types.js';
import type { S3ClientLike } from '../store/s3-client.js';
import type { ChunkParams } from '../chunk/chunk-params.js';
import type { RandomBytes } from '../crypto/key-envelope.js';
import type { Archive } from '../node/archive.js';

/**
 * A packing input: a file path, a Node Readable (a pipe, stdin), or a DiskImage (a virtual
 * disk such as the one `hexz build` generates; its zero extents are never read).
 */
export type PackInput = string | Readable | DiskImage;

/** True when `input` is a DiskImage rather than a path or a Readable. */
export function isDiskImageInput(input: PackInput): input is DiskImage {
  return typeof input === 'object' && typeof (input as DiskImage).extents === 'function' && typeof (input as DiskImage).size === 'number';
}

/** Progress of a running pack; sizes in bytes. */
export interface PackProgress {
  /** 'train' while sampling and training the dictionary (`--train-dict`), then 'pack'. */
  phase: 'train' | 'pack';
  /** Dictionary training time in seconds, once training has finished (0 without a dictionary). */
  trainSeconds: number;
  stream: StreamName;
  /** Input bytes consumed so far (all streams). */
  bytesDone: number;
  /** Total input bytes, when every input's size is known. */
  bytesTotal: number | undefined;
  /** Data bytes written so far (compressed). */
  storedBytes: number;
  /** Input bytes satisfied by duplicates so far. */
  dedupBytes: number;
  /** Input bytes that were zero so far. */
  zeroBytes: number;
  elapsedMs: number;
}

/** Options of {@link pack}. */
export interface PackOptions {
  /** Disk image: a raw or qcow2 file (see `diskFormat`), or a Readable of raw bytes. */
  disk?: PackInput;
  /**
   * Format of a disk given as a path: 'raw' or 'qcow2'. Detected from the file's first bytes
   * when omitted (qcow2 by its magic, raw otherwise).
   */
  diskFormat?: ImageFormat;
  /** Memory dump: always raw bytes. */
  memory?: PackInput;
  /**
   * Logical sizes of inputs given as Readables, when the caller knows them (a repack knows its
   * source's). They only size the front index area (docs/FORMAT.md §7), which a Readable of
   * unknown size gets at its largest (about 252 KiB, a hole in a local file); any value still
   * gives a valid archive.
   */
  inputSizes?: Partial<Record<StreamName, number>>;
  /**
   * Path of the archive to write, or s3://bucket/key: the archive then streams into S3 as a
   * multipart upload while packing (header part last, memory bounded), visible under the key
   * only once complete.
   */
  output: string;
  /** S3 client for an s3:// output or parent (default: from the AWS environment). */
  s3Client?: S3ClientLike;
  compression?: 'zstd' | 'lz4' | 'none';
  /** Codec level (zstd: -7..22, default 3). */
  level?: number;
  /** Block size: bytes or a string like '64K' (power of two, 4 KiB..4 MiB; default 64 KiB). */
  blockSize?: number | string;
  /**
   * Content-defined chunking (FastCDC, docs/FORMAT.md §3.2) instead of fixed blocks: `true` for
   * the defaults (16K/64K/128K), or bounds in bytes or size strings (missing ones default).
   * `false` forces fixed blocks even when the profile uses CDC.
   */
  cdc?: boolean | { min?: number | string; avg?: number | string; max?: number | string };
  /**
   * A preset of codec, level, block size and chunking (see src/pack/profiles.ts); options given
   * explicitly override it. Recorded in the header.
   */
  profile?: string;
  /**
   * Train a zstd dictionary from samples of the input and compress every zstd block with it
   * (docs/FORMAT.md §3.3). zstd only. Needs koffi and the system libzstd; without them, `true`
   * fails with UnsupportedError while a profile's dictionary is silently left out.
   */
  trainDict?: boolean;
  /** Worker threads for hashing and compression (default: one per core). */
  workers?: number;
  /** Deduplicate identical blocks (default true). */
  dedup?: boolean;
  /** Overwrite an existing output (default false). */
  force?: boolean;
  /**
   * Encrypt the archive (docs/FORMAT.md §12): AES-256-GCM for every block, index node, the
   * dictionary and the metadata, keyed content hashes (dedup works as without encryption), and
   * a data key wrapped under Argon2id of `password`. `kdf` overrides the Argon2id costs
   * (memory in KiB, iterations, lanes; defaults 65536/3/4). `random` replaces the random source
   * (only for reproducible output such as golden vectors).
   */
  encrypt?: { password: string; kdf?: Partial<KdfParams>; random?: RandomBytes };
  /**
   * Pack thin against this parent archive (docs/FORMAT.md §15): blocks whose content is anywhere
   * in the parent's chain are stored as references to the archive that holds them. The parent's
   * codec, level and chunking are reused unless given here (or by a profile). An encrypted
   * parent needs `encrypt` (its password, or `parentPassword`): the child shares its data key.
   * An already opened Archive (with its parents, unlocked) is used as is and left open: the
   * CLI opens the parent once, asking for its password only when it turns out to be encrypted.
   */
  parent?: string | Archive;
  /** Password of an encrypted parent when it differs from `encrypt.password`. */
  parentPassword?: string;
  /** Directories to search for the parent's own parents when they are not at their recorded paths. */
  parentDirs?: string[];
  /**
   * The metadata object stored in the archive (§13). By default the tool and each input's base
   * name, format and size; given here, it replaces that (golden vectors pin it).
   */
  metadata?: Record<string, unknown>;
  onProgress?: (p: PackProgress) => void;
  signal?: AbortSignal;
  /** Fixed archive id and creation time (only for reproducible output such as golden vectors). */
  archiveId?: Uint8Array;
  createdMs?: number;
}

/** Per-stream figures of a finished pack. */
export interface PackStreamSummary {
  name: StreamName;
  logicalBytes: number;
  storedBytes: number;
  dataBlocks: number;
  rawBlocks: number;
  dedupBlocks: number;
  zeroBlocks: number;
  dedupBytes: number;
  zeroBytes: number;
}

/** Result of {@link pack}. */
export interface PackResult {
  output: string;
  archiveId: string;
  /** Size of the archive file in bytes. */
  archiveBytes: number;
  /** Sum of the streams' logical sizes. */
  logicalBytes: number;
  /** logicalBytes / archiveBytes. */
  ratio: number;
  seconds: number;
  compression: 'zstd' | 'lz4' | 'none';
  level: number;
  blockSize: number;
  /** Chunk bounds in bytes when content-defined chunking was used. */
  cdc: ChunkParams | null;
  profile: string;
  /** The trained dictionary, or null. `gain` = sample bytes compressed without it / with it. */
  dictionary: { bytes: number; id: number; trainSeconds: number; sampleBytes: number; gain: number } | null;
  workers: number;
  dedup: boolean;
  /** A thin pack's parent, its slot count, and the logical bytes referenced in the chain; else null. */
  thin: { parent: string; parentId: string; slots: number; referencedBytes: number } | null;
  /** The Argon2id costs and the time they took, when the archive is encrypted; else null. */
  encryption: { kdf: KdfParams; kdfSeconds: number } | null;
  streams: PackStreamSummary[];
  header: Header;
}

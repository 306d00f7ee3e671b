import type { Digest32 } from '../format/digest.js';
import type { CodecId } from '../format/constants.js';
import type { Header } from '../format/header.js';
import type { ParentRecord } from '../format/parents.js';
import type { ArchiveKeys } from '../crypto/archive-keys.js';
import type { KdfLimits } from '../crypto/kdf-limits.js';
import type { SourceOptions } from '../store/open-source.js';
import type { ByteSource } from '../store/types.js';
import type { BlockDecoder } from './block-decoder.js';

/** Decompresses one encoding (§3) in the calling thread. */
export interface BlockCodecLike {
  /**
   * Decodes `stored` to exactly `length` bytes.
   * @throws Error when the bytes do not decode to that length.
   */
  decompress(stored: Uint8Array, length: number): Uint8Array;
  /**
   * Decodes `stored` into `output`, which it must fill exactly (optional: readers then reuse
   * block buffers).
   * @throws Error as {@link decompress}.
   */
  decompressInto?(stored: Uint8Array, output: Uint8Array): void;
}

/** The in-thread decompressors of one archive (its dictionary bound in), by codec id. */
export interface BlockCodecs {
  /** @throws Error for an encoding this platform cannot decode. */
  get(encoding: CodecId): BlockCodecLike;
}

/**
 * Opens the sealed objects of one unlocked encrypted archive (§12.3). Each `open…` returns the
 * plaintext (synchronously or not: WebCrypto is asynchronous) and throws or rejects with
 * SealError (crypto/seal-error.ts) when the tag does not verify.
 */
export interface ArchiveOpener {
  /** The archive's keys (§12.1). */
  readonly keys: ArchiveKeys;
  /** The archive id the objects are bound to. */
  readonly archiveId: Uint8Array;
  /**
   * The keyed content hash (§12.4) of this archive, when the opener made it (a platform whose
   * keyed BLAKE3 is only created asynchronously); otherwise `ReaderCrypto.keyedHash` gives it.
   */
  readonly contentHash?: Digest32;
  openBlock(stored: Uint8Array, storedOffset: number, length: number, encoding: number, hash: Uint8Array): Uint8Array | Promise<Uint8Array>;
  openNode(stored: Uint8Array, stream: number, level: number, firstOffset: number): Uint8Array | Promise<Uint8Array>;
  openDictionary(stored: Uint8Array): Uint8Array | Promise<Uint8Array>;
  openMetadata(stored: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** What an encrypted archive needs: the password derivation, the key schedule and AES-GCM (§12). */
export interface ReaderCrypto {
  /**
   * Unwraps the data key from the header's envelope (§12.2).
   * @throws WrongKeyError when `password` is not the archive's.
   * @throws UnsupportedError when the derivation would exceed `limits`.
   */
  unlock(header: Header, password: string, limits?: KdfLimits): Promise<Uint8Array>;
  /** The opener of the archive whose header is `header`, from its data key (§12.1). */
  opener(dataKey: Uint8Array, header: Header): ArchiveOpener | Promise<ArchiveOpener>;
  /** True when `headerBytes` carries the header tag `keys` give (§12.5). */
  headerTagMatches(headerBytes: Uint8Array, keys: ArchiveKeys): boolean | Promise<boolean>;
  /** The keyed BLAKE3-256 content hash of an encrypted archive (§12.4); may be absent when every opener carries its `contentHash`. */
  keyedHash?(key: Uint8Array): Digest32;
}

/** How a thin archive's parents are found (§15.4): given a record, the opened, identity-checked parent. */
export interface ParentSearchContext<T> {
  /** Directory (path or URL) of the child: recorded paths are relative to it; undefined when unknown. */
  baseDir?: string;
  /** Further directories (paths or URLs) to look in, in order. */
  searchDirs: string[];
  /** How remote locations are reached. */
  sourceOptions?: SourceOptions;
  /** Opens a candidate at a location (throws when it is not an archive). */
  open(location: string): Promise<T>;
  /** The child's name, for error messages. */
  child: string;
}

/** A candidate parent as the search sees it. */
export interface ParentCandidateLike {
  headerBytes: Uint8Array;
  archiveId: Uint8Array;
  close(): Promise<void>;
}

/**
 * Everything the portable reader core (`archive/`) needs from the platform it runs on: it
 * imports no Node built-in and no native addon itself. `node/platform.ts` is the Node one
 * (native BLAKE3 and zstd, node:crypto, Argon2id, worker threads, files, HTTP and S3).
 */
export interface ReaderPlatform {
  /** BLAKE3-256 (header checksum, node hashes, unkeyed content hashes). */
  blake3: Digest32;
  /** In-thread decompressors, with the archive's zstd dictionary when it has one. */
  codecs(dictionary?: Uint8Array): BlockCodecs;
  /**
   * Loads what reading an archive with this (checksum-verified) header needs before anything
   * else of it is read: the browser loads the decoder of the header's codec here, so a page
   * never downloads a decoder it does not use. Absent: nothing to load.
   * @throws UnsupportedError when this platform cannot read such an archive.
   */
  prepare?(header: Header): Promise<void>;
  /** Encryption support; without it an encrypted archive opens for its header only. */
  crypto?: ReaderCrypto;
  /** Off-thread block decoding (OpenOptions.decodeWorkers); without it, blocks decode in-thread. */
  decoder?(options: { workers: number; dictionary?: Uint8Array; keys?: ArchiveKeys }): BlockDecoder;
  /**
   * Opens a location (path or URL) as a byte source.
   * @throws StoreError when it cannot be reached; UsageError when this platform cannot read it.
   */
  openSource(location: string, options?: SourceOptions): Promise<ByteSource>;
  /** The directory (path or URL) a location is in: a thin archive's recorded parent paths are relative to it. */
  parentOf(location: string): string;
  /**
   * Finds and opens the parent a parents-table record names (§15.4), checked by id and identity.
   * @throws MissingParentError when it is missing, replaced or modified.
   */
  findParent<T extends ParentCandidateLike>(record: ParentRecord, search: ParentSearchContext<T>): Promise<{ location: string; archive: T }>;
}

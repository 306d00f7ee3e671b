import type { KdfLimits } from '../crypto/kdf-limits.js';
import type { SourceOptions } from '../store/open-source.js';
import type { ReaderPlatform } from './reader-platform.js';

/**
 * A password, or a function asked for it only when the archive turns out to be encrypted (so a
 * caller need not read the header first to know whether to prompt: one request less remotely).
 */
export type PasswordOption = string | (() => Promise<string>);

/** Options for {@link Archive.open}. */
export interface OpenOptions {
  /** Check every block's BLAKE3 against the index when it is read (default true). */
  verify?: boolean;
  /** Byte budget of the decoded-block LRU cache (default 64 MiB; 0 disables it). */
  cacheBytes?: number;
  /**
   * Reserve the whole decoded-block cache in one allocation at the first block decoded in this
   * thread, instead of an eighth at a time as it fills (default false). For long-running
   * servers that read once before they say they are ready: V8 collects after every 64 MiB of
   * new buffers, and reserved this way that collection comes with the first read, not with
   * some client's read later.
   */
  reserveCache?: boolean;
  /** Byte budget of the index-node cache (default 16 MiB). */
  indexCacheBytes?: number;
  /** How far to read ahead, in bytes, once reads are sequential (default 1 MiB; 0 disables). */
  readAheadBytes?: number;
  /**
   * Decode and verify the blocks `readAt` and `readEntries` load on this many worker threads
   * (default 0: in the calling thread). Worth it for many large reads, not for small random
   * ones, where the hand-off costs more than it saves. Sequential reads (`createReadStream`,
   * extract, verify, `hexz cat`) do not need it: they decode ahead on workers of their own
   * (archive/sequential-reader.ts, node/sequential-chunks.ts).
   */
  decodeWorkers?: number;
  /**
   * Load the whole index at open, in one request, when it is at most this many bytes
   * (default 4 MiB: 64K entries, 4 GiB of data in 64 KiB blocks; 0 for a local file, whose nodes
   * cost a page-cache read each); larger indexes are paged in node by node as reads need them.
   * 0 disables it.
   */
  preloadIndexBytes?: number;
  /**
   * Password of an encrypted archive (docs/FORMAT.md §12). Checked at open, before any node or
   * block is read: a wrong one is a WrongKeyError. Without it an encrypted archive opens for
   * its header only (`info`, `header`); reading is then a WrongKeyError.
   */
  password?: PasswordOption;
  /**
   * Unlock an encrypted archive with its 32-byte data key instead of a password (no Argon2id);
   * used for the parents of a thin snapshot, which share the child's data key (§15.3).
   */
  dataKey?: Uint8Array;
  /**
   * The most the password derivation (Argon2id) may cost before the password is checked; the
   * header sets the cost, so a crafted one could otherwise exhaust memory or hang the open.
   * Default: 1 GiB of memory and 4 GiB of work, or `HEXZ_KDF_MAX_MEMORY` / `HEXZ_KDF_MAX_WORK`.
   * Beyond it, open fails with UnsupportedError.
   */
  kdfLimits?: KdfLimits;
  /**
   * Thin snapshots (§15.4): directories to look in for parents not found at their recorded path
   * (the CLI passes `--parent-dir` and `HEXZ_PATH` here).
   */
  parentDirs?: string[];
  /** How http(s):// and s3:// locations (the archive's, its parents', search directories) are reached: fetch, S3 client, retry, cache. */
  source?: SourceOptions;
  /** Directory (path or URL) recorded parent paths are relative to; by default the archive's own (from its path or URL). */
  baseDir?: string;
  /**
   * Open the parents of a thin snapshot (default true). Parents themselves are opened with
   * false: the child's table names every archive it reads from, so chains are never walked.
   */
  openParents?: boolean;
}

/**
 * {@link OpenOptions} plus the platform the portable reader core runs on. The Node entry
 * (`node/archive.ts`) supplies its own; a browser entry supplies another.
 */
export interface PlatformOpenOptions extends OpenOptions {
  platform: ReaderPlatform;
}

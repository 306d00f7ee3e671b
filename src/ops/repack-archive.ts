import { access } from 'node:fs/promises';
import type { Archive } from '../node/archive.js';
import { PROFILE_NAMES } from '../format/constants.js';
import { toHex } from '../format/digest.js';
import type { KdfParams } from '../format/encryption-params.js';
import { pack, type PackOptions, type PackProgress, type PackResult } from '../pack/pack.js';
import { parentSettings } from '../pack/parent-chain.js';
import { HEXZ_VERSION } from '../version.js';
import { UsageError, WrongKeyError } from '../errors.js';

/** Options shared by {@link flatten} and {@link rebase}: where the new archive goes and how it is written. */
export interface RepackOptions {
  /** Path of the archive to write (atomically: a temporary file renamed into place). */
  output: string;
  /** Overwrite an existing output (default false). */
  force?: boolean;
  /**
   * Password of the source archive, when it is encrypted and given as a path. Also the default
   * password of the new archive and (rebase) of the new parent.
   */
  password?: string;
  /** Password of the new archive when the source is encrypted (default: `password`). */
  newPassword?: string;
  /** Argon2id costs of the new archive's password (default: the source's). */
  kdf?: Partial<KdfParams>;
  /**
   * Directories to look in for parents not at their recorded paths (docs/FORMAT.md §15.4): the
   * source's, and for a rebase the new parent's.
   */
  parentDirs?: string[];
  /** Worker threads for hashing and compression (default: one per core). */
  workers?: number;
  /** Progress of the re-pack; `bytesTotal` is the source's logical size (all streams). */
  onProgress?: (p: PackProgress) => void;
  signal?: AbortSignal;
}

/** Result of {@link flatten} / {@link rebase}: the pack's result plus the archive it came from. */
export interface RepackResult extends PackResult {
  /** The source archive (its name: a path when opened from one). */
  source: string;
  /** Hex archive id of the source. */
  sourceId: string;
  /** How many archives the source referred to (its parents-table slots; 0 when standalone). */
  sourceSlots: number;
}

/**
 * Re-packs every stream of an open archive into a new one with the source's settings (codec,
 * level, fixed block size or CDC bounds, profile, a dictionary when it had one, Argon2id costs)
 * and its metadata (input names; the tool is updated), optionally thin against `thin.parent`.
 * Content is read through `createReadStream`, so every byte is verified by its hash on the way
 * (in the source or the parent that holds it); holes are not carried over as such but come out
 * the same, since all-zero blocks are detected by content.
 * @param thin the new parent (rebase) and its password; undefined for a standalone archive.
 * @throws UsageError when the output exists without `force`, or when a password for the new
 *   archive is missing (an encrypted source opened with a data key only).
 * @throws WrongKeyError when the source is encrypted and was opened without its password.
 * @throws as {@link pack}: MissingParentError / WrongKeyError for the new parent, StoreError,
 *   CorruptArchiveError / MissingParentError from reading the source, AbortedError.
 */
export async function repackArchive(source: Archive, options: RepackOptions, thin?: { parent: string; parentPassword?: string }): Promise<RepackResult> {
  await refuseExistingOutput(options);
  if (source.locked) throw new WrongKeyError('archive is encrypted: a password is needed to read it', { archive: source.name, stage: 'key' });
  const h = source.header;
  if (!h.encryption && (options.newPassword !== undefined || options.kdf !== undefined)) {
    throw new UsageError(`${source.name} is not encrypted: a new password or Argon2id costs apply only to an encrypted archive`);
  }
  const newPassword = options.newPassword ?? options.password;
  if (h.encryption && newPassword === undefined) throw new UsageError(`${source.name} is encrypted: the new archive needs a password (newPassword)`, { archive: source.name });
  const s = parentSettings(source);
  const profile = PROFILE_NAMES[h.profile];
  const meta = await source.metadata();
  const total = source.streams.reduce((n, name) => n + source.size(name), 0);
  const read = (name: 'disk' | 'memory') => (source.hasStream(name) ? source.createReadStream(name, { signal: options.signal }) : undefined);
  const disk = read('disk');
  const memory = read('memory');
  const packOptions: PackOptions = {
    disk, memory, output: options.output, force: options.force,
    // The streams' sizes are known: they size the new archive's front index area (§7).
    inputSizes: Object.fromEntries(source.streams.map((name) => [name, source.size(name)])),
    compression: s.compression, level: s.level,
    // The source's chunking exactly: fixed blocks of its size, or CDC with its bounds.
    ...(s.cdc ? { cdc: s.cdc } : { cdc: false, blockSize: s.blockSize }),
    // Recorded in the header as it was; every setting it implies is given explicitly above.
    profile: profile && profile !== 'custom' ? profile : undefined,
    trainDict: h.dictionary.length > 0,
    workers: options.workers, signal: options.signal,
    encrypt: h.encryption ? { password: newPassword!, kdf: { ...h.encryption.kdfParams, ...options.kdf } } : undefined,
    parent: thin?.parent, parentPassword: thin?.parentPassword, parentDirs: options.parentDirs,
    metadata: meta ? { ...meta, tool: `hexz ${HEXZ_VERSION}` } : undefined,
    // Readable inputs have no known size; the source's logical size is the total.
    onProgress: options.onProgress && ((p) => options.onProgress!({ ...p, bytesTotal: p.bytesTotal ?? total })),
  };
  try {
    const r = await pack(packOptions);
    return { ...r, source: source.name, sourceId: toHex(source.archiveId), sourceSlots: source.parentRecords.length };
  } finally {
    // pack closes the inputs it opened; one it never reached (an early error) is closed here.
    disk?.destroy();
    memory?.destroy();
  }
}

/**
 * Fails early, before any password is derived or byte read, when the output exists and `force`
 * is not set (the writer checks again when it creates the file).
 * @throws UsageError as the writer would.
 */
export async function refuseExistingOutput(options: { output: string; force?: boolean }): Promise<void> {
  if (options.force) return;
  const there = await access(options.output).then(() => true, () => false);
  if (there) throw new UsageError(`${options.output}: output exists (use --force to overwrite)`, { archive: options.output });
}

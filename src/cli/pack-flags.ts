/**
 * The packing flags `hexz pack` and `hexz build` share (codec, level, blocks, chunking,
 * dictionary, workers, dedup, encryption, thin parent), their checks, and the opening of a
 * thin parent with its password.
 */
import type { Command } from 'commander';
import type { Archive } from '../node/archive.js';
import type { PackOptions } from '../pack/pack-options.js';
import { UsageError } from '../errors.js';
import { parseSize } from '../util/size.js';
import { requirePassword } from './password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from './parent-dirs.js';
import { kdfFlags } from './kdf-flags.js';

/** The shared flags as commander parses them. */
export interface PackOptionFlags {
  output: string;
  compression: string;
  level?: string;
  blockSize?: string;
  cdc?: boolean;
  minChunk?: string;
  avgChunk?: string;
  maxChunk?: string;
  profile?: string;
  trainDict?: boolean;
  workers?: string;
  dedup: boolean;
  force?: boolean;
  encrypt?: boolean;
  passwordFile?: string;
  kdfMemory?: string;
  kdfIterations?: string;
  kdfLanes?: string;
  parent?: string;
  parentPasswordFile?: string;
  parentDir?: string[];
  silent?: boolean;
  json?: boolean;
}

/** Adds the shared packing flags to `cmd`. */
export function addPackOptions(cmd: Command): Command {
  return cmd
    .option('--profile <name>', 'preset of codec, level, block size and chunking: generic, ml, eda, embedded, archival (explicit flags override it)')
    .option('--compression <codec>', 'zstd, lz4 or none (default zstd)')
    .option('--level <n>', 'compression level (zstd: -7..22, default 3)')
    .option('--block-size <size>', 'fixed block size, a power of two from 4K to 4M (e.g. 64K, 1M; default 64K)')
    .option('--cdc', 'content-defined chunking (FastCDC) instead of fixed blocks')
    .option('--no-cdc', 'fixed blocks even when the profile uses CDC')
    .option('--min-chunk <size>', 'CDC: smallest chunk (default 16K; implies --cdc)')
    .option('--avg-chunk <size>', 'CDC: average chunk, a power of two (default 64K; implies --cdc)')
    .option('--max-chunk <size>', 'CDC: largest chunk, at most 4M (default 128K; implies --cdc)')
    .option('--train-dict', 'train a zstd dictionary (up to ~110K) from samples of the input and compress every block with it (zstd only; needs the system libzstd)')
    .option('--no-train-dict', 'no dictionary even when the profile uses one')
    .option('--workers <n>', 'worker threads for hashing and compression (default: one per core)')
    .option('--no-dedup', 'store duplicate blocks again instead of pointing at the first copy')
    .option('-f, --force', 'overwrite an existing output')
    .option('--encrypt', 'encrypt blocks, index and metadata with AES-256-GCM under a password (asked twice on the terminal, or HEXZ_PASSWORD, or --password-file)')
    .option('--password-file <file>', 'with --encrypt: read the password from the first line of FILE')
    .option('--kdf-memory <size>', 'with --encrypt: Argon2id memory (default 64M; 8K..4G)')
    .option('--kdf-iterations <n>', 'with --encrypt: Argon2id iterations (default 3; 1..256)')
    .option('--kdf-lanes <n>', 'with --encrypt: Argon2id lanes (default 4; 1..64)')
    .option('--parent <archive>', "pack thin: store only blocks not already in this archive's chain (reuses its codec, level and chunking; keep the chain reachable to read the result). An encrypted parent needs --encrypt: the child shares its data key, and the password must open the parent (or see --parent-password-file)")
    .option('--parent-password-file <file>', "with --parent and --encrypt: the encrypted parent's password, when it differs from the new archive's")
    .option(...PARENT_DIR_FLAG);
}

/**
 * The plain packing options the flags give (everything but inputs, output, encryption and the
 * parent), checked before anything is opened or asked for.
 * @throws UsageError for a bad level, chunk flags with --no-cdc, or encryption flags without --encrypt.
 */
export function packOptionsFrom(flags: PackOptionFlags): Pick<PackOptions, 'compression' | 'level' | 'blockSize' | 'workers' | 'cdc' | 'profile' | 'trainDict' | 'dedup' | 'force' | 'parentDirs'> {
  const level = flags.level === undefined ? undefined : Number(flags.level);
  if (level !== undefined && !Number.isInteger(level)) throw new UsageError(`--level must be an integer, got '${flags.level}'`);
  const workers = flags.workers === undefined ? undefined : Number(flags.workers);
  const chunkFlags = flags.minChunk !== undefined || flags.avgChunk !== undefined || flags.maxChunk !== undefined;
  if (chunkFlags && flags.cdc === false) throw new UsageError('--min-chunk/--avg-chunk/--max-chunk need CDC; drop --no-cdc');
  const cdc = chunkFlags ? { min: flags.minChunk, avg: flags.avgChunk, max: flags.maxChunk } : flags.cdc;
  if (flags.encrypt) kdfFlags(flags); // bad --kdf-* values are refused before any prompt
  else if (flags.passwordFile !== undefined || flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined) {
    throw new UsageError('--password-file and --kdf-* need --encrypt');
  }
  return {
    compression: flags.compression as PackOptions['compression'], level, blockSize: flags.blockSize === undefined ? undefined : parseSize(flags.blockSize), workers,
    cdc, profile: flags.profile, trainDict: flags.trainDict, dedup: flags.dedup, force: flags.force,
    parentDirs: flags.parent === undefined ? undefined : parentDirsFrom(flags),
  };
}

/** The parent of a thin pack, opened once, and the password that opened it when it is encrypted. */
export interface OpenedParent {
  parent: Archive;
  /** The password that opened an encrypted parent (shared with the new archive without --parent-password-file). */
  password?: string;
}

/**
 * With --parent, opens it once, with its chain: the password is asked for only when its header
 * says it is encrypted (so a plain parent costs no prompt and a remote one no second header
 * read), and a plain/encrypted mismatch is refused before any prompt, with advice.
 * @returns the opened parent (undefined without --parent); the caller closes it.
 * @throws UsageError for a mismatch, or --parent-password-file / --parent-dir without --parent.
 * @throws WrongKeyError / MissingParentError from opening the parent.
 */
export async function openParent(flags: PackOptionFlags): Promise<OpenedParent | undefined> {
  if (flags.parent === undefined) {
    if (flags.parentPasswordFile !== undefined || flags.parentDir?.length) throw new UsageError('--parent-password-file and --parent-dir need --parent');
    return undefined;
  }
  const opened: Partial<OpenedParent> = {};
  const parentName = flags.parent;
  const password = async (): Promise<string> => {
    if (!flags.encrypt) {
      throw new UsageError(`parent ${parentName} is encrypted, so the thin archive must be too: add --encrypt (the password from --password-file, HEXZ_PASSWORD or the prompt must open the parent, or give the parent's with --parent-password-file; the child shares the parent's data key)`);
    }
    // Without --parent-password-file one password opens the parent and protects the child: asked once.
    const given = flags.parentPasswordFile !== undefined
      ? await requirePassword({ passwordFile: flags.parentPasswordFile }, '--parent-password-file gave no password')
      : await requirePassword({ passwordFile: flags.passwordFile, prompt: `Password of ${parentName} (also the new archive's): ` }, '--encrypt needs a password');
    opened.password = given;
    return given;
  };
  const { Archive } = await import('../node/archive.js');
  const parent = await Archive.open(parentName, { password, parentDirs: parentDirsFrom(flags), verify: true });
  try {
    if (!parent.encrypted && flags.encrypt) {
      throw new UsageError(`parent ${parentName} is not encrypted, so the thin archive cannot be (their content hashes would differ): drop --encrypt, or pack without --parent`);
    }
    if (!parent.encrypted && flags.parentPasswordFile !== undefined) throw new UsageError(`--parent-password-file: parent ${parentName} is not encrypted`);
  } catch (err) {
    await parent.close();
    throw err;
  }
  return { parent, password: opened.password };
}

/**
 * The `encrypt` option from --encrypt and its flags; the password is read here, before packing
 * starts. With an encrypted parent and no --parent-password-file, the password that opened the
 * parent is the new archive's too, so it was asked once, and the parent checked it (a typo is a
 * WrongKeyError, not a new password).
 */
export async function encryptionFlags(flags: PackOptionFlags, opened: OpenedParent | undefined) {
  const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
  if (!flags.encrypt) {
    if (flags.passwordFile !== undefined || anyKdf) throw new UsageError('--password-file and --kdf-* need --encrypt');
    return undefined;
  }
  const kdf = kdfFlags(flags);
  // An encrypted parent opened without --parent-password-file was opened with the child's password.
  const password = opened?.parent.encrypted && flags.parentPasswordFile === undefined
    ? opened.password!
    : await requirePassword({ passwordFile: flags.passwordFile, confirm: true, prompt: 'New archive password: ' }, '--encrypt needs a password');
  return { password, kdf };
}

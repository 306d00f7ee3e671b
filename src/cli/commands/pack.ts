import type { Command } from 'commander';
import { Archive } from '../../archive/archive.js';
import { pack, type PackInput } from '../../pack/pack.js';
import { UsageError } from '../../errors.js';
import { parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { printFields, printJson } from '../output.js';
import { createProgress } from '../progress.js';
import { readPassword, requirePassword } from '../password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { packProgressHandler, packSummaryFields } from '../pack-report.js';
import { kdfFlags } from '../kdf-flags.js';

interface PackFlags {
  disk?: string;
  memory?: string;
  diskFormat?: string;
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

/** `hexz pack`: registers the command on `program`. */
export function registerPack(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('pack')
    .description('pack a disk image and/or a memory dump into a .hxz archive')
    .option('--disk <file>', "disk image to pack ('-' for stdin)")
    .option('--disk-format <format>', 'format of the --disk file: raw or qcow2 (default: detected)')
    .option('--memory <file>', "memory dump to pack ('-' for stdin)")
    .requiredOption('-o, --output <out.hxz>', 'archive to write (refused if it exists, unless --force)')
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
    .option(...PARENT_DIR_FLAG)
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON')
    .action((flags: PackFlags) => run((ctx) => packCommand(flags, ctx)));
}

async function packCommand(flags: PackFlags, ctx: CommandContext): Promise<number> {
  if (flags.disk === '-' && flags.memory === '-') throw new UsageError('only one input can be read from stdin');
  const input = (v?: string): PackInput | undefined => (v === '-' ? process.stdin : v);
  const level = flags.level === undefined ? undefined : Number(flags.level);
  if (level !== undefined && !Number.isInteger(level)) throw new UsageError(`--level must be an integer, got '${flags.level}'`);
  if (flags.diskFormat !== undefined && flags.diskFormat !== 'raw' && flags.diskFormat !== 'qcow2') {
    throw new UsageError(`--disk-format must be raw or qcow2, got '${flags.diskFormat}'`);
  }
  if (flags.diskFormat === 'qcow2' && flags.disk === '-') throw new UsageError('a qcow2 disk cannot be read from stdin');
  const workers = flags.workers === undefined ? undefined : Number(flags.workers);
  const chunkFlags = flags.minChunk !== undefined || flags.avgChunk !== undefined || flags.maxChunk !== undefined;
  if (chunkFlags && flags.cdc === false) throw new UsageError('--min-chunk/--avg-chunk/--max-chunk need CDC; drop --no-cdc');
  const cdc = chunkFlags
    ? { min: flags.minChunk, avg: flags.avgChunk, max: flags.maxChunk }
    : flags.cdc;
  const parentEncrypted = await checkParent(flags);
  const encrypt = await encryptionFlags(flags, parentEncrypted);
  const parentPassword = flags.parentPasswordFile === undefined ? undefined : await readPassword({ passwordFile: flags.parentPasswordFile });
  const progress = createProgress('packing', !flags.silent && !flags.json);
  let result;
  try {
    result = await pack({
      disk: input(flags.disk), diskFormat: flags.diskFormat as 'raw' | 'qcow2' | undefined, memory: input(flags.memory), output: flags.output,
      compression: flags.compression as 'zstd' | undefined, level, blockSize: flags.blockSize === undefined ? undefined : parseSize(flags.blockSize), workers,
      cdc, profile: flags.profile, trainDict: flags.trainDict,
      dedup: flags.dedup, force: flags.force, signal: ctx.signal, encrypt,
      parent: flags.parent, parentPassword, parentDirs: flags.parent === undefined ? undefined : parentDirsFrom(flags),
      onProgress: packProgressHandler(progress),
    });
  } finally {
    progress.stop();
  }
  if (flags.json) {
    const { header: _h, ...summary } = result;
    printJson(summary);
  } else if (!flags.silent) {
    printFields(packSummaryFields(result));
  }
  return 0;
}

/**
 * With --parent, reads the parent's header (not its chain: pack reports a missing grandparent
 * properly) to refuse a plain/encrypted mismatch before any password is asked for, with advice.
 * @returns whether the parent is encrypted (false without --parent).
 * @throws UsageError for a mismatch, or --parent-password-file / --parent-dir without --parent.
 */
async function checkParent(flags: PackFlags): Promise<boolean> {
  if (flags.parent === undefined) {
    if (flags.parentPasswordFile !== undefined || flags.parentDir?.length) throw new UsageError('--parent-password-file and --parent-dir need --parent');
    return false;
  }
  const p = await Archive.open(flags.parent, { openParents: false, preloadIndexBytes: 0 });
  const encrypted = p.encrypted;
  await p.close();
  if (encrypted && !flags.encrypt) {
    throw new UsageError(`parent ${flags.parent} is encrypted, so the thin archive must be too: add --encrypt (the password from --password-file, HEXZ_PASSWORD or the prompt must open the parent, or give the parent's with --parent-password-file; the child shares the parent's data key)`);
  }
  if (!encrypted && flags.encrypt) {
    throw new UsageError(`parent ${flags.parent} is not encrypted, so the thin archive cannot be (their content hashes would differ): drop --encrypt, or pack without --parent`);
  }
  if (!encrypted && flags.parentPasswordFile !== undefined) throw new UsageError(`--parent-password-file: parent ${flags.parent} is not encrypted`);
  return encrypted;
}

/**
 * The `encrypt` option from --encrypt and its flags; the password is read here, before packing
 * starts. With an encrypted parent and no --parent-password-file, the same password opens the
 * parent, so it is asked once: the parent checks it (a typo is a WrongKeyError, not a new password).
 */
async function encryptionFlags(flags: PackFlags, parentEncrypted: boolean) {
  const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
  if (!flags.encrypt) {
    if (flags.passwordFile !== undefined || anyKdf) throw new UsageError('--password-file and --kdf-* need --encrypt');
    return undefined;
  }
  const kdf = kdfFlags(flags);
  const shared = parentEncrypted && flags.parentPasswordFile === undefined;
  const password = await requirePassword(
    shared
      ? { passwordFile: flags.passwordFile, prompt: `Password of ${flags.parent} (also the new archive's): ` }
      : { passwordFile: flags.passwordFile, confirm: true, prompt: 'New archive password: ' },
    '--encrypt needs a password',
  );
  return { password, kdf };
}

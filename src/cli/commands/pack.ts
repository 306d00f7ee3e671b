import type { Command } from 'commander';
import { pack, type PackInput } from '../../pack/pack.js';
import { UsageError } from '../../errors.js';
import { parseSize, formatBytes } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson, ratioText } from '../output.js';
import { createProgress } from '../progress.js';
import { requirePassword } from '../password.js';
import { kdfFlags } from './passwd.js';

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
  const encrypt = await encryptionFlags(flags);
  const progress = createProgress('packing', !flags.silent && !flags.json);
  let result;
  try {
    result = await pack({
      disk: input(flags.disk), diskFormat: flags.diskFormat as 'raw' | 'qcow2' | undefined, memory: input(flags.memory), output: flags.output,
      compression: flags.compression as 'zstd' | undefined, level, blockSize: flags.blockSize === undefined ? undefined : parseSize(flags.blockSize), workers,
      cdc, profile: flags.profile, trainDict: flags.trainDict,
      dedup: flags.dedup, force: flags.force, signal: ctx.signal, encrypt,
      onProgress: (p) => progress.update(p.bytesDone, p.bytesTotal, {
        ...(p.phase === 'train' ? { dictionary: 'training…' } : p.trainSeconds > 0 ? { 'dict trained in': `${p.trainSeconds.toFixed(1)} s` } : {}),
        dedup: formatBytes(p.dedupBytes),
        ratio: ratioText((p.bytesDone - p.zeroBytes - p.dedupBytes) / Math.max(1, p.storedBytes)),
      }),
    });
  } finally {
    progress.stop();
  }
  if (flags.json) {
    const { header: _h, ...summary } = result;
    printJson(summary);
  } else if (!flags.silent) {
    printFields([
      ['archive', `${result.output} (${bytesText(result.archiveBytes)})`],
      ['input', bytesText(result.logicalBytes)],
      ['ratio', ratioText(result.ratio)],
      ['settings', settingsText(result)],
      ...(result.dictionary ? [['dictionary', `${bytesText(result.dictionary.bytes)}, trained in ${result.dictionary.trainSeconds.toFixed(2)} s, ${result.dictionary.gain.toFixed(2)}x smaller on held-out samples`] as [string, string]] : []),
      ...(result.encryption ? [['encryption', `AES-256-GCM, Argon2id ${formatBytes(result.encryption.kdf.memoryKiB * 1024)} × ${result.encryption.kdf.iterations} iterations × ${result.encryption.kdf.lanes} lanes (${result.encryption.kdfSeconds.toFixed(2)} s)`] as [string, string]] : []),
      ['dedup saved', bytesText(result.streams.reduce((n, s) => n + s.dedupBytes, 0))],
      ['zero', bytesText(result.streams.reduce((n, s) => n + s.zeroBytes, 0))],
      ['time', `${result.seconds.toFixed(2)} s (${formatBytes(Math.round(result.logicalBytes / Math.max(result.seconds, 0.001)))}/s)`],
    ]);
  }
  return 0;
}

/** The `encrypt` option from --encrypt and its flags; the password is read here, before packing starts. */
async function encryptionFlags(flags: PackFlags) {
  const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
  if (!flags.encrypt) {
    if (flags.passwordFile !== undefined || anyKdf) throw new UsageError('--password-file and --kdf-* need --encrypt');
    return undefined;
  }
  const kdf = kdfFlags(flags);
  const password = await requirePassword({ passwordFile: flags.passwordFile, confirm: true, prompt: 'New archive password: ' }, '--encrypt needs a password');
  return { password, kdf };
}

/** One line naming the profile and the settings it resolved to. */
function settingsText(r: { profile: string; compression: string; level: number; blockSize: number; cdc: { min: number; avg: number; max: number } | null }): string {
  const codec = r.compression === 'zstd' ? `zstd ${r.level}` : r.compression;
  const chunks = r.cdc ? `FastCDC ${formatBytes(r.cdc.min)}/${formatBytes(r.cdc.avg)}/${formatBytes(r.cdc.max)}` : `fixed ${formatBytes(r.blockSize)} blocks`;
  return `profile ${r.profile}, ${codec}, ${chunks}`;
}

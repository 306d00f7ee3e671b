import type { Command } from 'commander';
import type { CommitProgress, CommitResult } from '../../ops/commit-overlay.js';
import { UsageError } from '../../errors.js';
import { formatBytes } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { kdfFlags } from '../kdf-flags.js';
import { bytesText, printFields, printJson } from '../output.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { requirePassword } from '../password.js';
import { createProgress, type ProgressView } from '../progress.js';

interface CommitFlags {
  output: string;
  force?: boolean;
  encrypt?: boolean;
  passwordFile?: string;
  kdfMemory?: string;
  kdfIterations?: string;
  kdfLanes?: string;
  parentDir?: string[];
  workers?: string;
  silent?: boolean;
  json?: boolean;
}

/** `hexz commit`: registers the command on `program`. */
export function registerCommit(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('commit')
    .description("write what a copy-on-write overlay holds as a thin child of the overlay's base archive")
    .argument('<overlay>', 'overlay file (as made by hexz serve --overlay or hexz mount --overlay)')
    .requiredOption('-o, --output <child.hxz>', 'archive to write (refused if it exists, unless --force)')
    .option('-f, --force', 'overwrite an existing output (never the overlay, its base or an archive of its chain)')
    .option('--encrypt', "encrypted base: encrypt the child too (it shares the base's data key) under a password (--password-file, HEXZ_PASSWORD, or asked)")
    .option('--password-file <file>', "with --encrypt: the child's (and the base's) password from the first line of FILE")
    .option('--kdf-memory <size>', "with --encrypt: Argon2id memory (default: the base's)")
    .option('--kdf-iterations <n>', "with --encrypt: Argon2id iterations (default: the base's)")
    .option('--kdf-lanes <n>', "with --encrypt: Argon2id lanes (default: the base's)")
    .option(...PARENT_DIR_FLAG)
    .option('--workers <n>', 'most worker threads for hashing and compression (default: one per core; a commit starts one, and one more per 64 MiB to compress)')
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON')
    .addHelpText('after', `
The child is a thin child of the overlay's base (like hexz pack --parent, with the parent's path
stored relative to the child): it reads the overlay's merged content, and the base (and its own
chain) must stay reachable. Blocks no write touched become references to where the chain stores
them, without being read. With fixed blocks, a block written less than half is not read either:
its clean parts become references to those parts of it (format version 8) and only the written
pages are compressed; a block written more is read back merged with the overlay and re-cut
whole; content-defined chunks are re-cut from the nearest cut points. All new blocks are looked
up in the chain first. The time follows the written bytes, not the image size. The codec,
level, chunking and dictionary are the base's. The overlay is read as it is on disk: stop the
server writing to it (or let it flush) first. Nothing is left at the output on error or Ctrl-C.`)
    .action((overlay: string, flags: CommitFlags) => run((ctx) => commitCommand(overlay, flags, ctx)));
}

async function commitCommand(overlay: string, flags: CommitFlags, ctx: CommandContext): Promise<number> {
  const workers = flags.workers === undefined ? undefined : Number(flags.workers);
  if (workers !== undefined && !Number.isInteger(workers)) throw new UsageError(`--workers must be an integer, got '${flags.workers}'`);
  const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
  if (!flags.encrypt && (flags.passwordFile !== undefined || anyKdf)) throw new UsageError('--password-file and --kdf-* need --encrypt');
  const kdf = flags.encrypt && anyKdf ? kdfFlags(flags) : undefined;
  const password = flags.encrypt ? await requirePassword({ passwordFile: flags.passwordFile, prompt: 'Password for the child (and the base): ' }, 'the child is to be encrypted') : undefined;
  const { commitOverlay } = await import('../../ops/commit-overlay.js');
  const progress = createProgress('committing', !flags.silent && !flags.json);
  let r: CommitResult;
  try {
    r = await commitOverlay(overlay, {
      output: flags.output, force: flags.force, parentDirs: parentDirsFrom(flags), workers, signal: ctx.signal,
      basePassword: password, encrypt: password === undefined ? undefined : { password, kdf },
      onProgress: progressHandler(progress),
    });
  } finally {
    progress.stop();
  }
  if (flags.json) printJson(r);
  else if (!flags.silent) {
    printFields([
      ['archive', `${r.output} (${bytesText(r.archiveBytes)}, archive ${r.archiveId})`],
      ['overlay', r.overlay],
      ['parent', `${r.base} (archive ${r.baseId}), recorded as ${r.parentPath}; ${r.slots} slot${r.slots > 1 ? 's' : ''}, all must stay reachable`],
      ['dirty', `${bytesText(r.dirtyBytes)} written in the overlay`],
      ['re-packed', `${bytesText(r.rewrittenBytes)} (the blocks the writes touched), ${bytesText(r.dedupBytes)} of it found in the chain`],
      ['referenced', `${bytesText(r.referencedBytes)} of clean blocks, not read`],
      ['stored', `${bytesText(r.storedBytes)} in ${r.storedBlocks} new block${r.storedBlocks === 1 ? '' : 's'}`],
      ['time', `${r.seconds.toFixed(2)} s`],
    ]);
  }
  return 0;
}

/** The bar: logical bytes of the child written so far (clean references advance it fast), with the re-packed bytes. */
function progressHandler(view: ProgressView): (p: CommitProgress) => void {
  return (p) => view.update(p.bytesDone, p.bytesTotal, { 're-packed': formatBytes(p.rewrittenBytes), stored: formatBytes(p.storedBytes) });
}

import type { Command } from 'commander';
import { Archive } from '../node/archive.js';
import { UsageError } from '../errors.js';
import { refuseExistingOutput, type RepackOptions, type RepackResult } from '../ops/repack-archive.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from './archive-password.js';
import { printFields, printJson } from './output.js';
import { packSummaryFields } from './pack-report.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from './parent-dirs.js';
import { readPassword } from './password.js';
import { kdfFlags } from './kdf-flags.js';

/** Flags shared by `flatten` and `rebase`. */
export interface RepackFlags {
  output: string;
  force?: boolean;
  passwordFile?: string;
  newPasswordFile?: string;
  kdfMemory?: string;
  kdfIterations?: string;
  kdfLanes?: string;
  parentDir?: string[];
  workers?: string;
  silent?: boolean;
  json?: boolean;
}

/** Adds the options shared by `flatten` and `rebase` to `cmd`. */
export function addRepackOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-o, --output <out.hxz>', 'archive to write (refused if it exists, unless --force)')
    .option('-f, --force', 'overwrite an existing output')
    .option(...PASSWORD_FILE_FLAG)
    .option('--new-password-file <file>', "encrypted archives: the new archive's password from the first line of FILE (else HEXZ_NEW_PASSWORD, else the source's password)")
    .option('--kdf-memory <size>', "encrypted archives: Argon2id memory for the new archive's password (default: the source's)")
    .option('--kdf-iterations <n>', "encrypted archives: Argon2id iterations (default: the source's)")
    .option('--kdf-lanes <n>', "encrypted archives: Argon2id lanes (default: the source's)")
    .option(...PARENT_DIR_FLAG)
    .option('--workers <n>', 'worker threads for hashing and compression (default: one per core)')
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON');
}

/**
 * Opens the source of `flatten` / `rebase` and derives the library options from the shared
 * flags. The source's password is asked for by the open itself, only when its header says it
 * is encrypted (no header read of its own: one request less for a URL); the new archive's is
 * never prompted for (by default the source's). Both are read here, before any progress bar.
 * @returns the open source (the caller closes it) and the options, whose `password` is the
 *   source's (undefined when it is not encrypted).
 * @throws UsageError for a bad --workers, an existing output without --force (checked before any
 *   password is asked for), or --new-password-file / --kdf-* on a plain source.
 * @throws as {@link Archive.open} (WrongKeyError for a wrong password, MissingParentError, …).
 */
export async function openRepackSource(file: string, flags: RepackFlags): Promise<{ source: Archive; options: RepackOptions }> {
  const workers = flags.workers === undefined ? undefined : Number(flags.workers);
  if (workers !== undefined && !Number.isInteger(workers)) throw new UsageError(`--workers must be an integer, got '${flags.workers}'`);
  await refuseExistingOutput(flags);
  const parentDirs = parentDirsFrom(flags);
  // Remembered: it is also the new archive's password and (rebase) the new parent's by default.
  let password: string | undefined;
  const ask = lazyPasswordFor(file, flags);
  const source = await Archive.open(file, { password: async () => (password = await ask()), parentDirs });
  try {
    const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
    if (!source.encrypted && (flags.newPasswordFile !== undefined || anyKdf)) {
      throw new UsageError(`${file} is not encrypted: --new-password-file and --kdf-* apply only to encrypted archives`);
    }
    const newPassword = !source.encrypted ? undefined
      : flags.newPasswordFile !== undefined || process.env.HEXZ_NEW_PASSWORD !== undefined
        ? await readPassword({ passwordFile: flags.newPasswordFile, envVar: 'HEXZ_NEW_PASSWORD' })
        : undefined;
    const options: RepackOptions = {
      output: flags.output, force: flags.force, password, newPassword, kdf: anyKdf ? kdfFlags(flags) : undefined, parentDirs, workers,
    };
    return { source, options };
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** Prints a flatten/rebase result: JSON (without the raw header), or the source then the pack summary. */
export function printRepackResult(r: RepackResult, flags: { json?: boolean; silent?: boolean }): void {
  if (flags.json) {
    const { header: _h, ...summary } = r;
    printJson(summary);
  } else if (!flags.silent) {
    const from = r.sourceSlots > 0 ? `${r.source} (archive ${r.sourceId}, thin, ${r.sourceSlots} parent slot${r.sourceSlots > 1 ? 's' : ''})` : `${r.source} (archive ${r.sourceId}, standalone)`;
    printFields([['source', from], ...packSummaryFields(r)]);
  }
}

import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { RepackResult } from '../ops/repack-archive.js';
import { passwordFor, PASSWORD_FILE_FLAG } from './archive-password.js';
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
 * The library options that come from the shared flags: the source's password (asked for only
 * when it is encrypted), the new archive's (never prompted: by default the source's), the
 * Argon2id overrides, the parent search directories and the worker count.
 * @throws UsageError for a bad --workers, or --new-password-file / --kdf-* on a plain source.
 */
export async function repackOptionsFrom(file: string, flags: RepackFlags) {
  const workers = flags.workers === undefined ? undefined : Number(flags.workers);
  if (workers !== undefined && !Number.isInteger(workers)) throw new UsageError(`--workers must be an integer, got '${flags.workers}'`);
  const password = await passwordFor(file, flags);
  const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
  if (password === undefined && (flags.newPasswordFile !== undefined || anyKdf)) {
    throw new UsageError(`${file} is not encrypted: --new-password-file and --kdf-* apply only to encrypted archives`);
  }
  const newPassword = password === undefined ? undefined
    : flags.newPasswordFile !== undefined || process.env.HEXZ_NEW_PASSWORD !== undefined
      ? await readPassword({ passwordFile: flags.newPasswordFile, envVar: 'HEXZ_NEW_PASSWORD' })
      : undefined;
  return {
    output: flags.output, force: flags.force, password, newPassword, kdf: anyKdf ? kdfFlags(flags) : undefined,
    parentDirs: parentDirsFrom(flags), workers,
  };
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

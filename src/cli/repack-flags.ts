import type { Command } from 'commander';
import type { RepackResult } from '../ops/repack-archive.js';
import { PASSWORD_FILE_FLAG } from './archive-password.js';
import { printFields, printJson } from './output.js';
import { packSummaryFields } from './pack-report.js';
import { PARENT_DIR_FLAG } from './parent-dirs.js';

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

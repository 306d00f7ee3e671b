import type { Command } from 'commander';
import { rebase } from '../../ops/rebase.js';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { createProgress } from '../progress.js';
import { readPassword } from '../password.js';
import { packProgressHandler } from '../pack-report.js';
import { addRepackOptions, printRepackResult, repackOptionsFrom, type RepackFlags } from '../repack-flags.js';

interface RebaseFlags extends RepackFlags {
  parent: string;
  parentPasswordFile?: string;
}

/** `hexz rebase`: registers the command on `program`. */
export function registerRebase(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  addRepackOptions(
    program
      .command('rebase')
      .description('re-pack an archive thin against another parent (same content and settings; the old chain is no longer needed)')
      .argument('<file>', 'archive to rebase (its own parents must be reachable)')
      .requiredOption('--parent <archive>', 'the new parent: only blocks not in its chain are stored')
      .option('--parent-password-file <file>', "encrypted archives: the new parent's password from the first line of FILE (default: the source's password)"),
  ).action((file: string, flags: RebaseFlags) => run(async (ctx) => {
    const options = await repackOptionsFrom(file, flags);
    if (flags.parentPasswordFile !== undefined && options.password === undefined) {
      throw new UsageError(`${file} is not encrypted: --parent-password-file applies only to encrypted archives`);
    }
    const parentPassword = flags.parentPasswordFile === undefined ? undefined : await readPassword({ passwordFile: flags.parentPasswordFile });
    const progress = createProgress('rebasing', !flags.silent && !flags.json);
    let r;
    try {
      r = await rebase(file, { ...options, parent: flags.parent, parentPassword, signal: ctx.signal, onProgress: packProgressHandler(progress) });
    } finally {
      progress.stop();
    }
    printRepackResult(r, flags);
    return 0;
  }));
}

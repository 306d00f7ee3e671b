import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { createProgress } from '../progress.js';
import { readPassword } from '../password.js';
import { packProgressHandler } from '../pack-report.js';
import { addRepackOptions, printRepackResult, type RepackFlags } from '../repack-flags.js';

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
    const [{ rebase }, { openRepackSource }] = await Promise.all([import('../../ops/rebase.js'), import('../repack-source.js')]);
    // Passwords are read (the source's by the open) before the bar starts, so a prompt is not drawn over.
    const { source, options } = await openRepackSource(file, flags);
    try {
      if (flags.parentPasswordFile !== undefined && !source.encrypted) {
        throw new UsageError(`${file} is not encrypted: --parent-password-file applies only to encrypted archives`);
      }
      const parentPassword = flags.parentPasswordFile === undefined ? undefined : await readPassword({ passwordFile: flags.parentPasswordFile });
      const progress = createProgress('rebasing', !flags.silent && !flags.json);
      let r;
      try {
        r = await rebase(source, { ...options, parent: flags.parent, parentPassword, signal: ctx.signal, onProgress: packProgressHandler(progress) });
      } finally {
        progress.stop();
      }
      printRepackResult(r, flags);
    } finally {
      await source.close();
    }
    return 0;
  }));
}

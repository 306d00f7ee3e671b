import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { createProgress } from '../progress.js';
import { packProgressHandler } from '../pack-report.js';
import { addRepackOptions, printRepackResult, type RepackFlags } from '../repack-flags.js';

/** `hexz flatten`: registers the command on `program`. */
export function registerFlatten(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  addRepackOptions(
    program
      .command('flatten')
      .description('write a standalone copy of a thin archive (same content and settings, no parents needed)')
      .argument('<file>', 'archive to flatten (its parents must be reachable)'),
  ).action((file: string, flags: RepackFlags) => run(async (ctx) => {
    const [{ flatten }, { openRepackSource }] = await Promise.all([import('../../ops/flatten.js'), import('../repack-source.js')]);
    // Passwords are read (by the open) before the bar starts, so a prompt is not drawn over.
    const { source, options } = await openRepackSource(file, flags);
    const progress = createProgress('flattening', !flags.silent && !flags.json);
    let r;
    try {
      r = await flatten(source, { ...options, signal: ctx.signal, onProgress: packProgressHandler(progress) });
    } finally {
      progress.stop();
      await source.close();
    }
    printRepackResult(r, flags);
    return 0;
  }));
}

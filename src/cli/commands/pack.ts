import type { Command } from 'commander';
import type { PackInput } from '../../pack/pack.js';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { printFields, printJson } from '../output.js';
import { createProgress } from '../progress.js';
import { packProgressHandler, packSummaryFields } from '../pack-report.js';
import { addPackOptions, encryptionFlags, openParent, packOptionsFrom, type PackOptionFlags } from '../pack-flags.js';

interface PackFlags extends PackOptionFlags {
  disk?: string;
  memory?: string;
  diskFormat?: string;
}

/** `hexz pack`: registers the command on `program`. */
export function registerPack(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  const cmd = program
    .command('pack')
    .description('pack a disk image and/or a memory dump into a .hxz archive')
    .option('--disk <file>', "disk image to pack ('-' for stdin)")
    .option('--disk-format <format>', 'format of the --disk file: raw or qcow2 (default: detected)')
    .option('--memory <file>', "memory dump to pack ('-' for stdin)")
    .requiredOption('-o, --output <out.hxz>', 'archive to write (refused if it exists, unless --force)');
  addPackOptions(cmd)
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON')
    .action((flags: PackFlags) => run((ctx) => packCommand(flags, ctx)));
}

async function packCommand(flags: PackFlags, ctx: CommandContext): Promise<number> {
  if (flags.disk === '-' && flags.memory === '-') throw new UsageError('only one input can be read from stdin');
  const input = (v?: string): PackInput | undefined => (v === '-' ? process.stdin : v);
  if (flags.diskFormat !== undefined && flags.diskFormat !== 'raw' && flags.diskFormat !== 'qcow2') {
    throw new UsageError(`--disk-format must be raw or qcow2, got '${flags.diskFormat}'`);
  }
  if (flags.diskFormat === 'qcow2' && flags.disk === '-') throw new UsageError('a qcow2 disk cannot be read from stdin');
  const common = packOptionsFrom(flags);
  const { pack } = await import('../../pack/pack.js');
  const opened = await openParent(flags);
  const progress = createProgress('packing', !flags.silent && !flags.json);
  let result;
  try {
    const encrypt = await encryptionFlags(flags, opened);
    result = await pack({
      ...common, disk: input(flags.disk), diskFormat: flags.diskFormat as 'raw' | 'qcow2' | undefined, memory: input(flags.memory), output: flags.output,
      signal: ctx.signal, encrypt, parent: opened?.parent, onProgress: packProgressHandler(progress),
    });
  } finally {
    progress.stop();
    await opened?.parent.close();
  }
  if (flags.json) {
    const { header: _h, ...summary } = result;
    printJson(summary);
  } else if (!flags.silent) {
    printFields(packSummaryFields(result));
  }
  return 0;
}


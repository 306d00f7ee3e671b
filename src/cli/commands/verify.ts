import type { Command } from 'commander';
import { verify } from '../../ops/verify.js';
import type { CommandContext } from '../context.js';
import { bytesText, printJson } from '../output.js';
import { createProgress } from '../progress.js';

/** `hexz verify`: registers the command on `program`. */
export function registerVerify(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('verify')
    .description('read every block and check the header checksum, every index node and every content hash')
    .argument('<file>', 'archive')
    .option('--json', 'print the report as JSON')
    .option('--silent', 'print nothing on success (damage is still reported on stderr)')
    .action((file: string, flags: { json?: boolean; silent?: boolean }) => run(async (ctx) => {
      const progress = createProgress('verifying', !flags.json && !flags.silent);
      let r;
      try {
        r = await verify(file, { signal: ctx.signal, onProgress: (d, t) => progress.update(d, t) });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(r);
      else if (r.ok) {
        if (!flags.silent) process.stdout.write(`${file}: OK (${r.blocksChecked} blocks, ${bytesText(r.bytesChecked)} checked in ${r.seconds.toFixed(2)} s)\n`);
      } else {
        const e = r.error!;
        const where = e.stream !== undefined ? ` in ${e.stream} stream${e.offset !== undefined ? ` at offset ${e.offset}` : ''}` : '';
        process.stderr.write(`hexz: ${file}: DAMAGED${where}: ${e.message}\n`);
      }
      // Damage exits 4 (CorruptArchiveError); a missing file, a non-archive etc. keep their own codes.
      return r.ok ? 0 : r.error!.exitCode;
    }));
}

import type { Command } from 'commander';
import { extract } from '../../ops/extract.js';
import type { StreamName } from '../../format/constants.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson } from '../output.js';
import { createProgress } from '../progress.js';
import { parseStream } from './stream-option.js';

/** `hexz extract`: registers the command on `program`. */
export function registerExtract(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('extract')
    .description('write one stream of an archive to a sparse raw file')
    .argument('<file>', 'archive')
    .requiredOption('-o, --output <out>', 'raw image to write (refused if it exists, unless --force)')
    .option('--stream <name>', 'disk or memory (default: disk, or memory when there is no disk)', parseStream)
    .option('-f, --force', 'overwrite an existing output')
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON')
    .action((file: string, flags: { output: string; stream?: StreamName; force?: boolean; silent?: boolean; json?: boolean }) => run(async (ctx) => {
      const progress = createProgress('extracting', !flags.silent && !flags.json);
      let r;
      try {
        r = await extract(file, { stream: flags.stream, output: flags.output, force: flags.force, signal: ctx.signal, onProgress: (d, t) => progress.update(d, t) });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(r);
      else if (!flags.silent) printFields([['extracted', `${r.stream} -> ${r.output}`], ['size', bytesText(r.bytes)], ['written', bytesText(r.writtenBytes)], ['time', `${r.seconds.toFixed(2)} s`]]);
      return 0;
    }));
}

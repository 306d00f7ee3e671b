import { type Command, InvalidArgumentError } from 'commander';
import type { StreamName } from '../../format/constants.js';
import { UsageError } from '../../errors.js';
import { parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson } from '../output.js';
import { createProgress } from '../progress.js';
import { parseStream } from './stream-option.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';

interface ExtractFlags {
  output: string;
  stream?: StreamName;
  format?: string;
  compress?: string;
  clusterSize?: string;
  force?: boolean;
  passwordFile?: string;
  parentDir?: string[];
  silent?: boolean;
  json?: boolean;
}

/** `hexz extract`: registers the command on `program`. */
export function registerExtract(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('extract')
    .description('write one stream of an archive to a sparse raw file or a qcow2 image')
    .argument('<file>', 'archive')
    .requiredOption('-o, --output <out>', 'image to write (refused if it exists, unless --force)')
    .option('--stream <name>', 'disk or memory (default: disk, or memory when there is no disk)', parseStream)
    .option('--format <fmt>', 'raw (sparse file, default) or qcow2 (version 3, zero clusters unallocated)', parseFormat)
    .option('--compress <codec>', 'qcow2 only: compress clusters with zlib or zstd (default: uncompressed)')
    .option('--cluster-size <size>', 'qcow2 only: cluster size, a power of two from 512 to 2M (default 64K)')
    .option('-f, --force', 'overwrite an existing output')
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON')
    .action((file: string, flags: ExtractFlags) => run(async (ctx) => {
      const format = flags.format ?? 'raw';
      if (format === 'raw' && (flags.compress !== undefined || flags.clusterSize !== undefined)) {
        throw new UsageError('--compress and --cluster-size apply only to --format qcow2');
      }
      if (flags.compress !== undefined && flags.compress !== 'zlib' && flags.compress !== 'zstd') {
        throw new UsageError(`unknown --compress '${flags.compress}' (zlib or zstd)`);
      }
      // Asked by the open itself, only when the header says the archive is encrypted (no header
      // read of its own): before the first progress update, so a prompt is not drawn over.
      const password = lazyPasswordFor(file, flags);
      const parentDirs = parentDirsFrom(flags);
      const progress = createProgress('extracting', !flags.silent && !flags.json);
      const onProgress = (d: number, t: number) => progress.update(d, t);
      if (format === 'qcow2') {
        const { exportQcow2 } = await import('../../ops/export-qcow2.js');
        let q;
        try {
          q = await exportQcow2(file, {
            stream: flags.stream, output: flags.output, force: flags.force, signal: ctx.signal, onProgress, password, parentDirs,
            compress: flags.compress as 'zlib' | 'zstd' | undefined,
            clusterSize: flags.clusterSize === undefined ? undefined : parseSize(flags.clusterSize),
          });
        } finally {
          progress.stop();
        }
        if (flags.json) printJson(q);
        else if (!flags.silent) {
          printFields([
            ['extracted', `${q.stream} -> ${q.output} (qcow2, ${q.compress}, ${bytesText(q.clusterSize)} clusters)`],
            ['size', bytesText(q.virtualSize)], ['file', bytesText(q.fileBytes)], ['time', `${q.seconds.toFixed(2)} s`],
          ]);
        }
        return 0;
      }
      const { extract } = await import('../../ops/extract.js');
      let r;
      try {
        r = await extract(file, { stream: flags.stream, output: flags.output, force: flags.force, signal: ctx.signal, onProgress, password, parentDirs });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(r);
      else if (!flags.silent) printFields([['extracted', `${r.stream} -> ${r.output}`], ['size', bytesText(r.bytes)], ['written', bytesText(r.writtenBytes)], ['time', `${r.seconds.toFixed(2)} s`]]);
      return 0;
    }));
}

function parseFormat(v: string): string {
  if (v !== 'raw' && v !== 'qcow2') throw new InvalidArgumentError('expected raw or qcow2');
  return v;
}

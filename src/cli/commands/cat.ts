import { once } from 'node:events';
import type { Command } from 'commander';
import { Archive } from '../../node/archive.js';
import { defaultStream } from '../../ops/extract.js';
import type { StreamName } from '../../format/constants.js';
import { UsageError } from '../../errors.js';
import { parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { parseStream } from './stream-option.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { sequentialChunks } from '../../node/sequential-chunks.js';

/** Written for zero runs: never modified, so one buffer serves every write. */
const ZEROS = new Uint8Array(1 << 20);

/** `hexz cat`: registers the command on `program`. */
export function registerCat(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('cat')
    .description('write a byte range of a stream to stdout')
    .argument('<file>', 'archive')
    .option('--stream <name>', 'disk or memory (default: disk, or memory when there is no disk)', parseStream)
    .option('--offset <n>', 'first byte (accepts 4K, 1M, ...)', '0')
    .option('--length <n>', 'number of bytes (default: to the end of the stream)')
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .action((file: string, flags: { stream?: StreamName; offset: string; length?: string; passwordFile?: string; parentDir?: string[] }) => run(async (ctx) => {
      const a = await Archive.open(file, { password: lazyPasswordFor(file, flags), parentDirs: parentDirsFrom(flags) });
      try {
        const stream = flags.stream ?? defaultStream(a);
        const size = a.size(stream);
        const offset = parseSize(flags.offset);
        const length = flags.length === undefined ? Math.max(0, size - offset) : parseSize(flags.length);
        if (offset + length > size) throw new UsageError(`range [${offset}, ${offset + length}) is past the end of stream ${stream} (${size} bytes)`, { archive: file });
        // events.once removes its 'error' listener when 'drain' comes; a listener pair added
        // by hand per chunk left one 'error' listener behind on every full pipe buffer.
        const write = (bytes: Uint8Array) => (process.stdout.write(bytes) ? undefined : once(process.stdout, 'drain', { signal: ctx.signal }));
        // Decode-ahead (on worker threads for long ranges); zero runs are written from one
        // shared buffer of zeros rather than allocated chunk by chunk.
        for await (const c of sequentialChunks(a, stream, { start: offset, end: offset + length, signal: ctx.signal })) {
          if (c.data) await write(c.data);
          else for (let left = c.length; left > 0; left -= ZEROS.length) await write(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
        }
      } finally {
        await a.close();
      }
      return 0;
    }));
}

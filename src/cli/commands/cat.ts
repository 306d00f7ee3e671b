import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { StreamName } from '../../format/constants.js';
import { UsageError } from '../../errors.js';
import { parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { parseStream } from './stream-option.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { PARTITION_FLAG } from '../partition-option.js';

/** Written for zero runs: never modified, so one buffer serves every write. */
const ZEROS = new Uint8Array(1 << 20);

/** `hexz cat`: registers the command on `program`. */
export function registerCat(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('cat')
    .description('write a byte range of a stream, or of a file inside the disk (--file), to stdout')
    .argument('<file>', 'archive')
    .option('--stream <name>', 'disk or memory (default: disk, or memory when there is no disk)', parseStream)
    .option('--offset <n>', 'first byte (accepts 4K, 1M, ...)', '0')
    .option('--length <n>', 'number of bytes (default: to the end of the stream)')
    .option('--file <path>', 'a regular file of the ext2/3/4 filesystem inside the disk instead (symlinks followed): --offset/--length then select bytes of the file, --stream the stream holding the disk')
    .option(...PARTITION_FLAG)
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .action((file: string, flags: { stream?: StreamName; offset: string; length?: string; file?: string; partition?: number; passwordFile?: string; parentDir?: string[] }) => run(async (ctx) => {
      if (flags.file !== undefined) return (await import('../cat-file.js')).catFile(file, { ...flags, file: flags.file }, ctx);
      if (flags.partition !== undefined) throw new UsageError('--partition applies only with --file');
      // A long read decodes on worker threads: started now, they come up (tens of milliseconds
      // each) while the reader's modules load and the archive opens, not after its first read.
      const { PARALLEL_MIN_BYTES } = await import('../../node/parallel-min-bytes.js');
      const cores = availableParallelism();
      const long = flags.length === undefined || parseSize(flags.length) >= PARALLEL_MIN_BYTES;
      const early = long && cores > 1 ? import('../../workers/worker-pool.js').then((m) => new m.WorkerPool(cores)) : undefined;
      // Loaded here, not at startup: registering the command must not load the reader.
      const [{ Archive }, { defaultStream }, { sequentialChunks }] = await Promise.all([
        import('../../node/archive.js'), import('../../ops/default-stream.js'), import('../../node/sequential-chunks.js'),
      ]);
      let pool = await early;
      let a: Awaited<ReturnType<typeof Archive.open>>;
      try {
        a = await Archive.open(file, { password: lazyPasswordFor(file, flags), parentDirs: parentDirsFrom(flags) });
      } catch (err) {
        await pool?.close();
        throw err;
      }
      try {
        const stream = flags.stream ?? defaultStream(a);
        const size = a.size(stream);
        const offset = parseSize(flags.offset);
        const length = flags.length === undefined ? Math.max(0, size - offset) : parseSize(flags.length);
        if (offset + length > size) throw new UsageError(`range [${offset}, ${offset + length}) is past the end of stream ${stream} (${size} bytes)`, { archive: file });
        // events.once removes its 'error' listener when 'drain' comes; a listener pair added
        // by hand per chunk left one 'error' listener behind on every full pipe buffer.
        const write = (bytes: Uint8Array, done?: () => void) => (process.stdout.write(bytes, done && (() => done())) ? undefined : once(process.stdout, 'drain', { signal: ctx.signal }));
        // Decode-ahead (on worker threads for long ranges); zero runs are written from one
        // shared buffer of zeros rather than allocated chunk by chunk.
        // The early pool only for a long range: a short one decodes in this thread, and the
        // workers stop now rather than compete with it for the cores.
        if (pool && length < PARALLEL_MIN_BYTES) {
          await pool.close();
          pool = undefined;
        }
        for await (const c of sequentialChunks(a, stream, { start: offset, end: offset + length, signal: ctx.signal, recycle: true, pool })) {
          // Once written, the chunk's buffer decodes a later chunk (no allocation, no GC of it).
          if (c.data) await write(c.data, c.release);
          else for (let left = c.length; left > 0; left -= ZEROS.length) await write(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
        }
      } finally {
        await pool?.close();
        await a.close();
      }
      return 0;
    }));
}
